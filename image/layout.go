package image

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// ChainIDs returns the chain ID of each layer from the diff IDs, bottom
// first, as the OCI image spec defines them: the first layer's chain ID is
// its diff ID, each next one sha256(parent's chain ID + " " + diff ID).
func ChainIDs(diffIDs []v1.Hash) []v1.Hash {
	out := make([]v1.Hash, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		sum := sha256.Sum256([]byte(out[i-1].String() + " " + d.String()))
		out[i] = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
	}
	return out
}

// writeFileAtomic replaces p with data: a temporary file beside it, fsync,
// rename, fsync of the directory. A reader sees the old or the new file.
// The temporary stays locked until renamed (see temp.go).
func writeFileAtomic(p string, data []byte) error {
	f, err := tempFile(filepath.Dir(p), tempPrefix+filepath.Base(p)+"-")
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	defer f.Close()
	if err := writeAndSync(f, data); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		os.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return syncDir(filepath.Dir(p))
}

func writeAndSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

func digestOf(b []byte) v1.Hash {
	sum := sha256.Sum256(b)
	return v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum[:])}
}

// writeBlob stores data as a blob unless the store has it already, and
// returns its digest.
func (s *Store) writeBlob(data []byte) (v1.Hash, error) {
	h := digestOf(data)
	if _, err := os.Stat(s.blobPath(h)); err == nil {
		return h, nil
	}
	return h, writeFileAtomic(s.blobPath(h), data)
}

// Remove untags ref; when no name is left, the image's blobs and any
// layer directory no other image uses are deleted. An id removes the
// image when it has at most one name.
func (s *Store) Remove(ref string) error {
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	var trash []*os.File
	err = s.remove(ref, &trash)
	unlock()
	// The directories went out of sight by rename under the lock; deleting
	// their contents can be slow and needs no lock. Each stays locked as a
	// temporary until it is gone, so a killed Remove leaves it to cleanTemps.
	for _, t := range trash {
		if rerr := os.RemoveAll(t.Name()); rerr != nil && err == nil {
			err = fmt.Errorf("removing %s: %w", t.Name(), rerr)
		}
		t.Close()
	}
	return err
}

// remove does Remove's index work. Preconditions: s.lock held.
func (s *Store) remove(ref string, trash *[]*os.File) error {
	idx, err := s.readIndex()
	if err != nil {
		return err
	}
	h, err := s.find(idx, ref)
	if err != nil {
		return err
	}
	names := namesOf(idx, h)
	byName := ""
	if n, err := NormalizeName(ref); err == nil && slices.Contains(names, n) {
		byName = n
	}
	if byName == "" && len(names) > 1 {
		m, err := s.manifest(h)
		if err != nil {
			return err
		}
		return &HasNamesError{ID: m.Config.Digest.String(), Names: names}
	}
	var keep []v1.Descriptor
	for _, d := range idx.Manifests {
		drop := d.Digest == h && (byName == "" || refName(d) == byName || len(names) == 1)
		if !drop {
			keep = append(keep, d)
		}
	}
	idx.Manifests = keep
	if err := s.writeIndex(idx); err != nil {
		return err
	}
	for _, d := range keep {
		if d.Digest == h {
			return nil // it keeps other names
		}
	}
	return s.collect(idx, h, trash)
}

// collect deletes the blobs and layer directories of the manifest h that
// no manifest left in idx uses. Layer directories are renamed out of sight
// into locked temporaries added to trash for the caller to delete.
// Preconditions: s.lock held.
func (s *Store) collect(idx *v1.IndexManifest, h v1.Hash, trash *[]*os.File) error {
	usedBlobs := map[v1.Hash]bool{}
	usedLayers := map[v1.Hash]bool{}
	refs := func(h v1.Hash, each func(blob v1.Hash), eachLayer func(chainID v1.Hash)) error {
		m, err := s.manifest(h)
		if err != nil {
			return err
		}
		each(h)
		each(m.Config.Digest)
		for _, l := range m.Layers {
			each(l.Digest)
		}
		f, err := os.Open(s.blobPath(m.Config.Digest))
		if err != nil {
			return err
		}
		defer f.Close()
		cfg, err := v1.ParseConfigFile(f)
		if err != nil {
			return fmt.Errorf("reading config %s: %w", m.Config.Digest, err)
		}
		for _, id := range ChainIDs(cfg.RootFS.DiffIDs) {
			eachLayer(id)
		}
		return nil
	}
	seen := map[v1.Hash]bool{}
	// The build cache's images hold their blobs and layers as named
	// ones do (build_store.go).
	cached, err := s.cacheManifests()
	if err != nil {
		return err
	}
	users := cached
	for _, d := range idx.Manifests {
		users = append(users, d.Digest)
	}
	for _, u := range users {
		if seen[u] {
			continue
		}
		seen[u] = true
		err := refs(u, func(b v1.Hash) { usedBlobs[b] = true }, func(l v1.Hash) { usedLayers[l] = true })
		if err != nil {
			return err
		}
	}
	var blobs, layers []v1.Hash
	err = refs(h, func(b v1.Hash) {
		if !usedBlobs[b] {
			blobs = append(blobs, b)
		}
	}, func(l v1.Hash) {
		if !usedLayers[l] {
			layers = append(layers, l)
		}
	})
	if err != nil {
		return err
	}
	for _, l := range layers {
		dir := s.LayerPath(l)
		gone, lock, err := tempDir(s.layerDir(), tempPrefix+"rm-")
		if err != nil {
			return fmt.Errorf("removing layer %s: %w", l, err)
		}
		*trash = append(*trash, lock)
		if err := os.Rename(dir, filepath.Join(gone, l.Hex)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing layer %s: %w", l, err)
		}
		if err := os.Remove(dir + ".json"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing layer %s: %w", l, err)
		}
	}
	for _, b := range blobs {
		if err := os.Remove(s.blobPath(b)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing blob %s: %w", b, err)
		}
	}
	return nil
}

// Untag takes the name ref off its image but keeps the image, nameless
// (Docker's <none>) if that was its last name: `rmi -f` of an image a
// container still runs on must not delete the layers under it.
func (s *Store) Untag(ref string) error {
	n, err := NormalizeName(ref)
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
	var keep []v1.Descriptor
	var untagged *v1.Descriptor
	for _, d := range idx.Manifests {
		if refName(d) == n {
			d := d
			untagged = &d
			continue
		}
		keep = append(keep, d)
	}
	if untagged == nil {
		return &NotFoundError{Ref: ref}
	}
	if !slices.ContainsFunc(keep, func(d v1.Descriptor) bool { return d.Digest == untagged.Digest }) {
		untagged.Annotations = nil
		keep = append(keep, *untagged)
	}
	idx.Manifests = keep
	return s.writeIndex(idx)
}
