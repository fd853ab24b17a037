package testutil

import (
	"fmt"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
)

// BuildShim builds berth-shim into dir with the Makefile's shim target
// (gcc, static; it installs gcc and libc6-dev when missing) and returns its
// path: tests that start containers build it as they build berth-init.
func BuildShim(dir string) (string, error) {
	_, self, _, ok := goruntime.Caller(0)
	if !ok {
		return "", fmt.Errorf("building berth-shim: cannot find the source tree")
	}
	root := filepath.Join(filepath.Dir(self), "..", "..")
	out := filepath.Join(dir, "berth-shim")
	cmd := exec.Command("make", "-s", "-C", root, "shim", "SHIM_OUT="+out)
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building berth-shim (make shim): %v\n%s", err, b)
	}
	return out, nil
}
