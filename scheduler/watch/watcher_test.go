package watch

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func start(t *testing.T, roots ...string) *Watcher {
	t.Helper()
	w, err := New(roots, Options{Quiet: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })
	return w
}

// next waits for a batch.
func next(t *testing.T, w *Watcher) []Change {
	t.Helper()
	select {
	case b := <-w.C:
		return b
	case err := <-w.Errors:
		t.Fatalf("watch error: %v", err)
	case <-time.After(5 * time.Second):
		t.Fatal("no batch within 5 s")
	}
	return nil
}

// none checks that no batch comes.
func none(t *testing.T, w *Watcher) {
	t.Helper()
	select {
	case b := <-w.C:
		t.Fatalf("unexpected batch: %+v", b)
	case <-time.After(300 * time.Millisecond):
	}
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func paths(b []Change) []string {
	var out []string
	for _, c := range b {
		s := c.Path
		if c.Removed {
			s += " (removed)"
		}
		if c.Dir {
			s += "/"
		}
		out = append(out, s)
	}
	return out
}

func TestWatcherTree(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "a.txt"), "1")
	w := start(t, dir)

	write(t, filepath.Join(dir, "a.txt"), "2")
	if got, want := paths(next(t, w)), []string{filepath.Join(dir, "a.txt")}; !slices.Equal(got, want) {
		t.Errorf("write in place: %v, want %v", got, want)
	}

	// A directory made after the start, with files already in it when
	// its watch is added, and one written after.
	sub := filepath.Join(dir, "new", "deep")
	write(t, filepath.Join(sub, "b.txt"), "b")
	b := next(t, w)
	if !slices.Contains(paths(b), filepath.Join(sub, "b.txt")) {
		t.Errorf("file in a new directory not reported: %v", paths(b))
	}
	write(t, filepath.Join(sub, "c.txt"), "c")
	if got := paths(next(t, w)); !slices.Contains(got, filepath.Join(sub, "c.txt")) {
		t.Errorf("a new directory is not watched: %v", got)
	}

	// Removal.
	if err := os.Remove(filepath.Join(sub, "c.txt")); err != nil {
		t.Fatal(err)
	}
	if got, want := paths(next(t, w)), []string{filepath.Join(sub, "c.txt") + " (removed)"}; !slices.Equal(got, want) {
		t.Errorf("removal: %v, want %v", got, want)
	}
}

func TestWatcherEditorSaves(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "index.html")
	write(t, f, "1")
	w := start(t, dir)

	// vim: swap file, the 4913 probe, a backup, then rename over.
	write(t, filepath.Join(dir, ".index.html.swp"), "swap")
	write(t, filepath.Join(dir, "4913"), "")
	os.Remove(filepath.Join(dir, "4913"))
	write(t, filepath.Join(dir, "index.html~"), "1")
	tmp := filepath.Join(dir, ".#index.html")
	write(t, tmp, "2")
	if err := os.Rename(tmp, f); err != nil {
		t.Fatal(err)
	}
	if got, want := paths(next(t, w)), []string{f}; !slices.Equal(got, want) {
		t.Errorf("rename-over save: %v, want %v", got, want)
	}

	// Delete and recreate: a change, not a removal.
	os.Remove(f)
	write(t, f, "3")
	if got, want := paths(next(t, w)), []string{f}; !slices.Equal(got, want) {
		t.Errorf("delete and recreate: %v, want %v", got, want)
	}

	// Scratch files alone make no batch.
	write(t, filepath.Join(dir, ".index.html.swp"), "swap again")
	none(t, w)
}

// A file root is watched through its directory, so a save that replaces
// it is seen every time, and its neighbours are not reported.
func TestWatcherFileRoot(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "compose.yaml")
	write(t, f, "a")
	w := start(t, f)
	for i := range 3 {
		tmp := filepath.Join(dir, fmt.Sprintf("tmp%d", i))
		write(t, tmp, fmt.Sprint(i))
		if err := os.Rename(tmp, f); err != nil {
			t.Fatal(err)
		}
		if got, want := paths(next(t, w)), []string{f}; !slices.Equal(got, want) {
			t.Errorf("save %d: %v, want %v", i, got, want)
		}
	}
	write(t, filepath.Join(dir, "other.yaml"), "b")
	none(t, w)
}

// A root that does not exist yet is picked up when it appears.
func TestWatcherMissingRoot(t *testing.T) {
	dir := t.TempDir()
	root := filepath.Join(dir, "conf")
	w := start(t, root)
	write(t, filepath.Join(root, "a"), "1")
	b := next(t, w)
	if !slices.Contains(paths(b), root+"/") {
		t.Errorf("the root's creation not reported: %v", paths(b))
	}
	write(t, filepath.Join(root, "b"), "1")
	if got := paths(next(t, w)); !slices.Contains(got, filepath.Join(root, "b")) {
		t.Errorf("the new root is not watched: %v", got)
	}
}

// A thousand files written at once are one batch, and so are changes
// made while the receiver is busy.
func TestWatcherBurst(t *testing.T) {
	dir := t.TempDir()
	w := start(t, dir)
	for i := range 1000 {
		write(t, filepath.Join(dir, fmt.Sprintf("d%d", i%10), fmt.Sprintf("f%d", i)), "x")
	}
	b := next(t, w)
	if len(b) != 1010 {
		t.Errorf("burst: %d changes in the first batch, want 1010 (1000 files, 10 directories)", len(b))
	}
	none(t, w)

	// Busy receiver: changes made while nobody reads merge.
	write(t, filepath.Join(dir, "x1"), "1")
	time.Sleep(200 * time.Millisecond) // the batch is ready and waits
	write(t, filepath.Join(dir, "x2"), "2")
	time.Sleep(200 * time.Millisecond)
	if got := paths(next(t, w)); len(got) != 2 {
		t.Errorf("changes while busy: %v, want both in one batch", got)
	}
}

func TestWatcherSkip(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "node_modules", "m", "x.js"), "1")
	write(t, filepath.Join(dir, ".git", "HEAD"), "1")
	w, err := New([]string{dir}, Options{Quiet: 50 * time.Millisecond, Skip: func(d string) bool { return filepath.Base(d) == "node_modules" }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	write(t, filepath.Join(dir, "node_modules", "m", "x.js"), "2")
	write(t, filepath.Join(dir, ".git", "HEAD"), "2")
	none(t, w)
}

func TestDefaultIgnored(t *testing.T) {
	for name, want := range map[string]bool{
		".main.go.swp": true, "x.swx": true, "4913": true, "main.go~": true, ".#main.go": true,
		"#main.go#": true, ".DS_Store": true, "main.go": false, "#": false, "swp": false, "a.swpx": false,
	} {
		if got := DefaultIgnored(name); got != want {
			t.Errorf("DefaultIgnored(%q) = %v, want %v", name, got, want)
		}
	}
}
