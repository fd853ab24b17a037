package image

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"golang.org/x/sys/unix"
)

// Store keeps images under root: root/images is an OCI image layout
// (oci-layout, index.json with one manifest entry per name, annotation
// "org.opencontainers.image.ref.name" = the normalised name; blobs/sha256/...),
// root/layers/<chain-id hex>/ holds each layer unpacked once, shared by all images.
type Store struct {
	root string

	// Limits caps each layer an Import unpacks; set it before use.
	Limits Limits
}

// The OCI image layout's names. They are the image-spec's constants
// (the tests check), written out because importing specs-go/v1 links
// go-digest, whose regular expressions cost every berth process 1 ms.
const (
	annotationRefName  = "org.opencontainers.image.ref.name"
	imageLayoutFile    = "oci-layout"
	imageLayoutVersion = "1.0.0"
)

// Image is an image of the store, as Docker's inspect shows one.
type Image struct {
	ID      string    // "sha256:<hex of the config blob>", as Docker shows
	Names   []string  // normalised names, sorted; empty for a dangling image
	Digest  string    // the manifest digest
	Config  v1.Config // Env, Entrypoint, Cmd, WorkingDir, User, ...
	Layers  []string  // unpacked layer directories, bottom first (overlay's lowerdir wants top first)
	DiffIDs []v1.Hash // the layers' uncompressed digests, bottom first
	// LayerSizes are the unpacked sizes of Layers, in the same order.
	LayerSizes []int64
	Created    time.Time
	Size       int64 // bytes of the unpacked layers
}

// layerInfo is layers/<hex>.json.
type layerInfo struct {
	DiffID v1.Hash `json:"diffID"`
	Size   int64   `json:"size"`
	// Blob is the compressed blob the layer was stored with, so that Load
	// can reuse a layer the store has without unpacking it again. Layers
	// stored before it was recorded have none.
	Blob v1.Hash `json:"blob,omitzero"`
}

// Open opens the store at root, creating its directories on first use. On
// an existing store it only looks, so it is cheap for every berth process.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Store{root: root, Limits: DefaultLimits}
	if _, err := os.Stat(s.indexPath()); err == nil {
		return s, nil
	}
	for _, d := range []string{s.blobDir(), s.layerDir()} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating image store %s: %w", root, err)
		}
	}
	unlock, err := s.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	layout, _ := json.Marshal(map[string]string{"imageLayoutVersion": imageLayoutVersion})
	if err := writeFileAtomic(filepath.Join(s.imageDir(), imageLayoutFile), layout); err != nil {
		return nil, err
	}
	if _, err := os.Stat(s.indexPath()); errors.Is(err, fs.ErrNotExist) {
		if err := s.writeIndex(&v1.IndexManifest{}); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Store) imageDir() string  { return filepath.Join(s.root, "images") }
func (s *Store) indexPath() string { return filepath.Join(s.root, "images", "index.json") }
func (s *Store) blobDir() string   { return filepath.Join(s.root, "images", "blobs", "sha256") }
func (s *Store) layerDir() string  { return filepath.Join(s.root, "layers") }

func (s *Store) blobPath(h v1.Hash) string { return filepath.Join(s.blobDir(), h.Hex) }

// LayerPath is the directory a layer with that chain ID unpacks to.
func (s *Store) LayerPath(chainID v1.Hash) string { return filepath.Join(s.layerDir(), chainID.Hex) }

// lock takes the store's write lock. flock(2) locks belong to an open file
// description, so two goroutines of one process exclude each other too.
func (s *Store) lock() (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.imageDir(), "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking image store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking image store: %w", err)
	}
	return func() { f.Close() }, nil
}

func (s *Store) readIndex() (*v1.IndexManifest, error) {
	f, err := os.Open(s.indexPath())
	if err != nil {
		return nil, fmt.Errorf("reading image index: %w", err)
	}
	defer f.Close()
	idx, err := v1.ParseIndexManifest(f)
	if err != nil {
		return nil, fmt.Errorf("reading image index %s: %w", s.indexPath(), err)
	}
	return idx, nil
}

// writeIndex replaces index.json. Preconditions: s.lock held.
func (s *Store) writeIndex(idx *v1.IndexManifest) error {
	idx.SchemaVersion = 2
	idx.MediaType = types.OCIImageIndex
	if idx.Manifests == nil {
		idx.Manifests = []v1.Descriptor{}
	}
	b, err := json.Marshal(idx)
	if err != nil {
		return err
	}
	return writeFileAtomic(s.indexPath(), b)
}

func refName(d v1.Descriptor) string { return d.Annotations[annotationRefName] }

// Get finds an image by name (normalised as Docker does), by full or short
// id ("sha256:abc..." or "abc123").
func (s *Store) Get(ref string) (*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	d, err := s.find(idx, ref)
	if err != nil {
		return nil, err
	}
	return s.load(idx, d)
}

// find resolves ref to a manifest digest: a name first, as Docker does,
// then an id or a prefix of one.
func (s *Store) find(idx *v1.IndexManifest, ref string) (v1.Hash, error) {
	if !strings.HasPrefix(ref, "sha256:") {
		n, nerr := NormalizeName(ref)
		if nerr == nil {
			for _, d := range idx.Manifests {
				if refName(d) == n {
					return d.Digest, nil
				}
			}
		}
		if !isHex(ref) {
			if nerr != nil {
				return v1.Hash{}, nerr
			}
			return v1.Hash{}, &NotFoundError{Ref: ref}
		}
	}
	prefix := strings.TrimPrefix(ref, "sha256:")
	if !isHex(prefix) {
		return v1.Hash{}, &NotFoundError{Ref: ref}
	}
	var found []v1.Hash
	var ids []string
	for _, d := range idx.Manifests {
		if slices.Contains(found, d.Digest) {
			continue
		}
		m, err := s.manifest(d.Digest)
		if err != nil {
			return v1.Hash{}, err
		}
		if strings.HasPrefix(m.Config.Digest.Hex, prefix) {
			found = append(found, d.Digest)
			ids = append(ids, m.Config.Digest.String())
		}
	}
	switch len(found) {
	case 0:
		return v1.Hash{}, &NotFoundError{Ref: ref}
	case 1:
		return found[0], nil
	}
	return v1.Hash{}, &AmbiguousError{Ref: ref, Matches: ids}
}

func isHex(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for _, c := range s {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func (s *Store) manifest(h v1.Hash) (*v1.Manifest, error) {
	f, err := os.Open(s.blobPath(h))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	defer f.Close()
	m, err := v1.ParseManifest(f)
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", h, err)
	}
	return m, nil
}

// load builds the Image of the manifest with digest h.
func (s *Store) load(idx *v1.IndexManifest, h v1.Hash) (*Image, error) {
	m, err := s.manifest(h)
	if err != nil {
		return nil, err
	}
	f, err := os.Open(s.blobPath(m.Config.Digest))
	if err != nil {
		return nil, fmt.Errorf("reading config of image %s: %w", m.Config.Digest, err)
	}
	defer f.Close()
	cfg, err := v1.ParseConfigFile(f)
	if err != nil {
		return nil, fmt.Errorf("reading config of image %s: %w", m.Config.Digest, err)
	}
	img := &Image{
		ID:      m.Config.Digest.String(),
		Digest:  h.String(),
		Config:  cfg.Config,
		Created: cfg.Created.Time,
		DiffIDs: cfg.RootFS.DiffIDs,
	}
	img.Names = namesOf(idx, h)
	slices.Sort(img.Names)
	for _, id := range ChainIDs(cfg.RootFS.DiffIDs) {
		dir := s.LayerPath(id)
		info, err := s.layerInfo(id)
		if err != nil {
			return nil, fmt.Errorf("image %s: layer %s is missing or damaged (remove the image and import or pull it again): %w", img.ID, id, err)
		}
		img.Layers = append(img.Layers, dir)
		img.LayerSizes = append(img.LayerSizes, info.Size)
		img.Size += info.Size
	}
	return img, nil
}

func (s *Store) layerInfo(chainID v1.Hash) (*layerInfo, error) {
	if _, err := os.Stat(s.LayerPath(chainID)); err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.LayerPath(chainID) + ".json")
	if err != nil {
		return nil, err
	}
	var info layerInfo
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

// List returns every image, named ones sorted by first name, then the
// dangling ones by id.
func (s *Store) List() ([]*Image, error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, err
	}
	var imgs []*Image
	seen := map[v1.Hash]bool{}
	for _, d := range idx.Manifests {
		if seen[d.Digest] {
			continue
		}
		seen[d.Digest] = true
		img, err := s.load(idx, d.Digest)
		if err != nil {
			return nil, err
		}
		imgs = append(imgs, img)
	}
	slices.SortFunc(imgs, func(a, b *Image) int {
		if (len(a.Names) == 0) != (len(b.Names) == 0) {
			if len(a.Names) == 0 {
				return 1
			}
			return -1
		}
		if len(a.Names) > 0 {
			return strings.Compare(a.Names[0], b.Names[0])
		}
		return strings.Compare(a.ID, b.ID)
	})
	return imgs, nil
}

// Tag gives the image src the name dst too. An image that had dst loses
// it, and if that was its last name it stays, dangling, as in Docker.
func (s *Store) Tag(src, dst string) error {
	n, err := NormalizeName(dst)
	if err != nil {
		return err
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
	h, err := s.find(idx, src)
	if err != nil {
		return err
	}
	for _, d := range idx.Manifests {
		if d.Digest == h {
			nameManifest(idx, n, d)
			break
		}
	}
	return s.writeIndex(idx)
}

// nameManifest points name n at desc in idx, keeping the image that had
// n as a dangling entry when n was its only name, and dropping desc's own
// dangling entry.
func nameManifest(idx *v1.IndexManifest, n string, desc v1.Descriptor) {
	desc.Annotations = map[string]string{annotationRefName: n}
	var out []v1.Descriptor
	for _, d := range idx.Manifests {
		switch {
		case refName(d) == n && d.Digest != desc.Digest && !hasName(idx, d.Digest, n):
			d.Annotations = nil // its last name goes: it dangles
			out = append(out, d)
		case refName(d) == n, d.Digest == desc.Digest && refName(d) == "":
		default:
			out = append(out, d)
		}
	}
	idx.Manifests = append(out, desc)
}

// namesOf lists the names of the manifest h, in index order.
func namesOf(idx *v1.IndexManifest, h v1.Hash) []string {
	var out []string
	for _, d := range idx.Manifests {
		if d.Digest == h && refName(d) != "" {
			out = append(out, refName(d))
		}
	}
	return out
}

// hasName says whether the manifest h has a name other than except.
func hasName(idx *v1.IndexManifest, h v1.Hash, except string) bool {
	for _, d := range idx.Manifests {
		if d.Digest == h && refName(d) != "" && refName(d) != except {
			return true
		}
	}
	return false
}
