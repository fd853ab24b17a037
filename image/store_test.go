package image

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berthproject/berth/internal/testutil"
)

func openStore(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "root"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func busyboxTar(t *testing.T) []byte {
	t.Helper()
	return tarDir(t, testutil.BusyboxRootfs(t))
}

func TestImport_Busybox(t *testing.T) {
	s := openStore(t)
	plainTar := busyboxTar(t)
	ctx := context.Background()

	img, err := s.Import(ctx, bytes.NewReader(gz(t, plainTar)), "busybox")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(img.Names, []string{"docker.io/library/busybox:latest"}) {
		t.Errorf("names %q", img.Names)
	}
	if len(img.Layers) != 1 || img.Size < 500_000 || !strings.HasPrefix(img.ID, "sha256:") || time.Since(img.Created) > time.Minute {
		t.Fatalf("image %+v", img)
	}
	layer := img.Layers[0]
	if fi, err := os.Stat(filepath.Join(layer, "bin/busybox")); err != nil || fi.Mode().Perm() != 0o755 {
		t.Errorf("bin/busybox: %v %v", fi, err)
	}
	if l, err := os.Readlink(filepath.Join(layer, "bin/sh")); err != nil || l != "busybox" {
		t.Errorf("bin/sh -> %q, %v", l, err)
	}
	checkDigests(t, s, img, plainTar)

	for _, ref := range []string{"busybox", "busybox:latest", "docker.io/library/busybox", img.ID, img.ID[7:19], strings.TrimPrefix(img.ID, "sha256:")} {
		got, err := s.Get(ref)
		if err != nil {
			t.Errorf("Get(%q): %v", ref, err)
		} else if got.ID != img.ID {
			t.Errorf("Get(%q) = %s, want %s", ref, got.ID, img.ID)
		}
	}
	if _, err := s.Get("alpine"); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), `"alpine"`) {
		t.Errorf("Get(alpine): %v", err)
	}

	if err := s.Tag("busybox", "localhost:5000/bb:1"); err != nil {
		t.Fatal(err)
	}
	if err := s.Remove(img.ID); !errors.Is(err, ErrHasNames) {
		t.Errorf("Remove by id of a twice-named image: %v", err)
	}
	// The same root file system, uncompressed: another image (its own
	// config), the same diff ID, so the same layer directory.
	other, err := s.Import(ctx, bytes.NewReader(plainTar), "other")
	if err != nil {
		t.Fatal(err)
	}
	if other.ID == img.ID || !slices.Equal(other.Layers, img.Layers) {
		t.Errorf("other %s layers %q, busybox %s layers %q", other.ID, other.Layers, img.ID, img.Layers)
	}
	checkDigests(t, s, other, plainTar)
	list, err := s.List()
	if err != nil {
		t.Fatal(err)
	}
	var names [][]string
	for _, i := range list {
		names = append(names, i.Names)
	}
	want := [][]string{{"docker.io/library/busybox:latest", "localhost:5000/bb:1"}, {"docker.io/library/other:latest"}}
	if !slices.EqualFunc(names, want, slices.Equal) {
		t.Errorf("List names %q, want %q", names, want)
	}

	for _, ref := range []string{"busybox", "localhost:5000/bb:1"} {
		if err := s.Remove(ref); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Get(img.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("removed image still there: %v", err)
	}
	if _, err := os.Stat(layer); err != nil {
		t.Errorf("layer of image other went with busybox: %v", err)
	}
	if err := s.Remove("other"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(layer); err == nil {
		t.Errorf("unused layer %s stayed", layer)
	}
	for _, d := range []string{s.layerDir(), s.blobDir()} {
		if v, h := visible(t, d), hidden(t, d); len(v)+len(h) > 0 {
			t.Errorf("%s keeps %q %q", d, v, h)
		}
	}
	if list, err := s.List(); err != nil || len(list) != 0 {
		t.Errorf("List after removing all: %v %v", list, err)
	}
}

// checkDigests reads the image's blobs back: each is where its digest
// says, and the layer blob decompresses to the tarball of the diff ID.
func checkDigests(t *testing.T, s *Store, img *Image, tarball []byte) {
	t.Helper()
	read := func(digest string) []byte {
		h, err := v1.NewHash(digest)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(s.blobPath(h))
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != h.Hex {
			t.Errorf("blob %s has digest %x", digest, sum)
		}
		return b
	}
	var m v1.Manifest
	if err := json.Unmarshal(read(img.Digest), &m); err != nil {
		t.Fatal(err)
	}
	var cfg v1.ConfigFile
	if err := json.Unmarshal(read(m.Config.Digest.String()), &cfg); err != nil {
		t.Fatal(err)
	}
	if "sha256:"+m.Config.Digest.Hex != img.ID || cfg.OS != "linux" || cfg.Architecture == "" || len(cfg.History) != 1 {
		t.Errorf("config %+v", cfg)
	}
	blob := read(m.Layers[0].Digest.String())
	if int64(len(blob)) != m.Layers[0].Size {
		t.Errorf("layer size %d in manifest, %d on disk", m.Layers[0].Size, len(blob))
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	un, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	diff := sha256.Sum256(tarball)
	if !bytes.Equal(un, tarball) || cfg.RootFS.DiffIDs[0].Hex != hex.EncodeToString(diff[:]) {
		t.Errorf("layer blob does not decompress to the tarball, or diff ID %s is wrong", cfg.RootFS.DiffIDs[0])
	}
	if filepath.Base(img.Layers[0]) != cfg.RootFS.DiffIDs[0].Hex {
		t.Errorf("one-layer image's layer dir %s is not its diff ID", img.Layers[0])
	}
}

func TestImport_Compressions(t *testing.T) {
	s := openStore(t)
	plainTar := tarOf(t, dir("etc/"), file("etc/hostname", "berth\n"))
	for _, prog := range []string{"bzip2", "xz", "zstd"} {
		t.Run(prog, func(t *testing.T) {
			if _, err := exec.LookPath(prog); err != nil {
				t.Skipf("%s is not installed", prog)
			}
			cmd := exec.Command(prog, "-c")
			cmd.Stdin = bytes.NewReader(plainTar)
			compressed, err := cmd.Output()
			if err != nil {
				t.Fatal(err)
			}
			img, err := s.Import(context.Background(), bytes.NewReader(compressed), "c/"+prog)
			if err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(filepath.Join(img.Layers[0], "etc/hostname")); string(b) != "berth\n" {
				t.Errorf("etc/hostname: %q %v", b, err)
			}
			checkDigests(t, s, img, plainTar)
		})
	}
}

func TestImport_Concurrent(t *testing.T) {
	s := openStore(t)
	tarball := gz(t, busyboxTar(t))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	imgs := make([]*Image, 2)
	for i := range 2 {
		wg.Go(func() {
			imgs[i], errs[i] = s.Import(context.Background(), bytes.NewReader(tarball), "busybox")
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if imgs[0].Layers[0] != imgs[1].Layers[0] {
		t.Errorf("layers %s and %s", imgs[0].Layers[0], imgs[1].Layers[0])
	}
	var dirs []string
	for _, n := range visible(t, s.layerDir()) {
		if !strings.HasSuffix(n, ".json") {
			dirs = append(dirs, n)
		}
	}
	if len(dirs) != 1 || len(hidden(t, s.layerDir())) != 0 || len(hidden(t, s.blobDir())) != 0 {
		t.Errorf("layer dirs %q, leftovers %q %q", dirs, hidden(t, s.layerDir()), hidden(t, s.blobDir()))
	}
	// Both imports named busybox: the later owns the name, the earlier
	// dangles, as with docker import.
	list, err := s.List()
	if err != nil || len(list) != 2 || len(list[0].Names) != 1 || len(list[1].Names) != 0 {
		t.Errorf("List: %v, %+v", err, list)
	}
}

func TestImport_Cancelled(t *testing.T) {
	s := openStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Import(ctx, bytes.NewReader(gz(t, busyboxTar(t))), "busybox"); !errors.Is(err, context.Canceled) {
		t.Fatalf("import with a cancelled context: %v", err)
	}
	if v, h := append(visible(t, s.layerDir()), visible(t, s.blobDir())...), append(hidden(t, s.layerDir()), hidden(t, s.blobDir())...); len(v)+len(h) > 0 {
		t.Errorf("a cancelled import left %q %q", v, h)
	}
}

func TestChainIDs(t *testing.T) {
	a := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}
	b := v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("b", 64)}
	sum := sha256.Sum256([]byte(a.String() + " " + b.String()))
	got := ChainIDs([]v1.Hash{a, b})
	if got[0] != a || got[1].Hex != hex.EncodeToString(sum[:]) {
		t.Errorf("ChainIDs = %v", got)
	}
}

func TestGet_Ambiguous(t *testing.T) {
	s := openStore(t)
	// Import until two image ids share a first hex digit.
	seen := map[byte]string{}
	for i := 0; ; i++ {
		img, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, file("f", "x"))), "img"+string(rune('a'+i)))
		if err != nil {
			t.Fatal(err)
		}
		c := img.ID[7]
		if _, ok := seen[c]; ok {
			_, err := s.Get(string(c))
			if !errors.Is(err, ErrAmbiguous) {
				t.Errorf("Get(%q): %v", string(c), err)
			}
			return
		}
		seen[c] = img.ID
	}
}

func TestImport_MissingDecompressor(t *testing.T) {
	s := openStore(t)
	t.Setenv("PATH", t.TempDir())
	_, err := s.Import(context.Background(), bytes.NewReader([]byte("\xfd7zXZ\x00garbage")), "x")
	if !errors.Is(err, ErrCompression) || !strings.Contains(err.Error(), "xz-utils") {
		t.Errorf("xz input without xz: %v", err)
	}
	t.Log(err)
}

func TestUntag_KeepsTheImage(t *testing.T) {
	s := openStore(t)
	img, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, file("etc/x", "1"))), "app:1")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Untag("app:1"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get("app:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get by the removed name: %v", err)
	}
	got, err := s.Get(img.ID)
	if err != nil {
		t.Fatalf("the untagged image is gone: %v", err)
	}
	if len(got.Names) != 0 {
		t.Errorf("names after untag: %v", got.Names)
	}
	for _, l := range got.Layers {
		if _, err := os.Stat(l); err != nil {
			t.Errorf("layer %s gone after untag: %v", l, err)
		}
	}
	if err := s.Untag("app:1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("second untag: %v", err)
	}
}
