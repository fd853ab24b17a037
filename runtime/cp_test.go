package runtime

import (
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

// TestInRoot_StaleRunningRootfs: a container read as running whose init
// has gone is copied as stopped, in its --rootfs directory, where
// symlinks out of it resolve inside it.
func TestInRoot_StaleRunningRootfs(t *testing.T) {
	testutil.RequireRoot(t)
	secret := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(secret, []byte("host\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	rootfs := t.TempDir()
	for name, target := range map[string]string{"abs": "/", "rel": "../../../../../../.."} {
		if err := os.Symlink(target, filepath.Join(rootfs, name)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(rootfs, "inside"), []byte("in\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	c := &Container{Dir: t.TempDir(), Config: Config{Name: "c", Rootfs: rootfs},
		State: State{Running: true, Pid: gone.Process.Pid}}
	ran := false
	err := InRoot(c, nil, func() error {
		ran = true
		if b, err := os.ReadFile("/inside"); err != nil || string(b) != "in\n" {
			t.Errorf("/inside in the root: %q, %v", b, err)
		}
		for _, p := range []string{"/abs" + secret, "/rel" + secret, secret} {
			if _, err := os.ReadFile(p); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("reading %s in the root: %v; want it missing", p, err)
			}
		}
		return os.WriteFile("/rel/written", nil, 0o600)
	})
	if err != nil || !ran {
		t.Fatalf("InRoot: %v (fn ran: %v)", err, ran)
	}
	if _, err := os.Stat(filepath.Join(rootfs, "written")); err != nil {
		t.Errorf("a write through ../.. did not land in the root: %v", err)
	}
	// The test's own thread kept the host's root.
	if _, err := os.Stat(secret); err != nil {
		t.Errorf("after InRoot: %v", err)
	}
}
