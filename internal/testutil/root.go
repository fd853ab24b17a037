// Package testutil holds helpers for berth's tests. Only _test.go files
// import it.
package testutil

import (
	"os"
	"testing"
)

// RequireRoot skips t unless we are root. Under CI=true it fails instead:
// a privileged test that quietly skips in CI is a regression nobody sees.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("needs root, and CI=true forbids skipping; run: sudo -E make test")
	}
	t.Skip("needs root; include it with: sudo -E make test")
}
