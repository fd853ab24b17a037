package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// overlayDirs makes empty lower, upper, work and merged directories.
func overlayDirs(t *testing.T) (lower, upper, work, merged string) {
	t.Helper()
	base := t.TempDir()
	lower, upper, work, merged = filepath.Join(base, "lower"), filepath.Join(base, "upper"), filepath.Join(base, "work"), filepath.Join(base, "merged")
	for _, d := range []string{lower, upper, work, merged} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return lower, upper, work, merged
}

// mountTestOverlay mounts an overlay on merged and returns its unmount,
// which the test calls when it has made its changes; cleanup calls it too,
// in case the test failed first.
func mountTestOverlay(t *testing.T, lower, upper, work, merged string) (unmount func()) {
	t.Helper()
	data := "lowerdir=" + lower + ",upperdir=" + upper + ",workdir=" + work
	if err := unix.Mount("overlay", merged, "overlay", 0, data); err != nil {
		t.Fatalf("mounting overlay: %v", err)
	}
	mounted := true
	unmount = func() {
		if !mounted {
			return
		}
		mounted = false
		if err := unix.Unmount(merged, 0); err != nil {
			t.Errorf("unmounting the test's overlay: %v", err)
		}
	}
	t.Cleanup(unmount)
	return unmount
}

func writeFiles(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, body := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// changeContainer makes, through the overlay at merged, every kind of
// change a container makes.
func changeContainer(t *testing.T, merged string) {
	t.Helper()
	long := strings.Repeat("long-name-", 12) // past ustar's 100 bytes
	writeFiles(t, merged, map[string]string{
		"new.txt":        "new\n",
		"newdir/f":       "in a new dir\n",
		"links/a":        "linked\n",
		"opaque/y":       "recreated\n",
		"newdir/" + long: "long\n",
	})
	f, err := os.OpenFile(filepath.Join(merged, "etc/passwd"), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("user:x:1000:1000::/home/user:/bin/sh\n")
	f.Close()
	do := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	do("rm", os.Remove(filepath.Join(merged, "etc/gone")))
	do("rm", os.Remove(filepath.Join(merged, "dir/a")))
	do("rm -rf", os.RemoveAll(filepath.Join(merged, "dir/sub")))
	// Emptied and made again: overlayfs marks the new one opaque.
	do("rm -rf", os.RemoveAll(filepath.Join(merged, "opaque")))
	writeFiles(t, merged, map[string]string{"opaque/y": "recreated\n"})
	do("ln", os.Link(filepath.Join(merged, "links/a"), filepath.Join(merged, "links/b")))
	do("ln -s", os.Symlink("/etc/passwd", filepath.Join(merged, "lnk")))
	do("chown", os.Chown(filepath.Join(merged, "bin/tool"), 1000, 1001))
	do("chmod", os.Chmod(filepath.Join(merged, "bin/tool"), 0o750))
	writeFiles(t, merged, map[string]string{"bin/suid": "#!/bin/sh\n"})
	do("chmod", unix.Chmod(filepath.Join(merged, "bin/suid"), 0o4755))
	do("setxattr", unix.Setxattr(filepath.Join(merged, "new.txt"), "user.x", []byte("value"), 0))
	do("mknod", unix.Mknod(filepath.Join(merged, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	do("mkfifo", unix.Mkfifo(filepath.Join(merged, "fifo"), 0o640))
	// A socket is skipped: bind one and leave it.
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	do("socket", err)
	do("bind", unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(merged, "sock")}))
	unix.Close(sock)
	old := time.Date(2001, 2, 3, 4, 5, 6, 700, time.UTC)
	do("chtimes", os.Chtimes(filepath.Join(merged, "new.txt"), old, old))
}

func TestWriteDiff(t *testing.T) {
	testutil.RequireRoot(t)
	lower, upper, work, merged := overlayDirs(t)
	writeFiles(t, lower, map[string]string{
		"etc/passwd": "root:x:0:0::/root:/bin/sh\n",
		"etc/gone":   "deleted by the container\n",
		"dir/a":      "a\n",
		"dir/keep":   "keep\n",
		"dir/sub/b":  "b\n",
		"opaque/x":   "hidden by the opaque dir\n",
		"bin/tool":   "tool\n",
	})
	unmount := mountTestOverlay(t, lower, upper, work, merged)
	changeContainer(t, merged)
	unmount()

	var layer bytes.Buffer
	if err := WriteDiff(&layer, upper); err != nil {
		t.Fatal(err)
	}
	hdrs := readHeaders(t, layer.Bytes())
	long := strings.Repeat("long-name-", 12)
	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
	}
	want := []string{
		"bin/", "bin/suid", "bin/tool",
		"dir/", "dir/.wh.a", "dir/.wh.sub",
		"etc/", "etc/.wh.gone", "etc/passwd",
		"fifo", "links/", "links/a", "links/b", "lnk",
		"new.txt", "newdir/", "newdir/f", "newdir/" + long, "null",
		"opaque/", "opaque/.wh..wh..opq", "opaque/y",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("layer entries:\n%q\nwant:\n%q", names, want)
	}
	byName := map[string]*tar.Header{}
	for _, h := range hdrs {
		byName[h.Name] = h
	}
	checks := []struct {
		name string
		ok   func(h *tar.Header) bool
	}{
		{"bin/suid", func(h *tar.Header) bool { return h.Mode == 0o4755 && h.Typeflag == tar.TypeReg }},
		{"bin/tool", func(h *tar.Header) bool { return h.Mode == 0o750 && h.Uid == 1000 && h.Gid == 1001 }},
		{"dir/.wh.a", func(h *tar.Header) bool { return h.Typeflag == tar.TypeReg && h.Size == 0 }},
		{"links/b", func(h *tar.Header) bool { return h.Typeflag == tar.TypeLink && h.Linkname == "links/a" }},
		{"lnk", func(h *tar.Header) bool { return h.Typeflag == tar.TypeSymlink && h.Linkname == "/etc/passwd" }},
		{"new.txt", func(h *tar.Header) bool {
			return h.PAXRecords["SCHILY.xattr.user.x"] == "value" && h.ModTime.Equal(time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC))
		}},
		{"null", func(h *tar.Header) bool { return h.Typeflag == tar.TypeChar && h.Devmajor == 1 && h.Devminor == 3 }},
		{"fifo", func(h *tar.Header) bool { return h.Typeflag == tar.TypeFifo && h.Mode == 0o640 }},
		{"etc/passwd", func(h *tar.Header) bool {
			return h.Size == int64(len("root:x:0:0::/root:/bin/sh\nuser:x:1000:1000::/home/user:/bin/sh\n"))
		}},
	}
	for _, c := range checks {
		if h := byName[c.name]; !c.ok(h) {
			t.Errorf("entry %s: %+v", c.name, *h)
		}
	}
	for _, h := range hdrs {
		for k := range h.PAXRecords {
			if strings.HasPrefix(k, "SCHILY.xattr.trusted.overlay.") {
				t.Errorf("entry %s carries overlayfs's bookkeeping %s", h.Name, k)
			}
		}
	}

	var again bytes.Buffer
	if err := WriteDiff(&again, upper); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(layer.Bytes(), again.Bytes()) {
		t.Error("WriteDiff of the same directory gave different bytes")
	}

	// Unpacked as any layer is, the tar gives back the upper directory.
	unpacked := t.TempDir()
	if _, err := unpack(tar.NewReader(bytes.NewReader(layer.Bytes())), unpacked, DefaultLimits); err != nil {
		t.Fatalf("unpacking the diff: %v", err)
	}
	wantForm := overlayForm(t, upper)
	delete(wantForm, "sock")
	if got := overlayForm(t, unpacked); !maps.Equal(got, wantForm) {
		for k, v := range wantForm {
			if got[k] != v {
				t.Errorf("%s: upper %q, unpacked %q", k, v, got[k])
			}
		}
		for k, v := range got {
			if _, ok := wantForm[k]; !ok {
				t.Errorf("%s: only unpacked: %q", k, v)
			}
		}
	}
}

func readHeaders(t *testing.T, layer []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(layer))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return hdrs
		}
		if err != nil {
			t.Fatalf("reading the diff: %v", err)
		}
		hdrs = append(hdrs, h)
	}
}

// overlayForm describes each path below root as overlayfs reads it: type,
// mode, owner, mtime to the second, content or target, xattrs except
// overlayfs's bookkeeping (opacity is kept), and which name a hard link
// shares its inode with. Whiteouts are only "whiteout": unpack gives them
// no times.
func overlayForm(t *testing.T, root string) map[string]string {
	t.Helper()
	form := map[string]string{}
	firstName := map[uint64]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == root {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		var st unix.Stat_t
		if err := unix.Lstat(p, &st); err != nil {
			return err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0 {
			form[rel] = "whiteout"
			return nil
		}
		s := fmt.Sprintf("type %o mode %o owner %d:%d mtime %d", st.Mode&unix.S_IFMT, st.Mode&0o7777, st.Uid, st.Gid, st.Mtim.Sec)
		switch st.Mode & unix.S_IFMT {
		case unix.S_IFREG:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			s += fmt.Sprintf(" content %q", b)
		case unix.S_IFLNK:
			target, _ := os.Readlink(p)
			s += " -> " + target
		case unix.S_IFCHR, unix.S_IFBLK:
			s += fmt.Sprintf(" dev %d:%d", unix.Major(st.Rdev), unix.Minor(st.Rdev))
		}
		pax, overlay, err := readXattrs(p)
		if err != nil {
			return err
		}
		s += fmt.Sprintf(" xattrs %v opaque %q", pax, overlay["opaque"])
		if st.Nlink > 1 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			if first, ok := firstName[st.Ino]; ok {
				s += " link to " + first
			} else {
				firstName[st.Ino] = rel
			}
		}
		form[rel] = s
		return nil
	})
	if err != nil {
		t.Fatalf("reading %s: %v", root, err)
	}
	return form
}

func TestWriteDiff_Metacopy(t *testing.T) {
	testutil.RequireRoot(t)
	upper := t.TempDir()
	p := filepath.Join(upper, "f")
	if err := os.WriteFile(p, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(p, "trusted.overlay.metacopy", nil, 0); err != nil {
		t.Fatal(err)
	}
	err := WriteDiff(io.Discard, upper)
	if err == nil || !strings.Contains(err.Error(), "metacopy=off") {
		t.Errorf("WriteDiff of a metacopy file: %v, want an error naming metacopy=off", err)
	}
}

func TestWriteContainerDiff_LeavesOutMountStubs(t *testing.T) {
	testutil.RequireRoot(t)
	stubs := []string{"proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf"}
	cases := []struct {
		name  string
		lower map[string]string
		upper map[string]string // "dir/" is a directory
		want  []string
	}{
		{"only stubs", nil, map[string]string{
			"proc/": "", "sys/": "", "dev/": "", "etc/": "", "etc/hostname": "", "etc/hosts": "", "etc/resolv.conf": "",
		}, nil},
		{"a change beside them", nil, map[string]string{
			"proc/": "", "etc/": "", "etc/hostname": "", "etc/motd": "hi\n",
		}, []string{"etc/", "etc/motd"}},
		{"the image's own empty file, and a filled stub", map[string]string{"etc/hosts": ""}, map[string]string{
			"etc/": "", "etc/hosts": "", "dev/": "", "dev/null-ish": "x",
		}, []string{"dev/", "dev/null-ish", "etc/", "etc/hosts"}},
		{"new directories that are no stubs", nil, map[string]string{
			"new/": "", "new/sub/": "",
		}, []string{"new/", "new/sub/"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			lower, upper := t.TempDir(), t.TempDir()
			writeFiles(t, lower, map[string]string{"etc/passwd": "root:x:0:0::/root:/bin/sh\n"})
			writeFiles(t, lower, tc.lower)
			for name, body := range tc.upper {
				p := filepath.Join(upper, name)
				if strings.HasSuffix(name, "/") {
					if err := os.MkdirAll(p, 0o755); err != nil {
						t.Fatal(err)
					}
					continue
				}
				writeFiles(t, upper, map[string]string{name: body})
			}
			var layer bytes.Buffer
			if err := WriteContainerDiff(&layer, upper, []string{lower}, stubs); err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, h := range readHeaders(t, layer.Bytes()) {
				names = append(names, h.Name)
			}
			if !slices.Equal(names, tc.want) {
				t.Errorf("entries %q, want %q", names, tc.want)
			}
		})
	}
}
