package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// InitBinaryName is the container init's own binary, installed beside
// berth. Without it berth re-executes itself as the init, which works the
// same but starts slower: berth's own packages all initialise first.
const InitBinaryName = "berth-init"

// initBinary is berth-init beside the running binary, or the running
// binary itself.
func initBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding berth's own binary: %w", err)
	}
	beside := filepath.Join(filepath.Dir(self), InitBinaryName)
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return beside, nil
	}
	return self, nil
}

// sealedExe opens the container init's binary in a way no container can write
// to, however it gets hold of it (CVE-2019-5736: a container process opens
// /proc/<init>/exe and overwrites the host's binary).
//
// The preferred way, as runc >= 1.2 does it, is a read-only overlayfs mount
// made with the new mount API and never attached anywhere: the file we open
// through it is on a read-only filesystem nobody can remount, and it shares
// the page cache of the real binary, so a hundred containers cost one copy.
// Kernels without fsopen(2) get a sealed memfd copy instead.
//
// The returned file is close-on-exec; exec it as /proc/self/fd/N before
// closing it.
func sealedExe() (*os.File, error) {
	self, err := initBinary()
	if err != nil {
		return nil, err
	}
	f, ovErr := overlayExe(self)
	if ovErr == nil {
		return f, nil
	}
	f, err = memfdExe(self)
	if err != nil {
		return nil, fmt.Errorf("sealing a copy of %s (overlay: %v): %w", self, ovErr, err)
	}
	return f, nil
}

// overlayExe opens self through a detached read-only overlay of its
// directory. Overlayfs without an upper layer needs two lower layers, and
// layers may not nest; the second is an empty tmpfs that is itself never
// attached anywhere, so it cannot nest with whatever directory berth is in.
func overlayExe(self string) (*os.File, error) {
	empty, err := detachedMount("tmpfs", "")
	if err != nil {
		return nil, err
	}
	defer unix.Close(empty)
	lower := filepath.Dir(self) + ":/proc/self/fd/" + strconv.Itoa(empty)
	mfd, err := detachedMount("overlay", lower)
	if err != nil {
		return nil, err
	}
	defer unix.Close(mfd)
	fd, err := unix.Openat(mfd, filepath.Base(self), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s through the overlay: %w", filepath.Base(self), err)
	}
	return os.NewFile(uintptr(fd), "berth-sealed"), nil
}

// detachedMount makes a read-only mount of fstype (with lowerdir, for an
// overlay) that is attached to no mount tree: only the returned fd reaches
// it, and it vanishes with the last fd.
func detachedMount(fstype, lowerdir string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if lowerdir != "" {
		if err := unix.FsconfigSetString(fsfd, "lowerdir", lowerdir); err != nil {
			return -1, fmt.Errorf("%s lowerdir=%s: %w", fstype, lowerdir, err)
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

// memfdExe copies self into a memfd and seals it against every change.
func memfdExe(self string) (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate("berth-init", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "berth-sealed")
	if _, err := dst.ReadFrom(src); err != nil {
		dst.Close()
		return nil, fmt.Errorf("copying %s: %w", self, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("sealing memfd: %w", err)
	}
	return dst, nil
}
