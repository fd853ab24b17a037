package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// hostMounts is the mount table of the calling test's own thread, which
// is in the host's mount namespace.
func hostMounts(t *testing.T) string {
	t.Helper()
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestInOverlay(t *testing.T) {
	testutil.RequireRoot(t)
	lower, upper, work, _ := overlayDirs(t)
	writeFiles(t, lower, map[string]string{"from-lower": "lower\n"})

	// fn stops half-way, so that the test can look at the host's mounts
	// while the overlay is mounted.
	inside, resume := make(chan string), make(chan struct{})
	result := make(chan error, 1)
	var sawLower string
	go func() {
		result <- InOverlay([]string{lower}, upper, work, func(root string) error {
			b, err := os.ReadFile(filepath.Join(root, "from-lower"))
			if err != nil {
				return err
			}
			sawLower = string(b)
			var fs unix.Statfs_t
			if err := unix.Statfs(root, &fs); err != nil || fs.Type != unix.OVERLAYFS_SUPER_MAGIC {
				return fmt.Errorf("root is no overlay: type %#x, %v", fs.Type, err)
			}
			if err := os.WriteFile(filepath.Join(root, "written"), []byte("by fn\n"), 0o644); err != nil {
				return err
			}
			inside <- root
			<-resume
			return nil
		})
	}()
	var root string
	select {
	case root = <-inside:
	case err := <-result:
		t.Fatalf("InOverlay: %v", err)
	}
	if m := hostMounts(t); strings.Contains(m, root) || strings.Contains(m, upper) {
		t.Errorf("the host's mount table shows the overlay at %s:\n%s", root, m)
	}
	close(resume)
	if err := <-result; err != nil {
		t.Fatalf("InOverlay: %v", err)
	}
	if sawLower != "lower\n" {
		t.Errorf("fn read %q from the lower file", sawLower)
	}
	if b, err := os.ReadFile(filepath.Join(upper, "written")); err != nil || string(b) != "by fn\n" {
		t.Errorf("fn's file in upper: %q, %v", b, err)
	}
	if _, err := os.Stat(root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the mount point %s is left: %v", root, err)
	}
	if m := hostMounts(t); strings.Contains(m, upper) {
		t.Errorf("an overlay is left in the host's mount table:\n%s", m)
	}
}

func TestInOverlay_NoLowersAndFnError(t *testing.T) {
	testutil.RequireRoot(t)
	_, upper, work, _ := overlayDirs(t)
	boom := errors.New("boom")
	err := InOverlay(nil, upper, work, func(root string) error {
		entries, err := os.ReadDir(root)
		if err != nil || len(entries) != 0 {
			t.Errorf("the root over no lowers: %v, %v", entries, err)
		}
		if err := os.Mkdir(filepath.Join(root, "d"), 0o755); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Errorf("InOverlay returned %v, want fn's error", err)
	}
	if fi, err := os.Stat(filepath.Join(upper, "d")); err != nil || !fi.IsDir() {
		t.Errorf("fn's directory in upper: %v", err)
	}
}

// Lowers whose paths do not fit in one page of mount options are mounted
// through short links.
func TestInOverlay_ManyLowers(t *testing.T) {
	testutil.RequireRoot(t)
	_, upper, work, _ := overlayDirs(t)
	base := filepath.Join(t.TempDir(), strings.Repeat("a-long-directory-name-", 3))
	var lowers []string
	for i := range 130 {
		l := filepath.Join(base, "layer-"+strings.Repeat("x", 10)+string(rune('a'+i%26))+"-"+strconv.Itoa(i))
		writeFiles(t, l, map[string]string{"f" + strconv.Itoa(i): strconv.Itoa(i)})
		lowers = append(lowers, l)
	}
	if n := len(strings.Join(lowers, ":")); n <= maxOverlayData {
		t.Fatalf("the lowers take %d bytes: the test needs more than a page", n)
	}
	err := InOverlay(lowers, upper, work, func(root string) error {
		for _, name := range []string{"f0", "f64", "f129"} {
			if _, err := os.Stat(filepath.Join(root, name)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("InOverlay of 130 lowers: %v", err)
	}
}
