package image

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// WriteDiff writes the changes an overlay upper directory records as an
// OCI layer tar (uncompressed) to w: files, directories, symlinks, hard
// links (as tar links within the layer), device nodes and fifos with
// their mode, owner, times and xattrs; a 0/0 character device (overlay's
// whiteout) as ".wh.<name>"; a directory with trusted.overlay.opaque=y as
// the directory plus "<dir>/.wh..wh..opq". Other trusted.overlay.* xattrs
// (origin, impure, nlink, redirect, metacopy...) are overlay's bookkeeping
// and are left out. Sockets are skipped. Entries are sorted by path, so
// the same directory gives the same bytes.
//
// Headers are Docker's (pkg/archive): mtimes truncated to the second, no
// access or change times, no user or group names, so that reading the
// files (which moves atime) does not change the layer's digest. The upper
// directory's own root is not an entry: it is the container's "/", which
// a layer does not carry.
func WriteDiff(w io.Writer, upper string) error {
	return writeDiff(w, upper, nil)
}

// WriteContainerDiff is WriteDiff for a container's upper directory over
// lowers (its image's layer directories, bottom first), leaving out the
// mount points its runtime made: each of stubs (paths relative to the
// root, as "proc" or "etc/hosts") that is an empty directory or empty
// file in upper and in none of lowers, and then each directory above one
// that holds nothing else and has the mode and owner it has in lowers (or
// is in none of them: made to hold the stub). Docker keeps such stubs in
// a layer of their own below the container's (its "init layer"), so that
// they never reach a commit; berth's runtime makes them in upper instead.
func WriteContainerDiff(w io.Writer, upper string, lowers, stubs []string) error {
	skip, err := createdStubs(upper, lowers, stubs)
	if err != nil {
		return err
	}
	return writeDiff(w, upper, skip)
}

func writeDiff(w io.Writer, upper string, skip map[string]bool) error {
	d := &differ{
		tw:    tar.NewWriter(w),
		upper: upper,
		skip:  skip,
		links: map[fileID]string{},
		buf:   make([]byte, 256<<10),
	}
	if err := d.dir(""); err != nil {
		return err
	}
	if err := d.tw.Close(); err != nil {
		return fmt.Errorf("writing the layer of %s: %w", upper, err)
	}
	return nil
}

// fileID names an inode, to find the other names of a hard-linked file.
type fileID struct{ dev, ino uint64 }

// differ walks one upper directory into one tar stream.
type differ struct {
	tw    *tar.Writer
	upper string
	skip  map[string]bool   // paths left out
	links map[fileID]string // files with more than one name: the first name written
	buf   []byte
}

// dir writes the entries of the upper directory's rel ("" for its root),
// each directory right before its contents, names in byte order.
func (d *differ) dir(rel string) error {
	entries, err := os.ReadDir(filepath.Join(d.upper, rel)) // sorted by name
	if err != nil {
		return fmt.Errorf("reading the container's changes: %w", err)
	}
	for _, e := range entries {
		child := path.Join(rel, e.Name())
		if d.skip[child] {
			continue
		}
		isDir, err := d.entry(child)
		if err != nil {
			return err
		}
		if isDir {
			if err := d.dir(child); err != nil {
				return err
			}
		}
	}
	return nil
}

// entry writes rel's header (and content) and says whether it is a
// directory to descend into.
func (d *differ) entry(rel string) (isDir bool, err error) {
	p := filepath.Join(d.upper, rel)
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, fmt.Errorf("reading the container's changes: %s: %w", p, err)
	}
	xattrs, overlay, err := readXattrs(p)
	if err != nil {
		return false, fmt.Errorf("reading the container's changes: xattrs of %s: %w", p, err)
	}
	if _, ok := overlay["metacopy"]; ok {
		return false, fmt.Errorf("%s has only its metadata in the container's upper directory (overlayfs metacopy=on): berth cannot read such a change; mount overlay with metacopy=off (the kernel default, or the overlay module's parameter metacopy=N)", p)
	}
	hdr := &tar.Header{
		Name:       rel,
		Mode:       int64(st.Mode & 0o7777),
		Uid:        int(st.Uid),
		Gid:        int(st.Gid),
		ModTime:    time.Unix(st.Mtim.Unix()).Truncate(time.Second),
		PAXRecords: xattrs,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		if _, ok := overlay["redirect"]; ok {
			return false, fmt.Errorf("%s is a renamed directory whose content overlayfs keeps under its old name (redirect_dir=on): berth cannot read such a change; mount overlay with redirect_dir=off", p)
		}
		hdr.Typeflag, hdr.Name = tar.TypeDir, rel+"/"
		if err := d.write(hdr); err != nil {
			return false, err
		}
		if bytes.Equal(overlay["opaque"], []byte("y")) {
			// Docker's form: a regular file inheriting the directory's
			// owner and permissions.
			opq := &tar.Header{Typeflag: tar.TypeReg, Name: rel + "/" + whiteoutOpaque,
				Mode: hdr.Mode & 0o777, Uid: hdr.Uid, Gid: hdr.Gid, ModTime: hdr.ModTime}
			if err := d.write(opq); err != nil {
				return false, err
			}
		}
		return true, nil
	case unix.S_IFCHR:
		if st.Rdev == 0 {
			// A whiteout. Checked before hard links: overlayfs makes its
			// whiteouts as links to one shared inode (Linux >= 5.8).
			dir, base := path.Split(rel)
			return false, d.write(&tar.Header{Typeflag: tar.TypeReg, Name: dir + whiteoutPrefix + base,
				Mode: 0o600, ModTime: hdr.ModTime})
		}
		hdr.Typeflag = tar.TypeChar
	case unix.S_IFBLK:
		hdr.Typeflag = tar.TypeBlock
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
	case unix.S_IFSOCK:
		return false, nil // a socket is a listening process's, not content
	case unix.S_IFLNK:
		hdr.Typeflag = tar.TypeSymlink
		if hdr.Linkname, err = os.Readlink(p); err != nil {
			return false, fmt.Errorf("reading the container's changes: %w", err)
		}
	case unix.S_IFREG:
		hdr.Typeflag = tar.TypeReg
	default:
		return false, fmt.Errorf("reading the container's changes: %s has an unknown file type %#o", p, st.Mode&unix.S_IFMT)
	}
	if hdr.Typeflag == tar.TypeChar || hdr.Typeflag == tar.TypeBlock {
		hdr.Devmajor, hdr.Devminor = int64(unix.Major(st.Rdev)), int64(unix.Minor(st.Rdev))
	}
	if st.Nlink > 1 {
		id := fileID{dev: st.Dev, ino: st.Ino}
		if first, ok := d.links[id]; ok {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			hdr.Devmajor, hdr.Devminor = 0, 0
			return false, d.write(hdr)
		}
		d.links[id] = rel
	}
	if hdr.Typeflag != tar.TypeReg {
		return false, d.write(hdr)
	}
	return false, d.file(hdr, p, st.Size)
}

// file writes a regular file's header and content.
func (d *differ) file(hdr *tar.Header, p string, size int64) error {
	f, err := os.OpenFile(p, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		return fmt.Errorf("reading the container's changes: %w", err)
	}
	defer f.Close()
	hdr.Size = size
	if err := d.write(hdr); err != nil {
		return err
	}
	n, err := io.CopyBuffer(d.tw, io.LimitReader(f, size), d.buf)
	if err == nil && n != size {
		err = fmt.Errorf("it shrank from %d to %d bytes while being read (is the container still writing it?)", size, n)
	}
	if err != nil {
		return fmt.Errorf("reading the container's changes: %s: %w", p, err)
	}
	return nil
}

func (d *differ) write(hdr *tar.Header) error {
	if err := d.tw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("writing the layer entry %q: %w", hdr.Name, err)
	}
	return nil
}

// readXattrs returns p's extended attributes as PAX records
// ("SCHILY.xattr.<name>"), and overlayfs's own (trusted.overlay.<key>)
// apart, by key.
func readXattrs(p string) (pax map[string]string, overlay map[string][]byte, err error) {
	names, err := listXattrs(p)
	if err != nil || len(names) == 0 {
		return nil, nil, err
	}
	for _, name := range names {
		val, err := getXattr(p, name)
		if errors.Is(err, unix.ENODATA) {
			continue // removed since it was listed
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", name, err)
		}
		if key, ok := strings.CutPrefix(name, overlayXattr); ok {
			if overlay == nil {
				overlay = map[string][]byte{}
			}
			overlay[key] = val
			continue
		}
		if pax == nil {
			pax = map[string]string{}
		}
		pax[paxXattr+name] = string(val)
	}
	return pax, overlay, nil
}

// listXattrs returns p's xattr names, sorted (the tar writer sorts PAX
// records too, but the order of errors should not depend on the disk).
func listXattrs(p string) ([]string, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Llistxattr(p, buf)
		if errors.Is(err, unix.ERANGE) && size < xattrListMax {
			size *= 4
			continue
		}
		if errors.Is(err, unix.ENOTSUP) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		var names []string
		for _, name := range strings.Split(string(buf[:n]), "\x00") {
			if name != "" {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		return names, nil
	}
}

// xattrListMax is past what Linux allows for a list or a value (64 KiB):
// growing the buffer stops there.
const xattrListMax = 1 << 20

func getXattr(p, name string) ([]byte, error) {
	size := 256
	for {
		buf := make([]byte, size)
		n, err := unix.Lgetxattr(p, name, buf)
		if errors.Is(err, unix.ERANGE) && size < xattrListMax {
			size *= 4
			continue
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}
