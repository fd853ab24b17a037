package image

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	goruntime "runtime"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sync/errgroup"
)

// annotationContainerdName is the full name Docker (≥ 25) and containerd
// put on each manifest of an OCI archive; the OCI annotation then holds
// only the tag.
const annotationContainerdName = "io.containerd.image.name"

// Load reads an archive of images, as `docker load` does: the format
// `docker save` and `podman save` write (manifest.json, layers as tar
// files, Docker's legacy layout too) or an OCI image layout in a tar
// (`podman save --format oci-archive`, `skopeo copy oci-archive:`); whole
// archives may be gzip, bzip2, xz or zstd compressed. Each image's layers
// are checked against its config's diff IDs, and layers the store has are
// not unpacked again. Nothing becomes visible until every layer of every
// image is in: a broken archive leaves the store as it was.
func (s *Store) Load(ctx context.Context, r io.Reader) ([]*Image, error) {
	s.cleanTemps()
	f, err := spoolArchive(ctx, r, s.blobDir())
	if err != nil {
		return nil, fmt.Errorf("loading images: %w", err)
	}
	if f != r {
		defer f.Close()
	}
	a, err := openArchive(f)
	if err != nil {
		return nil, fmt.Errorf("loading images: %w", err)
	}
	var imgs []*archiveImage
	switch {
	case a.has("manifest.json"):
		imgs, err = a.dockerImages()
	case a.has("index.json"):
		imgs, err = a.ociImages()
	default:
		err = fmt.Errorf("no manifest.json (docker save) or index.json (OCI layout) in it: is this an image archive?")
	}
	if err != nil {
		return nil, fmt.Errorf("loading images: %w", err)
	}
	if len(imgs) == 0 {
		return nil, fmt.Errorf("loading images: the archive holds no image")
	}
	for _, img := range imgs {
		if err := img.readConfig(a); err != nil {
			return nil, fmt.Errorf("loading images: %w", err)
		}
	}
	out, err := s.loadImages(ctx, a, imgs)
	if err != nil {
		return nil, fmt.Errorf("loading images: %w", err)
	}
	return out, nil
}

// archiveImage is one image of an archive, before it is stored.
type archiveImage struct {
	names      []string // normalised
	configFile string
	configWant v1.Hash // the config's digest when the archive names it
	layerFiles []string
	// manifest is the archive's own manifest (OCI archives), kept as it
	// is when the store ends up with exactly its blobs.
	manifest          []byte
	manifestMediaType types.MediaType
	layerDescs        []v1.Descriptor

	rawConfig []byte
	diffIDs   []v1.Hash
	chain     []v1.Hash
	layers    []storedLayer // bottom first, filled by ingestLayers
}

// storedLayer is a layer blob of the store, or one about to be.
type storedLayer struct {
	blob      v1.Hash
	size      int64
	mediaType types.MediaType
	ingested  *ingested // nil when the store had the layer
}

// dockerImages reads manifest.json, as `docker save` writes it.
func (a *archive) dockerImages() ([]*archiveImage, error) {
	b, err := a.readSmall("manifest.json")
	if err != nil {
		return nil, err
	}
	var entries []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(b, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	var out []*archiveImage
	for _, e := range entries {
		img := &archiveImage{configFile: e.Config, layerFiles: e.Layers}
		if h, ok := blobDigest(e.Config); ok {
			img.configWant = h
		}
		for _, t := range e.RepoTags {
			n, err := NormalizeName(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: %w", err)
			}
			img.names = append(img.names, n)
		}
		out = append(out, img)
	}
	return out, nil
}

// blobDigest reads the digest out of a config's name: "blobs/sha256/<hex>"
// (Docker ≥ 25) or "<hex>.json" (older Docker, podman).
func blobDigest(name string) (v1.Hash, bool) {
	hex, ok := strings.CutPrefix(archiveName(name), "blobs/sha256/")
	if !ok {
		hex, ok = strings.CutSuffix(archiveName(name), ".json")
	}
	if !ok || len(hex) != 64 || !isHex(hex) {
		return v1.Hash{}, false
	}
	return v1.Hash{Algorithm: "sha256", Hex: hex}, true
}

func blobName(h v1.Hash) string { return "blobs/" + h.Algorithm + "/" + h.Hex }

// ociImages reads an OCI layout's index.json: each manifest it names is
// an image, an index resolves to this host's platform.
func (a *archive) ociImages() ([]*archiveImage, error) {
	b, err := a.readSmall("index.json")
	if err != nil {
		return nil, err
	}
	idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	byDigest := map[v1.Hash]*archiveImage{}
	var out []*archiveImage
	for _, d := range idx.Manifests {
		md, err := a.platformManifest(d)
		if err != nil {
			return nil, err
		}
		img := byDigest[md.Digest]
		if img == nil {
			if img, err = a.ociImage(md); err != nil {
				return nil, err
			}
			byDigest[md.Digest] = img
			out = append(out, img)
		}
		if n := ociRefName(d.Annotations); n != "" {
			nn, err := NormalizeName(n)
			if err != nil {
				return nil, fmt.Errorf("index.json: %w", err)
			}
			img.names = append(img.names, nn)
		}
	}
	return out, nil
}

// ociRefName is the image name an index entry gives, or "": containerd's
// full name, else the OCI ref name when it is a whole name (it may be just
// a tag, which names no repository).
func ociRefName(ann map[string]string) string {
	if n := ann[annotationContainerdName]; n != "" {
		return n
	}
	n := ann[annotationRefName]
	if strings.ContainsAny(n, "/:@") {
		return n
	}
	return ""
}

// platformManifest follows d to an image manifest, choosing linux and
// this host's architecture in an index.
func (a *archive) platformManifest(d v1.Descriptor) (v1.Descriptor, error) {
	for depth := 0; depth < 4; depth++ {
		switch d.MediaType {
		case types.OCIManifestSchema1, types.DockerManifestSchema2:
			return d, nil
		case types.OCIImageIndex, types.DockerManifestList:
		default:
			return d, fmt.Errorf("manifest %s: media type %q is not an image", d.Digest, d.MediaType)
		}
		b, err := a.readBlob(d.Digest)
		if err != nil {
			return d, err
		}
		idx, err := v1.ParseIndexManifest(bytes.NewReader(b))
		if err != nil {
			return d, fmt.Errorf("index %s: %w", d.Digest, err)
		}
		found := false
		for _, m := range idx.Manifests {
			if m.Platform != nil && m.Platform.OS == "linux" && m.Platform.Architecture == goruntime.GOARCH {
				d, found = m, true
				break
			}
		}
		if !found {
			return d, fmt.Errorf("index %s has no image for linux/%s", d.Digest, goruntime.GOARCH)
		}
	}
	return d, fmt.Errorf("manifest %s: indexes nested too deep", d.Digest)
}

// readBlob reads a small blob and checks its digest.
func (a *archive) readBlob(h v1.Hash) ([]byte, error) {
	b, err := a.readSmall(blobName(h))
	if err != nil {
		return nil, err
	}
	if got := digestOf(b); got != h {
		return nil, &DigestError{What: "blob", Want: h, Got: got, Source: "the archive"}
	}
	return b, nil
}

func (a *archive) ociImage(md v1.Descriptor) (*archiveImage, error) {
	raw, err := a.readBlob(md.Digest)
	if err != nil {
		return nil, err
	}
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("manifest %s: %w", md.Digest, err)
	}
	img := &archiveImage{
		configFile:        blobName(m.Config.Digest),
		configWant:        m.Config.Digest,
		manifest:          raw,
		manifestMediaType: md.MediaType,
		layerDescs:        m.Layers,
	}
	for _, l := range m.Layers {
		img.layerFiles = append(img.layerFiles, blobName(l.Digest))
	}
	return img, nil
}

// readConfig reads the image's config and checks it against its layers.
func (img *archiveImage) readConfig(a *archive) error {
	b, err := a.readSmall(img.configFile)
	if err != nil {
		return err
	}
	if img.configWant.Hex != "" {
		if got := digestOf(b); got != img.configWant {
			return &DigestError{What: "config", Want: img.configWant, Got: got, Source: "the archive"}
		}
	}
	cfg, err := v1.ParseConfigFile(bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("config %s: %w", img.configFile, err)
	}
	if len(cfg.RootFS.DiffIDs) != len(img.layerFiles) {
		return fmt.Errorf("config %s names %d layers, the manifest %d", img.configFile, len(cfg.RootFS.DiffIDs), len(img.layerFiles))
	}
	img.rawConfig, img.diffIDs, img.chain = b, cfg.RootFS.DiffIDs, ChainIDs(cfg.RootFS.DiffIDs)
	return nil
}

// loadImages unpacks the layers the store lacks, in parallel, then stores
// every image under the lock.
func (s *Store) loadImages(ctx context.Context, a *archive, imgs []*archiveImage) ([]*Image, error) {
	var all []*ingested
	defer func() {
		for _, l := range all {
			l.discard()
		}
	}()
	// The same layer in two images, or twice in one, is unpacked once.
	pending := map[v1.Hash]*storedLayer{}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(goruntime.GOMAXPROCS(0), 2))
	for _, img := range imgs {
		img.layers = make([]storedLayer, len(img.layerFiles))
		for i := range img.layerFiles {
			var want *v1.Descriptor
			if img.layerDescs != nil {
				want = &img.layerDescs[i]
			}
			if sl, ok := s.storedLayer(img.chain[i], want); ok {
				img.layers[i] = sl
				continue
			}
			if p := pending[img.chain[i]]; p != nil {
				continue // filled in below, once ingested
			}
			sl := &storedLayer{}
			pending[img.chain[i]] = sl
			file, diffID := img.layerFiles[i], img.diffIDs[i]
			g.Go(func() error {
				r, err := a.open(file)
				if err != nil {
					return err
				}
				l, err := s.ingestLayer(gctx, r, layerInput{deferSync: true})
				if err != nil {
					return fmt.Errorf("layer %s: %w", file, err)
				}
				sl.ingested = l
				if l.diffID != diffID {
					return &DigestError{What: "layer " + file + " (diff ID)", Want: diffID, Got: l.diffID, Source: "the archive"}
				}
				sl.blob, sl.size, sl.mediaType = l.blob, l.blobSize, types.OCILayer
				return nil
			})
		}
	}
	err := g.Wait()
	for _, sl := range pending {
		if sl.ingested != nil {
			all = append(all, sl.ingested)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(pending) > 0 {
		if err := s.syncStore(); err != nil {
			return nil, err
		}
	}
	for _, img := range imgs {
		for i := range img.layers {
			if p := pending[img.chain[i]]; p != nil {
				img.layers[i] = *p
			}
		}
	}
	return s.commitLoad(imgs)
}

// storedLayer says whether the store has the layer chainID with a blob
// for it: want's blob when the archive names one, else the blob it was
// stored with.
func (s *Store) storedLayer(chainID v1.Hash, want *v1.Descriptor) (storedLayer, bool) {
	info, err := s.layerInfo(chainID)
	if err != nil {
		return storedLayer{}, false
	}
	blob := info.Blob
	if want != nil {
		blob = want.Digest
	}
	if blob.Hex == "" {
		return storedLayer{}, false
	}
	mt, size, err := s.blobMediaType(blob)
	if err != nil {
		return storedLayer{}, false
	}
	return storedLayer{blob: blob, size: size, mediaType: mt}, true
}

// blobMediaType tells a stored layer blob's media type from its first
// bytes, and its size.
func (s *Store) blobMediaType(h v1.Hash) (types.MediaType, int64, error) {
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", 0, err
	}
	magic := make([]byte, 4)
	n, _ := io.ReadFull(f, magic)
	switch {
	case bytes.HasPrefix(magic[:n], []byte{0x1f, 0x8b}):
		return types.OCILayer, fi.Size(), nil
	case bytes.HasPrefix(magic[:n], []byte{0x28, 0xb5, 0x2f, 0xfd}):
		return types.OCILayerZStd, fi.Size(), nil
	}
	return types.OCIUncompressedLayer, fi.Size(), nil
}

// commitLoad makes the loaded images visible: layers, blobs, then their
// names, all under the lock.
func (s *Store) commitLoad(imgs []*archiveImage) ([]*Image, error) {
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	var trash []*os.File
	out, err := s.commitLoadLocked(imgs, &trash)
	unlock()
	for _, t := range trash {
		os.RemoveAll(t.Name())
		t.Close()
	}
	return out, err
}

// commitLoadLocked does commitLoad's work. Preconditions: s.lock held.
func (s *Store) commitLoadLocked(imgs []*archiveImage, trash *[]*os.File) ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var out []*Image
	for _, img := range imgs {
		for i, l := range img.layers {
			if l.ingested == nil {
				// It existed when we looked; a Remove may have taken it since.
				if _, ok := s.storedLayer(img.chain[i], &v1.Descriptor{Digest: l.blob}); !ok {
					return nil, fmt.Errorf("layer %s was removed while loading; load again", img.chain[i])
				}
				continue
			}
			if err := l.ingested.commit(s, img.chain[i]); err != nil {
				return nil, err
			}
		}
		raw, mt, err := img.storeManifest()
		if err != nil {
			return nil, err
		}
		for _, b := range [][]byte{img.rawConfig, raw} {
			if _, err := s.writeBlob(b); err != nil {
				return nil, err
			}
		}
		desc := v1.Descriptor{MediaType: mt, Size: int64(len(raw)), Digest: digestOf(raw)}
		for _, n := range img.names {
			nameManifest(idx, n, desc)
		}
		if len(img.names) == 0 && !hasManifest(idx, desc.Digest) {
			idx.Manifests = append(idx.Manifests, desc)
		}
		twins, err := s.dropTwins(idx, desc.Digest, digestOf(img.rawConfig))
		if err != nil {
			return nil, err
		}
		if err := s.writeIndex(idx); err != nil {
			return nil, err
		}
		for _, h := range twins {
			if err := s.collect(idx, h, trash); err != nil {
				return nil, err
			}
		}
		loaded, err := s.load(idx, desc.Digest)
		if err != nil {
			return nil, err
		}
		out = append(out, loaded)
	}
	return out, nil
}

// dropTwins removes from idx, and returns, the nameless manifests other
// than keep whose config is cfg: the same image stored with other layer
// blobs (an archive's layers compressed by another tool), which would
// otherwise linger as a <none> twin of the image just loaded. The caller
// collects their blobs once the index is written. Preconditions: s.lock held.
func (s *Store) dropTwins(idx *v1.IndexManifest, keep, cfg v1.Hash) ([]v1.Hash, error) {
	var twins []v1.Hash
	for _, d := range idx.Manifests {
		if d.Digest == keep || hasName(idx, d.Digest, "") {
			continue
		}
		m, err := s.manifest(d.Digest)
		if err != nil {
			return nil, err
		}
		if m.Config.Digest == cfg {
			twins = append(twins, d.Digest)
		}
	}
	idx.Manifests = slices.DeleteFunc(idx.Manifests, func(d v1.Descriptor) bool { return slices.Contains(twins, d.Digest) })
	return twins, nil
}

// storeManifest is the manifest the store keeps for img: the archive's
// own when the store has exactly its blobs, so that its digest survives
// save and load; else a new OCI manifest of the blobs stored.
func (img *archiveImage) storeManifest() ([]byte, types.MediaType, error) {
	if img.manifest != nil {
		same := true
		for i, l := range img.layers {
			same = same && l.blob == img.layerDescs[i].Digest
		}
		if same {
			return img.manifest, img.manifestMediaType, nil
		}
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     types.OCIManifestSchema1,
		Config:        v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(img.rawConfig)), Digest: digestOf(img.rawConfig)},
	}
	for _, l := range img.layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mediaType, Size: l.size, Digest: l.blob})
	}
	raw, err := json.Marshal(m)
	return raw, types.OCIManifestSchema1, err
}

func hasManifest(idx *v1.IndexManifest, h v1.Hash) bool {
	for _, d := range idx.Manifests {
		if d.Digest == h {
			return true
		}
	}
	return false
}
