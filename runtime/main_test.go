package runtime

import (
	"os"
	"testing"

	"github.com/berthproject/berth/runtime/containerinit"
)

// TestMain lets the test binary serve as a container's init: Start
// re-executes os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	containerinit.MaybeRun()
	os.Exit(m.Run())
}
