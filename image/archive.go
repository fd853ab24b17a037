package image

import (
	"archive/tar"
	"bufio"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
)

// archive is a tar file read by entry name: an index of where each
// entry's content lies, so that manifest.json, which `docker save` writes
// last, can be read first, and layers read in any order or in parallel.
type archive struct {
	f       *os.File
	entries map[string]archiveEntry
}

type archiveEntry struct {
	offset, size int64
	link         string // a symlink's target, or a hard link's name
	dir          bool
}

// openArchive indexes the tar archive in f, which must be seekable and
// uncompressed (spoolArchive makes it so).
func openArchive(f *os.File) (*archive, error) {
	a := &archive{f: f, entries: map[string]archiveEntry{}}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		switch {
		case errors.Is(err, io.EOF) && len(a.entries) == 0:
			return nil, errors.New("the archive is empty")
		case errors.Is(err, io.EOF):
			return a, nil
		case errors.Is(err, tar.ErrHeader) && len(a.entries) == 0:
			return nil, errors.New("this is not a tar archive (nor a gzip, bzip2, xz or zstd-compressed one)")
		case err != nil:
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		name := archiveName(hdr.Name)
		switch hdr.Typeflag {
		case tar.TypeReg:
			// tar.Reader reads whole 512-byte blocks and no more, so the
			// file's offset now is where the entry's content starts.
			off, err := f.Seek(0, io.SeekCurrent)
			if err != nil {
				return nil, err
			}
			a.entries[name] = archiveEntry{offset: off, size: hdr.Size}
		case tar.TypeSymlink:
			// Docker's legacy format links a layer that two images share.
			a.entries[name] = archiveEntry{link: path.Join(path.Dir(name), hdr.Linkname)}
		case tar.TypeLink:
			a.entries[name] = archiveEntry{link: archiveName(hdr.Linkname)}
		case tar.TypeDir:
			a.entries[name] = archiveEntry{dir: true}
		}
	}
}

// archiveName cleans an entry name: "./a//b" and "/a/b" are "a/b". Names
// are only keys of the index, never paths on the host, so ".." can reach
// nothing outside the archive.
func archiveName(n string) string {
	return strings.TrimPrefix(path.Clean("/"+n), "/")
}

// open returns the content of the entry name, following links within the
// archive.
func (a *archive) open(name string) (*io.SectionReader, error) {
	name = archiveName(name)
	for hops := 0; hops < 16; hops++ {
		e, ok := a.entries[name]
		if !ok {
			return nil, fmt.Errorf("the archive has no file %q", name)
		}
		if e.dir {
			return nil, fmt.Errorf("the archive's %q is a directory", name)
		}
		if e.link == "" {
			return io.NewSectionReader(a.f, e.offset, e.size), nil
		}
		name = archiveName(e.link)
	}
	return nil, fmt.Errorf("the archive's %q is a loop of links", name)
}

func (a *archive) has(name string) bool {
	_, ok := a.entries[archiveName(name)]
	return ok
}

// readSmall reads an entry that holds metadata (a manifest, a config),
// refusing one too large to be that.
func (a *archive) readSmall(name string) ([]byte, error) {
	r, err := a.open(name)
	if err != nil {
		return nil, err
	}
	const max = 16 << 20
	if r.Size() > max {
		return nil, fmt.Errorf("the archive's %q is %d bytes, too large for metadata", name, r.Size())
	}
	return io.ReadAll(r)
}

// spoolArchive returns r as an uncompressed, seekable file: r itself when
// it is a plain tar file, otherwise a temporary copy (decompressed when r
// is gzip, bzip2, xz or zstd) in dir that is unlinked at once, so that
// nothing is left behind whatever happens to this process.
func spoolArchive(ctx context.Context, r io.Reader, dir string) (f *os.File, err error) {
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 256<<10)
	comp := detect(br)
	if file, ok := r.(*os.File); ok && comp == plain {
		if fi, err := file.Stat(); err == nil && fi.Mode().IsRegular() {
			if _, err := file.Seek(0, io.SeekStart); err == nil {
				return file, nil
			}
		}
	}
	var in io.Reader = br
	var wait func() error
	switch comp {
	case gzipC:
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		in = zr
	case bzip2C:
		in = bzip2.NewReader(br)
	case xzC, zstdC:
		rc, w, err := decompressor(ctx, comp, br)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		in, wait = rc, w
	}
	tmp, err := os.CreateTemp(dir, ".tmp-load-")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name())
	defer func() {
		if err != nil {
			tmp.Close()
		}
	}()
	if _, err := io.Copy(tmp, in); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	if wait != nil {
		if err := wait(); err != nil {
			return nil, err
		}
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return tmp, nil
}
