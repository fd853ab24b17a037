package image

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Limits caps what one layer may unpack to, against decompression bombs.
type Limits struct {
	Size    int64 // bytes of file content
	Entries int   // tar entries
}

// DefaultLimits are generous for real images (the largest public ones are
// a few GiB) and still stop a bomb before it fills an ordinary disk.
var DefaultLimits = Limits{Size: 64 << 30, Entries: 4 << 20}

const (
	whiteoutPrefix = ".wh."
	whiteoutMeta   = ".wh..wh."
	whiteoutOpaque = ".wh..wh..opq"
	overlayXattr   = "trusted.overlay."
	paxXattr       = "SCHILY.xattr."
)

// unpacker writes one layer's entries below root, a fresh directory that
// nobody else writes to. Because of that, a path whose directories it has
// checked (dirs) stays safe to use by name until it changes them itself.
type unpacker struct {
	root    string
	limits  Limits
	asRoot  bool
	size    int64
	entries int
	dirs    map[string]bool // layer-relative paths known to be real directories
	times   []dirTime       // directory mtimes, set last
	buf     []byte
}

type dirTime struct {
	path         string
	atime, mtime time.Time
}

// unpack extracts the tar stream tr into dir, which must exist and be
// empty, and returns the bytes of file content written.
func unpack(tr *tar.Reader, dir string, limits Limits) (int64, error) {
	u := &unpacker{
		root:   dir,
		limits: limits,
		asRoot: os.Geteuid() == 0,
		dirs:   map[string]bool{".": true},
		buf:    make([]byte, 256<<10),
	}
	rootSeen := false
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return 0, fmt.Errorf("reading layer tarball after %d entries: %w", u.entries, err)
		}
		u.entries++
		if u.entries > u.limits.Entries {
			return 0, &EntryError{Entry: hdr.Name, Reason: fmt.Sprintf("layer has more than %d entries", u.limits.Entries), Err: ErrLayerTooLarge}
		}
		rel, err := layerPath(hdr.Name)
		if err != nil {
			return 0, err
		}
		if rel == "." {
			rootSeen = true
		}
		if err := u.entry(tr, hdr, rel); err != nil {
			return 0, err
		}
	}
	if !rootSeen {
		// The layer's root is the container's "/" when it is the lowest
		// layer; MkdirTemp made it 0700.
		if err := os.Chmod(dir, 0o755); err != nil {
			return 0, err
		}
	}
	for i := len(u.times) - 1; i >= 0; i-- {
		dt := u.times[i]
		if err := os.Chtimes(filepath.Join(u.root, dt.path), dt.atime, dt.mtime); err != nil {
			return 0, fmt.Errorf("setting times of %q: %w", dt.path, err)
		}
	}
	return u.size, nil
}

// layerPath turns a tar entry name into a clean path relative to the
// layer's root ("." for the root itself), refusing names that leave it.
func layerPath(name string) (string, error) {
	rel := path.Clean(strings.TrimLeft(name, "/"))
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return "", unsafeEntry(name, "escapes the layer")
	}
	return rel, nil
}

func (u *unpacker) entry(tr *tar.Reader, hdr *tar.Header, rel string) error {
	parent, base := path.Split(rel)
	parent = path.Clean(parent)
	if strings.HasPrefix(base, whiteoutPrefix) {
		return u.whiteout(hdr, parent, base)
	}
	if err := u.checkDirs(hdr.Name, parent, true); err != nil {
		return err
	}
	target := filepath.Join(u.root, rel)
	if rel == "." && hdr.Typeflag != tar.TypeDir {
		return unsafeEntry(hdr.Name, "the layer's root must be a directory")
	}
	mode := uint32(hdr.Mode & 0o7777)
	if hdr.Typeflag == tar.TypeReg && rel != "." {
		// Most entries are new regular files: create first, and look at
		// what an earlier entry left only when the name is taken.
		done, err := u.newFile(tr, hdr, target, mode)
		if done || err != nil {
			return err
		}
	}
	if err := u.clear(hdr.Name, rel, hdr.Typeflag == tar.TypeDir); err != nil {
		return err
	}

	switch hdr.Typeflag {
	case tar.TypeDir:
		if !u.dirs[rel] {
			if err := os.Mkdir(target, 0o700); err != nil {
				return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
			}
			u.dirs[rel] = true
		}
	case tar.TypeReg, tar.TypeGNUSparse:
		if err := u.file(tr, hdr, target); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
		}
	case tar.TypeLink:
		return u.hardlink(hdr, target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		typ := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		dev := unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))
		if err := unix.Mknod(target, typ|mode, int(dev)); err != nil {
			return fmt.Errorf("layer entry %q: creating device node or fifo: %w", hdr.Name, err)
		}
	default:
		return unsafeEntry(hdr.Name, "unsupported entry type %q", hdr.Typeflag)
	}
	return u.metadata(hdr, rel, target, mode)
}

// checkDirs makes sure every directory of dir (layer-relative, clean) is
// a real directory of the layer, creating missing ones when create is
// set: tarballs need not list a file's directories before it.
func (u *unpacker) checkDirs(entry, dir string, create bool) error {
	if u.dirs[dir] {
		return nil
	}
	if parent := path.Dir(dir); parent != dir {
		if err := u.checkDirs(entry, parent, create); err != nil {
			return err
		}
	}
	p := filepath.Join(u.root, dir)
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := os.Mkdir(p, 0o755); err != nil {
			return fmt.Errorf("layer entry %q: creating %q: %w", entry, dir, err)
		}
	case errors.Is(err, fs.ErrNotExist):
		return unsafeEntry(entry, "%q is not in this layer", dir)
	case err != nil:
		return fmt.Errorf("layer entry %q: %w", entry, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		return unsafeEntry(entry, "path goes through symlink %q", dir)
	case !fi.IsDir():
		return unsafeEntry(entry, "path goes through %q, which is not a directory", dir)
	}
	u.dirs[dir] = true
	return nil
}

// clear removes what an earlier entry left at rel, as tar does when a
// later entry of the same name replaces it; a directory stays when the new
// entry is a directory too.
func (u *unpacker) clear(entry, rel string, isDir bool) error {
	if isDir && u.dirs[rel] {
		return nil
	}
	target := filepath.Join(u.root, rel)
	fi, err := os.Lstat(target)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("layer entry %q: %w", entry, err)
	}
	if fi.IsDir() {
		if isDir {
			u.dirs[rel] = true
			return nil
		}
		for d := range u.dirs {
			if d == rel || strings.HasPrefix(d, rel+"/") {
				delete(u.dirs, d)
			}
		}
	}
	if err := os.RemoveAll(target); err != nil {
		return fmt.Errorf("layer entry %q: replacing the earlier entry: %w", entry, err)
	}
	return nil
}

func (u *unpacker) file(tr *tar.Reader, hdr *tar.Header, target string) error {
	fd, err := u.createFile(hdr, target)
	if err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	defer unix.Close(fd)
	return u.fill(tr, hdr, fd)
}

// newFile creates the regular file of hdr and writes its content and
// metadata through the one descriptor, sparing a lookup of the path per
// step. done is false, with nothing written, when the name is taken: the
// caller clears it and goes the long way.
func (u *unpacker) newFile(tr *tar.Reader, hdr *tar.Header, target string, mode uint32) (done bool, err error) {
	fd, err := u.createFile(hdr, target)
	if errors.Is(err, unix.EEXIST) {
		return false, nil
	}
	if err != nil {
		return true, fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	defer unix.Close(fd)
	if err := u.fill(tr, hdr, fd); err != nil {
		return true, err
	}
	return true, u.fileMetadata(hdr, fd, mode)
}

// createFile makes a new regular file, never following a symlink and
// never opening one that exists, after checking hdr's size against what
// the layer may still take.
func (u *unpacker) createFile(hdr *tar.Header, target string) (int, error) {
	if hdr.Size < 0 || hdr.Size > u.limits.Size-u.size {
		return -1, &EntryError{Entry: hdr.Name, Err: ErrLayerTooLarge,
			Reason: fmt.Sprintf("%d bytes would take the layer past its limit of %d bytes", hdr.Size, u.limits.Size)}
	}
	for {
		fd, err := unix.Open(target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != unix.EINTR {
			return fd, err
		}
	}
}

// fill copies the entry's content into fd.
func (u *unpacker) fill(tr *tar.Reader, hdr *tar.Header, fd int) error {
	n, err := io.CopyBuffer(fdWriter(fd), io.LimitReader(tr, hdr.Size), u.buf)
	u.size += n
	if err == nil && n != hdr.Size {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	return nil
}

// fdWriter writes to a raw descriptor: no *os.File, whose poller
// registration costs two system calls per file for a file that is never
// waited on.
type fdWriter int

func (w fdWriter) Write(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		m, err := unix.Write(int(w), p[n:])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return n, err
		}
		n += m
	}
	return n, nil
}

// fileMetadata is metadata for a regular file, through its descriptor.
func (u *unpacker) fileMetadata(hdr *tar.Header, fd int, mode uint32) error {
	wrap := func(what string, err error) error {
		return fmt.Errorf("layer entry %q: setting %s: %w", hdr.Name, what, err)
	}
	if u.asRoot {
		if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
			return wrap("owner", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok || strings.HasPrefix(attr, overlayXattr) {
			continue
		}
		if err := unix.Fsetxattr(fd, attr, []byte(v), 0); err != nil {
			return wrap("xattr "+attr, err)
		}
	}
	if err := unix.Fchmod(fd, mode); err != nil {
		return wrap("mode", err)
	}
	if err := futimens(fd, accessTime(hdr), hdr.ModTime); err != nil {
		return wrap("times", err)
	}
	return nil
}

// futimens sets fd's times to the nanosecond: utimensat(2) with a NULL
// path, as the C library's futimens does (x/sys has only microseconds).
func futimens(fd int, atime, mtime time.Time) error {
	ts := [2]unix.Timespec{unix.NsecToTimespec(atime.UnixNano()), unix.NsecToTimespec(mtime.UnixNano())}
	_, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts[0])), 0, 0, 0)
	if errno != 0 {
		return errno
	}
	return nil
}

func (u *unpacker) hardlink(hdr *tar.Header, target string) error {
	rel, err := layerPath(hdr.Linkname)
	if err != nil {
		return unsafeEntry(hdr.Name, "hard link target %q escapes the layer", hdr.Linkname)
	}
	if rel == "." {
		return unsafeEntry(hdr.Name, "hard link to the layer's root")
	}
	if err := u.checkDirs(hdr.Name, path.Dir(rel), false); err != nil {
		return err
	}
	// link(2) does not follow a symlink in its last component: a link to a
	// symlink is a second name of the symlink, as in the tarball.
	if err := os.Link(filepath.Join(u.root, rel), target); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return unsafeEntry(hdr.Name, "hard link target %q is not in this layer", hdr.Linkname)
		}
		return fmt.Errorf("layer entry %q: hard link to %q: %w", hdr.Name, hdr.Linkname, err)
	}
	return nil
}

// whiteout turns an OCI whiteout into overlayfs's form.
func (u *unpacker) whiteout(hdr *tar.Header, parent, base string) error {
	if err := u.checkDirs(hdr.Name, parent, true); err != nil {
		return err
	}
	dir := filepath.Join(u.root, parent)
	if base == whiteoutOpaque {
		if err := unix.Lsetxattr(dir, overlayXattr+"opaque", []byte("y"), 0); err != nil {
			return fmt.Errorf("layer entry %q: marking %q opaque (needs root): %w", hdr.Name, parent, err)
		}
		return nil
	}
	if strings.HasPrefix(base, whiteoutMeta) {
		return nil
	}
	name := strings.TrimPrefix(base, whiteoutPrefix)
	if name == "" || name == "." || name == ".." {
		return unsafeEntry(hdr.Name, "whiteout of %q", name)
	}
	rel := path.Join(parent, name)
	if err := u.clear(hdr.Name, rel, false); err != nil {
		return err
	}
	target := filepath.Join(dir, name)
	if err := unix.Mknod(target, unix.S_IFCHR, 0); err != nil {
		return fmt.Errorf("layer entry %q: creating the overlay whiteout (needs root): %w", hdr.Name, err)
	}
	if err := os.Lchown(target, 0, 0); err != nil {
		return fmt.Errorf("layer entry %q: %w", hdr.Name, err)
	}
	return nil
}

// metadata applies ownership, xattrs, mode and times. Ownership comes
// before the mode, because chown(2) clears the setuid and setgid bits.
func (u *unpacker) metadata(hdr *tar.Header, rel, target string, mode uint32) error {
	wrap := func(what string, err error) error {
		return fmt.Errorf("layer entry %q: setting %s: %w", hdr.Name, what, err)
	}
	if u.asRoot {
		if err := os.Lchown(target, hdr.Uid, hdr.Gid); err != nil {
			return wrap("owner", err)
		}
	}
	for k, v := range hdr.PAXRecords {
		attr, ok := strings.CutPrefix(k, paxXattr)
		if !ok || strings.HasPrefix(attr, overlayXattr) {
			continue
		}
		if err := unix.Lsetxattr(target, attr, []byte(v), 0); err != nil {
			return wrap("xattr "+attr, err)
		}
	}
	if hdr.Typeflag == tar.TypeSymlink {
		ts := []unix.Timespec{unix.NsecToTimespec(accessTime(hdr).UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
		if err := unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return wrap("times", err)
		}
		return nil
	}
	if err := unix.Chmod(target, mode); err != nil {
		return wrap("mode", err)
	}
	if hdr.Typeflag == tar.TypeDir {
		u.times = append(u.times, dirTime{path: rel, atime: accessTime(hdr), mtime: hdr.ModTime})
		return nil
	}
	if err := os.Chtimes(target, accessTime(hdr), hdr.ModTime); err != nil {
		return wrap("times", err)
	}
	return nil
}

func accessTime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}
