package runtime

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
	"github.com/berthproject/berth/runtime/containerinit"
)

// TestMain lets the test binary serve as a container's init: Start
// re-executes os.Executable(), which under `go test` is this binary. As
// root it builds berth-shim and a static berth-init first, and containers
// run those, handing over to the shim as they do beside an installed
// berth; TestWithoutShim runs the container tests again with
// BERTH_NO_SHIM=1, on this binary as the Go init.
func TestMain(m *testing.M) {
	containerinit.MaybeRun()
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	if os.Geteuid() == 0 && os.Getenv(NoShimEnv) != "1" {
		dir, err := os.MkdirTemp("", "berth-shim-test")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		defer os.RemoveAll(dir)
		if shimPath, err = testutil.BuildShim(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		// The shim starts exec helpers from the init binary inside the
		// container: that takes a static one, as make builds, not this
		// test binary (race builds are cgo's, dynamically linked).
		initPath = filepath.Join(dir, "berth-init")
		build := exec.Command("go", "build", "-o", initPath, "../cmd/berth-init")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "building berth-init: %v\n%s", err, out)
			return 1
		}
	}
	return m.Run()
}

// TestWithoutShim runs the tests of containers, exec and logs again with
// BERTH_NO_SHIM=1: the Go init supervises, as where berth-shim is not
// installed.
func TestWithoutShim(t *testing.T) {
	testutil.RequireRoot(t)
	if shimPath == "" {
		t.Skip("this run is the one without berth-shim")
	}
	cmd := exec.Command(os.Args[0], "-test.count=1", "-test.timeout=10m",
		"-test.run=^(TestRun_|TestExec_|TestDetached_|TestLogs_|TestKill_|TestStop_|TestRemove_|TestShim_)")
	cmd.Env = append(os.Environ(), NoShimEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the tests without berth-shim: %v\n%s", err, out)
	}
	t.Logf("without berth-shim:\n%s", out)
}
