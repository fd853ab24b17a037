//go:build registry

package image

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"
)

func init() {
	// pull ROOT REF: Pull REF into the store at ROOT.
	childModes["pull"] = func(args []string) error {
		s, err := Open(args[0])
		if err != nil {
			return err
		}
		img, err := s.Pull(context.Background(), args[1], nil)
		if err != nil {
			return err
		}
		fmt.Println(img.Digest)
		return nil
	}
}

// Several goroutines and two other processes pull the same image into one
// store at once: all succeed, and the store holds one copy of everything
// and no temporaries.
func TestPull_Concurrent(t *testing.T) {
	reg := startRegistry(t)
	busybox := busyboxTar(t)
	layers := []craftedLayer{
		{mediaType: types.DockerLayer, blob: gz(t, busybox), diffID: digestOf(busybox), file: "bin/busybox"},
		layerOf(t, types.OCIUncompressedLayer, "data/plain", "plain\n"),
		layerOf(t, types.OCILayerZStd, "data/zstd", "zstd\n"),
		layerOf(t, types.DockerLayer, "data/gzip", "gzip\n"),
	}
	want := pushRaw(t, reg.host, "test/concurrent", "1", types.OCIManifestSchema1, layers)
	ref := reg.host + "/test/concurrent:1"
	s := openStore(t)

	const goroutines, processes = 4, 2
	var cmds []*procPull
	for range processes {
		cmds = append(cmds, startPullChild(t, s.root, ref))
	}
	var wg sync.WaitGroup
	errs := make([]error, goroutines)
	for i := range goroutines {
		wg.Go(func() {
			img, err := s.Pull(context.Background(), ref, nil)
			if err == nil && img.Digest != want.String() {
				err = fmt.Errorf("pulled digest %s, want %s", img.Digest, want)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("goroutine %d: %v", i, err)
		}
	}
	for i, c := range cmds {
		if err := c.cmd.Wait(); err != nil {
			t.Errorf("process %d: %v: %s", i, err, c.stderr.String())
		} else if got := strings.TrimSpace(c.stdout.String()); got != want.String() {
			t.Errorf("process %d pulled %q, want %s", i, got, want)
		}
	}

	if left := temps(t, s); len(left) > 0 {
		t.Errorf("temporaries left: %q", left)
	}
	img, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	if len(img.Layers) != len(layers) {
		t.Fatalf("image has %d layers, want %d", len(img.Layers), len(layers))
	}
	// One directory and one .json per layer; the layers' blobs, the config
	// and the manifest.
	if got := visible(t, s.layerDir()); len(got) != 2*len(layers) {
		t.Errorf("layers/ holds %q, want %d layers", got, len(layers))
	}
	if got := visible(t, s.blobDir()); len(got) != len(layers)+2 {
		t.Errorf("blobs/ holds %d blobs, want %d", len(got), len(layers)+2)
	}
	for _, name := range visible(t, s.blobDir()) {
		b, err := os.ReadFile(filepath.Join(s.blobDir(), name))
		if sum := sha256.Sum256(b); err != nil || hex.EncodeToString(sum[:]) != name {
			t.Errorf("blob %s is damaged: %v", name, err)
		}
	}
	for i, l := range layers {
		b, err := os.ReadFile(filepath.Join(img.Layers[i], l.file))
		if err != nil || (l.content != "" && string(b) != l.content) {
			t.Errorf("layer %d: %s: %q, %v", i, l.file, b, err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(img.Layers[0], "bin/busybox")); !bytes.HasPrefix(b, []byte("\x7fELF")) {
		t.Error("bin/busybox of the first layer is not an executable")
	}
}

// procPull is a child process pulling into the store.
type procPull struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
}

func startPullChild(t *testing.T, root, ref string) *procPull {
	t.Helper()
	p := &procPull{cmd: child(t, "pull", root, ref)}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return p
}
