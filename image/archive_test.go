package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strings"
	"syscall"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// archiveFile is one file of a crafted archive.
type archiveFile struct {
	name string
	data []byte
	link string // a symlink target instead of data
}

func archiveOf(t *testing.T, files ...archiveFile) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: 0o644, Size: int64(len(f.data))}
		if f.link != "" {
			hdr = &tar.Header{Typeflag: tar.TypeSymlink, Name: f.name, Linkname: f.link}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		tw.Write(f.data)
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// configOf is an image config over layers (uncompressed tarballs).
func configOf(t *testing.T, cmd []string, layers ...[]byte) []byte {
	t.Helper()
	cfg := v1.ConfigFile{Architecture: goruntime.GOARCH, OS: "linux", Config: v1.Config{Cmd: cmd}, RootFS: v1.RootFS{Type: "layers"}}
	for _, l := range layers {
		cfg.RootFS.DiffIDs = append(cfg.RootFS.DiffIDs, digestOf(l))
	}
	b, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadBytes(t *testing.T, s *Store, b []byte) ([]*Image, error) {
	t.Helper()
	return s.Load(context.Background(), bytes.NewReader(b))
}

// inode identifies a directory, to tell a reused layer from one unpacked again.
func inode(t *testing.T, p string) uint64 {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Ino
}

func TestSaveLoad_RoundTrip(t *testing.T) {
	src := openStore(t)
	ctx := context.Background()
	bb := busyboxTar(t)
	img, err := src.Import(ctx, bytes.NewReader(gz(t, bb)), "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Tag("busybox", "localhost:5000/tools/bb:1.0"); err != nil {
		t.Fatal(err)
	}
	other, err := src.Import(ctx, bytes.NewReader(tarOf(t, file("hello", "world"))), "hello")
	if err != nil {
		t.Fatal(err)
	}

	// Saved to a file: Load indexes it in place.
	path := filepath.Join(t.TempDir(), "images.tar")
	out, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Save(out, []string{"busybox", "localhost:5000/tools/bb:1.0", other.ID}); err != nil {
		t.Fatal(err)
	}
	out.Close()
	a := readArchiveFiles(t, path)
	var manifest []dockerManifestEntry
	if err := json.Unmarshal(a["manifest.json"], &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest) != 2 || !slices.Equal(manifest[0].RepoTags, []string{"busybox:latest", "localhost:5000/tools/bb:1.0"}) || len(manifest[1].RepoTags) != 0 {
		t.Errorf("manifest.json: %s", a["manifest.json"])
	}
	if string(a["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` || !bytes.Contains(a["index.json"], []byte(`"io.containerd.image.name":"docker.io/library/busybox:latest","org.opencontainers.image.ref.name":"latest"`)) {
		t.Errorf("oci-layout %s, index.json %s", a["oci-layout"], a["index.json"])
	}
	if n := countPrefix(a, "blobs/sha256/"); n != 6 { // two images of one layer, config, manifest each
		t.Errorf("%d blobs, want 6: the shared image saved twice?", n)
	}

	dst := openStore(t)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	loaded, err := dst.Load(ctx, f)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 2 || loaded[0].ID != img.ID || loaded[0].Digest != img.Digest || loaded[1].ID != other.ID || len(loaded[1].Names) != 0 {
		t.Fatalf("loaded %+v", loaded)
	}
	if want := []string{"docker.io/library/busybox:latest", "localhost:5000/tools/bb:1.0"}; !slices.Equal(loaded[0].Names, want) {
		t.Errorf("names %q, want %q", loaded[0].Names, want)
	}
	if _, err := os.Stat(filepath.Join(loaded[0].Layers[0], "bin/busybox")); err != nil {
		t.Error(err)
	}
	checkDigests(t, dst, loaded[0], bb)

	// Loading again, from a gzip stream, unpacks nothing again.
	ino := inode(t, loaded[0].Layers[0])
	var buf bytes.Buffer
	if err := dst.Save(&buf, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	again, err := loadBytes(t, dst, gz(t, buf.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	if len(again) != 1 || again[0].Digest != img.Digest || inode(t, again[0].Layers[0]) != ino {
		t.Errorf("loaded again: %+v", again)
	}
	// Saving is reproducible.
	var buf2 bytes.Buffer
	if err := dst.Save(&buf2, []string{"busybox"}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(buf.Bytes(), buf2.Bytes()) {
		t.Error("two saves of one image differ")
	}
	if h := hidden(t, dst.blobDir()); len(h) != 0 {
		t.Errorf("left behind: %q", h)
	}
}

func readArchiveFiles(t *testing.T, path string) map[string][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string][]byte{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[hdr.Name] = b
	}
}

func countPrefix(m map[string][]byte, prefix string) int {
	n := 0
	for k := range m {
		if strings.HasPrefix(k, prefix) && !strings.HasSuffix(k, "/") {
			n++
		}
	}
	return n
}

// TestLoad_DockerLegacy loads the format of Docker < 25 and podman:
// uncompressed layer.tar files, a layer shared by symlink.
func TestLoad_DockerLegacy(t *testing.T) {
	base := tarOf(t, dir("etc/"), file("etc/os-release", "ID=test\n"))
	app := tarOf(t, file("app", "v1"), file(".wh.gone", ""))
	cfgA := configOf(t, []string{"/app"}, base, app)
	cfgB := configOf(t, []string{"/bin/true"}, base)
	hexA, hexB := digestOf(cfgA).Hex, digestOf(cfgB).Hex
	manifest := `[{"Config":"` + hexA + `.json","RepoTags":["app:1","registry.example:5000/team/app:1"],"Layers":["l1/layer.tar","l2/layer.tar"]},
		{"Config":"` + hexB + `.json","RepoTags":null,"Layers":["l3/layer.tar"]}]`
	ar := archiveOf(t,
		archiveFile{name: "l1/layer.tar", data: base},
		archiveFile{name: "l2/layer.tar", data: app},
		archiveFile{name: "l3/layer.tar", link: "../l1/layer.tar"},
		archiveFile{name: hexA + ".json", data: cfgA},
		archiveFile{name: hexB + ".json", data: cfgB},
		archiveFile{name: "manifest.json", data: []byte(manifest)},
	)
	s := openStore(t)
	imgs, err := loadBytes(t, s, ar)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 2 || imgs[0].ID != "sha256:"+hexA || imgs[1].ID != "sha256:"+hexB {
		t.Fatalf("loaded %+v", imgs)
	}
	if want := []string{"docker.io/library/app:1", "registry.example:5000/team/app:1"}; !slices.Equal(imgs[0].Names, want) || len(imgs[1].Names) != 0 {
		t.Errorf("names %q and %q", imgs[0].Names, imgs[1].Names)
	}
	if imgs[0].Layers[0] != imgs[1].Layers[0] || len(visible(t, s.layerDir())) != 2*2 { // two dirs, two .json
		t.Errorf("layers %q %q: %q", imgs[0].Layers, imgs[1].Layers, visible(t, s.layerDir()))
	}
	if fi, err := os.Stat(filepath.Join(imgs[0].Layers[1], "gone")); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("whiteout: %v %v", fi, err)
	}
	if got, err := s.Get("app:1"); err != nil || !slices.Equal(got.Config.Cmd, []string{"/app"}) {
		t.Errorf("app:1: %+v %v", got, err)
	}
}

// TestLoad_OCIArchive loads an OCI layout in a tar with an uncompressed
// layer, an index for two platforms and a tag-only ref name, as
// `skopeo copy ... oci-archive:` writes them.
func TestLoad_OCIArchive(t *testing.T) {
	layer := tarOf(t, file("data", "oci"))
	cfg := configOf(t, []string{"/data"}, layer)
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: digestOf(cfg)},
		Layers: []v1.Descriptor{{MediaType: types.OCIUncompressedLayer, Size: int64(len(layer)), Digest: digestOf(layer)}}}
	mJSON, _ := json.Marshal(m)
	other := []byte(`{"schemaVersion":2}`) // the other platform's manifest: never read
	platIdx := v1.IndexManifest{SchemaVersion: 2, MediaType: types.OCIImageIndex, Manifests: []v1.Descriptor{
		{MediaType: types.OCIManifestSchema1, Size: int64(len(other)), Digest: digestOf(other), Platform: &v1.Platform{OS: "linux", Architecture: "s390x"}},
		{MediaType: types.OCIManifestSchema1, Size: int64(len(mJSON)), Digest: digestOf(mJSON), Platform: &v1.Platform{OS: "linux", Architecture: goruntime.GOARCH}},
	}}
	piJSON, _ := json.Marshal(platIdx)
	index := v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{
		{MediaType: types.OCIImageIndex, Size: int64(len(piJSON)), Digest: digestOf(piJSON), Annotations: map[string]string{annotationRefName: "quay.io/team/data:2"}},
		{MediaType: types.OCIManifestSchema1, Size: int64(len(mJSON)), Digest: digestOf(mJSON), Annotations: map[string]string{annotationRefName: "latest"}},
	}}
	iJSON, _ := json.Marshal(index)
	blob := func(b []byte) archiveFile { return archiveFile{name: "blobs/sha256/" + digestOf(b).Hex, data: b} }
	ar := archiveOf(t, archiveFile{name: "oci-layout", data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		archiveFile{name: "index.json", data: iJSON}, blob(layer), blob(cfg), blob(mJSON), blob(piJSON))

	s := openStore(t)
	imgs, err := loadBytes(t, s, ar)
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !slices.Equal(imgs[0].Names, []string{"quay.io/team/data:2"}) || imgs[0].ID != digestOf(cfg).String() {
		t.Fatalf("loaded %+v", imgs)
	}
	// The layer was stored gzip-compressed, so the manifest is a new one.
	if imgs[0].Digest == digestOf(mJSON).String() {
		t.Error("kept a manifest whose blobs the store does not have")
	}
	if b, err := os.ReadFile(filepath.Join(imgs[0].Layers[0], "data")); err != nil || string(b) != "oci" {
		t.Errorf("data: %q %v", b, err)
	}
}

// TestLoad_Broken: each broken archive is refused with a clear error and
// leaves the store as it was.
func TestLoad_Broken(t *testing.T) {
	layer := tarOf(t, file("a", "1"))
	cfg := configOf(t, nil, layer)
	cfgName := digestOf(cfg).Hex + ".json"
	manifest := func(layers ...string) archiveFile {
		b, _ := json.Marshal([]dockerManifestEntry{{Config: cfgName, RepoTags: []string{"x:1"}, Layers: layers}})
		return archiveFile{name: "manifest.json", data: b}
	}
	cases := []struct {
		name    string
		archive []byte
		want    string
	}{
		{"not an archive", []byte("hello, this is not a tarball at all, but it is long enough to be read" + strings.Repeat(".", 600)), "not a tar archive"},
		{"empty", nil, "the archive is empty"},
		{"no manifest", archiveOf(t, archiveFile{name: "a", data: layer}), "is this an image archive"},
		{"missing layer", archiveOf(t, archiveFile{name: cfgName, data: cfg}, manifest("l/layer.tar")), `no file "l/layer.tar"`},
		{"escaping name", archiveOf(t, archiveFile{name: cfgName, data: cfg}, manifest("../../../etc/passwd")), `no file "etc/passwd"`},
		{"link loop", archiveOf(t, archiveFile{name: cfgName, data: cfg}, archiveFile{name: "a", link: "b"}, archiveFile{name: "b", link: "a"}, manifest("a")), "loop of links"},
		{"wrong content", archiveOf(t, archiveFile{name: cfgName, data: cfg}, archiveFile{name: "l", data: tarOf(t, file("a", "2"))}, manifest("l")), "diff ID"},
		{"wrong config", archiveOf(t, archiveFile{name: cfgName, data: configOf(t, []string{"x"}, layer)}, archiveFile{name: "l", data: layer}, manifest("l")), "digest"},
		{"layer count", archiveOf(t, archiveFile{name: cfgName, data: cfg}, archiveFile{name: "l", data: layer}, manifest("l", "l")), "names 1 layers, the manifest 2"},
		{"bad name", archiveOf(t, archiveFile{name: cfgName, data: cfg}, archiveFile{name: "l", data: layer},
			archiveFile{name: "manifest.json", data: []byte(`[{"Config":"` + cfgName + `","RepoTags":["UPPER:1"],"Layers":["l"]}]`)}), "UPPER"},
		{"bad layer", archiveOf(t, archiveFile{name: "c.json", data: configOf(t, nil, tarOf(t, file("../x", "1")))},
			archiveFile{name: "l", data: tarOf(t, file("../x", "1"))},
			archiveFile{name: "manifest.json", data: []byte(`[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l"]}]`)}), "../x"},
	}
	s := openStore(t)
	// An image of another layer: each case must unpack its own.
	if _, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, file("k", "1"))), "keep"); err != nil {
		t.Fatal(err)
	}
	before := storeState(t, s)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadBytes(t, s, c.archive)
			if err == nil || !strings.Contains(err.Error(), c.want) || !strings.HasPrefix(err.Error(), "loading images: ") {
				t.Errorf("err = %v, want one saying %q", err, c.want)
			}
			if after := storeState(t, s); after != before {
				t.Errorf("store changed:\n%s\nwas\n%s", after, before)
			}
		})
	}
}

// TestLoad_SameImageTwice: the same image loaded from podman's two
// formats, whose layer blobs differ, stays one image.
func TestLoad_SameImageTwice(t *testing.T) {
	layer := tarOf(t, file("same", "1"))
	cfg := configOf(t, nil, layer)
	cfgHex := digestOf(cfg).Hex
	docker := archiveOf(t, archiveFile{name: "l.tar", data: layer}, archiveFile{name: cfgHex + ".json", data: cfg},
		archiveFile{name: "manifest.json", data: []byte(`[{"Config":"` + cfgHex + `.json","RepoTags":["same:1"],"Layers":["l.tar"]}]`)})

	blob := gz(t, layer)
	blob[9] = 0xff // gzip's OS byte: another tool's blob, same content
	m := v1.Manifest{SchemaVersion: 2, MediaType: types.OCIManifestSchema1,
		Config: v1.Descriptor{MediaType: types.OCIConfigJSON, Size: int64(len(cfg)), Digest: digestOf(cfg)},
		Layers: []v1.Descriptor{{MediaType: types.OCILayer, Size: int64(len(blob)), Digest: digestOf(blob)}}}
	mJSON, _ := json.Marshal(m)
	iJSON, _ := json.Marshal(v1.IndexManifest{SchemaVersion: 2, Manifests: []v1.Descriptor{
		{MediaType: types.OCIManifestSchema1, Size: int64(len(mJSON)), Digest: digestOf(mJSON), Annotations: map[string]string{annotationRefName: "docker.io/library/same:1"}}}})
	oci := archiveOf(t, archiveFile{name: "index.json", data: iJSON},
		archiveFile{name: "blobs/sha256/" + digestOf(blob).Hex, data: blob},
		archiveFile{name: "blobs/sha256/" + digestOf(cfg).Hex, data: cfg},
		archiveFile{name: "blobs/sha256/" + digestOf(mJSON).Hex, data: mJSON})

	s := openStore(t)
	first, err := loadBytes(t, s, docker)
	if err != nil {
		t.Fatal(err)
	}
	second, err := loadBytes(t, s, oci)
	if err != nil {
		t.Fatal(err)
	}
	if second[0].Digest != digestOf(mJSON).String() || second[0].ID != first[0].ID || second[0].Digest == first[0].Digest {
		t.Fatalf("first %+v, second %+v", first[0], second[0])
	}
	imgs, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	if len(imgs) != 1 || !slices.Equal(imgs[0].Names, []string{"docker.io/library/same:1"}) {
		t.Errorf("images: %+v", imgs)
	}
	// The twin's own blobs went: the OCI layer blob, config, manifest.
	if got := visible(t, s.blobDir()); len(got) != 3 || !slices.Contains(got, digestOf(blob).Hex) {
		t.Errorf("blobs %q", got)
	}
}
