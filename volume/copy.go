package volume

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// copier copies a tree with what Docker's copy-up keeps: content,
// ownership, modes (setuid and sticky bits too), times, symlinks as they
// are, hard links as links, device nodes and fifos, and extended
// attributes where the file systems allow.
//
// The source is read relative to open directories, one name at a time
// and never following a symlink (openat with O_NOFOLLOW), so a tree that
// changes while it is copied (a --rootfs directory a running container
// writes to) cannot steer the copy out of it. The destination is a
// staging directory no container sees, every directory of it made here.
type copier struct {
	links map[[2]uint64]string // (dev, ino) of a hard-linked source -> its first copy
}

// copyTree copies the directory open as src, whose stat is st, to dst,
// which must not exist.
func copyTree(src *os.File, st *unix.Stat_t, dst string) error {
	c := &copier{links: map[[2]uint64]string{}}
	return c.dir(src, st, dst)
}

func (c *copier) dir(src *os.File, st *unix.Stat_t, dst string) error {
	if err := os.Mkdir(dst, 0o700); err != nil {
		return err
	}
	names, err := src.Readdirnames(-1)
	if err != nil {
		return err
	}
	for _, name := range names {
		if err := c.entry(src, name, filepath.Join(dst, name)); err != nil {
			return err
		}
	}
	// Last: the entries landing in dst changed its times.
	return setMeta(xattrSource{fd: int(src.Fd())}, dst, st)
}

func (c *copier) entry(dir *os.File, name, dst string) error {
	var st unix.Stat_t
	if err := unix.Fstatat(int(dir.Fd()), name, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("lstat %s: %w", name, err)
	}
	// Entries that are not opened are read by a path through the open
	// directory, its last element never followed.
	at := xattrSource{fd: -1, path: "/proc/self/fd/" + strconv.Itoa(int(dir.Fd())) + "/" + name}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		f, fst, err := openAt(dir, name, unix.O_DIRECTORY, unix.S_IFDIR)
		if err != nil {
			return err
		}
		defer f.Close()
		return c.dir(f, fst, dst)
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if first, ok := c.links[key]; ok && st.Nlink > 1 {
			return os.Link(first, dst)
		}
		if st.Nlink > 1 {
			c.links[key] = dst
		}
		// O_NONBLOCK: should the file have become a fifo meanwhile, the
		// open must not hang; openAt refuses it then anyway.
		f, fst, err := openAt(dir, name, unix.O_NONBLOCK, unix.S_IFREG)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := copyFile(f, dst); err != nil {
			return err
		}
		return setMeta(xattrSource{fd: int(f.Fd())}, dst, fst)
	case unix.S_IFLNK:
		target, err := readlinkAt(dir, name)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
	case unix.S_IFCHR, unix.S_IFBLK, unix.S_IFIFO:
		// Made from the stat alone: opening a device could do something.
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return fmt.Errorf("mknod %s: %w", dst, err)
		}
	default:
		return nil // a socket belongs to a process that is not here
	}
	return setMeta(at, dst, &st)
}

// openAt opens name in dir without following a symlink, and checks it is
// still of the type the caller saw.
func openAt(dir *os.File, name string, flags int, typ uint32) (*os.File, *unix.Stat_t, error) {
	fd, err := unix.Openat(int(dir.Fd()), name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|flags, 0)
	if err != nil {
		return nil, nil, fmt.Errorf("opening %s: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), name)
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != typ {
		f.Close()
		return nil, nil, fmt.Errorf("%s changed while it was copied", name)
	}
	return f, &st, nil
}

func readlinkAt(dir *os.File, name string) (string, error) {
	for size := 256; ; size *= 2 {
		buf := make([]byte, size)
		n, err := unix.Readlinkat(int(dir.Fd()), name, buf)
		if err != nil {
			return "", fmt.Errorf("readlink %s: %w", name, err)
		}
		if n < size {
			return string(buf[:n]), nil
		}
	}
}

func copyFile(in *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil { // copy_file_range where it can
		out.Close()
		return fmt.Errorf("copying %s: %w", in.Name(), err)
	}
	return out.Close()
}

// setMeta gives dst the owner, extended attributes, mode and times of
// st, in that order: chown clears setuid bits and file capabilities.
func setMeta(src xattrSource, dst string, st *unix.Stat_t) error {
	if err := os.Lchown(dst, int(st.Uid), int(st.Gid)); err != nil && !skipOwnership(err) {
		return err
	}
	copyXattrs(src, dst)
	if st.Mode&unix.S_IFMT != unix.S_IFLNK {
		if err := unix.Chmod(dst, st.Mode&07777); err != nil {
			return fmt.Errorf("chmod %s: %w", dst, err)
		}
	}
	times := []unix.Timespec{st.Atim, st.Mtim}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, dst, times, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("setting the times of %s: %w", dst, err)
	}
	return nil
}

// skipOwnership: run by a user other than root, files belong to that user
// (as image unpacking does).
func skipOwnership(err error) bool {
	return os.Geteuid() != 0 && errors.Is(err, unix.EPERM)
}

// xattrSource is where extended attributes are read: an open file (fd),
// or a path whose last element is not followed (fd -1).
type xattrSource struct {
	fd   int
	path string
}

func (s xattrSource) list(buf []byte) (int, error) {
	if s.fd >= 0 {
		return unix.Flistxattr(s.fd, buf)
	}
	return unix.Llistxattr(s.path, buf)
}

func (s xattrSource) get(name string, buf []byte) (int, error) {
	if s.fd >= 0 {
		return unix.Fgetxattr(s.fd, name, buf)
	}
	return unix.Lgetxattr(s.path, name, buf)
}

// copyXattrs copies extended attributes to dst, best effort: the
// destination file system may not take some (user.* on symlinks, say),
// and overlayfs's own trusted.overlay.* never belong in a volume.
func copyXattrs(src xattrSource, dst string) {
	size, err := src.list(nil)
	if err != nil || size <= 0 {
		return
	}
	buf := make([]byte, size)
	if size, err = src.list(buf); err != nil {
		return
	}
	for _, name := range strings.Split(string(buf[:size]), "\x00") {
		if name == "" || strings.HasPrefix(name, "trusted.overlay.") {
			continue
		}
		n, err := src.get(name, nil)
		if err != nil {
			continue
		}
		val := make([]byte, n)
		if n, err = src.get(name, val); err != nil {
			continue
		}
		_ = unix.Lsetxattr(dst, name, val[:n], 0)
	}
}
