package build

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// unpackArchive unpacks the local file src into the image's directory dst
// when it is a tar archive (plain, gzip, bzip2 or xz), as ADD does, and
// reports whether it was one. Like the store's unpacker it refuses entries
// that leave dst ("..") or would be written through a symlink.
func unpackArchive(cp *copier, src, dst string) (bool, error) {
	f, err := os.Open(src)
	if err != nil {
		return false, err
	}
	defer f.Close()
	r, wait, err := decompressed(f)
	if err != nil {
		return false, nil // not an archive we know: copied as it is
	}
	defer wait()
	br := bufio.NewReaderSize(r, 1024)
	head, _ := br.Peek(512)
	if !isTarHeader(head) {
		return false, nil
	}
	root, err := cp.mkdirAll(dst)
	if err != nil {
		return true, err
	}
	tr := tar.NewReader(br)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return true, cp.finish()
		}
		if err != nil {
			return true, fmt.Errorf("reading the archive: %w", err)
		}
		if err := cp.tarEntry(tr, hdr, root); err != nil {
			return true, fmt.Errorf("archive entry %q: %w", hdr.Name, err)
		}
	}
}

// isTarHeader reports whether b starts with a tar header: the ustar magic,
// or an old-style header whose checksum is right.
func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	if bytes.Equal(b[257:262], []byte("ustar")) {
		return true
	}
	_, err := tar.NewReader(bytes.NewReader(b)).Next()
	return err == nil || errors.Is(err, io.EOF) && !bytes.Equal(b, make([]byte, 512))
}

// decompressed reads f through what its magic bytes say: gzip, bzip2, xz
// (through the xz program, as Docker does) or nothing. wait ends the
// decompressor.
func decompressed(f *os.File) (io.Reader, func(), error) {
	magic := make([]byte, 6)
	n, _ := io.ReadFull(f, magic)
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return nil, nil, err
	}
	magic = magic[:n]
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		z, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	case bytes.HasPrefix(magic, []byte("BZh")):
		return bzip2.NewReader(f), func() {}, nil
	case bytes.HasPrefix(magic, []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}):
		cmd := exec.Command("xz", "-dc")
		cmd.Stdin = f
		out, err := cmd.StdoutPipe()
		if err != nil {
			return nil, nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, nil, fmt.Errorf("xz: %w (install xz-utils)", err)
		}
		return out, func() { out.Close(); _ = cmd.Wait() }, nil
	}
	return f, func() {}, nil
}

// tarEntry writes one archive entry under the host directory root.
func (cp *copier) tarEntry(tr *tar.Reader, hdr *tar.Header, root string) error {
	rel := path.Clean(strings.TrimPrefix(hdr.Name, "/"))
	if rel == "." {
		return nil
	}
	if rel == ".." || strings.HasPrefix(rel, "../") {
		return errors.New("the entry leaves the destination")
	}
	if err := checkNoSymlinks(root, path.Dir(rel)); err != nil {
		return err
	}
	target := filepath.Join(root, rel)
	o := owner{hdr.Uid, hdr.Gid}
	if cp.owner != nil {
		o = *cp.owner
	}
	mode := uint32(hdr.Mode) & 0o7777
	if cp.chmod != nil {
		mode = uint32(*cp.chmod)
	}
	fmode := fs.FileMode(mode&0o777) | modeBits(mode)
	if fi, err := os.Lstat(target); err == nil && !(fi.IsDir() && hdr.Typeflag == tar.TypeDir) {
		if err := os.RemoveAll(target); err != nil {
			return err
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		if err := os.Mkdir(target, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
			return err
		}
		if err := os.Lchown(target, o.uid, o.gid); err != nil {
			return err
		}
		if err := os.Chmod(target, fmode); err != nil {
			return err
		}
		cp.dirs = append(cp.dirs, dirTime{target, hdr.ModTime})
		return nil
	case tar.TypeReg, tar.TypeRegA:
		f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return err
		}
		if err := f.Chown(o.uid, o.gid); err != nil {
			f.Close()
			return err
		}
		if err := f.Chmod(fmode); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
	case tar.TypeSymlink:
		if err := os.Symlink(hdr.Linkname, target); err != nil {
			return err
		}
		if err := os.Lchown(target, o.uid, o.gid); err != nil {
			return err
		}
	case tar.TypeLink:
		link := path.Clean(strings.TrimPrefix(hdr.Linkname, "/"))
		if link == ".." || strings.HasPrefix(link, "../") {
			return errors.New("a hard link to outside the destination")
		}
		if err := checkNoSymlinks(root, path.Dir(link)); err != nil {
			return err
		}
		return os.Link(filepath.Join(root, link), target)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		kind := map[byte]uint32{tar.TypeChar: unix.S_IFCHR, tar.TypeBlock: unix.S_IFBLK, tar.TypeFifo: unix.S_IFIFO}[hdr.Typeflag]
		if err := unix.Mknod(target, kind|mode, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor)))); err != nil {
			return err
		}
		if err := os.Lchown(target, o.uid, o.gid); err != nil {
			return err
		}
	default:
		return nil // pax and GNU bookkeeping entries
	}
	ts := []unix.Timespec{unix.NsecToTimespec(hdr.ModTime.UnixNano()), unix.NsecToTimespec(hdr.ModTime.UnixNano())}
	return unix.UtimesNanoAt(unix.AT_FDCWD, target, ts, unix.AT_SYMLINK_NOFOLLOW)
}

// checkNoSymlinks makes the directories of rel under root, refusing to go
// through a symlink: an archive must not steer a write with its own links.
func checkNoSymlinks(root, rel string) error {
	if rel == "." || rel == "" {
		return nil
	}
	cur := root
	for _, elem := range strings.Split(rel, "/") {
		cur = filepath.Join(cur, elem)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(cur, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("it would be written through the symlink %s", strings.TrimPrefix(cur, root))
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", strings.TrimPrefix(cur, root))
		}
	}
	return nil
}
