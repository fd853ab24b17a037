package image

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// What builds (and commit) need from the store: layers made from a tar
// stream, images written from a config and layers, and a cache of build
// steps.
//
// The build cache is images/buildcache.json: step key -> the manifest of
// the image the step made. Those images are in no name's index entry (so
// `images` does not list them), but their blobs and layers count as used:
// rmi and prune keep them until PruneBuildCache drops the cache, as
// Docker keeps build cache apart from images (`docker builder prune`).

// Layer is one layer of an image in the store.
type Layer struct {
	DiffID    v1.Hash         // sha256 of the uncompressed tar
	Blob      v1.Hash         // digest of the stored blob
	BlobSize  int64           // bytes of the blob
	MediaType types.MediaType // of the blob
	Dir       string          // the unpacked directory: an overlay lowerdir
	Size      int64           // unpacked bytes
}

// ImageLayers returns the config and the layers (bottom first) of the
// image ref: a name, an id or id prefix as Get takes, or the id or
// manifest digest of an image that only a build cache entry holds.
func (s *Store) ImageLayers(ref string) (*v1.ConfigFile, []Layer, error) {
	h, err := s.resolve(ref)
	if err != nil {
		return nil, nil, err
	}
	return s.layersOf(h)
}

// resolve finds the manifest digest of ref in the index, then among the
// build cache's images.
func (s *Store) resolve(ref string) (v1.Hash, error) {
	idx, err := s.readIndex()
	if err != nil {
		return v1.Hash{}, err
	}
	h, err := s.find(idx, ref)
	var nf *NotFoundError
	if err == nil || !errors.As(err, &nf) {
		return h, err
	}
	full, ok := strings.CutPrefix(ref, "sha256:")
	if !ok || len(full) != 64 || !isHex(full) {
		return v1.Hash{}, err
	}
	cache, cerr := s.readCache()
	if cerr != nil {
		return v1.Hash{}, cerr
	}
	for _, e := range cache.Entries {
		if e.Manifest.Hex == full || e.Config.Hex == full {
			return e.Manifest, nil
		}
	}
	return v1.Hash{}, err
}

// layersOf reads the manifest h and its config.
func (s *Store) layersOf(h v1.Hash) (*v1.ConfigFile, []Layer, error) {
	m, err := s.manifest(h)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := s.configOf(m)
	if err != nil {
		return nil, nil, err
	}
	if len(cfg.RootFS.DiffIDs) != len(m.Layers) {
		return nil, nil, fmt.Errorf("image %s: its config names %d layers, its manifest %d", m.Config.Digest, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	var layers []Layer
	for i, chain := range ChainIDs(cfg.RootFS.DiffIDs) {
		info, err := s.layerInfo(chain)
		if err != nil {
			return nil, nil, fmt.Errorf("image %s: layer %s is missing or damaged (remove the image and import, pull or build it again): %w", m.Config.Digest, chain, err)
		}
		d := m.Layers[i]
		layers = append(layers, Layer{
			DiffID: cfg.RootFS.DiffIDs[i], Blob: d.Digest, BlobSize: d.Size, MediaType: d.MediaType,
			Dir: s.LayerPath(chain), Size: info.Size,
		})
	}
	return cfg, layers, nil
}

func (s *Store) configOf(m *v1.Manifest) (*v1.ConfigFile, error) {
	f, err := os.Open(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, fmt.Errorf("reading config of image %s: %w", m.Config.Digest, err)
	}
	defer f.Close()
	cfg, err := v1.ParseConfigFile(f)
	if err != nil {
		return nil, fmt.Errorf("reading config of image %s: %w", m.Config.Digest, err)
	}
	return cfg, nil
}

// AddLayer reads an uncompressed OCI layer tar from r and stores it as a
// layer on top of the layers whose diff IDs are below (bottom first;
// none for a first layer): the blob gzip-compressed, the layer unpacked
// once, under the store's Limits and with Import's safety checks. The
// layer belongs to no image until WriteImage or CachePut names an image
// holding it; PruneBuildCache deletes it if none ever does.
func (s *Store) AddLayer(ctx context.Context, below []v1.Hash, r io.Reader) (Layer, error) {
	s.cleanTemps()
	l, err := s.ingest(ctx, r)
	if err != nil {
		return Layer{}, fmt.Errorf("storing a layer: %w", err)
	}
	defer l.discard()
	chain := ChainIDs(append(slices.Clone(below), l.diffID))
	top := chain[len(chain)-1]
	unlock, err := s.lock()
	if err != nil {
		return Layer{}, err
	}
	defer unlock()
	if err := l.commit(s, top); err != nil {
		return Layer{}, err
	}
	info, err := s.layerInfo(top)
	if err != nil {
		return Layer{}, fmt.Errorf("storing layer %s: %w", top, err)
	}
	return Layer{
		DiffID: l.diffID, Blob: l.blob, BlobSize: l.blobSize, MediaType: types.OCILayer,
		Dir: s.LayerPath(top), Size: info.Size,
	}, nil
}

// WriteImage writes cfg with layers as an image (cfg.RootFS is set from
// layers here) and gives it names, normalised as Import does. With no
// names the image is written but in no index entry: it is held only by
// what CachePut or Keep records, as a build's intermediate steps are.
func (s *Store) WriteImage(cfg *v1.ConfigFile, layers []Layer, names ...string) (*Image, error) {
	var norm []string
	for _, n := range names {
		nn, err := NormalizeName(n)
		if err != nil {
			return nil, err
		}
		norm = append(norm, nn)
	}
	c := *cfg
	c.RootFS = v1.RootFS{Type: "layers", DiffIDs: []v1.Hash{}}
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1, Layers: []v1.Descriptor{}}
	for _, l := range layers {
		c.RootFS.DiffIDs = append(c.RootFS.DiffIDs, l.DiffID)
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.MediaType, Size: l.BlobSize, Digest: l.Blob})
	}
	if c.OS == "" {
		c.OS = "linux"
	}
	cfgJSON, err := json.Marshal(&c)
	if err != nil {
		return nil, err
	}
	m.Config = v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfgJSON)), Digest: digestOf(cfgJSON)}
	mJSON, err := json.Marshal(&m)
	if err != nil {
		return nil, err
	}
	mDigest := digestOf(mJSON)

	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	// Under the lock, so a concurrent rmi cannot take a layer between
	// this check and the index write.
	for i, chain := range ChainIDs(c.RootFS.DiffIDs) {
		if _, err := os.Stat(s.LayerPath(chain)); err != nil {
			return nil, fmt.Errorf("writing image: layer %d (%s) is no longer in the store: %w", i+1, chain, err)
		}
		if _, err := os.Stat(s.blobPath(layers[i].Blob)); err != nil {
			return nil, fmt.Errorf("writing image: the blob of layer %d (%s) is no longer in the store: %w", i+1, layers[i].Blob, err)
		}
	}
	for _, b := range [][]byte{cfgJSON, mJSON} {
		if _, err := s.writeBlob(b); err != nil {
			return nil, err
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	if len(norm) > 0 {
		desc := v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: int64(len(mJSON)), Digest: mDigest}
		for _, n := range norm {
			nameManifest(idx, n, desc)
		}
		if err := s.writeIndex(idx); err != nil {
			return nil, err
		}
	}
	return s.load(idx, mDigest)
}

// Keep lists img, written by WriteImage without names, among the images
// as a nameless one (Docker's <none>), as an untagged build's result is.
func (s *Store) Keep(img *Image) error {
	h, err := v1.NewHash(img.Digest)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	for _, d := range idx.Manifests {
		if d.Digest == h {
			return nil
		}
	}
	st, err := os.Stat(s.blobPath(h))
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	idx.Manifests = append(idx.Manifests, v1.Descriptor{MediaType: types.OCIManifestSchema1, Size: st.Size(), Digest: h})
	return s.writeIndex(idx)
}

// buildCache is images/buildcache.json.
type buildCache struct {
	Entries map[string]cacheEntry `json:"entries"`
}

type cacheEntry struct {
	Manifest v1.Hash   `json:"manifest"`
	Config   v1.Hash   `json:"config"` // the image's id, to find it by
	Created  time.Time `json:"created"`
}

func (s *Store) cachePath() string { return filepath.Join(s.imageDir(), "buildcache.json") }

func (s *Store) readCache() (*buildCache, error) {
	c := &buildCache{Entries: map[string]cacheEntry{}}
	b, err := os.ReadFile(s.cachePath())
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(b, c); err != nil {
		return nil, fmt.Errorf("reading the build cache %s (remove it to start afresh): %w", s.cachePath(), err)
	}
	if c.Entries == nil {
		c.Entries = map[string]cacheEntry{}
	}
	return c, nil
}

// CacheGet returns the image a build step with key made before, or
// (nil, nil) when there is none or any of its blobs or layers is gone.
func (s *Store) CacheGet(key string) (*Image, error) {
	c, err := s.readCache()
	if err != nil {
		return nil, err
	}
	e, ok := c.Entries[key]
	if !ok {
		return nil, nil
	}
	m, err := s.manifest(e.Manifest)
	if err != nil {
		return nil, nil
	}
	for _, d := range append([]v1.Descriptor{m.Config}, m.Layers...) {
		if _, err := os.Stat(s.blobPath(d.Digest)); err != nil {
			return nil, nil
		}
	}
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	img, err := s.load(idx, e.Manifest)
	if err != nil {
		return nil, nil // a layer is gone: build the step again
	}
	return img, nil
}

// CachePut records img, from WriteImage, as what the build step key made.
func (s *Store) CachePut(key string, img *Image) error {
	mh, err := v1.NewHash(img.Digest)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	ch, err := v1.NewHash(img.ID)
	if err != nil {
		return fmt.Errorf("image %s: %w", img.ID, err)
	}
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.readCache()
	if err != nil {
		return err
	}
	c.Entries[key] = cacheEntry{Manifest: mh, Config: ch, Created: time.Now().UTC()}
	b, err := json.Marshal(c)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.cachePath(), b)
}

// cacheManifests returns the manifests the build cache holds.
func (s *Store) cacheManifests() ([]v1.Hash, error) {
	c, err := s.readCache()
	if err != nil {
		return nil, err
	}
	var out []v1.Hash
	for _, e := range c.Entries {
		out = append(out, e.Manifest)
	}
	return out, nil
}

// PruneBuildCache drops every build cache entry, then deletes the blobs
// and layers no image in the index uses: those of the cache's images,
// and layers a build stored but never made an image of. It returns the
// unpacked bytes of the layers it freed. A build running at the same
// time may lose a layer it stored and not yet named; its WriteImage then
// fails, saying so.
func (s *Store) PruneBuildCache() (reclaimed int64, err error) {
	unlock, err := s.lock()
	if err != nil {
		return 0, err
	}
	var trash []*os.File
	reclaimed, err = s.pruneUnused(&trash)
	unlock()
	for _, t := range trash {
		if rerr := os.RemoveAll(t.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", t.Name(), rerr)
		}
		t.Close()
	}
	return reclaimed, err
}

// unused lists the blobs (hex) and layers (chain ID hex) that no image
// in the index uses: what the build cache alone holds, and what nothing
// holds. Preconditions: none; a caller that deletes holds s.lock.
func (s *Store) unused() (blobs, layers []string, err error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, nil, err
	}
	usedBlobs := map[string]bool{}
	usedLayers := map[string]bool{}
	for _, d := range idx.Manifests {
		m, err := s.manifest(d.Digest)
		if err != nil {
			return nil, nil, err
		}
		usedBlobs[d.Digest.Hex] = true
		usedBlobs[m.Config.Digest.Hex] = true
		for _, l := range m.Layers {
			usedBlobs[l.Digest.Hex] = true
		}
		cfg, err := s.configOf(m)
		if err != nil {
			return nil, nil, err
		}
		for _, c := range ChainIDs(cfg.RootFS.DiffIDs) {
			usedLayers[c.Hex] = true
		}
	}
	des, err := os.ReadDir(s.blobDir())
	if err != nil {
		return nil, nil, err
	}
	for _, e := range des {
		if !strings.HasPrefix(e.Name(), tempPrefix) && !usedBlobs[e.Name()] {
			blobs = append(blobs, e.Name())
		}
	}
	des, err = os.ReadDir(s.layerDir())
	if err != nil {
		return nil, nil, err
	}
	for _, e := range des {
		if name := e.Name(); e.IsDir() && isHex(name) && !usedLayers[name] {
			layers = append(layers, name)
		}
	}
	return blobs, layers, nil
}

// BuildCacheUsage returns the number of build cache entries and the
// unpacked bytes of the layers no image uses, which PruneBuildCache
// frees: `system df`'s Build Cache line.
func (s *Store) BuildCacheUsage() (entries int, size int64, err error) {
	c, err := s.readCache()
	if err != nil {
		return 0, 0, err
	}
	_, layers, err := s.unused()
	if err != nil {
		return 0, 0, err
	}
	for _, l := range layers {
		if info, err := s.layerInfo(v1.Hash{Algorithm: "sha256", Hex: l}); err == nil {
			size += info.Size
		}
	}
	return len(c.Entries), size, nil
}

// pruneUnused does PruneBuildCache's work. Preconditions: s.lock held.
func (s *Store) pruneUnused(trash *[]*os.File) (int64, error) {
	if err := os.Remove(s.cachePath()); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return 0, err
	}
	blobs, layers, err := s.unused()
	if err != nil {
		return 0, err
	}
	var freed int64
	for _, b := range blobs {
		if err := os.Remove(filepath.Join(s.blobDir(), b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, err
		}
	}
	for _, name := range layers {
		if info, err := s.layerInfo(v1.Hash{Algorithm: "sha256", Hex: name}); err == nil {
			freed += info.Size
		}
		gone, lock, err := tempDir(s.layerDir(), tempPrefix+"rm-")
		if err != nil {
			return freed, err
		}
		*trash = append(*trash, lock)
		dir := filepath.Join(s.layerDir(), name)
		if err := os.Rename(dir, filepath.Join(gone, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, err
		}
		if err := os.Remove(dir + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return freed, err
		}
	}
	return freed, nil
}
