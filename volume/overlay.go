package volume

import (
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// overlayView mounts layers (bottom first) as a read-only overlay that is
// attached to no mount tree the host sees, and returns an fd of its root:
// the mount vanishes with the fd, even if berth is killed. Overlayfs
// without an upper layer needs two lower layers, so an empty detached
// tmpfs lies under them (as in runtime's sealed init). Layers are named
// by short /proc/self/fd/N paths.
//
// Linux >= 6.8 takes the layers one by one (fsconfig "lowerdir+"), with
// no limit on their number. Older kernels want one lowerdir string, which
// fsconfig caps at 256 bytes but mount(2) takes up to a page; so there the
// overlay is mounted with mount(2) in a mount namespace of its own (see
// privateOverlay), on a directory made in scratch.
func overlayView(layers []string, scratch string) (int, error) {
	var fds []int
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	var paths []string
	for i := len(layers) - 1; i >= 0; i-- { // overlayfs wants the top first
		fd, err := unix.Open(layers[i], unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, fmt.Errorf("opening layer %s: %w", layers[i], err)
		}
		fds = append(fds, fd)
		paths = append(paths, "/proc/self/fd/"+strconv.Itoa(fd))
	}
	empty, err := detachedMount("tmpfs", nil)
	if err != nil {
		return -1, err
	}
	fds = append(fds, empty)
	paths = append(paths, "/proc/self/fd/"+strconv.Itoa(empty))
	fd, err := detachedMount("overlay", func(fsfd int) error {
		for _, p := range paths {
			if err := unix.FsconfigSetString(fsfd, "lowerdir+", p); err != nil {
				return err
			}
		}
		return nil
	})
	if err == nil {
		return fd, nil
	}
	fd, err2 := privateOverlay(strings.Join(paths, ":"), scratch)
	if err2 != nil {
		return -1, fmt.Errorf("mounting a read-only overlay of %d layers: %w (layer by layer: %v)", len(layers), err2, err)
	}
	return fd, nil
}

// maxOverlayData is what mount(2) takes as options: one page.
const maxOverlayData = 4096

// privateOverlay mounts a read-only overlay of lowerdir with mount(2) on
// a new directory in scratch, inside a mount namespace that only a
// throwaway thread enters, and returns an fd of the overlay's root. The
// host never sees the mount; when the thread exits its namespace goes and
// the mount is detached, but the fd keeps it readable, as a detached
// mount's. The directory is removed before returning.
func privateOverlay(lowerdir, scratch string) (int, error) {
	data := "lowerdir=" + lowerdir
	if len(data) > maxOverlayData {
		return -1, fmt.Errorf("the image has too many layers for one overlay mount on this kernel (Linux >= 6.8 takes any number)")
	}
	target, err := os.MkdirTemp(scratch, ".copyup-view-")
	if err != nil {
		return -1, err
	}
	defer os.Remove(target)
	type result struct {
		fd  int
		err error
	}
	done := make(chan result, 1)
	go func() {
		// Never unlocked: Go ends the thread with the goroutine, and the
		// namespace with the thread.
		goruntime.LockOSThread()
		fd, err := func() (int, error) {
			if err := unix.Unshare(unix.CLONE_NEWNS); err != nil {
				return -1, fmt.Errorf("unshare mount namespace: %w", err)
			}
			if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
				return -1, fmt.Errorf("making mounts private: %w", err)
			}
			if err := unix.Mount("overlay", target, "overlay", unix.MS_RDONLY|unix.MS_NODEV|unix.MS_NOSUID, data); err != nil {
				return -1, fmt.Errorf("mount overlay: %w", err)
			}
			return unix.Open(target, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}()
		done <- result{fd, err}
	}()
	r := <-done
	return r.fd, r.err
}

// detachedMount makes a read-only mount of fstype, configured by config,
// that only the returned fd reaches.
func detachedMount(fstype string, config func(fsfd int) error) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if config != nil {
		if err := config(fsfd); err != nil {
			return -1, fmt.Errorf("configuring %s: %w", fstype, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("creating %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}
