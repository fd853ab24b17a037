package build

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"syscall"
	"time"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// owner is a uid and gid to give copied files.
type owner struct{ uid, gid int }

// copier writes files into a root directory (an image's, mounted),
// addressing them by their path in the image, so that the image's own
// symlinks are followed inside the root as the container would.
type copier struct {
	root  string
	owner *owner       // nil: keep the source's
	chmod *fs.FileMode // nil: keep the source's
	dirs  []dirTime    // directories whose times to set once filled
}

type dirTime struct {
	host  string
	mtime time.Time
}

// hostPath is where the image's path p (absolute) is on the host: its
// parent resolved inside the root, its last element as it is, so a
// symlink there is replaced rather than written through.
func (c *copier) hostPath(p string) (string, error) {
	parent, err := securejoin.SecureJoin(c.root, path.Dir(p))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, path.Base(p)), nil
}

// mkdirAll makes the image's directory p and any missing parents (0755,
// owned by --chown's owner or root) and returns its host path.
func (c *copier) mkdirAll(p string) (string, error) {
	if p == "/" {
		return c.root, nil
	}
	host, err := securejoin.SecureJoin(c.root, p)
	if err != nil {
		return "", err
	}
	fi, err := os.Stat(host)
	if err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("%s is not a directory in the image", p)
		}
		return host, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	if _, err := c.mkdirAll(path.Dir(p)); err != nil {
		return "", err
	}
	// The parent exists now; p's last element may be a dangling symlink
	// SecureJoin followed: make the directory where it pointed.
	if err := os.Mkdir(host, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	o := owner{}
	if c.owner != nil {
		o = *c.owner
	}
	if err := os.Lchown(host, o.uid, o.gid); err != nil {
		return "", err
	}
	return host, nil
}

// isDir reports whether the image's path p is a directory (following
// symlinks inside the root).
func (c *copier) isDir(p string) bool {
	host, err := securejoin.SecureJoin(c.root, p)
	if err != nil {
		return false
	}
	fi, err := os.Stat(host)
	return err == nil && fi.IsDir()
}

// entry copies one file, directory, symlink or device from host to the
// image's path p, with its mode and times and the copier's owner policy.
func (c *copier) entry(src string, info fs.FileInfo, p string) error {
	st, _ := info.Sys().(*syscall.Stat_t)
	o := owner{}
	switch {
	case c.owner != nil:
		o = *c.owner
	case st != nil:
		o = owner{int(st.Uid), int(st.Gid)}
	}
	mode := uint32(info.Mode().Perm())
	if st != nil {
		mode = st.Mode & 0o7777
	}
	if c.chmod != nil && info.Mode()&fs.ModeSymlink == 0 {
		mode = uint32(*c.chmod)
	}
	dst, err := c.hostPath(p)
	if err != nil {
		return err
	}
	existing, lerr := os.Lstat(dst)
	if info.IsDir() {
		if lerr == nil && existing.Mode()&fs.ModeSymlink != 0 && c.isDir(p) {
			// The image links this directory elsewhere (merged /usr's
			// /lib -> usr/lib): the copy goes where the link points.
			return nil
		}
		if lerr == nil && !existing.IsDir() {
			if err := os.Remove(dst); err != nil {
				return err
			}
			lerr = fs.ErrNotExist
		}
		if lerr != nil {
			if err := os.Mkdir(dst, 0o700); err != nil {
				return err
			}
		}
		if err := os.Lchown(dst, o.uid, o.gid); err != nil {
			return err
		}
		if err := os.Chmod(dst, fs.FileMode(mode&0o777)|modeBits(mode)); err != nil {
			return err
		}
		c.dirs = append(c.dirs, dirTime{dst, info.ModTime()})
		return nil
	}
	if lerr == nil {
		if err := os.RemoveAll(dst); err != nil {
			return err
		}
	}
	switch {
	case info.Mode().IsRegular():
		if err := copyFile(src, dst, mode, o); err != nil {
			return err
		}
	case info.Mode()&fs.ModeSymlink != 0:
		target, err := os.Readlink(src)
		if err != nil {
			return err
		}
		if err := os.Symlink(target, dst); err != nil {
			return err
		}
		if err := os.Lchown(dst, o.uid, o.gid); err != nil {
			return err
		}
	case info.Mode()&(fs.ModeDevice|fs.ModeNamedPipe) != 0 && st != nil:
		if err := unix.Mknod(dst, st.Mode, int(st.Rdev)); err != nil {
			return err
		}
		if err := os.Lchown(dst, o.uid, o.gid); err != nil {
			return err
		}
	default:
		return nil // sockets are not copied
	}
	ts := []unix.Timespec{unix.NsecToTimespec(info.ModTime().UnixNano()), unix.NsecToTimespec(info.ModTime().UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, dst, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// modeBits are setuid, setgid and sticky as os.FileMode bits.
func modeBits(m uint32) fs.FileMode {
	var b fs.FileMode
	if m&unix.S_ISUID != 0 {
		b |= fs.ModeSetuid
	}
	if m&unix.S_ISGID != 0 {
		b |= fs.ModeSetgid
	}
	if m&unix.S_ISVTX != 0 {
		b |= fs.ModeSticky
	}
	return b
}

func copyFile(src, dst string, mode uint32, o owner) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	// chown before chmod: chown clears setuid and setgid.
	if err := out.Chown(o.uid, o.gid); err != nil {
		out.Close()
		return err
	}
	if err := out.Chmod(fs.FileMode(mode&0o777) | modeBits(mode)); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// finish sets the times of the directories written, deepest first, now
// that nothing more goes into them.
func (c *copier) finish() error {
	for i := len(c.dirs) - 1; i >= 0; i-- {
		d := c.dirs[i]
		if err := os.Chtimes(d.host, d.mtime, d.mtime); err != nil {
			return err
		}
	}
	c.dirs = nil
	return nil
}

// writeFile writes data as the image's file p (a heredoc of COPY).
func (c *copier) writeFile(p string, data []byte, mode uint32, mtime time.Time) error {
	if _, err := c.mkdirAll(path.Dir(p)); err != nil {
		return err
	}
	dst, err := c.hostPath(p)
	if err != nil {
		return err
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	o := owner{}
	if c.owner != nil {
		o = *c.owner
	}
	if c.chmod != nil {
		mode = uint32(*c.chmod)
	}
	if err := os.WriteFile(dst, data, 0o600); err != nil {
		return err
	}
	if err := os.Lchown(dst, o.uid, o.gid); err != nil {
		return err
	}
	if err := os.Chmod(dst, fs.FileMode(mode&0o777)|modeBits(mode)); err != nil {
		return err
	}
	return os.Chtimes(dst, mtime, mtime)
}
