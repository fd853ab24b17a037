//go:build registry

package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/klauspost/compress/zstd"

	"github.com/berthproject/berth/internal/testutil"
)

// craftedLayer is a layer blob as a test uploads it, with what it unpacks to.
type craftedLayer struct {
	mediaType types.MediaType
	blob      []byte
	diffID    v1.Hash
	file      string // a file in it, and its content
	content   string
	urls      []string // for foreign layers
	skip      bool     // leave the blob out of the registry
}

func layerOf(t *testing.T, mt types.MediaType, name, content string) craftedLayer {
	t.Helper()
	tarball := tarOf(t, dir("data/"), file(name, content))
	l := craftedLayer{mediaType: mt, diffID: digestOf(tarball), file: name, content: content}
	switch layerCompressions[mt] {
	case plain:
		l.blob = tarball
	case gzipC:
		l.blob = gz(t, tarball)
	case zstdC:
		l.blob = zstdOf(t, tarball)
	default:
		t.Fatalf("no compression for media type %s", mt)
	}
	return l
}

func zstdOf(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw, err := zstd.NewWriter(&buf)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(b)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pushRaw uploads layers, a config and a manifest of manifestType to
// host/repo:tag with the registry API itself, so that the manifest is
// exactly the one written here, and returns its digest.
func pushRaw(t *testing.T, host, repo, tag string, manifestType types.MediaType, layers []craftedLayer) v1.Hash {
	t.Helper()
	cfg := v1.ConfigFile{Architecture: "amd64", OS: "linux", RootFS: v1.RootFS{Type: "layers"}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, l.diffID)
	}
	rawCfg, _ := json.Marshal(cfg)
	cfgType := types.OCIConfigJSON
	if manifestType == types.DockerManifestSchema2 {
		cfgType = types.DockerConfigJSON
	}
	m := v1.Manifest{
		SchemaVersion: 2,
		MediaType:     manifestType,
		Config:        v1.Descriptor{MediaType: cfgType, Size: int64(len(rawCfg)), Digest: digestOf(rawCfg)},
	}
	uploadBlob(t, host, repo, rawCfg)
	for _, l := range layers {
		m.Layers = append(m.Layers, v1.Descriptor{MediaType: l.mediaType, Size: int64(len(l.blob)), Digest: digestOf(l.blob), URLs: l.urls})
		if !l.skip {
			uploadBlob(t, host, repo, l.blob)
		}
	}
	rawManifest, _ := json.Marshal(m)
	req, _ := http.NewRequest(http.MethodPut, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, tag), bytes.NewReader(rawManifest))
	req.Header.Set("Content-Type", string(manifestType))
	do(t, req, http.StatusCreated)
	return digestOf(rawManifest)
}

// uploadBlob is the registry API's two-step upload: POST, then PUT.
func uploadBlob(t *testing.T, host, repo string, blob []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/v2/%s/blobs/uploads/", host, repo), nil)
	resp := do(t, req, http.StatusAccepted)
	loc, err := resp.Location()
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	q.Set("digest", digestOf(blob).String())
	loc.RawQuery = q.Encode()
	req, _ = http.NewRequest(http.MethodPut, loc.String(), bytes.NewReader(blob))
	req.Header.Set("Content-Type", "application/octet-stream")
	do(t, req, http.StatusCreated)
}

func do(t *testing.T, req *http.Request, want int) *http.Response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: %s: %s", req.Method, req.URL, resp.Status, body)
	}
	return resp
}

// remoteDigest is the digest of the manifest the registry has for tag.
func remoteDigest(t *testing.T, host, repo, tag string) v1.Hash {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://%s/v2/%s/manifests/%s", host, repo, tag), nil)
	req.Header.Set("Accept", string(types.OCIManifestSchema1)+", "+string(types.DockerManifestSchema2))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET manifest %s/%s:%s: %s: %s", host, repo, tag, resp.Status, b)
	}
	return digestOf(b)
}

// TestPull_LayerMediaTypes pulls images whose layers are uncompressed,
// zstd, gzip and foreign: each is unpacked, its blob kept byte for byte
// under the manifest's digest, and a push of it elsewhere gives the
// registry back the same manifest.
func TestPull_LayerMediaTypes(t *testing.T) {
	reg := startRegistryAllowingURLs(t)
	ctx := context.Background()
	for _, tc := range []struct {
		name         string
		manifestType types.MediaType
		layers       []craftedLayer
	}{
		{"oci uncompressed zstd gzip", types.OCIManifestSchema1, []craftedLayer{
			layerOf(t, types.OCIUncompressedLayer, "data/plain", "uncompressed\n"),
			layerOf(t, types.OCILayerZStd, "data/zstd", "zstd\n"),
			layerOf(t, types.OCILayer, "data/gzip", "gzip\n"),
		}},
		{"docker foreign", types.DockerManifestSchema2, []craftedLayer{
			layerOf(t, types.DockerLayer, "data/base", "base\n"),
			withURLs(layerOf(t, types.DockerForeignLayer, "data/foreign", "foreign\n"), "https://example.invalid/foreign.tar.gz"),
		}},
		{"oci nondistributable", types.OCIManifestSchema1, []craftedLayer{
			withURLs(layerOf(t, types.OCIRestrictedLayer, "data/restricted", "restricted\n"), "https://example.invalid/r.tar.gz"),
			withURLs(layerOf(t, types.OCIUncompressedRestrictedLayer, "data/restricted-plain", "restricted plain\n"), "https://example.invalid/rp.tar"),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "media/" + strings.ReplaceAll(tc.name, " ", "-")
			want := pushRaw(t, reg.host, repo, "1", tc.manifestType, tc.layers)
			s := openStore(t)
			ref := reg.host + "/" + repo + ":1"
			img, err := s.Pull(ctx, ref, nil)
			if err != nil {
				t.Fatal(err)
			}
			if img.Digest != want.String() || len(img.Layers) != len(tc.layers) {
				t.Fatalf("pulled digest %s with %d layers, want %s with %d", img.Digest, len(img.Layers), want, len(tc.layers))
			}
			for i, l := range tc.layers {
				if b, err := os.ReadFile(filepath.Join(img.Layers[i], l.file)); string(b) != l.content {
					t.Errorf("layer %d (%s): %s is %q, %v", i, l.mediaType, l.file, b, err)
				}
				if b, err := os.ReadFile(s.blobPath(digestOf(l.blob))); !bytes.Equal(b, l.blob) {
					t.Errorf("layer %d (%s): stored blob differs from the registry's (%d bytes, %v)", i, l.mediaType, len(b), err)
				}
				if img.DiffIDs[i] != l.diffID {
					t.Errorf("layer %d: diff ID %s, want %s", i, img.DiffIDs[i], l.diffID)
				}
			}
			if v, h := hidden(t, s.layerDir()), hidden(t, s.blobDir()); len(v)+len(h) > 0 {
				t.Errorf("leftovers %q %q", v, h)
			}

			// Pushed elsewhere, the registry gets the same manifest.
			ref2 := reg.host + "/" + repo + "-copy:2"
			if err := s.Tag(ref, ref2); err != nil {
				t.Fatal(err)
			}
			if err := s.Push(ctx, ref2, nil); err != nil {
				t.Fatal(err)
			}
			if got := remoteDigest(t, reg.host, repo+"-copy", "2"); got != want {
				t.Errorf("pushed copy has manifest digest %s, want %s", got, want)
			}
		})
	}
}

// startRegistryAllowingURLs starts a registry that takes manifests with
// foreign layers: docker-registry refuses layer URLs unless allowed.
func startRegistryAllowingURLs(t *testing.T) *testRegistry {
	r := testutil.StartRegistryWithConfig(t, "validation:\n  manifests:\n    urls:\n      allow:\n        - ^https?://\n")
	return &testRegistry{host: r.Host, storage: r.Storage}
}

func withURLs(l craftedLayer, urls ...string) craftedLayer {
	l.urls = urls
	return l
}

// A foreign layer the registry lacks is refused, clearly: berth does not
// fetch from the URLs in the manifest.
func TestPull_ForeignLayerMissing(t *testing.T) {
	reg := startRegistryAllowingURLs(t)
	foreign := layerOf(t, types.DockerForeignLayer, "data/foreign", "foreign\n")
	// Where Docker would fetch the layer from: it must see no request.
	var fetched atomic.Int32
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetched.Add(1)
		w.Write(foreign.blob)
	}))
	t.Cleanup(elsewhere.Close)
	foreign.urls = []string{elsewhere.URL + "/foreign.tar.gz"}
	foreign.skip = true
	pushRaw(t, reg.host, "media/foreign-missing", "1", types.DockerManifestSchema2, []craftedLayer{
		layerOf(t, types.DockerLayer, "data/base", "base\n"), foreign,
	})
	s := openStore(t)
	before := storeState(t, s)
	_, err := s.Pull(context.Background(), reg.host+"/media/foreign-missing:1", nil)
	t.Logf("foreign: %v", err)
	var fe *ForeignLayerError
	if !errors.As(err, &fe) || fe.Digest != digestOf(foreign.blob) || !strings.Contains(err.Error(), foreign.urls[0]) {
		t.Fatalf("Pull of an image whose foreign layer the registry lacks: %v", err)
	}
	if n := fetched.Load(); n != 0 {
		t.Errorf("the foreign layer's URL was fetched %d times", n)
	}
	if after := storeState(t, s); after != before {
		t.Errorf("store changed:\n%s\nwas\n%s", after, before)
	}
}

// A blob that is not what its media type says is refused, naming both.
func TestPull_MediaTypeMismatch(t *testing.T) {
	reg := startRegistry(t)
	liar := layerOf(t, types.OCILayer, "data/x", "x\n") // gzip ...
	liar.mediaType = types.OCILayerZStd                 // ... said to be zstd
	pushRaw(t, reg.host, "media/liar", "1", types.OCIManifestSchema1, []craftedLayer{liar})
	s := openStore(t)
	_, err := s.Pull(context.Background(), reg.host+"/media/liar:1", nil)
	t.Logf("mismatch: %v", err)
	if err == nil || !strings.Contains(err.Error(), "gzip-compressed, not zstd-compressed") || !strings.Contains(err.Error(), string(types.OCILayerZStd)) {
		t.Fatalf("Pull of a gzip blob said to be zstd: %v", err)
	}
	if v, h := append(visible(t, s.layerDir()), visible(t, s.blobDir())...), append(hidden(t, s.layerDir()), hidden(t, s.blobDir())...); len(v)+len(h) > 0 {
		t.Errorf("a refused pull left %q %q", v, h)
	}
}

// The Go zstd decoder that pulls use and the zstd program that imports
// use read the same stream to the same bytes; the timings are logged for
// doc.go's decision.
func TestZstdDecoders(t *testing.T) {
	plainTar := tarOf(t, dir("data/"), file("data/big", strings.Repeat("berth zstd layer\n", 1<<20)))
	compressed := zstdOf(t, plainTar)
	for _, tc := range []struct {
		name string
		open func(r io.Reader) (io.ReadCloser, func() error, error)
	}{
		{"go", func(r io.Reader) (io.ReadCloser, func() error, error) {
			rc, err := zstdReader(r)
			return rc, func() error { return nil }, err
		}},
		{"program", func(r io.Reader) (io.ReadCloser, func() error, error) {
			return decompressor(context.Background(), zstdC, r)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			rc, wait, err := tc.open(bytes.NewReader(compressed))
			if err != nil {
				t.Fatal(err)
			}
			h := sha256.New()
			n, err := io.Copy(h, rc)
			rc.Close()
			if werr := wait(); err == nil {
				err = werr
			}
			if err != nil {
				t.Fatal(err)
			}
			want := sha256.Sum256(plainTar)
			if hex.EncodeToString(h.Sum(nil)) != hex.EncodeToString(want[:]) || n != int64(len(plainTar)) {
				t.Errorf("decoded %d bytes that differ from the tarball", n)
			}
			t.Logf("%s: %d MiB in %v", tc.name, n>>20, time.Since(start))
		})
	}
}
