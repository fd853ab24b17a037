package watch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Change is one path in a batch.
type Change struct {
	Path string // absolute
	// Removed is set when nothing is at Path when the batch is sent.
	Removed bool
	// Dir is set when Path is a directory.
	Dir bool
}

// Options tune a Watcher; the zero value is the defaults.
type Options struct {
	Quiet    time.Duration // default 100 ms
	MaxDelay time.Duration // default 2 s
	// Skip, when set, reports directories not to watch at all (besides
	// .git), given their absolute path: a rule that ignores node_modules
	// spares its thousands of inotify watches.
	Skip func(dir string) bool
}

// Watcher watches paths and sends batches of changes on C.
type Watcher struct {
	C      <-chan []Change
	Errors <-chan error

	o      Options
	fs     *fsnotify.Watcher
	trees  []string        // directory roots, watched recursively
	files  map[string]bool // file roots, watched through their parent
	parent map[string]bool // directories watched only for file roots in them
	done   chan struct{}
	closed sync.Once
}

// New starts watching roots (absolute paths of directories or files; a
// root that does not exist yet is watched for through its nearest
// existing parent).
func New(roots []string, o Options) (*Watcher, error) {
	if o.Quiet <= 0 {
		o.Quiet = 100 * time.Millisecond
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 2 * time.Second
	}
	fw, err := fsnotify.NewBufferedWatcher(4096)
	if err != nil {
		return nil, fmt.Errorf("starting to watch files: %w", err)
	}
	out := make(chan []Change)
	errc := make(chan error, 16)
	w := &Watcher{C: out, Errors: errc, o: o, fs: fw, files: map[string]bool{}, parent: map[string]bool{}, done: make(chan struct{})}
	for _, r := range roots {
		if err := w.addRoot(filepath.Clean(r)); err != nil {
			fw.Close()
			return nil, err
		}
	}
	go w.run(out, errc)
	return w, nil
}

// Close stops the watcher; C is closed after.
func (w *Watcher) Close() error {
	var err error
	w.closed.Do(func() {
		close(w.done)
		err = w.fs.Close()
	})
	return err
}

func (w *Watcher) addRoot(r string) error {
	fi, err := os.Stat(r)
	switch {
	case err == nil && fi.IsDir():
		w.trees = append(w.trees, r)
		return w.addTree(r, nil)
	case err == nil || errors.Is(err, fs.ErrNotExist):
		// A file, or a path to be: watch the nearest directory that
		// exists, and take the root as a tree if a directory appears.
		w.files[r] = true
		dir := filepath.Dir(r)
		for {
			if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
				break
			}
			if filepath.Dir(dir) == dir {
				break
			}
			dir = filepath.Dir(dir)
		}
		w.parent[dir] = true
		if err := w.fs.Add(dir); err != nil {
			return fmt.Errorf("watching %s: %w", dir, watchError(err))
		}
		return nil
	default:
		return fmt.Errorf("watching %s: %w", r, err)
	}
}

// addTree watches dir and every directory below it; found, when not nil,
// gets every file and directory below dir (a directory made after the
// watch started: its content is new too).
func (w *Watcher) addTree(dir string, found func(p string, d bool)) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return nil // gone meanwhile
			}
			return err
		}
		if p != dir && found != nil && !DefaultIgnored(d.Name()) {
			found(p, d.IsDir())
		}
		if !d.IsDir() {
			return nil
		}
		if p != dir && w.skip(p) {
			return filepath.SkipDir
		}
		if err := w.fs.Add(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return filepath.SkipDir
			}
			return fmt.Errorf("watching %s: %w", p, watchError(err))
		}
		return nil
	})
}

func (w *Watcher) skip(dir string) bool {
	return filepath.Base(dir) == ".git" || (w.o.Skip != nil && w.o.Skip(dir))
}

// watchError explains the error a user meets first on a large tree.
func watchError(err error) error {
	if errors.Is(err, fsnotify.ErrEventOverflow) || strings.Contains(err.Error(), "no space left on device") {
		return fmt.Errorf("%w (the inotify watch limit is reached: raise fs.inotify.max_user_watches, or ignore large directories in the watch rules)", err)
	}
	return err
}

// interesting reports whether p is under a tree root or is a file root,
// and whether it is inside a tree (to be watched recursively).
func (w *Watcher) interesting(p string) (ok, inTree bool) {
	if w.files[p] {
		return true, false
	}
	for _, t := range w.trees {
		if p == t || strings.HasPrefix(p, t+string(filepath.Separator)) {
			return true, true
		}
	}
	return false, false
}

func (w *Watcher) run(out chan<- []Change, errc chan<- error) {
	defer close(out)
	pending := map[string]bool{} // path -> seen
	var first, last time.Time
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	var ready bool
	for {
		var send chan<- []Change
		var batch []Change
		if ready && len(pending) > 0 {
			batch = w.batch(pending)
			send = out
		}
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if w.handle(ev, pending) {
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				last = now
				ready = false
				wait := min(w.o.Quiet, w.o.MaxDelay-now.Sub(first))
				timer.Reset(max(wait, 0))
			}
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			select {
			case errc <- watchError(err):
			default:
			}
		case <-timer.C:
			if time.Since(last) >= w.o.Quiet || time.Since(first) >= w.o.MaxDelay {
				ready = true
			} else {
				timer.Reset(w.o.Quiet - time.Since(last))
			}
		case send <- batch:
			clear(pending)
			first, ready = time.Time{}, false
		}
	}
}

// handle records ev in pending; it reports whether it mattered.
func (w *Watcher) handle(ev fsnotify.Event, pending map[string]bool) bool {
	p := filepath.Clean(ev.Name)
	if DefaultIgnored(filepath.Base(p)) {
		return false
	}
	ok, inTree := w.interesting(p)
	if !ok {
		return false
	}
	pending[p] = true
	if ev.Has(fsnotify.Create) {
		fi, err := os.Lstat(p)
		if err == nil && fi.IsDir() && (inTree || w.files[p]) && !w.skip(p) {
			if !inTree {
				// A root that was missing became a directory.
				w.trees = append(w.trees, p)
				delete(w.files, p)
			}
			_ = w.addTree(p, func(q string, _ bool) { pending[q] = true })
		}
	}
	return true
}

// batch turns pending into changes, each path once, sorted.
func (w *Watcher) batch(pending map[string]bool) []Change {
	out := make([]Change, 0, len(pending))
	for p := range pending {
		c := Change{Path: p}
		if fi, err := os.Lstat(p); err != nil {
			c.Removed = true
		} else {
			c.Dir = fi.IsDir()
		}
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b Change) int { return strings.Compare(a.Path, b.Path) })
	return out
}

// DefaultIgnored reports editors' scratch files by their base name: vim's
// swap files and its 4913 write test, emacs's lock and auto-save files,
// backups ending in ~, macOS's .DS_Store.
func DefaultIgnored(base string) bool {
	switch {
	case base == "4913", base == ".DS_Store":
		return true
	case strings.HasSuffix(base, ".swp"), strings.HasSuffix(base, ".swx"), strings.HasSuffix(base, ".swo"):
		return true
	case strings.HasSuffix(base, "~"), strings.HasPrefix(base, ".#"):
		return true
	case len(base) > 1 && strings.HasPrefix(base, "#") && strings.HasSuffix(base, "#"):
		return true
	}
	return false
}
