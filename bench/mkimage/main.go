// Command mkimage writes the multi-layer test image of bench/pull.sh as an
// OCI image layout (oci-layout, index.json, blobs/sha256/...) that
// `skopeo copy oci:DIR:latest docker://...` pushes to a registry.
//
//	go run ./bench/mkimage -busybox /bin/busybox -out DIR
//
// The image is deterministic: the same busybox gives the same digests on
// every run and machine (fixed seeds, times and owners; no gzip header
// time). About 100 MiB unpacked over seven gzip layers:
//
//	1 base     busybox-static, its applet symlinks, /etc/passwd, /etc/group
//	2 big      4 files of 8 MiB, incompressible
//	3 single   1 file of 24 MiB, incompressible
//	4 text     16 files of 1 MiB of word soup (gzip gets about 3:1), so that
//	           inflate does real work and not only copies stored blocks
//	5 medium   768 files of 16 KiB in 24 directories, incompressible
//	6 small    6000 files of 0.5-2 KiB in 60 directories, half text, plus
//	           symlinks and hard links: file-system metadata more than bytes
//	7 top      a 6 MiB file, a replaced /etc/passwd, whiteouts of a lower
//	           file and an opaque directory
//
// It prints the manifest digest and, per layer, the blob and unpacked sizes.
package main

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
)

var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// layer is one generated layer: its entries are written by gen.
type layer struct {
	name string
	gen  func(w *tw) error

	blob     string // sha256:...
	blobSize int64
	diffID   string
	content  int64 // bytes of file content
	entries  int
}

func main() {
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox binary for the base layer")
	out := flag.String("out", "", "directory to write the OCI image layout to (created)")
	ref := flag.String("ref", "latest", "org.opencontainers.image.ref.name of the manifest in index.json")
	flag.Parse()
	if *out == "" {
		fmt.Fprintln(os.Stderr, "mkimage: -out is required")
		os.Exit(2)
	}
	if err := run(*busybox, *out, *ref); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(busybox, out, ref string) error {
	bb, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	applets, err := appletList(busybox)
	if err != nil {
		return err
	}
	blobs := filepath.Join(out, "blobs", "sha256")
	if err := os.MkdirAll(blobs, 0o755); err != nil {
		return err
	}

	layers := []*layer{
		{name: "base", gen: func(w *tw) error { return baseLayer(w, bb, applets) }},
		{name: "big", gen: func(w *tw) error {
			w.dir("data/")
			w.dir("data/big/")
			for i := range 4 {
				w.random(fmt.Sprintf("data/big/part-%d.bin", i), 8<<20, uint64(200+i))
			}
			return nil
		}},
		{name: "single", gen: func(w *tw) error {
			w.dir("data/")
			w.random("data/single.bin", 24<<20, 300)
			return nil
		}},
		{name: "text", gen: func(w *tw) error {
			w.dir("usr/")
			w.dir("usr/share/")
			w.dir("usr/share/bench/")
			for i := range 16 {
				w.text(fmt.Sprintf("usr/share/bench/text-%02d.txt", i), 1<<20, uint64(400+i))
			}
			return nil
		}},
		{name: "medium", gen: func(w *tw) error {
			w.dir("data/")
			w.dir("data/medium/")
			for d := range 24 {
				dir := fmt.Sprintf("data/medium/d%02d/", d)
				w.dir(dir)
				for f := range 32 {
					w.random(fmt.Sprintf("%sf%02d.bin", dir, f), 16<<10, uint64(5000+d*32+f))
				}
			}
			return nil
		}},
		{name: "small", gen: smallLayer},
		{name: "top", gen: func(w *tw) error {
			w.dir("etc/")
			w.file("etc/passwd", []byte(passwd+"bench:x:1000:1000:bench:/home/bench:/bin/sh\n"), 0o644)
			w.dir("data/")
			w.dir("data/big/")
			w.whiteout("data/big/.wh.part-3.bin")
			w.dir("data/medium/d23/")
			w.whiteout("data/medium/d23/.wh..wh..opq")
			w.random("data/medium/d23/replaced.bin", 64<<10, 700)
			w.dir("opt/")
			w.random("opt/app.bin", 6<<20, 701)
			w.file("etc/bench-release", []byte("berth bench/pull.sh test image\n"), 0o644)
			return nil
		}},
	}

	// Layers compress in parallel: gzip of incompressible data is the slow part.
	var wg sync.WaitGroup
	errs := make([]error, len(layers))
	sem := make(chan struct{}, runtime.GOMAXPROCS(0))
	for i, l := range layers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			errs[i] = writeLayer(blobs, l)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("layer %s: %w", layers[i].name, err)
		}
	}

	type history struct {
		Created    time.Time `json:"created"`
		CreatedBy  string    `json:"created_by"`
		EmptyLayer bool      `json:"empty_layer,omitempty"`
	}
	cfg := map[string]any{
		"created":      epoch,
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd":        []string{"/bin/sh"},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": func() []string {
			var ids []string
			for _, l := range layers {
				ids = append(ids, l.diffID)
			}
			return ids
		}()},
		"history": func() []history {
			var h []history
			for _, l := range layers {
				h = append(h, history{Created: epoch, CreatedBy: "bench/mkimage: " + l.name})
			}
			return h
		}(),
	}
	cfgDesc, err := writeJSON(blobs, "application/vnd.oci.image.config.v1+json", cfg)
	if err != nil {
		return err
	}
	manifest := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.manifest.v1+json",
		"config":        cfgDesc,
		"layers": func() []descriptor {
			var ds []descriptor
			for _, l := range layers {
				ds = append(ds, descriptor{MediaType: "application/vnd.oci.image.layer.v1.tar+gzip", Digest: l.blob, Size: l.blobSize})
			}
			return ds
		}(),
	}
	mDesc, err := writeJSON(blobs, "application/vnd.oci.image.manifest.v1+json", manifest)
	if err != nil {
		return err
	}
	mDesc.Annotations = map[string]string{"org.opencontainers.image.ref.name": ref}
	index := map[string]any{
		"schemaVersion": 2,
		"mediaType":     "application/vnd.oci.image.index.v1+json",
		"manifests":     []descriptor{mDesc},
	}
	ib, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "index.json"), ib, 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(out, "oci-layout"), []byte(`{"imageLayoutVersion":"1.0.0"}`), 0o644); err != nil {
		return err
	}

	var blobTotal, contentTotal int64
	var entries int
	fmt.Printf("manifest %s\n", mDesc.Digest)
	for i, l := range layers {
		fmt.Printf("  layer %d %-7s blob %6.1f MiB  content %6.1f MiB  %5d entries  %s\n",
			i+1, l.name, mib(l.blobSize), mib(l.content), l.entries, l.blob[:19])
		blobTotal += l.blobSize
		contentTotal += l.content
		entries += l.entries
	}
	fmt.Printf("  total           blob %6.1f MiB  content %6.1f MiB  %5d entries\n", mib(blobTotal), mib(contentTotal), entries)
	return nil
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// writeLayer writes l's tar stream gzip-compressed into blobs and fills in
// its digests and sizes.
func writeLayer(blobs string, l *layer) error {
	f, err := os.CreateTemp(blobs, ".tmp-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	blobHash := sha256.New()
	cw := &counter{w: io.MultiWriter(f, blobHash)}
	zw, err := gzip.NewWriterLevel(cw, gzip.DefaultCompression) // header without time or name
	if err != nil {
		return err
	}
	diffHash := sha256.New()
	w := &tw{Writer: tar.NewWriter(io.MultiWriter(zw, diffHash))}
	if err := l.gen(w); err != nil {
		return err
	}
	if w.err != nil {
		return w.err
	}
	if err := w.Close(); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	l.blob = digest(blobHash)
	l.blobSize = cw.n
	l.diffID = digest(diffHash)
	l.content = w.content
	l.entries = w.entries
	return os.Rename(f.Name(), filepath.Join(blobs, strings.TrimPrefix(l.blob, "sha256:")))
}

func writeJSON(blobs, mediaType string, v any) (descriptor, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return descriptor{}, err
	}
	sum := sha256.Sum256(b)
	hx := hex.EncodeToString(sum[:])
	if err := os.WriteFile(filepath.Join(blobs, hx), b, 0o644); err != nil {
		return descriptor{}, err
	}
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hx, Size: int64(len(b))}, nil
}

func digest(h hash.Hash) string { return "sha256:" + hex.EncodeToString(h.Sum(nil)) }

type counter struct {
	w io.Writer
	n int64
}

func (c *counter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// tw is a tar writer with deterministic headers that keeps its first error.
type tw struct {
	*tar.Writer
	err     error
	content int64
	entries int
}

func (w *tw) header(h *tar.Header) bool {
	if w.err != nil {
		return false
	}
	h.ModTime = epoch
	h.Format = tar.FormatPAX
	if h.Uname == "" && h.Uid == 0 {
		h.Uname, h.Gname = "root", "root"
	}
	w.err = w.WriteHeader(h)
	w.entries++
	return w.err == nil
}

func (w *tw) dir(name string) {
	w.header(&tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755})
}

func (w *tw) file(name string, data []byte, mode int64) {
	if w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data))}) {
		_, w.err = w.Write(data)
		w.content += int64(len(data))
	}
}

func (w *tw) symlink(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777})
}

func (w *tw) hardlink(name, target string) {
	w.header(&tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644})
}

func (w *tw) whiteout(name string) {
	w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644})
}

// random writes size bytes of ChaCha8 output seeded with seed.
func (w *tw) random(name string, size int64, seed uint64) {
	if !w.header(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: size}) {
		return
	}
	var s [32]byte
	s[0], s[1] = byte(seed), byte(seed>>8)
	var n int64
	n, w.err = io.CopyN(w, rand.NewChaCha8(s), size)
	w.content += n
}

// text writes size bytes of words drawn from a small vocabulary.
func (w *tw) text(name string, size int64, seed uint64) {
	w.file(name, wordSoup(int(size), seed), 0o644)
}

var vocabulary = strings.Fields(`container image layer registry manifest digest config
	overlay mount namespace cgroup process signal runtime bundle rootfs tarball
	whiteout opaque directory symlink hardlink device socket network loopback
	berth podman skopeo docker kernel syscall memory pids cpu quota weight
	the a of to and in is for on with as by at from that this it be are was`)

func wordSoup(size int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x6265727468))
	var b strings.Builder
	b.Grow(size + 32)
	col := 0
	for b.Len() < size {
		word := vocabulary[r.IntN(len(vocabulary))]
		if r.IntN(8) == 0 {
			word = fmt.Sprintf("%s-%d", word, r.IntN(100000))
		}
		b.WriteString(word)
		col += len(word) + 1
		if col > 72 {
			b.WriteByte('\n')
			col = 0
		} else {
			b.WriteByte(' ')
		}
	}
	return []byte(b.String()[:size])
}

const passwd = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"

func baseLayer(w *tw, bb []byte, applets []string) error {
	for _, d := range []string{"bin/", "dev/", "etc/", "home/", "proc/", "root/", "sys/", "usr/", "usr/bin/", "var/"} {
		w.dir(d)
	}
	w.header(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777})
	w.file("bin/busybox", bb, 0o755)
	for _, a := range applets {
		if a != "busybox" {
			w.symlink("bin/"+a, "busybox")
		}
	}
	w.file("etc/passwd", []byte(passwd), 0o644)
	w.file("etc/group", []byte("root:x:0:\nnobody:x:65534:\n"), 0o644)
	return nil
}

func smallLayer(w *tw) error {
	w.dir("srv/")
	r := rand.New(rand.NewPCG(600, 601))
	var rnd [2048]byte
	for d := range 60 {
		dir := fmt.Sprintf("srv/app/m%02d/", d)
		if d == 0 {
			w.dir("srv/app/")
		}
		w.dir(dir)
		for f := range 100 {
			size := 512 + r.IntN(1536)
			name := fmt.Sprintf("%sfile-%03d", dir, f)
			if f%2 == 0 {
				w.file(name+".txt", wordSoup(size, uint64(d*100+f)), 0o644)
			} else {
				for i := range rnd[:size] {
					rnd[i] = byte(r.Uint32())
				}
				w.file(name+".dat", rnd[:size], 0o644)
			}
		}
		w.symlink(dir+"latest", "file-099.dat")
		w.hardlink(dir+"first.txt", dir+"file-000.txt")
	}
	return nil
}

// appletList asks busybox for its applets, as `busybox --install` would
// link them.
func appletList(busybox string) ([]string, error) {
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list: %w", busybox, err)
	}
	return strings.Fields(string(out)), nil
}
