package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// cpBox makes a container "box" from busybox, running sleep, or stopped
// after it ran: the two roots berth cp knows (/proc/PID/root, overlay).
func cpBox(t *testing.T, c *cli, running bool) {
	t.Helper()
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
	if running {
		c.must("run", "-d", "--name", "box", "bb:1", "sleep", "100")
		return
	}
	c.must("run", "--name", "box", "bb:1", "true")
}

// boxFile reads path in box through berth cp to stdout.
func boxFile(t *testing.T, c *cli, p string) (string, *tar.Header) {
	t.Helper()
	out := c.must("cp", "box:"+p, "-")
	tr := tar.NewReader(strings.NewReader(out))
	hdr, err := tr.Next()
	if err != nil {
		t.Fatalf("cp box:%s -: %v", p, err)
	}
	b, _ := io.ReadAll(tr)
	return string(b), hdr
}

func cpWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

func cpRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Error(err)
	}
	return string(b)
}

func TestCLI_Cp(t *testing.T) {
	for _, running := range []bool{true, false} {
		name := "stopped"
		if running {
			name = "running"
		}
		t.Run(name, func(t *testing.T) {
			c := newCLI(t)
			cpBox(t, c, running)
			host := t.TempDir()
			cpWrite(t, filepath.Join(host, "f"), "file\n")
			cpWrite(t, filepath.Join(host, "d", "a"), "a\n")
			cpWrite(t, filepath.Join(host, "d", "sub", "b"), "b\n")
			if err := os.Symlink("/", filepath.Join(host, "d", "root")); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(filepath.Join(host, "d", "a"), filepath.Join(host, "d", "sub", "hard")); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(filepath.Join(host, "f"), 1234, 5678); err != nil {
				t.Fatal(err)
			}

			// Into the container: a file to a new name and into a directory,
			// a directory into one and as a new one, and a directory's contents.
			c.must("cp", filepath.Join(host, "f"), "box:/tmp/new")
			c.must("cp", filepath.Join(host, "f"), "box:/tmp")
			c.must("cp", filepath.Join(host, "d"), "box:/tmp")
			c.must("cp", filepath.Join(host, "d"), "box:/made")
			c.must("cp", filepath.Join(host, "d")+"/.", "box:/etc")
			c.must("cp", "-a", filepath.Join(host, "f"), "box:/kept")
			for p, want := range map[string]string{"/tmp/new": "file\n", "/tmp/f": "file\n", "/tmp/d/a": "a\n",
				"/tmp/d/sub/b": "b\n", "/made/sub/b": "b\n", "/etc/a": "a\n", "/etc/sub/b": "b\n"} {
				if got, hdr := boxFile(t, c, p); got != want || hdr.Uid != 0 || hdr.Gid != 0 {
					t.Errorf("box:%s = %q, owner %d:%d; want %q, 0:0", p, got, hdr.Uid, hdr.Gid, want)
				}
			}
			if _, hdr := boxFile(t, c, "/tmp/new"); hdr.Mode&0o777 != 0o640 {
				t.Errorf("box:/tmp/new has mode %o, want 640", hdr.Mode)
			}
			if _, hdr := boxFile(t, c, "/kept"); hdr.Uid != 1234 || hdr.Gid != 5678 {
				t.Errorf("cp -a: box:/kept is owned by %d:%d, want 1234:5678", hdr.Uid, hdr.Gid)
			}
			if _, hdr := boxFile(t, c, "/made/root"); hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "/" {
				t.Errorf("the symlink copied in is %+v", hdr)
			}
			if _, hdr := boxFile(t, c, "/made"); hdr.Typeflag != tar.TypeDir {
				t.Errorf("box:/made is %+v, want a directory", hdr)
			}

			// Out of it: a file into a directory and to a new name, a directory
			// as a new one and into one, with -a and without.
			out := t.TempDir()
			c.must("cp", "box:/tmp/new", out)
			c.must("cp", "box:/tmp/new", filepath.Join(out, "renamed"))
			c.must("cp", "box:/made", filepath.Join(out, "m"))
			c.must("cp", "box:/made", out+"/")
			c.must("cp", "-a", "box:/kept", out)
			for p, want := range map[string]string{"new": "file\n", "renamed": "file\n", "m/a": "a\n", "m/sub/b": "b\n", "made/sub/b": "b\n"} {
				if got := cpRead(t, filepath.Join(out, p)); got != want {
					t.Errorf("%s copied out = %q, want %q", p, got, want)
				}
			}
			// Hard links stay links, in and out.
			a, hard := filepath.Join(out, "m", "a"), filepath.Join(out, "m", "sub", "hard")
			if fa, fh := inodeOf(t, a), inodeOf(t, hard); fa != fh || cpRead(t, hard) != "a\n" {
				t.Errorf("the hard link copied in and out: %s is inode %d, %s is %d", a, fa, hard, fh)
			}
			if l, err := os.Readlink(filepath.Join(out, "m", "root")); err != nil || l != "/" {
				t.Errorf("the symlink copied out: %q, %v", l, err)
			}
			if st := ownerOf(t, filepath.Join(out, "kept")); st != [2]uint32{1234, 5678} {
				t.Errorf("cp -a out: owner %v, want 1234:5678", st)
			}
			if st := ownerOf(t, filepath.Join(out, "new")); st != [2]uint32{0, 0} {
				t.Errorf("cp out: owner %v, want the caller's, 0:0", st)
			}

			// -L follows SRC itself; without it the symlink is copied.
			if err := os.Symlink("f", filepath.Join(host, "lf")); err != nil {
				t.Fatal(err)
			}
			c.must("cp", filepath.Join(host, "lf"), "box:/tmp/link")
			c.must("cp", "-L", filepath.Join(host, "lf"), "box:/tmp/followed")
			if _, hdr := boxFile(t, c, "/tmp/link"); hdr.Typeflag != tar.TypeSymlink || hdr.Linkname != "f" {
				t.Errorf("cp of a symlink without -L made %+v", hdr)
			}
			if got, hdr := boxFile(t, c, "/tmp/followed"); hdr.Typeflag != tar.TypeReg || got != "file\n" {
				t.Errorf("cp -L of a symlink made %+v, %q", hdr, got)
			}
			c.must("cp", "-L", "box:/tmp/link", filepath.Join(out, "followed"))
			if got := cpRead(t, filepath.Join(out, "followed")); got != "file\n" {
				t.Errorf("cp -L out: %q", got)
			}

			// Tar streams both ways.
			var in bytes.Buffer
			tw := tar.NewWriter(&in)
			tw.WriteHeader(&tar.Header{Name: "streamed/x", Mode: 0o600, Size: 3, Typeflag: tar.TypeReg, Uid: 7})
			tw.Write([]byte("xyz"))
			tw.Close()
			if _, errs, code := c.runIn(&in, "cp", "-", "box:/tmp"); code != 0 {
				t.Fatalf("cp - box:/tmp: exit %d: %s", code, errs)
			}
			if got, hdr := boxFile(t, c, "/tmp/streamed/x"); got != "xyz" || hdr.Uid != 0 {
				t.Errorf("unpacked from stdin: %q, uid %d", got, hdr.Uid)
			}
			names := tarNames(t, c.must("cp", "box:/made", "-"))
			if strings.Join(names, " ") != "made/ made/a made/root made/sub/ made/sub/b made/sub/hard" {
				t.Errorf("cp box:/made - holds %q", names)
			}
			if names := tarNames(t, c.must("cp", "box:/made/.", "-")); strings.Join(names, " ") != "a root sub/ sub/b sub/hard" {
				t.Errorf("cp box:/made/. - holds %q", names)
			}

			// docker's errors.
			for _, e := range []struct {
				args []string
				want string
			}{
				{[]string{"box:/nope", out}, "could not find the file /nope in container box"},
				{[]string{filepath.Join(host, "nope"), "box:/tmp"}, "no such file or directory"},
				{[]string{filepath.Join(host, "f"), "box:/nodir/"}, "the destination directory must exist"},
				{[]string{filepath.Join(host, "f"), "box:/nodir/x"}, `no such directory "/nodir"`},
				{[]string{"box:/tmp/new/", out}, "not a directory"},
				{[]string{filepath.Join(host, "d"), "box:/tmp/new"}, "cannot copy a directory to a file"},
				{[]string{"box:/etc", filepath.Join(out, "new")}, "cannot copy a directory to a file"},
				{[]string{"box:/etc/passwd", filepath.Join(out, "no", "x")}, "no such directory"},
				{[]string{"nosuch:/etc", out}, "no such container"},
			} {
				if _, errs, code := c.run(append([]string{"cp"}, e.args...)...); code == 0 || !strings.Contains(errs, e.want) {
					t.Errorf("cp %v: exit %d, %q; want an error saying %q", e.args, code, errs, e.want)
				}
			}
			for _, args := range [][]string{{out, out}, {"a:/x", "b:/y"}} {
				if _, _, code := c.run(append([]string{"cp"}, args...)...); code != 2 {
					t.Errorf("cp %v: exit %d, want 2", args, code)
				}
			}
			checkCpLeftNothing(t, c)
		})
	}
}

// TestCLI_CpHostileSymlinks: symlinks in the container, absolute and
// relative, that lead out of its root on the host resolve inside it,
// whether berth reads or writes through them.
func TestCLI_CpHostileSymlinks(t *testing.T) {
	for _, running := range []bool{true, false} {
		t.Run(map[bool]string{true: "running", false: "stopped"}[running], func(t *testing.T) {
			c := newCLI(t)
			secret := t.TempDir() // on the host only
			cpWrite(t, filepath.Join(secret, "key"), "host secret\n")
			c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
			script := "ln -s " + secret + " /abs; ln -s ../../../../../../../.." + secret + " /rel; ln -s / /root-link; echo inside > /key"
			if running {
				c.must("run", "-d", "--name", "box", "bb:1", "sh", "-c", script+"; sleep 100")
				for i := 0; ; i++ {
					if _, _, code := c.run("exec", "box", "test", "-e", "/key"); code == 0 {
						break
					}
					if i > 200 {
						t.Fatal("the container never made its symlinks")
					}
				}
			} else {
				c.must("run", "--name", "box", "bb:1", "sh", "-c", script)
			}
			out := t.TempDir()
			for _, src := range []string{"box:/abs/key", "box:/rel/key", "box:/abs/", "box:/rel"} {
				c.run("cp", "-L", src, filepath.Join(out, "got"))
				if b, err := os.ReadFile(filepath.Join(out, "got")); err == nil && strings.Contains(string(b), "host secret") {
					t.Errorf("cp %s read the host's file", src)
				}
				filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
					if err == nil && d.Type().IsRegular() && strings.Contains(cpRead(t, p), "host secret") {
						t.Errorf("cp %s copied the host's %s", src, p)
					}
					return nil
				})
			}
			// Through / -> / the container's own file is read.
			if got, _ := boxFile(t, c, "/root-link/key"); got != "inside\n" {
				t.Errorf("cp box:/root-link/key - gave %q, want the container's /key", got)
			}
			c.must("cp", "-L", "box:/root-link/key", filepath.Join(out, "k"))
			if got := cpRead(t, filepath.Join(out, "k")); got != "inside\n" {
				t.Errorf("through /root-link: %q, want the container's /key", got)
			}
			// Writing through them stays inside: the host's directory gets nothing.
			planted := filepath.Join(t.TempDir(), "planted")
			cpWrite(t, planted, "planted\n")
			for _, dst := range []string{"box:/abs/planted", "box:/rel/planted", "box:/abs/", "box:/rel/"} {
				c.run("cp", planted, dst)
			}
			var tarIn bytes.Buffer
			tw := tar.NewWriter(&tarIn)
			tw.WriteHeader(&tar.Header{Name: "abs/planted", Mode: 0o600, Size: 1, Typeflag: tar.TypeReg})
			tw.Write([]byte("x"))
			tw.WriteHeader(&tar.Header{Name: "../../planted2", Mode: 0o600, Typeflag: tar.TypeReg})
			tw.Close()
			c.runIn(&tarIn, "cp", "-", "box:/")
			ents, _ := os.ReadDir(secret)
			if len(ents) != 1 {
				t.Errorf("the host's directory behind the symlinks now holds %v", ents)
			}
			checkCpLeftNothing(t, c)
		})
	}
}

// TestCLI_CpVolumeOfStopped: a stopped container's volume is where cp
// reads and writes at its mount point, as in docker.
func TestCLI_CpVolumeOfStopped(t *testing.T) {
	c := newCLI(t)
	vol := t.TempDir()
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
	c.must("run", "--name", "box", "-v", vol+":/data", "bb:1", "sh", "-c", "echo old > /data/old")
	host := filepath.Join(t.TempDir(), "new")
	cpWrite(t, host, "new\n")
	c.must("cp", host, "box:/data/")
	if got := cpRead(t, filepath.Join(vol, "new")); got != "new\n" {
		t.Errorf("copied into the stopped container's volume: the volume holds %q", got)
	}
	if got, _ := boxFile(t, c, "/data/old"); got != "old\n" {
		t.Errorf("box:/data/old = %q", got)
	}
	// A --read-only container's root stays read-only when stopped; its
	// volume does not.
	c.must("run", "--name", "ro", "--read-only", "-v", vol+":/data", "bb:1", "true")
	if _, errs, code := c.run("cp", host, "ro:/tmp/"); code == 0 || !strings.Contains(errs, "read-only file system") {
		t.Errorf("cp into a stopped --read-only container's root: exit %d, %s", code, errs)
	}
	cpWrite(t, host, "newer\n")
	c.must("cp", host, "ro:/data/")
	if got := cpRead(t, filepath.Join(vol, "new")); got != "newer\n" {
		t.Errorf("copied into the --read-only container's volume: %q", got)
	}
	checkCpLeftNothing(t, c)
}

func ownerOf(t *testing.T, p string) [2]uint32 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Error(err)
		return [2]uint32{}
	}
	st := fi.Sys().(*syscall.Stat_t)
	return [2]uint32{st.Uid, st.Gid}
}

func inodeOf(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Error(err)
		return 0
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func tarNames(t *testing.T, s string) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(strings.NewReader(s))
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, hdr.Name)
	}
}

// checkCpLeftNothing: no mount of berth's root in the host's namespace,
// no work or mount directories in the container's.
func checkCpLeftNothing(t *testing.T, c *cli) {
	t.Helper()
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, filepath.Join(c.root, "containers")) {
			t.Errorf("mount left: %s", l)
		}
	}
	for _, pat := range []string{".cp-work-*", ".overlay-*"} {
		if m, _ := filepath.Glob(filepath.Join(c.root, "containers", "*", pat)); len(m) > 0 {
			t.Errorf("left in the container's directory: %v", m)
		}
	}
}
