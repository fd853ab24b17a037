package testutil

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// BusyboxPath is where Debian's busybox-static puts its binary; `make
// test` installs the package when it is missing.
const BusyboxPath = "/bin/busybox"

// BusyboxRootfs builds a minimal root filesystem in a temporary directory:
// a static busybox with a link for each applet, and passwd/group files
// with root, nobody, alice (1000, also in group staff) and bob (1001).
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	if err := WriteBusyboxRootfs(dir); err != nil {
		t.Fatalf("building busybox rootfs: %v (is busybox-static installed? make test installs it)", err)
	}
	return dir
}

// WriteBusyboxRootfs lays a busybox root filesystem down in dir.
func WriteBusyboxRootfs(dir string) error {
	bin := filepath.Join(dir, "bin")
	for _, d := range []string{bin, filepath.Join(dir, "etc"), filepath.Join(dir, "tmp"), filepath.Join(dir, "home/alice")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	if err := os.Chmod(filepath.Join(dir, "tmp"), os.ModeSticky|0o777); err != nil {
		return err
	}
	if err := copyFile(BusyboxPath, filepath.Join(bin, "busybox"), 0o755); err != nil {
		return err
	}
	out, err := exec.Command(BusyboxPath, "--list").Output()
	if err != nil {
		return err
	}
	for _, applet := range strings.Fields(string(out)) {
		if applet == "busybox" {
			continue
		}
		if err := os.Symlink("busybox", filepath.Join(bin, applet)); err != nil && !os.IsExist(err) {
			return err
		}
	}
	files := map[string]string{
		"etc/passwd": "root:x:0:0:root:/root:/bin/sh\n" +
			"nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n" +
			"alice:x:1000:1000:alice:/home/alice:/bin/sh\n" +
			"bob:x:1001:1001:bob:/home/bob:/bin/sh\n",
		"etc/group": "root:x:0:\nstaff:x:50:alice,bob\nalice:x:1000:\nbob:x:1001:\nnogroup:x:65534:\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func copyFile(src, dst string, mode os.FileMode) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
