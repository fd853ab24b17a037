package volume

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// tree lists dir as "path mode [-> target]" lines, for comparing copies.
func tree(t *testing.T, dir string) string {
	t.Helper()
	var lines []string
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		line := rel + " " + fi.Mode().String()
		if fi.Mode()&os.ModeSymlink != 0 {
			target, _ := os.Readlink(p)
			line += " -> " + target
		} else if fi.Mode().IsRegular() {
			b, _ := os.ReadFile(p)
			line += " " + string(b)
		}
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func write(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func TestCopyUp_FromDirectory(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	src := filepath.Join(root, "srv", "data")
	write(t, filepath.Join(src, "conf", "app.ini"), "x=1", 0o640)
	write(t, filepath.Join(src, "run.sh"), "#!/bin/sh", 0o4755)
	os.Symlink("conf/app.ini", filepath.Join(src, "link"))
	os.Symlink("/etc/passwd", filepath.Join(src, "abs")) // kept as it is, resolved in the container
	os.Link(filepath.Join(src, "run.sh"), filepath.Join(src, "hard"))
	unix.Mkfifo(filepath.Join(src, "fifo"), 0o600)
	os.Chmod(src, 0o1777)
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	os.Chtimes(filepath.Join(src, "conf"), old, old)
	xattrSet := unix.Setxattr(filepath.Join(src, "run.sh"), "user.berth", []byte("yes"), 0) == nil

	v, _ := s.Create("", CreateOptions{})
	if err := CopyUp(v, root, "/srv/data"); err != nil {
		t.Fatal(err)
	}
	data := v.Mountpoint()
	if got, want := tree(t, data), tree(t, src); got != want {
		t.Errorf("copy differs:\n%s\nwant:\n%s", got, want)
	}
	var a, b unix.Stat_t
	unix.Stat(filepath.Join(data, "run.sh"), &a)
	unix.Stat(filepath.Join(data, "hard"), &b)
	if a.Ino != b.Ino {
		t.Error("a hard link became two files")
	}
	if fi, _ := os.Stat(filepath.Join(data, "conf")); !fi.ModTime().Equal(old) {
		t.Errorf("directory time %v, want %v", fi.ModTime(), old)
	}
	if xattrSet {
		buf := make([]byte, 8)
		n, err := unix.Getxattr(filepath.Join(data, "run.sh"), "user.berth", buf)
		if err != nil || string(buf[:n]) != "yes" {
			t.Errorf("xattr: %q, %v", buf[:n], err)
		}
	}
	if ents, _ := filepath.Glob(filepath.Join(filepath.Dir(data), ".copyup-*")); len(ents) > 0 {
		t.Errorf("staging left: %v", ents)
	}
}

func TestCopyUp_OnlyIntoEmpty(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "data", "from-image"), "image", 0o644)
	v, _ := s.Create("full", CreateOptions{})
	write(t, filepath.Join(v.Mountpoint(), "mine"), "mine", 0o644)
	if err := CopyUp(v, root, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, v.Mountpoint()); got != ". drwxr-xr-x\nmine -rw-r--r-- mine" {
		t.Errorf("a volume with data was changed:\n%s", got)
	}
}

func TestCopyUp_NothingThere(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "file"), "not a dir", 0o644)
	v, _ := s.Create("", CreateOptions{})
	for _, p := range []string{"/missing", "/file"} {
		if err := CopyUp(v, root, p); err != nil {
			t.Errorf("CopyUp(%s): %v", p, err)
		}
	}
	if got := tree(t, v.Mountpoint()); got != ". drwxr-xr-x" {
		t.Errorf("volume after copying nothing:\n%s", got)
	}
	if err := CopyUp(v, root, "/"); err == nil {
		t.Error("CopyUp of / worked")
	}
}

// An image's symlink, absolute or full of "..", is resolved inside the
// image's root, never on the host.
func TestCopyUp_SymlinksStayInRoot(t *testing.T) {
	s, _ := openStore(t)
	root := t.TempDir()
	write(t, filepath.Join(root, "etc", "marker"), "inside", 0o644)
	os.Symlink("/etc", filepath.Join(root, "abs"))
	os.Symlink("../../../../../../etc", filepath.Join(root, "dots"))
	for _, p := range []string{"/abs", "/dots", "/dots/../abs"} {
		v, _ := s.Create("", CreateOptions{})
		if err := CopyUp(v, root, p); err != nil {
			t.Fatal(err)
		}
		if got := tree(t, v.Mountpoint()); got != ". drwxr-xr-x\nmarker -rw-r--r-- inside" {
			t.Errorf("CopyUp(%s) copied:\n%s", p, got)
		}
	}
}

// TestCopyUpLayers reads through the image's layers as the container sees
// them: a whiteout hides a lower file, an opaque directory hides a lower
// directory's content, the top layer wins, ownership is kept.
func TestCopyUpLayers(t *testing.T) {
	testutil.RequireRoot(t)
	s, _ := openStore(t)
	lower, upper := t.TempDir(), t.TempDir()
	write(t, filepath.Join(lower, "data", "a"), "lower a", 0o644)
	write(t, filepath.Join(lower, "data", "b"), "lower b", 0o644)
	write(t, filepath.Join(lower, "data", "sub", "c"), "lower c", 0o644)
	write(t, filepath.Join(lower, "data", "e"), "lower e", 0o644)
	os.Chown(filepath.Join(lower, "data", "a"), 1000, 1001)
	os.Chown(filepath.Join(lower, "data"), 999, 998)
	os.Chmod(filepath.Join(lower, "data"), 0o750)
	os.MkdirAll(filepath.Join(upper, "data", "sub"), 0o755)
	if err := unix.Mknod(filepath.Join(upper, "data", "b"), unix.S_IFCHR, 0); err != nil {
		t.Fatal(err)
	}
	if err := unix.Setxattr(filepath.Join(upper, "data", "sub"), "trusted.overlay.opaque", []byte("y"), 0); err != nil {
		t.Fatal(err)
	}
	write(t, filepath.Join(upper, "data", "sub", "d"), "upper d", 0o644)
	write(t, filepath.Join(upper, "data", "e"), "upper e", 0o600)
	os.Chown(filepath.Join(upper, "data"), 999, 998)
	os.Chmod(filepath.Join(upper, "data"), 0o750)

	v, _ := s.Create("", CreateOptions{})
	if err := CopyUpLayers(v, []string{lower, upper}, "/data"); err != nil {
		t.Fatal(err)
	}
	want := ". drwxr-x---\na -rw-r--r-- lower a\ne -rw------- upper e\nsub drwxr-xr-x\nsub/d -rw-r--r-- upper d"
	if got := tree(t, v.Mountpoint()); got != want {
		t.Errorf("copied:\n%s\nwant:\n%s", got, want)
	}
	// What kernels before 6.8 get: mount(2) in a namespace of its own.
	fd, err := privateOverlay(upper+":"+lower, v.dir)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	if strings.Contains(string(mountinfo), v.dir) {
		t.Errorf("the private overlay shows on the host:\n%s", mountinfo)
	}
	legacy, _ := s.Create("", CreateOptions{})
	if err := copyUp(legacy, fd, "/data"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, legacy.Mountpoint()); got != want {
		t.Errorf("copied through mount(2):\n%s\nwant:\n%s", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(v.dir, ".copyup-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	var st unix.Stat_t
	unix.Stat(filepath.Join(v.Mountpoint(), "a"), &st)
	var root unix.Stat_t
	unix.Stat(v.Mountpoint(), &root)
	if st.Uid != 1000 || st.Gid != 1001 || root.Uid != 999 || root.Gid != 998 {
		t.Errorf("owners: a %d:%d, volume root %d:%d", st.Uid, st.Gid, root.Uid, root.Gid)
	}
	// One layer alone also mounts (overlayfs needs a second lower: ours).
	one, _ := s.Create("", CreateOptions{})
	if err := CopyUpLayers(one, []string{upper}, "/data/sub"); err != nil {
		t.Fatal(err)
	}
	if got := tree(t, one.Mountpoint()); got != ". drwxr-xr-x\nd -rw-r--r-- upper d" {
		t.Errorf("from one layer:\n%s", got)
	}
}
