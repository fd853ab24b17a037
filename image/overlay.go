package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// InOverlay mounts an overlay of lowers (bottom first; may be empty: then
// an empty read-only lower is used) with upper and work (existing, empty
// directories on the same file system) at a fresh temporary directory, in
// a mount namespace private to the calling OS thread, and calls fn with
// that root. fn must do all its file system work on the calling goroutine
// (no goroutines: other threads do not see the mount). The mount never
// appears in the host's namespace and disappears with the thread, so a
// crash leaves no mount behind.
//
// The root has upper's own mode and owner, as overlayfs gives it. The
// overlay is mounted with redirect_dir=off and metacopy=off whatever the
// kernel's defaults, so that upper holds every change in full, as
// WriteDiff needs. fn runs on a goroutine of its own, locked to a thread
// that exits after it: fn's "calling goroutine" is that one.
func InOverlay(lowers []string, upper, work string, fn func(root string) error) error {
	// The mount point and what the mount needs beside it (an empty lower,
	// short names of the lowers) live in one directory next to upper. Not
	// named .tmp-*: the store's cleaner of abandoned temporaries must not
	// take it, since removing a mount point detaches its mounts in every
	// namespace.
	base, err := os.MkdirTemp(filepath.Dir(upper), ".overlay-")
	if err != nil {
		return fmt.Errorf("making the overlay's mount point: %w", err)
	}
	defer os.RemoveAll(base)
	root := filepath.Join(base, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		return fmt.Errorf("making the overlay's mount point: %w", err)
	}
	if len(lowers) == 0 {
		empty := filepath.Join(base, "empty")
		if err := os.Mkdir(empty, 0o755); err != nil {
			return fmt.Errorf("making the overlay's empty lower: %w", err)
		}
		lowers = []string{empty}
	}
	done := make(chan outcome, 1)
	onThreadToDiscard(func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{panicked: p}
			}
		}()
		done <- outcome{err: mountAndRun(base, root, lowers, upper, work, fn)}
	})
	o := <-done
	if o.panicked != nil {
		panic(o.panicked) // fn's, passed on to the caller as if fn ran here
	}
	return o.err
}

type outcome struct {
	err      error
	panicked any
}

// onThreadToDiscard runs f on a goroutine locked to an OS thread that
// exits when f returns, taking any namespace f entered with it. That
// thread is never the process's main thread: Go cannot end that one and
// parks it for good instead, which would keep f's namespace (and its
// mounts) alive until the process exits.
func onThreadToDiscard(f func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			f() // no UnlockOSThread: the thread goes with the goroutine
			return
		}
		// On the main thread: keep it locked, so that the goroutine
		// below cannot land on it, and give it back when that is done.
		inner := make(chan struct{})
		go func() {
			defer close(inner)
			runtime.LockOSThread()
			f()
		}()
		<-inner
		runtime.UnlockOSThread()
	}()
}

// mountAndRun mounts the overlay at root and calls fn.
//
// Preconditions: on a locked OS thread that will exit afterwards.
func mountAndRun(base, root string, lowers []string, upper, work string, fn func(string) error) error {
	// CLONE_FS too: the thread's working directory (chdir'd to below) is
	// otherwise shared with every thread of the process.
	if err := unix.Unshare(unix.CLONE_NEWNS | unix.CLONE_FS); err != nil {
		return fmt.Errorf("making a private mount namespace for the overlay: %w", err)
	}
	// Nothing mounted from here on may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	data, err := overlayData(base, lowers, upper, work)
	if err != nil {
		return err
	}
	if err := unix.Mount("overlay", root, "overlay", 0, data); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mounting an overlay: overlayfs is not available (modprobe overlay, or a kernel built with CONFIG_OVERLAY_FS): %w", err)
		}
		return fmt.Errorf("mounting an overlay of %d layers on %s: %w (upper and work must be empty directories on one file system overlayfs can write to)", len(lowers), root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	fnErr := fn(root)
	// The mount would go with the thread anyway; unmounting frees it at
	// once, even if fn left a file of it open.
	if err := unix.Unmount(root, unix.MNT_DETACH); err != nil && fnErr == nil {
		return fmt.Errorf("unmounting the overlay at %s: %w", root, err)
	}
	return fnErr
}

// maxOverlayData is what mount(2) takes as options: one page.
const maxOverlayData = 4096

// overlayData is the overlay's mount options. When the lowers' paths do
// not fit in one page, it links each lower under base/l by a short name
// and changes the thread's working directory there, as the runtime's
// container mounts and Docker's overlay2 do: overlayfs resolves relative
// lowerdirs, and the links, when it mounts.
func overlayData(base string, lowers []string, upper, work string) (string, error) {
	rest := ",upperdir=" + upper + ",workdir=" + work + ",redirect_dir=off,metacopy=off"
	top := make([]string, len(lowers))
	for i, l := range lowers {
		top[len(lowers)-1-i] = l
	}
	data := "lowerdir=" + strings.Join(top, ":") + rest
	if len(data) <= maxOverlayData {
		return data, nil
	}
	dir := filepath.Join(base, "l")
	if err := os.Mkdir(dir, 0o700); err != nil {
		return "", fmt.Errorf("linking the overlay's layers: %w", err)
	}
	for i, l := range lowers {
		name := strconv.Itoa(i)
		if err := os.Symlink(l, filepath.Join(dir, name)); err != nil {
			return "", fmt.Errorf("linking the overlay's layers: %w", err)
		}
		top[len(lowers)-1-i] = name
	}
	if err := unix.Chdir(dir); err != nil {
		return "", fmt.Errorf("linking the overlay's layers: %w", err)
	}
	data = "lowerdir=" + strings.Join(top, ":") + rest
	if len(data) > maxOverlayData {
		return "", fmt.Errorf("mounting %d layers: more than one overlay mount takes (at most about 500)", len(lowers))
	}
	return data, nil
}
