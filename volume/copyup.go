package volume

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// CopyUp copies what the directory path holds in the root filesystem at
// root into v, as Docker does when a container first mounts a volume:
// only when v is empty and path is a directory there (symlinks resolved
// inside root). The volume's root takes the directory's owner and mode.
func CopyUp(v *Volume, root, path string) error {
	rfd, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("copying %s into volume %q: opening %s: %w", path, v.Name, root, err)
	}
	defer unix.Close(rfd)
	return copyUp(v, rfd, path)
}

// copyUp is CopyUp from the root open as rootfd.
func copyUp(v *Volume, rootfd int, path string) error {
	if filepath.Clean("/"+path) == "/" {
		return fmt.Errorf("copying into volume %q: a volume cannot be mounted on /", v.Name)
	}
	data := v.Mountpoint()
	if empty, err := isEmpty(data); err != nil || !empty {
		return err
	}
	src, err := openInRoot(rootfd, path)
	if err != nil || src == nil {
		return err // nil, nil: nothing there to copy, as in Docker
	}
	defer src.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(src.Fd()), &st); err != nil {
		return fmt.Errorf("copying %s into volume %q: %w", path, v.Name, err)
	}
	// Staged where no container looks, so a crash or a failure leaves the
	// volume as empty as it was, not half-filled.
	tmp, err := os.MkdirTemp(v.dir, ".copyup-")
	if err != nil {
		return fmt.Errorf("copying %s into volume %q: %w", path, v.Name, err)
	}
	defer os.RemoveAll(tmp)
	stage := filepath.Join(tmp, "d")
	if err := copyTree(src, &st, stage); err != nil {
		return fmt.Errorf("copying %s into volume %q: %w", path, v.Name, err)
	}
	if err := moveInto(stage, data); err != nil {
		return fmt.Errorf("copying %s into volume %q: %w", path, v.Name, err)
	}
	if err := copyOwnership(&st, data); err != nil {
		return fmt.Errorf("copying the owner and mode of %s to volume %q: %w", path, v.Name, err)
	}
	return nil
}

// openInRoot opens the directory path inside the tree at rootfd, every
// symlink resolved as if rootfd were "/", so none leads out of it. It
// returns nil, nil when there is no directory there. openat2(2) does it
// in the kernel, race-free; where it is missing (Linux < 5.6) the path is
// resolved with filepath-securejoin, which a tree changing meanwhile could
// race.
func openInRoot(rootfd int, path string) (*os.File, error) {
	how := &unix.OpenHow{
		Flags:   unix.O_RDONLY | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	fd, err := unix.Openat2(rootfd, path, how)
	for i := 0; errors.Is(err, unix.EAGAIN) && i < 16; i++ { // a rename raced the lookup
		fd, err = unix.Openat2(rootfd, path, how)
	}
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EPERM) {
		fd, err = openSecureJoin(rootfd, path)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("opening %s in the image: %w", path, err)
	}
	return os.NewFile(uintptr(fd), path), nil
}

func openSecureJoin(rootfd int, path string) (int, error) {
	p, err := securejoin.SecureJoin("/proc/self/fd/"+strconv.Itoa(rootfd), path)
	if err != nil {
		return -1, err
	}
	return unix.Open(p, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
}

// moveInto renames stage's entries into data, unless data got something
// meanwhile (another copy-up, or a container that already writes there):
// then data stays as it is. RENAME_NOREPLACE keeps even a racing writer's
// files.
func moveInto(stage, data string) error {
	if empty, err := isEmpty(data); err != nil || !empty {
		return err
	}
	ents, err := os.ReadDir(stage)
	if err != nil {
		return err
	}
	for _, e := range ents {
		err := unix.Renameat2(unix.AT_FDCWD, filepath.Join(stage, e.Name()), unix.AT_FDCWD, filepath.Join(data, e.Name()), unix.RENAME_NOREPLACE)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return err
		}
	}
	return nil
}

// copyOwnership gives the volume's root the source directory's owner and
// mode, as Docker's copy-up does.
func copyOwnership(st *unix.Stat_t, data string) error {
	if err := os.Lchown(data, int(st.Uid), int(st.Gid)); err != nil && !skipOwnership(err) {
		return err
	}
	return unix.Chmod(data, st.Mode&07777)
}

func isEmpty(dir string) (bool, error) {
	f, err := os.Open(dir)
	if err != nil {
		return false, err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return false, nil
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return false, err
	}
	return true, nil
}

// CopyUpLayers is CopyUp from the image whose unpacked layers (bottom
// first) are layers. It reads them through a read-only overlay attached to
// no mount tree: overlayfs applies the layers' whiteouts and opaque
// directories, nothing is mounted on the host, and the view vanishes with
// its file descriptor, even if berth is killed.
func CopyUpLayers(v *Volume, layers []string, path string) error {
	if len(layers) == 0 {
		return nil
	}
	if empty, err := isEmpty(v.Mountpoint()); err != nil || !empty {
		return err // no need to mount anything
	}
	fd, err := overlayView(layers, v.dir)
	if err != nil {
		return fmt.Errorf("reading the image for volume %q: %w", v.Name, err)
	}
	defer unix.Close(fd)
	return copyUp(v, fd, path)
}
