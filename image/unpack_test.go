package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

func TestImport_Malicious(t *testing.T) {
	outside := t.TempDir() // what a hostile layer aims at
	victim := filepath.Join(outside, "victim")
	if err := os.WriteFile(victim, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	big := entry{hdr: tar.Header{Name: "sparse", Typeflag: tar.TypeReg, Mode: 0o644, Size: 1 << 40}}
	many := []entry{}
	for i := range 30 {
		many = append(many, file("f"+string(rune('a'+i)), ""))
	}
	mib := strings.Repeat("\x00", 1<<20)
	for _, tc := range []struct {
		name    string
		entries []entry
		entry   string // the entry the error must name
		want    error
	}{
		{"dot dot", []entry{file("../escape", "x")}, "../escape", ErrUnsafeLayer},
		{"dot dot inside", []entry{dir("a/"), file("a/../../escape", "x")}, "a/../../escape", ErrUnsafeLayer},
		{"write through symlink to root", []entry{symlink("evil", "/"), file("evil/etc/passwd", "x")}, "evil/etc/passwd", ErrUnsafeLayer},
		{"write through symlink out", []entry{symlink("evil", outside), file("evil/victim", "x")}, "evil/victim", ErrUnsafeLayer},
		{"write through relative symlink", []entry{symlink("evil", "../../../../../../../../"+outside), file("evil/victim", "x")}, "evil/victim", ErrUnsafeLayer},
		{"hard link to host file", []entry{hardlink("passwd", "/etc/passwd")}, "passwd", ErrUnsafeLayer},
		{"hard link out", []entry{hardlink("passwd", "../../../../../../etc/passwd")}, "passwd", ErrUnsafeLayer},
		{"hard link through symlink", []entry{symlink("evil", outside), hardlink("v", "evil/victim")}, "v", ErrUnsafeLayer},
		{"huge sparse file", []entry{big}, "sparse", ErrLayerTooLarge},
		{"bomb", []entry{file("a", mib), file("b", mib), file("c", mib)}, "c", ErrLayerTooLarge},
		{"too many entries", many, "fu", ErrLayerTooLarge},
		{"whiteout of parent", []entry{file(".wh..", "")}, ".wh..", ErrUnsafeLayer},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := openStore(t)
			s.Limits = Limits{Size: 5 << 19, Entries: 20}
			_, err := s.Import(context.Background(), bytes.NewReader(gz(t, tarOf(t, tc.entries...))), "evil")
			if !errors.Is(err, tc.want) {
				t.Fatalf("import: %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), `layer entry "`+tc.entry+`"`) {
				t.Errorf("error %q does not name entry %q", err, tc.entry)
			}
			if b, err := os.ReadFile(victim); string(b) != "precious" || err != nil {
				t.Errorf("victim now %q, %v", b, err)
			}
			if des, _ := os.ReadDir(outside); len(des) != 1 {
				t.Errorf("%d files outside the store", len(des))
			}
			for _, d := range []string{s.layerDir(), s.blobDir()} {
				if v, h := visible(t, d), hidden(t, d); len(v)+len(h) > 0 {
					t.Errorf("%s keeps %q %q", d, v, h)
				}
			}
		})
	}
}

// An absolute name is relative to the layer, as tar and Docker read it.
func TestImport_AbsoluteNames(t *testing.T) {
	s := openStore(t)
	img, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, dir("/abs/"), file("/abs/file", "in"), hardlink("/abs/link", "/abs/file"))), "abs")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"abs/file", "abs/link"} {
		if b, err := os.ReadFile(filepath.Join(img.Layers[0], n)); string(b) != "in" {
			t.Errorf("%s: %q %v", n, b, err)
		}
	}
	if _, err := os.Stat("/abs"); err == nil {
		t.Errorf("/abs exists on the host")
	}
}

// Later entries replace earlier ones; a directory replaced by a symlink
// cannot be written through afterwards.
func TestImport_Replace(t *testing.T) {
	s := openStore(t)
	_, err := s.Import(context.Background(), bytes.NewReader(tarOf(t,
		dir("d/"), file("d/f", "1"), symlink("d", "/"), file("d/g", "2"))), "replace")
	if !errors.Is(err, ErrUnsafeLayer) || !strings.Contains(err.Error(), `"d/g"`) {
		t.Fatalf("import: %v", err)
	}
	img, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, file("f", "1"), file("f", "2"), dir("f/"), file("f/x", "3"))), "replace")
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(img.Layers[0], "f/x")); string(b) != "3" {
		t.Errorf("f/x: %q %v", b, err)
	}
}

func TestImport_Metadata(t *testing.T) {
	testutil.RequireRoot(t)
	s := openStore(t)
	mtime := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	suid := file("bin/su", "#!")
	suid.hdr.Mode, suid.hdr.Uid, suid.hdr.Gid, suid.hdr.ModTime = 0o4755, 1000, 50, mtime
	xattrs := file("etc/x", "x")
	xattrs.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.trusted.berth-test":       "kept",
		"SCHILY.xattr.trusted.overlay.redirect": "/evil",
		"SCHILY.xattr.security.capability":      "",
	}
	delete(xattrs.hdr.PAXRecords, "SCHILY.xattr.security.capability")
	tmp := dir("tmp/")
	tmp.hdr.Mode = 0o1777
	home := dir("home/")
	home.hdr.ModTime, home.hdr.Uid = mtime, 1000
	null := entry{hdr: tar.Header{Name: "dev/null", Typeflag: tar.TypeChar, Mode: 0o666, Devmajor: 1, Devminor: 3}}
	fifo := entry{hdr: tar.Header{Name: "run/fifo", Typeflag: tar.TypeFifo, Mode: 0o600}}
	link := symlink("bin/sh", "/bin/su")
	link.hdr.Uid, link.hdr.ModTime = 1000, mtime
	tarball := tarOf(t,
		tmp, dir("bin/"), suid, hardlink("bin/su2", "bin/su"), link, home, file("home/a", "a"),
		dir("etc/"), xattrs, null, fifo,
		file(".wh.gone", ""), dir("opaque/"), file("opaque/.wh..wh..opq", ""), file("opaque/kept", "k"),
		file("opaque/.wh..wh.plnk.123", ""),
	)
	img, err := s.Import(context.Background(), bytes.NewReader(tarball), "meta")
	if err != nil {
		t.Fatal(err)
	}
	l := img.Layers[0]
	stat := func(n string) *syscall.Stat_t {
		var st unix.Stat_t
		if err := unix.Lstat(filepath.Join(l, n), &st); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
		return &syscall.Stat_t{Mode: st.Mode, Uid: st.Uid, Gid: st.Gid, Rdev: st.Rdev, Nlink: st.Nlink, Mtim: syscall.Timespec(st.Mtim)}
	}
	if st := stat("bin/su"); st.Mode != unix.S_IFREG|0o4755 || st.Uid != 1000 || st.Gid != 50 || st.Nlink != 2 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("bin/su: %+v", st)
	}
	if st := stat("bin/sh"); st.Uid != 1000 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("symlink bin/sh: %+v", st)
	}
	if st := stat("home"); st.Uid != 1000 || st.Mtim.Sec != mtime.Unix() {
		t.Errorf("home (its mtime set after its files): %+v", st)
	}
	if st := stat("tmp"); st.Mode != unix.S_IFDIR|0o1777 {
		t.Errorf("tmp: %+v", st)
	}
	if st := stat("dev/null"); st.Mode != unix.S_IFCHR|0o666 || st.Rdev != unix.Mkdev(1, 3) {
		t.Errorf("dev/null: %+v", st)
	}
	if st := stat("run/fifo"); st.Mode != unix.S_IFIFO|0o600 {
		t.Errorf("run/fifo: %+v", st)
	}
	if st := stat("gone"); st.Mode&unix.S_IFMT != unix.S_IFCHR || st.Rdev != 0 || st.Uid != 0 {
		t.Errorf("whiteout gone: %+v", st)
	}
	for _, n := range []string{".wh.gone", "opaque/.wh..wh..opq", "opaque/.wh..wh.plnk.123"} {
		if _, err := os.Lstat(filepath.Join(l, n)); err == nil {
			t.Errorf("%s was written as a file", n)
		}
	}
	xattr := func(n, attr string) string {
		buf := make([]byte, 64)
		sz, err := unix.Lgetxattr(filepath.Join(l, n), attr, buf)
		if err != nil {
			return ""
		}
		return string(buf[:sz])
	}
	if v := xattr("opaque", "trusted.overlay.opaque"); v != "y" {
		t.Errorf("opaque dir: trusted.overlay.opaque = %q", v)
	}
	if v := xattr("etc/x", "trusted.berth-test"); v != "kept" {
		t.Errorf("etc/x: trusted.berth-test = %q", v)
	}
	if v := xattr("etc/x", "trusted.overlay.redirect"); v != "" {
		t.Errorf("etc/x kept trusted.overlay.redirect = %q", v)
	}
}

// TestImport_TrailingBomb: gigabytes of zeros after the tar's end
// compress to little; they are refused, not hashed to the end.
func TestImport_TrailingBomb(t *testing.T) {
	s := openStore(t)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(tarOf(t, file("a", "1")))
	zeros := make([]byte, 1<<20)
	for i := 0; i < 32; i++ {
		zw.Write(zeros)
	}
	zw.Close()
	_, err := s.Import(context.Background(), &buf, "bomb")
	if err == nil || !strings.Contains(err.Error(), "after the end of its tar archive") {
		t.Errorf("err = %v", err)
	}
}
