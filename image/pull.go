//go:build registry

package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	kgzip "github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sync/errgroup"
)

// Pull fetches ref (normalised like Docker: busybox is
// docker.io/library/busybox:latest; name@sha256:... pulls by digest) from
// its registry into the store and returns the image. A manifest list or
// OCI index resolves to linux/GOARCH. Every blob's digest is checked;
// layers download in parallel and each is unpacked once, by chain ID: a
// layer the store has already is not fetched ("exists"). Nothing becomes
// visible until every layer is in: a failed or cancelled pull leaves the
// store as it was.
func (s *Store) Pull(ctx context.Context, ref string, progress Progress) (*Image, error) {
	n, err := NormalizeName(ref)
	if err != nil {
		return nil, err
	}
	cfg, err := loadRegistryConfig()
	if err != nil {
		return nil, err
	}
	r, err := parseRemote(ctx, ref, cfg)
	if err != nil {
		return nil, err
	}
	s.cleanTemps()
	img, err := s.pull(ctx, r, n, cfg, &reporter{fn: progress})
	if err != nil {
		return nil, registryError("pulling", r, err)
	}
	return img, nil
}

// remoteImage is what Pull reads before any layer: the manifest and
// config, digests checked.
type remoteImage struct {
	rawManifest []byte
	digest      v1.Hash
	mediaType   types.MediaType
	manifest    *v1.Manifest
	rawConfig   []byte
	diffIDs     []v1.Hash
}

func (s *Store) pull(ctx context.Context, r name.Reference, n string, cfg *registryConfig, rep *reporter) (*Image, error) {
	ri, err := fetchManifest(ctx, r, cfg)
	if err != nil {
		return nil, err
	}
	chain := ChainIDs(ri.diffIDs)
	layers := make([]*ingested, len(chain))
	defer func() {
		for _, l := range layers {
			if l != nil {
				l.discard()
			}
		}
	}()
	var fetch []int
	for i, ld := range ri.manifest.Layers {
		if s.haveLayer(chain[i], ld.Digest) {
			rep.emit(ld.Digest, "exists", ld.Size, ld.Size)
			continue
		}
		rep.emit(ld.Digest, "waiting", 0, ld.Size)
		fetch = append(fetch, i)
	}
	if len(fetch) > 0 {
		f, err := newBlobFetcher(ctx, r.Context(), cfg)
		if err != nil {
			return nil, err
		}
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(pullJobs)
		for _, i := range fetch {
			g.Go(func() error {
				l, err := s.pullLayer(gctx, f, ri.manifest.Layers[i], ri.diffIDs[i], rep)
				layers[i] = l
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return nil, err
		}
		if err := s.syncStore(); err != nil {
			return nil, err
		}
	}
	return s.commitPull(ri, n, chain, layers, rep)
}

// fetchManifest gets r's manifest, resolving an index to our platform,
// and its config.
func fetchManifest(ctx context.Context, r name.Reference, cfg *registryConfig) (*remoteImage, error) {
	desc, err := remote.Get(r, remoteOptions(ctx, cfg)...)
	if err != nil {
		return nil, err
	}
	if d, ok := r.(name.Digest); ok && desc.Digest.String() != d.DigestStr() {
		return nil, &DigestError{What: "manifest", Want: mustHash(d.DigestStr()), Got: desc.Digest}
	}
	img, err := desc.Image() // an index resolves to WithPlatform's platform
	if err != nil {
		return nil, err
	}
	ri := &remoteImage{}
	if ri.rawManifest, err = img.RawManifest(); err != nil {
		return nil, err
	}
	if ri.mediaType, err = img.MediaType(); err != nil {
		return nil, err
	}
	if ri.mediaType != types.OCIManifestSchema1 && ri.mediaType != types.DockerManifestSchema2 {
		return nil, fmt.Errorf("manifest of media type %s is not supported", ri.mediaType)
	}
	ri.digest = digestOf(ri.rawManifest)
	if ri.manifest, err = v1.ParseManifest(bytes.NewReader(ri.rawManifest)); err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", ri.digest, err)
	}
	if ri.rawConfig, err = img.RawConfigFile(); err != nil {
		return nil, fmt.Errorf("fetching config %s: %w", ri.manifest.Config.Digest, err)
	}
	if got := digestOf(ri.rawConfig); got != ri.manifest.Config.Digest {
		return nil, &DigestError{What: "config", Want: ri.manifest.Config.Digest, Got: got}
	}
	cf, err := v1.ParseConfigFile(bytes.NewReader(ri.rawConfig))
	if err != nil {
		return nil, fmt.Errorf("reading config %s: %w", ri.manifest.Config.Digest, err)
	}
	ri.diffIDs = cf.RootFS.DiffIDs
	if len(ri.diffIDs) != len(ri.manifest.Layers) {
		return nil, fmt.Errorf("image %s: manifest has %d layers, config %d diff IDs", ri.digest, len(ri.manifest.Layers), len(ri.diffIDs))
	}
	return ri, nil
}

// haveLayer says whether the layer chainID is unpacked and its blob
// stored: a layer shared with a local image of another compression still
// needs its blob, for push and save.
func (s *Store) haveLayer(chainID, blob v1.Hash) bool {
	if _, err := s.layerInfo(chainID); err != nil {
		return false
	}
	_, err := os.Stat(s.blobPath(blob))
	return err == nil
}

// layerCompressions are the layer media types a pull reads, and the
// compression each says its blob has. A foreign (non-distributable) layer
// is fetched from the image's registry like any other, never from the
// URLs of its descriptor.
var layerCompressions = map[types.MediaType]compression{
	types.OCILayer:                       gzipC,
	types.DockerLayer:                    gzipC,
	types.OCIUncompressedLayer:           plain,
	types.DockerUncompressedLayer:        plain,
	types.OCILayerZStd:                   zstdC,
	types.DockerForeignLayer:             gzipC,
	types.OCIRestrictedLayer:             gzipC,
	types.OCIUncompressedRestrictedLayer: plain,
	ociRestrictedLayerZstd:               zstdC,
}

// ociRestrictedLayerZstd is in the image spec but not among
// go-containerregistry's constants.
const ociRestrictedLayerZstd types.MediaType = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

func isForeign(mt types.MediaType) bool {
	return mt == types.DockerForeignLayer || strings.Contains(string(mt), ".nondistributable.")
}

// pullLayer downloads one layer blob and unpacks it into a temporary
// directory through ingest, checking both of its digests. The blob is
// stored as it came, whatever its compression, so that push and save
// hand out the manifest the registry gave.
func (s *Store) pullLayer(ctx context.Context, f *blobFetcher, d v1.Descriptor, diffID v1.Hash, rep *reporter) (*ingested, error) {
	comp, ok := layerCompressions[d.MediaType]
	if !ok {
		return nil, fmt.Errorf("layer %s: media type %s is not supported", d.Digest, d.MediaType)
	}
	rc, err := f.blob(ctx, d.Digest)
	if err != nil {
		if isForeign(d.MediaType) && isNotFound(err) {
			return nil, &ForeignLayerError{Digest: d.Digest, MediaType: string(d.MediaType), URLs: d.URLs}
		}
		return nil, fmt.Errorf("fetching layer %s: %w", d.Digest, err)
	}
	defer rc.Close()
	rep.emit(d.Digest, "downloading", 0, d.Size)
	in := &hashingReader{r: io.LimitReader(rc, d.Size+1), h: sha256.New(), step: 1 << 20}
	in.onRead = func(n int64) { rep.emit(d.Digest, "downloading", n, d.Size) }
	l, ingErr := s.ingestLayer(ctx, in, layerInput{comp: comp, keep: true, zstd: zstdReader, gunzip: gunzip, callerHashes: true, deferSync: true})
	// Read what ingest left (a broken tail) so that the digest covers the
	// whole blob: a corrupted blob is reported as such, not as whichever
	// decompression or tar error it caused first.
	if _, err := io.Copy(io.Discard, in); err != nil && ingErr == nil {
		ingErr = err
	}
	rep.emit(d.Digest, "verifying", in.n, d.Size)
	if got := in.sum(); in.err != nil || got != d.Digest || in.n != d.Size {
		if l != nil {
			l.discard()
		}
		switch {
		case ctx.Err() != nil:
			return nil, ctx.Err()
		case in.err != nil:
			return nil, fmt.Errorf("downloading layer %s: %w", d.Digest, in.err)
		}
		return nil, &DigestError{What: "layer blob", Want: d.Digest, Got: got}
	}
	if ingErr != nil {
		return nil, fmt.Errorf("layer %s (media type %s): %w", d.Digest, d.MediaType, ingErr)
	}
	// ingest stored as the blob exactly the bytes hashed above.
	l.blob = d.Digest
	if l.diffID != diffID {
		l.discard()
		return nil, &DigestError{What: "layer content (diff ID)", Want: diffID, Got: l.diffID}
	}
	return l, nil
}

// zstdMaxWindow caps the memory a zstd layer may make the decoder take,
// as the zstd program does by default (128 MiB): a hostile registry's
// frame cannot ask for more.
const zstdMaxWindow = 128 << 20

// gunzip decodes gzip with klauspost's decoder, a third faster than
// compress/gzip's and linked into berth-registry anyway.
func gunzip(r io.Reader) (io.Reader, error) { return kgzip.NewReader(r) }

// zstdReader decodes zstd in-process. berth-registry links klauspost's
// decoder through go-containerregistry anyway; see doc.go.
func zstdReader(r io.Reader) (io.ReadCloser, error) {
	d, err := zstd.NewReader(r, zstd.WithDecoderMaxWindow(zstdMaxWindow))
	if err != nil {
		return nil, err
	}
	return d.IOReadCloser(), nil // its Close may be called twice
}

// commitPull makes the pulled image visible: layers, blobs, then its
// name in the index, all under the lock.
func (s *Store) commitPull(ri *remoteImage, n string, chain []v1.Hash, layers []*ingested, rep *reporter) (*Image, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	for i, l := range layers {
		ld := ri.manifest.Layers[i]
		if l == nil {
			// It existed when we looked; a Remove may have taken it since.
			if !s.haveLayer(chain[i], ld.Digest) {
				return nil, fmt.Errorf("layer %s was removed while pulling; pull again", ld.Digest)
			}
			continue
		}
		if err := l.commit(s, chain[i]); err != nil {
			return nil, err
		}
		rep.emit(ld.Digest, "done", ld.Size, ld.Size)
	}
	for _, b := range [][]byte{ri.rawConfig, ri.rawManifest} {
		if _, err := s.writeBlob(b); err != nil {
			return nil, err
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	nameManifest(idx, n, v1.Descriptor{MediaType: ri.mediaType, Size: int64(len(ri.rawManifest)), Digest: ri.digest})
	if err := s.writeIndex(idx); err != nil {
		return nil, err
	}
	return s.load(idx, ri.digest)
}

func mustHash(s string) v1.Hash {
	h, err := v1.NewHash(s)
	if err != nil {
		panic(err) // name.Digest has parsed it already
	}
	return h
}

// hashingReader hashes and counts what is read through it, and calls
// onRead every step bytes.
type hashingReader struct {
	r      io.Reader
	h      hash.Hash
	n      int64
	step   int64
	next   int64
	onRead func(n int64)
	err    error // the first read error other than EOF
}

func (h *hashingReader) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	h.h.Write(p[:n])
	h.n += int64(n)
	if h.onRead != nil && h.n >= h.next {
		h.next = h.n + h.step
		h.onRead(h.n)
	}
	if err != nil && !errors.Is(err, io.EOF) && h.err == nil {
		h.err = err
	}
	return n, err
}

func (h *hashingReader) sum() v1.Hash {
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(h.h.Sum(nil))}
}
