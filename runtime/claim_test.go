package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// A name claim without a container directory belongs to a create at work
// while its lock is held, and is free at once when its create died.
func TestClaim_LockedUntilCreateEnds(t *testing.T) {
	m := testManager(t)
	id, err := NewID()
	if err != nil {
		t.Fatal(err)
	}
	held, err := m.claim("web-1", id)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := NewID()
	if _, err := m.claim("web-1", other); !errors.Is(err, ErrNameInUse) {
		t.Fatalf("a claim whose create is at work was taken: %v", err)
	}
	held.Close() // the create dies before making its directory
	f, err := m.claim("web-1", other)
	if err != nil {
		t.Fatalf("a dead create's claim is not free: %v", err)
	}
	f.Close()
	if b, _ := os.ReadFile(filepath.Join(m.root, "names", "web-1")); string(b) != other {
		t.Errorf("names/web-1 = %q, want %q", b, other)
	}
	if tmps, _ := filepath.Glob(filepath.Join(m.root, "names", ".claim-*")); len(tmps) > 0 {
		t.Errorf("claim temporaries left: %v", tmps)
	}
}
