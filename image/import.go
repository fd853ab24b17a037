package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/bzip2"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// Import turns a root-filesystem tarball (plain, gzip, bzip2, xz or
// zstd-compressed, told apart by their magic bytes) into a one-layer image
// named name, like `docker import`. A gzip tarball becomes the layer blob
// as it is; any other is stored gzip-compressed (see doc.go). An image
// that had the name before keeps its layers and dangles.
func (s *Store) Import(ctx context.Context, r io.Reader, name string) (*Image, error) {
	n, err := NormalizeName(name)
	if err != nil {
		return nil, err
	}
	s.cleanTemps()
	l, err := s.ingest(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("importing %s: %w", n, err)
	}
	defer l.discard()

	now := time.Now().UTC()
	cfg := v1.ConfigFile{
		Architecture: goruntime.GOARCH,
		OS:           "linux",
		Created:      v1.Time{Time: now},
		RootFS:       v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{l.diffID}},
		History:      []v1.History{{Created: v1.Time{Time: now}, CreatedBy: "berth image import", Comment: "imported from a tarball"}},
	}
	if goruntime.GOARCH == "arm64" {
		cfg.Variant = "v8"
	}
	cfgJSON, err := json.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	cfgDigest, err := s.writeBlob(cfgJSON)
	if err != nil {
		return nil, err
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfgJSON)), Digest: cfgDigest},
		Layers:        []v1.Descriptor{{MediaType: types.OCILayer, Size: l.blobSize, Digest: l.blob}},
	}
	mJSON, err := json.Marshal(m)
	if err != nil {
		return nil, err
	}
	mDigest, err := s.writeBlob(mJSON)
	if err != nil {
		return nil, err
	}

	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if err := l.commit(s, l.diffID); err != nil { // one layer: chain ID = diff ID
		return nil, err
	}
	// A Remove may have deleted the config or manifest blob between
	// writeBlob and the lock, when an identical image went: write them again.
	for _, b := range [][]byte{cfgJSON, mJSON} {
		if _, err := s.writeBlob(b); err != nil {
			return nil, err
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	nameManifest(idx, n, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(mJSON)), Digest: mDigest})
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	return s.load(idx, mDigest)
}

// maxTrailer caps what a layer may hold after the end of its tar archive.
// tar pads to its record size (10 KiB for GNU tar); nothing real needs
// megabytes.
const maxTrailer = 16 << 20

// ingested is a layer read from a tarball: unpacked into a temporary
// directory, its blob in a temporary file, both invisible until commit.
type ingested struct {
	diffID   v1.Hash
	blob     v1.Hash
	blobSize int64
	size     int64  // unpacked bytes
	dir      string // temporary layer directory, "" once committed
	blobTmp  string // temporary blob file, "" once committed
	// The temporaries' locks (temp.go), held until each is renamed into
	// the store or removed: a killed ingest's leftovers are cleaned.
	dirLock  *os.File
	blobLock *os.File // the blob file itself
}

// discard removes what commit did not move into the store.
func (l *ingested) discard() {
	if l.dir != "" {
		os.RemoveAll(l.dir)
		l.dir = ""
	}
	if l.blobTmp != "" {
		os.Remove(l.blobTmp)
		l.blobTmp = ""
	}
	closeLock(&l.dirLock)
	closeLock(&l.blobLock)
}

func closeLock(f **os.File) {
	if *f != nil {
		(*f).Close()
		*f = nil
	}
}

// commit moves the layer directory to its chain ID and the blob to its
// digest. When another import got there first, ours stays behind for
// discard. Preconditions: s.lock held.
func (l *ingested) commit(s *Store, chainID v1.Hash) error {
	info, _ := json.Marshal(layerInfo{DiffID: l.diffID, Size: l.size, Blob: l.blob})
	dst := s.LayerPath(chainID)
	if _, err := os.Stat(dst); err != nil {
		if err := writeFileAtomic(dst+".json", info); err != nil {
			return err
		}
		if err := os.Rename(l.dir, dst); err != nil {
			return fmt.Errorf("storing layer %s: %w", chainID, err)
		}
		l.dir = ""
		closeLock(&l.dirLock)
		if err := syncDir(s.layerDir()); err != nil {
			return err
		}
	}
	if _, err := os.Stat(s.blobPath(l.blob)); err != nil {
		if err := os.Rename(l.blobTmp, s.blobPath(l.blob)); err != nil {
			return fmt.Errorf("storing layer blob %s: %w", l.blob, err)
		}
		l.blobTmp = ""
		closeLock(&l.blobLock)
		if err := syncDir(s.blobDir()); err != nil {
			return err
		}
	}
	return nil
}

type compression string

const (
	plain  compression = "plain"
	gzipC  compression = "gzip"
	bzip2C compression = "bzip2"
	xzC    compression = "xz"
	zstdC  compression = "zstd"
)

func detect(br *bufio.Reader) compression {
	b, _ := br.Peek(6) // a short input is a broken tarball; tar says so
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		return gzipC
	case bytes.HasPrefix(b, []byte("BZh")):
		return bzip2C
	case bytes.HasPrefix(b, []byte{0xfd, '7', 'z', 'X', 'Z', 0}):
		return xzC
	case bytes.HasPrefix(b, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return zstdC
	}
	return plain
}

// adjective describes content of compression c: "zstd-compressed".
func (c compression) adjective() string {
	if c == plain {
		return "uncompressed"
	}
	return string(c) + "-compressed"
}

// ingest reads one layer tarball from r in a single pass: it hashes the
// uncompressed stream for the diff ID, writes the compressed blob and
// unpacks the entries, all as the bytes arrive. The compression is told
// by the magic bytes; gzip input is kept as the blob, any other is stored
// gzip-compressed.
func (s *Store) ingest(ctx context.Context, r io.Reader) (*ingested, error) {
	return s.ingestLayer(ctx, r, layerInput{})
}

// layerInput says how ingestLayer takes its input.
type layerInput struct {
	// comp is the compression the input must have, as a pulled layer's
	// media type says; "" takes whichever the magic bytes tell.
	comp compression
	// keep stores the input as the blob byte for byte, whatever its
	// compression: a pulled blob must keep the digest its manifest names.
	// Without keep, only gzip input is kept.
	keep bool
	// zstd decodes zstd in-process; nil runs the zstd program (doc.go).
	zstd func(io.Reader) (io.ReadCloser, error)
	// gunzip decodes gzip; nil uses compress/gzip.
	gunzip func(io.Reader) (io.Reader, error)
	// callerHashes says the caller hashes the input as it reads it (a
	// pull checks the blob digest anyway) and sets blob itself: with keep,
	// the blob is the input, and hashing it twice costs a pull 5% of its CPU.
	callerHashes bool
	// deferSync leaves the flush to disk to the caller, who makes one
	// syncfs(2) for all the layers it ingests before committing them: each
	// syncfs waits for the whole file system, so one per layer serialises
	// parallel layers on each other's writes.
	deferSync bool
}

// ingestLayer is ingest with a say in how the input is read.
func (s *Store) ingestLayer(ctx context.Context, r io.Reader, in layerInput) (_ *ingested, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	br := bufio.NewReaderSize(ctxReader{ctx, r}, 256<<10)
	comp := detect(br)
	if in.comp != "" && comp != in.comp {
		return nil, fmt.Errorf("the content is %s, not %s", comp.adjective(), in.comp.adjective())
	}
	keep := in.keep || comp == gzipC

	l := &ingested{}
	defer func() {
		if err != nil {
			l.discard()
		}
	}()
	blobFile, err := tempFile(s.blobDir(), tempPrefix+"layer-")
	if err != nil {
		return nil, err
	}
	l.blobTmp, l.blobLock = blobFile.Name(), blobFile
	blobHash := sha256.New()
	blobOut := &countWriter{w: io.MultiWriter(blobFile, blobHash)}
	if in.callerHashes && keep {
		blobOut.w = blobFile
	}

	raw := io.Reader(br)
	if keep {
		raw = io.TeeReader(br, blobOut)
	}
	var stream io.Reader
	var wait []func() error // run after the stream is drained
	switch comp {
	case gzipC:
		gunzip := in.gunzip
		if gunzip == nil {
			gunzip = func(r io.Reader) (io.Reader, error) { return gzip.NewReader(r) }
		}
		zr, err := gunzip(raw)
		if err != nil {
			return nil, fmt.Errorf("reading gzip input: %w", err)
		}
		stream = zr
	case plain:
		stream = raw
	case bzip2C:
		stream = bzip2.NewReader(raw)
	case zstdC, xzC:
		if comp == zstdC && in.zstd != nil {
			zr, err := in.zstd(raw)
			if err != nil {
				return nil, fmt.Errorf("reading zstd input: %w", err)
			}
			// Closing waits for the decoder's reading goroutine, which
			// writes the blob when keep is set.
			defer zr.Close()
			stream, wait = zr, append(wait, zr.Close)
			break
		}
		out, w, err := decompressor(ctx, comp, raw)
		if err != nil {
			return nil, err
		}
		defer out.Close()
		stream, wait = out, append(wait, w)
	}
	if !keep {
		pw, done := compressTo(blobOut)
		defer pw.CloseWithError(errors.New("import aborted"))
		stream = io.TeeReader(stream, pw)
		wait = append(wait, func() error { pw.Close(); return <-done })
	}
	diffHash := sha256.New()
	stream = io.TeeReader(stream, diffHash)

	l.dir, l.dirLock, err = tempDir(s.layerDir(), tempPrefix)
	if err != nil {
		return nil, err
	}
	l.size, err = unpack(tar.NewReader(stream), l.dir, s.Limits)
	if err != nil {
		return nil, err
	}
	// The diff ID covers the whole stream, padding after tar's end too;
	// but no more than padding, or a bomb could sit past the end.
	if n, err := io.CopyN(io.Discard, stream, maxTrailer+1); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading %s input: %w", comp, err)
	} else if n > maxTrailer {
		return nil, fmt.Errorf("the layer goes on for more than %d MiB after the end of its tar archive", maxTrailer>>20)
	}
	for _, w := range wait {
		if err := w(); err != nil {
			return nil, err
		}
	}
	if keep {
		// A kept blob is all of the input, whatever follows the
		// compressed stream: its digest is checked against the input's.
		if _, err := io.Copy(io.Discard, raw); err != nil {
			return nil, fmt.Errorf("reading %s input: %w", comp, err)
		}
	}
	// One syncfs flushes the blob and the layer, both on the store's
	// file system, before commit renames them into sight.
	if !in.deferSync {
		if err := syncfs(l.dir); err != nil {
			return nil, err
		}
	}
	l.diffID = sha256Hash(diffHash)
	if !in.callerHashes || !keep {
		l.blob = sha256Hash(blobHash)
	}
	l.blobSize = blobOut.n
	return l, nil
}

// syncStore flushes what ingests with deferSync wrote: the file system
// of the layers, and that of the blobs when it is another.
func (s *Store) syncStore() error {
	if err := syncfs(s.layerDir()); err != nil {
		return err
	}
	var a, b unix.Stat_t
	if unix.Stat(s.layerDir(), &a) == nil && unix.Stat(s.blobDir(), &b) == nil && a.Dev == b.Dev {
		return nil
	}
	return syncfs(s.blobDir())
}

// syncfs flushes the file system holding dir, so that the layer's content
// is on disk before the rename that makes it visible.
func syncfs(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Syncfs(int(f.Fd()))
}

func sha256Hash(h hash.Hash) v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.Sum(nil))}
}

// compressTo gzips what is written to the returned pipe into w, in its own
// goroutine so that compression overlaps unpacking. done yields the result
// once the pipe is closed.
func compressTo(w io.Writer) (*io.PipeWriter, <-chan error) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(w, 256<<10)
		zw, _ := gzip.NewWriterLevel(bw, gzip.BestSpeed)
		_, err := io.Copy(zw, pr)
		if err == nil {
			err = zw.Close()
		}
		if err == nil {
			err = bw.Flush()
		}
		pr.CloseWithError(err)
		done <- err
	}()
	return pw, done
}

// decompressor runs the xz or zstd program on br. Docker runs xz the same
// way; a Go decoder would cost every berth process its initialisation.
func decompressor(ctx context.Context, comp compression, br io.Reader) (io.ReadCloser, func() error, error) {
	hints := map[compression]string{xzC: "install xz-utils", zstdC: "install zstd"}
	prog, err := exec.LookPath(string(comp))
	if err != nil {
		return nil, nil, &CompressionError{Format: string(comp), Hint: "the " + string(comp) + " program is missing: " + hints[comp]}
	}
	// The program writes to a pipe of ours rather than StdoutPipe's,
	// which Wait closes: reaping it must not cut off unread output.
	pr, pw, err := os.Pipe()
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.CommandContext(ctx, prog, "-d", "-c", "-q")
	cmd.Stdin = br
	cmd.Stdout = pw
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err = cmd.Start()
	pw.Close()
	if err != nil {
		pr.Close()
		return nil, nil, fmt.Errorf("starting %s: %w", prog, err)
	}
	// The goroutine reaps the program however ingest ends: on failure the
	// cancelled ctx kills it first.
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	wait := func() error {
		if err := <-done; err != nil {
			return fmt.Errorf("decompressing with %s: %w: %s", filepath.Base(prog), err, bytes.TrimSpace(stderr.Bytes()))
		}
		return nil
	}
	return pr, wait, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// ctxReader stops a long import when its context ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
