package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// Overlayer mounts an overlay of lowers (bottom first) under upper, with
// work as overlayfs's work directory, somewhere only the calling OS thread
// sees, and calls fn with its root on that thread; image.InOverlay is one.
// runtime takes it as a parameter because it must not import image.
type Overlayer func(lowers []string, upper, work string, fn func(root string) error) error

// InRoot calls fn on an OS thread whose root directory (chroot(2)) is c's
// root file system as c's processes see it, and whose working directory is
// that root's "/". fn's paths are the container's paths: the kernel
// resolves every ".." and every symlink, absolute or relative, inside that
// root, for each system call, so a symlink in the container (say /etc ->
// /) can never make fn touch the host's files, even if the container
// swaps it while fn works. fn must do all its file work on the calling
// goroutine: other threads keep the host's root. The thread is thrown away
// afterwards, so the chroot leaves with it.
//
// Which root:
//   - Running: the init's /proc/PID/root. That link is the init's view of
//     its own mount namespace, so the volumes, tmpfs mounts and the
//     /etc files berth binds are there too, as `docker cp` shows them. The
//     init is checked to be still the container's after the root is opened,
//     so a recycled pid cannot hand fn another process's root.
//   - Stopped or never started, from an image: an overlay of c's layers
//     and its upper directory, mounted by overlay in a mount namespace
//     private to the thread, with a fresh work directory (c's own "work"
//     belongs to the container's mount). c's bind mounts (volumes) are
//     bound into that namespace at their destinations when those exist, so
//     a copy into a volume lands in the volume, as Docker's does. tmpfs
//     mounts are gone with the container and are not there. A --read-only
//     container's root is mounted read-only, as it is when it runs.
//   - Stopped, run on a directory (--rootfs): that directory.
//
// A stopped container that is started while fn runs gets its own overlay
// of the same upper directory beside ours, which overlayfs does not
// define; copy into a container while it is either running or stopped,
// not while it starts.
func InRoot(c *Container, overlay Overlayer, fn func() error) error {
	if c.State.Running {
		err := onThreadToDiscard(func() error { return inRunningRoot(c, fn) })
		if !errors.Is(err, errInitGone) {
			return err
		}
		// It stopped since c was read, before fn ran: copy as stopped.
		stopped := *c
		if stopped.State = readState(c.Dir); stopped.State.Running {
			return err
		}
		c = &stopped
	}
	if len(c.Config.Layers) == 0 {
		return onThreadToDiscard(func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("giving the copying thread a root of its own: %w", err)
			}
			return chrootAndRun(c.Config.Rootfs, fn)
		})
	}
	work, err := os.MkdirTemp(c.Dir, ".cp-work-")
	if err != nil {
		return fmt.Errorf("making a work directory for container %s's file system: %w", c.Name(), err)
	}
	defer os.RemoveAll(work)
	return overlay(c.Config.Layers, filepath.Join(c.Dir, "upper"), work, func(root string) error {
		if c.Config.ReadOnly {
			// As the container sees it (--read-only): its volumes,
			// bound below, stay writable.
			if err := unix.Mount("", root, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, ""); err != nil {
				return fmt.Errorf("making container %s's root read-only, as it runs: %w", c.Name(), err)
			}
		}
		if err := bindVolumes(root, c.Config.Mounts); err != nil {
			return err
		}
		// overlay's thread has its own fs_struct already (CLONE_FS), so
		// the chroot is that thread's alone.
		return chrootAndRun(root, fn)
	})
}

// inRunningRoot enters the running container c's root and calls fn.
//
// Preconditions: on a locked OS thread that will exit afterwards.
func inRunningRoot(c *Container, fn func() error) error {
	// Root and working directory are per process unless the thread has
	// its own fs_struct; without this the chroot would move every thread.
	if err := unix.Unshare(unix.CLONE_FS); err != nil {
		return fmt.Errorf("giving the copying thread a root of its own: %w", err)
	}
	pid := c.State.Pid
	root, err := unix.Open("/proc/"+strconv.Itoa(pid)+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("container %s: opening the root of its init (pid %d): %w", c.Name(), pid, stoppedErr(err))
	}
	defer unix.Close(root)
	// Is pid still the container's init? Checked after the open, so the
	// root we hold cannot belong to a later process with the same pid.
	var s started
	if err := readJSON(filepath.Join(c.Dir, stateFile), &s); err != nil || s.Pid != pid || !alive(pid, s.PidStart) {
		return fmt.Errorf("container %s stopped while berth was opening its file system: %w", c.Name(), errInitGone)
	}
	if err := unix.Fchdir(root); err != nil {
		return fmt.Errorf("container %s: entering its root: %w", c.Name(), err)
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("container %s: entering its root: %w", c.Name(), err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	return fn()
}

// errInitGone: the container's init went away before fn ran; InRoot
// then copies as for a stopped container.
var errInitGone = fmt.Errorf("its init is gone: %w", ErrNotRunning)

// stoppedErr is err, saying errInitGone when the process is gone.
func stoppedErr(err error) error {
	if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
		return fmt.Errorf("%w: %w", errInitGone, err)
	}
	return err
}

// chrootAndRun makes root the thread's root directory and calls fn.
//
// Preconditions: on a locked OS thread with its own fs_struct, which will
// exit afterwards.
func chrootAndRun(root string, fn func() error) error {
	// The way back, for the overlay's caller, which unmounts by its path
	// on the host.
	host, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(host)
	if err := unix.Chroot(root); err != nil {
		return fmt.Errorf("entering the container's root %s: %w", root, err)
	}
	if err := unix.Chdir("/"); err != nil {
		return err
	}
	fnErr := fn()
	if err := unix.Fchdir(host); err != nil {
		return err
	}
	if err := unix.Chroot("."); err != nil {
		return fmt.Errorf("leaving the container's root: %w", err)
	}
	return fnErr
}

// bindVolumes binds the bind mounts among mounts onto the overlay at root,
// each at its destination resolved inside root, read-only where the
// container has it so. A destination the container lacks is skipped: its
// init makes it at start, and a copy to it goes to the container's layer.
//
// Preconditions: in a mount namespace private to this thread.
func bindVolumes(root string, mounts []Mount) error {
	for _, m := range mounts {
		if m.Type != "bind" {
			continue
		}
		target, err := securejoin.SecureJoin(root, m.Destination)
		if err != nil {
			return fmt.Errorf("finding the mount point %s in the container: %w", m.Destination, err)
		}
		if _, err := os.Lstat(target); errors.Is(err, fs.ErrNotExist) {
			continue
		}
		// O_PATH|O_NOFOLLOW: mount onto what SecureJoin found, never
		// through a symlink put there since.
		fd, err := unix.Open(target, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("opening the mount point %s in the container: %w", m.Destination, err)
		}
		at := "/proc/self/fd/" + strconv.Itoa(fd)
		err = unix.Mount(m.Source, at, "", unix.MS_BIND|unix.MS_REC, "")
		unix.Close(fd)
		if err == nil && m.ReadOnly {
			// By path: the fd still names what the bind now covers.
			err = unix.Mount("", target, "", unix.MS_BIND|unix.MS_REMOUNT|unix.MS_RDONLY, "")
		}
		if err != nil {
			return fmt.Errorf("binding volume %s at %s: %w", m.Source, m.Destination, err)
		}
	}
	return nil
}

// onThreadToDiscard runs f on a goroutine locked to an OS thread that exits
// when f returns, taking its chroot with it, and returns f's error. That
// thread is never the main thread: Go parks a locked main thread instead
// of ending it.
func onThreadToDiscard(f func() error) error {
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			done <- f() // no UnlockOSThread: the thread goes with the goroutine
			return
		}
		inner := make(chan error, 1)
		go func() {
			goruntime.LockOSThread()
			inner <- f()
		}()
		done <- <-inner
		goruntime.UnlockOSThread()
	}()
	return <-done
}
