package image

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond until it holds, failing t after 15 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 15s for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// temps lists the temporaries of the store's directories, as paths.
func temps(t *testing.T, s *Store) []string {
	t.Helper()
	var out []string
	for _, d := range []string{s.imageDir(), s.blobDir(), s.layerDir()} {
		for _, n := range hidden(t, d) {
			out = append(out, filepath.Join(d, n))
		}
	}
	slices.Sort(out)
	return out
}

// ingesting starts an Import of a tarball it feeds only the first part of,
// so that the import waits mid-ingest with its temporaries in place; the
// returned function feeds the rest and waits for the import.
func ingesting(t *testing.T, s *Store, tarball []byte, name string) (finish func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := s.Import(context.Background(), pr, name)
		pr.CloseWithError(err)
		done <- err
	}()
	half := len(tarball) / 2
	if _, err := pw.Write(tarball[:half]); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pw.CloseWithError(io.ErrClosedPipe) })
	return func() error {
		if _, err := pw.Write(tarball[half:]); err != nil {
			return err
		}
		pw.Close()
		return <-done
	}
}

// A process killed mid-import leaves its temporaries; the next Import
// removes them, but not those of an import still running, neither when
// the killed process started (its Import cleans too) nor after.
func TestCleanTemps_KilledImport(t *testing.T) {
	s := openStore(t)
	tarball := gz(t, busyboxTar(t))

	// A live import of ours, waiting mid-ingest: its temporaries must stay.
	finish := ingesting(t, s, tarball, "live")
	waitFor(t, "the live import's temporaries", func() bool { return len(temps(t, s)) >= 2 })
	live := temps(t, s)

	cmd := child(t, "import", s.root, "killed")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go stdin.Write(tarball[:len(tarball)/2]) // then nothing: the child waits
	waitFor(t, "the child's layer and blob temporaries", func() bool { return len(temps(t, s)) >= len(live)+2 })
	var dead []string
	for _, p := range temps(t, s) {
		if !slices.Contains(live, p) {
			dead = append(dead, p)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v, want killed; stderr: %s", err, stderr.String())
	}
	stdin.Close()
	for _, p := range live {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the child's Import removed the live import's %s", p)
		}
	}
	for _, p := range dead {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("the killed child's %s went away by itself: %v", p, err)
		}
	}

	if _, err := s.Import(context.Background(), bytes.NewReader(tarOf(t, file("etc/x", "1"))), "next"); err != nil {
		t.Fatal(err)
	}
	got := temps(t, s)
	for _, p := range dead {
		if slices.Contains(got, p) {
			t.Errorf("the killed import's %s is still there", p)
		}
	}
	for _, p := range live {
		if !slices.Contains(got, p) {
			t.Errorf("the live import's %s was removed", p)
		}
	}
	if err := finish(); err != nil {
		t.Fatalf("the live import failed: %v", err)
	}
	if left := temps(t, s); len(left) > 0 {
		t.Errorf("temporaries left at the end: %q", left)
	}
	img, err := s.Get("live")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(img.Layers[0], "bin/busybox")); err != nil {
		t.Errorf("the live import's layer: %v", err)
	}
}

// cleanTemps removes every kind of temporary whose lock it can take, and
// none that someone holds, in this process or another.
func TestCleanTemps_LiveAndDead(t *testing.T) {
	s := openStore(t)
	var dead []string
	for _, p := range []string{
		filepath.Join(s.imageDir(), ".tmp-index.json-123"),
		filepath.Join(s.blobDir(), ".tmp-layer-456"),
		filepath.Join(s.layerDir(), ".tmp-rm-789"),
		filepath.Join(s.layerDir(), ".tmp-012"),
	} {
		var err error
		if strings.Contains(filepath.Base(p), "rm-") || strings.HasSuffix(p, "012") {
			err = os.MkdirAll(filepath.Join(p, "etc"), 0o755)
		} else {
			err = os.WriteFile(p, []byte("left by a killed process"), 0o600)
		}
		if err != nil {
			t.Fatal(err)
		}
		dead = append(dead, p)
	}
	liveFile, err := tempFile(s.blobDir(), tempPrefix+"layer-")
	if err != nil {
		t.Fatal(err)
	}
	defer liveFile.Close()
	liveDir, liveLock, err := tempDir(s.layerDir(), tempPrefix)
	if err != nil {
		t.Fatal(err)
	}
	defer liveLock.Close()
	// Not ours: a symlink is never followed, nor removed.
	if err := os.Symlink("/etc", filepath.Join(s.layerDir(), ".tmp-link")); err != nil {
		t.Fatal(err)
	}

	s.cleanTemps()
	want := []string{liveFile.Name(), filepath.Join(s.layerDir(), ".tmp-link"), liveDir}
	slices.Sort(want)
	if got := temps(t, s); !slices.Equal(got, want) {
		t.Errorf("after cleanTemps: %q, want %q", got, want)
	}
	if _, err := os.Stat("/etc/passwd"); err != nil {
		t.Errorf("/etc through the symlink: %v", err)
	}
}
