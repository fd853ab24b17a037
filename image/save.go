package image

import (
	"archive/tar"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Save writes the images refs name to w as one tar archive in the format
// Docker ≥ 25 writes: an OCI image layout (oci-layout, index.json,
// blobs/sha256/...) that also carries Docker's manifest.json, with its
// Config and Layers pointing at the same blobs. So `docker load`,
// `podman load`, skopeo (docker-archive: and oci-archive:) and Load all
// read it. Blobs go in as they are stored (layers stay compressed) and
// once each, however many images share them.
//
// A ref that is a name saves the image under that name; an ID saves it
// without names, as Docker does.
func (s *Store) Save(w io.Writer, refs []string) error {
	// Every blob is opened under the lock: an image removed while the
	// archive is written then loses nothing the archive needs, and no
	// writer waits for a long save.
	unlock, err := s.lock()
	if err != nil {
		return err
	}
	files, index, manifest, err := s.saveList(refs)
	unlock()
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	if err != nil {
		return err
	}
	return writeArchive(w, files, index, manifest)
}

// saveList works out what Save writes, and opens the blobs.
// Preconditions: s.lock held.
func (s *Store) saveList(refs []string) (files []*os.File, _ *v1.IndexManifest, _ []dockerManifestEntry, _ error) {
	idx, err := s.readIndex()
	if err != nil {
		return nil, nil, nil, err
	}
	var (
		index    = v1.IndexManifest{SchemaVersion: 2, MediaType: "application/vnd.oci.image.index.v1+json"}
		manifest []dockerManifestEntry
		blobs    []v1.Hash
		entryOf  = map[v1.Hash]int{}
	)
	addBlob := func(h v1.Hash) error {
		if slices.Contains(blobs, h) {
			return nil
		}
		f, err := os.Open(s.blobPath(h))
		if err != nil {
			return fmt.Errorf("blob %s is missing from the store (remove the image and pull or load it again): %w", h, err)
		}
		blobs = append(blobs, h)
		files = append(files, f)
		return nil
	}
	for _, ref := range refs {
		h, err := s.find(idx, ref)
		if err != nil {
			return files, nil, nil, err
		}
		desc := manifestDescriptor(idx, h)
		name := ""
		if n, err := NormalizeName(ref); err == nil && slices.Contains(namesOf(idx, h), n) {
			name = n
		}
		i, seen := entryOf[h]
		if !seen {
			m, err := s.manifest(h)
			if err != nil {
				return files, nil, nil, err
			}
			e := dockerManifestEntry{Config: blobName(m.Config.Digest), RepoTags: []string{}}
			err = addBlob(m.Config.Digest)
			for _, l := range m.Layers {
				e.Layers = append(e.Layers, blobName(l.Digest))
				err = errors.Join(err, addBlob(l.Digest))
			}
			if err = errors.Join(err, addBlob(h)); err != nil {
				return files, nil, nil, err
			}
			i = len(manifest)
			entryOf[h] = i
			manifest = append(manifest, e)
		}
		switch {
		case name != "" && !slices.Contains(manifest[i].RepoTags, FamiliarName(name)):
			manifest[i].RepoTags = append(manifest[i].RepoTags, FamiliarName(name))
			d := desc
			d.Annotations = map[string]string{annotationContainerdName: name, annotationRefName: tagOf(name)}
			index.Manifests = append(index.Manifests, d)
		case name == "" && !seen:
			index.Manifests = append(index.Manifests, desc)
		}
	}
	return files, &index, manifest, nil
}

// dockerManifestEntry is one image of manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// manifestDescriptor is the index's descriptor of manifest h, without
// its name.
func manifestDescriptor(idx *v1.IndexManifest, h v1.Hash) v1.Descriptor {
	for _, d := range idx.Manifests {
		if d.Digest == h {
			return v1.Descriptor{MediaType: d.MediaType, Size: d.Size, Digest: d.Digest}
		}
	}
	return v1.Descriptor{Digest: h}
}

// tagOf is the tag of a normalised name, or its digest.
func tagOf(n string) string {
	if _, d, ok := strings.Cut(n, "@"); ok {
		return d
	}
	return n[strings.LastIndex(n, ":")+1:]
}

// FamiliarName shows a normalised name as Docker does:
// docker.io/library/busybox:latest is busybox:latest.
func FamiliarName(n string) string {
	n = strings.TrimPrefix(n, "docker.io/library/")
	return strings.TrimPrefix(n, "docker.io/")
}

// writeArchive writes the tar: blobs first, then the small files that
// name them, so a reader streaming the archive meets no name before its
// blob. Times are the epoch, so that saving twice gives the same bytes.
func writeArchive(w io.Writer, blobs []*os.File, index *v1.IndexManifest, manifest []dockerManifestEntry) error {
	tw := tar.NewWriter(w)
	epoch := time.Unix(0, 0)
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	for _, f := range blobs {
		if err := copyBlob(tw, f, epoch); err != nil {
			return err
		}
	}
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	manifestJSON, err := json.Marshal(manifest)
	if err != nil {
		return err
	}
	files := []struct {
		name string
		data []byte
	}{
		{imageLayoutFile, []byte(`{"imageLayoutVersion":"` + imageLayoutVersion + `"}`)},
		{"index.json", indexJSON},
		{"manifest.json", manifestJSON},
	}
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	return tw.Close()
}

// copyBlob writes the blob file f, named by its digest, as
// blobs/sha256/<hex>.
func copyBlob(tw *tar.Writer, f *os.File, mtime time.Time) error {
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	name := "blobs/sha256/" + fi.Name()
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: fi.Size(), ModTime: mtime}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}
