//go:build registry

package image

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// events records progress events by status.
type events struct{ list []ProgressEvent }

func (e *events) add(ev ProgressEvent) { e.list = append(e.list, ev) }

func (e *events) statuses() []string {
	var out []string
	for _, ev := range e.list {
		if !slices.Contains(out, ev.Status) {
			out = append(out, ev.Status)
		}
	}
	slices.Sort(out)
	return out
}

func TestPushPull_Busybox(t *testing.T) {
	reg := startRegistry(t)
	s := openStore(t)
	ctx := context.Background()
	ref := reg.host + "/test/busybox:1"

	local, err := s.Import(ctx, bytes.NewReader(gz(t, busyboxTar(t))), ref)
	if err != nil {
		t.Fatal(err)
	}
	var ev events
	if err := s.Push(ctx, ref, ev.add); err != nil {
		t.Fatal(err)
	}
	if got := ev.statuses(); !slices.Equal(got, []string{"pushed", "pushing", "waiting"}) {
		t.Errorf("push events %q", got)
	}
	if err := s.Remove(ref); err != nil {
		t.Fatal(err)
	}

	ev = events{}
	img, err := s.Pull(ctx, ref, ev.add)
	if err != nil {
		t.Fatal(err)
	}
	if img.ID != local.ID || img.Digest != local.Digest {
		t.Errorf("pulled id %s digest %s, pushed id %s digest %s", img.ID, img.Digest, local.ID, local.Digest)
	}
	if !slices.Equal(img.Names, []string{ref}) || len(img.Layers) != 1 {
		t.Fatalf("pulled %+v", img)
	}
	if fi, err := os.Stat(filepath.Join(img.Layers[0], "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox of the pulled layer: %v %v", fi, err)
	}
	if got := ev.statuses(); !slices.Equal(got, []string{"done", "downloading", "verifying", "waiting"}) {
		t.Errorf("pull events %q", got)
	}
	layers := visible(t, s.layerDir())

	t.Run("by digest", func(t *testing.T) {
		byDigest := reg.host + "/test/busybox@" + local.Digest
		var ev events
		img, err := s.Pull(ctx, byDigest, ev.add)
		if err != nil {
			t.Fatal(err)
		}
		if img.ID != local.ID || img.Digest != local.Digest || !slices.Contains(img.Names, byDigest) {
			t.Errorf("pulled by digest %+v", img)
		}
		if got := ev.statuses(); !slices.Equal(got, []string{"exists"}) {
			t.Errorf("events %q, want only exists", got)
		}
		if got := visible(t, s.layerDir()); !slices.Equal(got, layers) {
			t.Errorf("layers %q, had %q", got, layers)
		}
	})

	t.Run("second tag stores nothing twice", func(t *testing.T) {
		ref2 := reg.host + "/test/busybox:2"
		if err := s.Tag(ref, ref2); err != nil {
			t.Fatal(err)
		}
		var ev events
		if err := s.Push(ctx, ref2, ev.add); err != nil {
			t.Fatal(err)
		}
		if got := ev.statuses(); !slices.Equal(got, []string{"exists", "waiting"}) {
			t.Errorf("push events %q", got)
		}
		if err := s.Remove(ref2); err != nil {
			t.Fatal(err)
		}
		ev = events{}
		img, err := s.Pull(ctx, ref2, ev.add)
		if err != nil {
			t.Fatal(err)
		}
		if img.Digest != local.Digest {
			t.Errorf("digest %s, want %s", img.Digest, local.Digest)
		}
		if got := ev.statuses(); !slices.Equal(got, []string{"exists"}) {
			t.Errorf("pull events %q", got)
		}
		if got := visible(t, s.layerDir()); !slices.Equal(got, layers) {
			t.Errorf("layers %q, had %q", got, layers)
		}
	})

	t.Run("missing tag", func(t *testing.T) {
		before := storeState(t, s)
		missing := reg.host + "/test/busybox:nope"
		_, err := s.Pull(ctx, missing, nil)
		t.Logf("missing: %v", err)
		if !errors.Is(err, ErrRemoteNotFound) || !strings.Contains(err.Error(), missing) {
			t.Errorf("Pull of a missing tag: %v", err)
		}
		if after := storeState(t, s); after != before {
			t.Errorf("store changed:\n%s\nwas\n%s", after, before)
		}
		_, err = s.Pull(ctx, reg.host+"/test/nosuchrepo:1", nil)
		if !errors.Is(err, ErrRemoteNotFound) {
			t.Errorf("Pull of a missing repository: %v", err)
		}
	})

	t.Run("corrupted blob", func(t *testing.T) {
		if err := s.Remove(ref); err != nil {
			t.Fatal(err)
		}
		for _, n := range []string{reg.host + "/test/busybox:2", reg.host + "/test/busybox@" + local.Digest} {
			if err := s.Remove(n); err != nil && !errors.Is(err, ErrNotFound) {
				t.Fatal(err)
			}
		}
		before := storeState(t, s)
		m, err := s.manifestOfRemote(ctx, ref)
		if err != nil {
			t.Fatal(err)
		}
		blob := reg.blobFile(m.Layers[0].Digest.Hex)
		b, err := os.ReadFile(blob)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if err := os.WriteFile(blob, b, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err = s.Pull(ctx, ref, nil)
		t.Logf("corrupted: %v", err)
		var de *DigestError
		if !errors.As(err, &de) || de.Want != m.Layers[0].Digest {
			t.Fatalf("Pull of a corrupted blob: %v", err)
		}
		if after := storeState(t, s); after != before {
			t.Errorf("store changed:\n%s\nwas\n%s", after, before)
		}
	})
}

// manifestOfRemote reads ref's manifest from its registry.
func (s *Store) manifestOfRemote(ctx context.Context, ref string) (*v1.Manifest, error) {
	r, err := parseRemote(ctx, ref, nil)
	if err != nil {
		return nil, err
	}
	ri, err := fetchManifest(ctx, r, nil)
	if err != nil {
		return nil, err
	}
	return ri.manifest, nil
}

func TestPull_MultiLayer(t *testing.T) {
	reg := startRegistry(t)
	s := openStore(t)
	ctx := context.Background()
	ref := reg.host + "/test/random:1"
	src, err := random.Image(4096, 5)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, src, remote.WithContext(ctx)); err != nil {
		t.Fatal(err)
	}
	want, _ := src.Digest()
	img, err := s.Pull(ctx, ref, nil)
	if err != nil {
		t.Fatal(err)
	}
	if img.Digest != want.String() || len(img.Layers) != 5 || len(visible(t, s.layerDir())) != 2*5 {
		t.Errorf("pulled %+v, want digest %s and 5 layers", img, want)
	}
	cfg, _ := src.ConfigFile()
	for i, id := range ChainIDs(cfg.RootFS.DiffIDs) {
		if img.Layers[i] != s.LayerPath(id) {
			t.Errorf("layer %d at %s, want chain id %s", i, img.Layers[i], id)
		}
	}
}

func TestPull_Unreachable(t *testing.T) {
	s := openStore(t)
	_, err := s.Pull(context.Background(), "127.0.0.1:1/test/x:1", nil)
	t.Logf("unreachable: %v", err)
	if !errors.Is(err, ErrUnreachable) || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("Pull from a closed port: %v", err)
	}
}

func TestIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost:5000": true, "127.0.0.1:5000": true, "127.1.2.3": true, "[::1]:5000": true,
		"10.0.0.1:5000": false, "registry.local:5000": false, "docker.io": false, "192.168.1.2": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v", host, got)
		}
	}
}
