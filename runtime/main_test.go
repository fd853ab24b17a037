package runtime

import (
	"os"
	"testing"
)

// TestMain lets the test binary serve as a container's init: Start
// re-executes os.Executable(), which under `go test` is this binary.
func TestMain(m *testing.M) {
	MaybeRunInit()
	os.Exit(m.Run())
}
