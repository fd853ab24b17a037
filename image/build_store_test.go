package image

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// buildTwoLayers stores a base layer and a step layer on it, as a build
// does, and returns them.
func buildTwoLayers(t *testing.T, s *Store) []Layer {
	t.Helper()
	ctx := context.Background()
	base, err := s.AddLayer(ctx, nil, bytes.NewReader(tarOf(t, dir("etc/"), file("etc/base", "base\n"))))
	if err != nil {
		t.Fatal(err)
	}
	step, err := s.AddLayer(ctx, []v1.Hash{base.DiffID}, bytes.NewReader(tarOf(t, dir("app/"), file("app/run", "step\n"), file("etc/.wh.base", ""))))
	if err != nil {
		t.Fatal(err)
	}
	return []Layer{base, step}
}

func TestAddLayer_WriteImage(t *testing.T) {
	s := openStore(t)
	layers := buildTwoLayers(t, s)
	if b, err := os.ReadFile(filepath.Join(layers[1].Dir, "app/run")); err != nil || string(b) != "step\n" {
		t.Fatalf("step layer's app/run: %q, %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(layers[1].Dir, "etc/base")); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Errorf("the whiteout of etc/base is not an overlay whiteout in the layer: %v, %v", fi, err)
	}
	if layers[1].Dir != s.LayerPath(ChainIDs([]v1.Hash{layers[0].DiffID, layers[1].DiffID})[1]) {
		t.Errorf("the step layer is at %s, not at its chain ID", layers[1].Dir)
	}

	cfg := &v1.ConfigFile{Architecture: "amd64", Created: v1.Time{Time: time.Unix(1700000000, 0).UTC()}, Config: v1.Config{Cmd: []string{"/app/run"}}}
	img, err := s.WriteImage(cfg, layers, "built:one", "built:two")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Names, []string{"docker.io/library/built:one", "docker.io/library/built:two"}) || !slices.Equal(img.Layers, []string{layers[0].Dir, layers[1].Dir}) {
		t.Fatalf("image %+v", img)
	}
	got, err := s.Get("built:one")
	if err != nil || got.ID != img.ID || !slices.Equal(got.Config.Cmd, []string{"/app/run"}) {
		t.Fatalf("Get: %+v, %v", got, err)
	}
	// The same config and layers give the same id.
	again, err := s.WriteImage(cfg, layers)
	if err != nil || again.ID != img.ID {
		t.Errorf("writing the same image again: id %s, want %s (%v)", again.ID, img.ID, err)
	}
	rcfg, rl, err := s.ImageLayers("built:two")
	if err != nil || len(rl) != 2 || rl[1] != layers[1] || rcfg.RootFS.DiffIDs[1] != layers[1].DiffID {
		t.Errorf("ImageLayers: %+v, %v", rl, err)
	}
}

func TestWriteImage_NamelessAndKeep(t *testing.T) {
	s := openStore(t)
	layers := buildTwoLayers(t, s)
	img, err := s.WriteImage(&v1.ConfigFile{Architecture: "amd64"}, layers)
	if err != nil {
		t.Fatal(err)
	}
	list, err := s.List()
	if err != nil || len(list) != 0 {
		t.Fatalf("an image written without names is listed: %d images, %v", len(list), err)
	}
	if err := s.Keep(img); err != nil {
		t.Fatal(err)
	}
	list, err = s.List()
	if err != nil || len(list) != 1 || list[0].ID != img.ID || len(list[0].Names) != 0 {
		t.Fatalf("after Keep: %+v, %v", list, err)
	}
}

func TestBuildCache(t *testing.T) {
	s := openStore(t)
	layers := buildTwoLayers(t, s)
	step1, err := s.WriteImage(&v1.ConfigFile{Architecture: "amd64"}, layers[:1])
	if err != nil {
		t.Fatal(err)
	}
	step2, err := s.WriteImage(&v1.ConfigFile{Architecture: "amd64", Config: v1.Config{Env: []string{"A=b"}}}, layers, "app")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.CacheGet("k1"); got != nil || err != nil {
		t.Fatalf("CacheGet of an empty cache: %v, %v", got, err)
	}
	for k, img := range map[string]*Image{"k1": step1, "k2": step2} {
		if err := s.CachePut(k, img); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.CacheGet("k1"); err != nil || got == nil || got.ID != step1.ID {
		t.Fatalf("CacheGet k1: %+v, %v", got, err)
	}
	// An image only the cache holds is found by its id.
	if _, l, err := s.ImageLayers(step1.ID); err != nil || len(l) != 1 {
		t.Fatalf("ImageLayers of a cached image: %v, %v", l, err)
	}

	// rmi of the built image keeps what the cache holds.
	if err := s.Remove("app"); err != nil {
		t.Fatal(err)
	}
	if got, err := s.CacheGet("k2"); err != nil || got == nil || got.ID != step2.ID {
		t.Fatalf("after rmi, CacheGet k2: %+v, %v", got, err)
	}
	for _, l := range layers {
		if _, err := os.Stat(l.Dir); err != nil {
			t.Errorf("rmi took a layer the cache holds: %v", err)
		}
	}

	// A layer stored but never made an image of, and one a named image
	// uses: prune deletes the first and keeps the second.
	orphan, err := s.AddLayer(context.Background(), nil, bytes.NewReader(tarOf(t, file("orphan", "x"))))
	if err != nil {
		t.Fatal(err)
	}
	kept, err := s.WriteImage(&v1.ConfigFile{Architecture: "amd64"}, layers[:1], "kept")
	if err != nil {
		t.Fatal(err)
	}
	freed, err := s.PruneBuildCache()
	if err != nil {
		t.Fatal(err)
	}
	if freed <= 0 {
		t.Errorf("prune freed %d bytes", freed)
	}
	if got, err := s.CacheGet("k1"); got != nil || err != nil {
		t.Errorf("CacheGet after prune: %v, %v", got, err)
	}
	for _, gone := range []string{orphan.Dir, layers[1].Dir} {
		if _, err := os.Stat(gone); !os.IsNotExist(err) {
			t.Errorf("%s survived the prune: %v", gone, err)
		}
	}
	if _, err := s.Get("kept"); err != nil {
		t.Errorf("a named image lost to the prune: %v", err)
	}
	if len(hidden(t, s.layerDir())) != 0 || len(hidden(t, s.blobDir())) != 0 {
		t.Errorf("temporaries left: %v %v", hidden(t, s.layerDir()), hidden(t, s.blobDir()))
	}
	_ = kept
}
