package build

import (
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/internal/testutil"
)

// fakeRunner stands in for the container runtime: it records each RUN
// step and lets the test say what the step writes and how it exits.
type fakeRunner struct {
	mu    sync.Mutex
	steps []Step
	// do writes the step's changes into upper; nil writes nothing.
	do func(step Step, upper string) error
	// exit fails steps whose command contains a key with that code.
	exit map[string]int
}

func (f *fakeRunner) RunStep(ctx context.Context, step Step, diff func(upper string) error) error {
	f.mu.Lock()
	f.steps = append(f.steps, step)
	f.mu.Unlock()
	upper, err := os.MkdirTemp("", "fake-upper-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(upper)
	if f.do != nil {
		if err := f.do(step, upper); err != nil {
			return err
		}
	}
	cmd := strings.Join(step.Args, " ")
	for k, code := range f.exit {
		if strings.Contains(cmd, k) {
			step.Output.Write([]byte("failing on purpose\n"))
			return &ExitError{Code: code}
		}
	}
	return diff(upper)
}

// runs are the command lines of the steps run so far.
func (f *fakeRunner) runs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, s := range f.steps {
		out = append(out, s.Args[len(s.Args)-1])
	}
	return out
}

// writeRunFile makes each RUN "touch PATH" create PATH in the upper dir.
func writeRunFile(step Step, upper string) error {
	cmd := step.Args[len(step.Args)-1]
	if p, ok := strings.CutPrefix(cmd, "touch "); ok {
		full := filepath.Join(upper, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		return os.WriteFile(full, []byte(cmd), 0o644)
	}
	return nil
}

// env is one test's store, context directory and runner.
type env struct {
	t      *testing.T
	store  *image.Store
	ctx    string
	runner *fakeRunner
	out    bytes.Buffer
}

func newEnv(t *testing.T) *env {
	testutil.RequireRoot(t)
	s, err := image.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return &env{t: t, store: s, ctx: t.TempDir(), runner: &fakeRunner{do: writeRunFile}}
}

// write puts files into the context ("name": "content"; a name ending in
// "/" is a directory).
func (e *env) write(files map[string]string) {
	e.t.Helper()
	for name, content := range files {
		p := filepath.Join(e.ctx, name)
		if strings.HasSuffix(name, "/") {
			if err := os.MkdirAll(p, 0o755); err != nil {
				e.t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			e.t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
}

// build builds the Dockerfile text in the env's context.
func (e *env) build(dockerfile string, o Options) (*image.Image, error) {
	e.t.Helper()
	e.write(map[string]string{"Dockerfile": dockerfile})
	o.ContextDir = e.ctx
	o.Progress = &e.out
	o.TempDir = e.t.TempDir()
	return Build(context.Background(), e.store, e.runner, o)
}

func (e *env) mustBuild(dockerfile string, o Options) *image.Image {
	e.t.Helper()
	img, err := e.build(dockerfile, o)
	if err != nil {
		e.t.Fatalf("build: %v\noutput:\n%s", err, e.out.String())
	}
	return img
}

// file reads path from the image's layers, the top one first.
func file(t *testing.T, img *image.Image, path string) (string, fs.FileInfo) {
	t.Helper()
	for i := len(img.Layers) - 1; i >= 0; i-- {
		p := filepath.Join(img.Layers[i], path)
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			return string(b), fi
		}
		return "", fi
	}
	return "", nil
}

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

func chmod(p string, mode fs.FileMode) error { return os.Chmod(p, mode) }
