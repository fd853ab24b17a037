package main

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// The two halves of a copy: writeCpTar packs SRC into a tar stream,
// unpackCpTar unpacks one into a directory. One of them runs inside the
// container's root (runtime.InRoot), the other on the host, joined by a
// pipe, so neither ever resolves a path of the other side.

// writeCpTar writes src (a file or a directory tree) to w, its top entry
// named name; name "." leaves the top out and writes what the directory
// holds. follow resolves src itself if it is a symlink (cp -L); symlinks
// below it are copied as symlinks. Sockets are skipped, as tar cannot
// hold them. Files linked to one another stay hard links.
func writeCpTar(w io.Writer, src, name string, follow bool) error {
	tw := tar.NewWriter(w)
	if follow {
		// Resolved once, up front: every open below refuses symlinks.
		// In a container's root the kernel keeps this inside it.
		resolved, err := filepath.EvalSymlinks(src)
		if err != nil {
			return err
		}
		src = resolved
	}
	fi, err := os.Lstat(src)
	if err != nil {
		return err
	}
	cw := &cpTarWriter{tw: tw, links: map[fileID]string{}}
	if err := cw.add(src, name, fi); err != nil {
		return err
	}
	return tw.Close()
}

// cpTarWriter writes one tree, remembering the files with several links.
type cpTarWriter struct {
	tw    *tar.Writer
	links map[fileID]string // the entry name a linked file was first written as
}

type fileID struct{ dev, ino uint64 }

// add writes p, then what it holds if it is a directory.
func (cw *cpTarWriter) add(p, name string, fi fs.FileInfo) error {
	if name != "." {
		if err := cw.writeEntry(p, name, fi); err != nil {
			return err
		}
	}
	if !fi.IsDir() {
		return nil
	}
	ents, err := os.ReadDir(p)
	if err != nil {
		return err
	}
	for _, e := range ents {
		child := filepath.Join(p, e.Name())
		cfi, err := os.Lstat(child)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since we listed it (a running container)
		}
		if err != nil {
			return err
		}
		if err := cw.add(child, path.Join(name, e.Name()), cfi); err != nil {
			return err
		}
	}
	return nil
}

// namelessInfo keeps tar.FileInfoHeader from looking up user and group
// names: numeric ids are what a copy keeps, and inside a container's root
// the lookup would read the container's /etc/passwd.
type namelessInfo struct{ fs.FileInfo }

func (namelessInfo) Uname() (string, error) { return "", nil }
func (namelessInfo) Gname() (string, error) { return "", nil }

func (cw *cpTarWriter) writeEntry(p, name string, fi fs.FileInfo) error {
	tw := cw.tw
	if fi.Mode()&fs.ModeSocket != 0 {
		return nil
	}
	link := ""
	if fi.Mode()&fs.ModeSymlink != 0 {
		var err error
		if link, err = os.Readlink(p); err != nil {
			return err
		}
	}
	hdr, err := tar.FileInfoHeader(namelessInfo{fi}, link)
	if err != nil {
		return fmt.Errorf("%s: %w", p, err)
	}
	hdr.Name = name
	if fi.IsDir() {
		hdr.Name += "/"
	}
	if !fi.Mode().IsRegular() {
		return tw.WriteHeader(hdr)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && st.Nlink > 1 {
		id := fileID{uint64(st.Dev), st.Ino}
		if first, seen := cw.links[id]; seen {
			hdr.Typeflag, hdr.Linkname, hdr.Size = tar.TypeLink, first, 0
			return tw.WriteHeader(hdr)
		}
		cw.links[id] = name
	}
	// O_NOFOLLOW|O_NONBLOCK: what Lstat saw as a file may have become a
	// symlink or a FIFO since (a running container); never block on a FIFO.
	fd, err := unix.Open(p, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", p, err)
	}
	f := os.NewFile(uintptr(fd), p)
	defer f.Close()
	if now, err := f.Stat(); err != nil || !now.Mode().IsRegular() {
		return fmt.Errorf("%s changed while it was copied: it is no longer a regular file", p)
	}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if n, err := io.CopyN(tw, f, hdr.Size); err != nil {
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%s shrank while it was copied (%d of %d bytes)", p, n, hdr.Size)
		}
		return fmt.Errorf("reading %s: %w", p, err)
	}
	return nil
}

// cpOwner is who owns what unpackCpTar makes: the tar's owners with keep
// (cp -a), else uid:gid.
type cpOwner struct {
	keep     bool
	uid, gid int
}

// unpackCpTar unpacks the tar stream r into the directory dir. An entry
// that exists already is replaced, unless both are directories, as Docker
// does; so a symlink in the way is removed, never written through. An
// entry's parents must be directories, not symlinks; ones the stream lacks
// are made. Entries naming ".." or absolute paths are refused.
func unpackCpTar(r io.Reader, dir string, own cpOwner) error {
	tr := tar.NewReader(r)
	type dirTimes struct {
		path  string
		mtime time.Time
	}
	var dirs []dirTimes
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the tar stream: %w", err)
		}
		name := path.Clean(hdr.Name)
		if name == "." || hdr.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("tar entry %q: outside the destination directory", hdr.Name)
		}
		if err := cpParents(dir, name); err != nil {
			return err
		}
		target := filepath.Join(dir, name)
		if err := unpackCpEntry(tr, hdr, dir, target); err != nil {
			return err
		}
		uid, gid := own.uid, own.gid
		if own.keep {
			uid, gid = hdr.Uid, hdr.Gid
		}
		if err := os.Lchown(target, uid, gid); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeSymlink {
			continue
		}
		// After chown, which clears set-user-ID bits.
		if err := os.Chmod(target, hdr.FileInfo().Mode()&(fs.ModePerm|fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky)); err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeDir {
			dirs = append(dirs, dirTimes{target, hdr.ModTime})
		} else if err := os.Chtimes(target, hdr.ModTime, hdr.ModTime); err != nil {
			return err
		}
	}
	// Directories last: unpacking into one changes its mtime.
	for _, d := range slices.Backward(dirs) {
		if err := os.Chtimes(d.path, d.mtime, d.mtime); err != nil {
			return err
		}
	}
	return nil
}

// cpParents makes sure each parent of name below dir is a directory,
// making the missing ones.
func cpParents(dir, name string) error {
	p := dir
	parts := strings.Split(path.Dir(name), "/")
	for _, part := range parts {
		if part == "." {
			break
		}
		p = filepath.Join(p, part)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.Mkdir(p, 0o755); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		if !fi.IsDir() {
			return fmt.Errorf("unpacking %q: %s is not a directory (a symlink is never written through)", name, p)
		}
	}
	return nil
}

// unpackCpEntry makes target, one entry of the stream.
func unpackCpEntry(tr *tar.Reader, hdr *tar.Header, dir, target string) error {
	if fi, err := os.Lstat(target); err == nil {
		if fi.IsDir() && hdr.Typeflag == tar.TypeDir {
			return nil
		}
		if err := os.RemoveAll(target); err != nil {
			return fmt.Errorf("replacing %s: %w", target, err)
		}
	}
	switch hdr.Typeflag {
	case tar.TypeDir:
		return os.Mkdir(target, 0o700)
	case tar.TypeReg, tar.TypeRegA:
		fd, err := unix.Open(target, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return fmt.Errorf("creating %s: %w", target, err)
		}
		f := os.NewFile(uintptr(fd), target)
		if _, err := io.Copy(f, tr); err != nil {
			f.Close()
			return fmt.Errorf("writing %s: %w", target, err)
		}
		return f.Close()
	case tar.TypeSymlink:
		return os.Symlink(hdr.Linkname, target)
	case tar.TypeLink:
		old := path.Clean(hdr.Linkname)
		if path.IsAbs(old) || old == ".." || strings.HasPrefix(old, "../") {
			return fmt.Errorf("tar entry %q: hard link to %q, outside the destination directory", hdr.Name, hdr.Linkname)
		}
		return unix.Linkat(unix.AT_FDCWD, filepath.Join(dir, old), unix.AT_FDCWD, target, 0)
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		mode := uint32(unix.S_IFIFO)
		switch hdr.Typeflag {
		case tar.TypeChar:
			mode = unix.S_IFCHR
		case tar.TypeBlock:
			mode = unix.S_IFBLK
		}
		return unix.Mknod(target, mode|0o600, int(unix.Mkdev(uint32(hdr.Devmajor), uint32(hdr.Devminor))))
	}
	return fmt.Errorf("tar entry %q: type %q is not supported", hdr.Name, hdr.Typeflag)
}
