package volume

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Driver is the only volume driver berth has: directories on this host.
const Driver = "local"

// Store keeps volumes under root/volumes.
type Store struct {
	dir string // absolute root/volumes
}

// Volume is one volume, as volume.json records it.
type Volume struct {
	Name      string            `json:"name"`
	Driver    string            `json:"driver"`
	CreatedAt time.Time         `json:"createdAt"`
	Labels    map[string]string `json:"labels,omitempty"`
	// Anonymous volumes were made for one container (an image's VOLUME,
	// `-v /path`); `rm -v`, `run --rm` and a plain `volume prune` take them.
	Anonymous bool `json:"anonymous,omitempty"`

	dir string // root/volumes/<name>
}

// Mountpoint is the directory containers get: the volume's data.
func (v *Volume) Mountpoint() string { return filepath.Join(v.dir, "_data") }

// CreateOptions are what a new volume is made with.
type CreateOptions struct {
	Labels map[string]string
}

// UsersFunc reports which containers use which volumes: volume name to
// container names. cmd builds it from the containers' configs, so this
// package needs no container runtime; it must read them afresh each call.
type UsersFunc func() (map[string][]string, error)

// Open opens the store under root, creating root/volumes on first use.
func Open(root string) (*Store, error) {
	root, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	s := &Store{dir: filepath.Join(root, "volumes")}
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating volume store %s: %w", s.dir, err)
	}
	return s, nil
}

// NameOf tells whether source, a bind mount's source, is the data of a
// volume in the store under root, and which. It does no I/O, so listing
// containers' volumes costs nothing more than reading their configs.
func NameOf(root, source string) (string, bool) {
	root, err := filepath.Abs(root)
	if err != nil {
		return "", false
	}
	source = filepath.Clean(source)
	if filepath.Base(source) != "_data" {
		return "", false
	}
	dir := filepath.Dir(source)
	name := filepath.Base(dir)
	if filepath.Dir(dir) != filepath.Join(root, "volumes") || ValidName(name) != nil {
		return "", false
	}
	return name, true
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// ValidName checks name against Docker's rule for local volume names.
func ValidName(name string) error {
	if len(name) > 255 || !namePattern.MatchString(name) {
		return &NameError{Name: name}
	}
	return nil
}

// RandomName returns a fresh volume name: 64 hex digits, as Docker names
// anonymous volumes.
func RandomName() (string, error) { return randomHex(32) }

// Create makes a volume; an empty name makes an anonymous one. A volume
// of that name that exists already is returned as it is.
func (s *Store) Create(name string, opts CreateOptions) (*Volume, error) {
	anonymous := name == ""
	if anonymous {
		var err error
		if name, err = RandomName(); err != nil {
			return nil, err
		}
	} else if err := ValidName(name); err != nil {
		return nil, err
	}
	unlock, err := s.lock(unix.LOCK_SH)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if v, err := s.Get(name); err == nil || !errors.Is(err, ErrNotFound) {
		return v, err
	}
	v := &Volume{Name: name, Driver: Driver, CreatedAt: time.Now().UTC(), Labels: opts.Labels, Anonymous: anonymous}
	return v, s.lay(v)
}

// lay writes v into a temporary directory and renames it into place.
// Losing a race to another Create of the same name is no error: theirs is
// as good as ours.
func (s *Store) lay(v *Volume) error {
	tmp, err := os.MkdirTemp(s.dir, ".tmp-")
	if err != nil {
		return fmt.Errorf("creating volume %q: %w", v.Name, err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed
	// MkdirTemp makes 0700; a volume's own directory is traversed only by
	// root, its data is what containers see.
	if err := os.Mkdir(filepath.Join(tmp, "_data"), 0o755); err != nil {
		return fmt.Errorf("creating volume %q: %w", v.Name, err)
	}
	if err := writeMeta(tmp, v); err != nil {
		return fmt.Errorf("creating volume %q: %w", v.Name, err)
	}
	v.dir = filepath.Join(s.dir, v.Name)
	if err := os.Rename(tmp, v.dir); err != nil {
		if errors.Is(err, unix.EEXIST) || errors.Is(err, unix.ENOTEMPTY) {
			got, gerr := s.Get(v.Name)
			if gerr == nil {
				*v = *got
			}
			return gerr
		}
		return fmt.Errorf("creating volume %q: %w", v.Name, err)
	}
	return syncDir(s.dir)
}

// Get finds a volume by its full name.
func (s *Store) Get(name string) (*Volume, error) {
	if ValidName(name) != nil {
		return nil, &NotFoundError{Name: name}
	}
	dir := filepath.Join(s.dir, name)
	v, err := readMeta(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &NotFoundError{Name: name}
	}
	if err != nil {
		return nil, err
	}
	v.dir = dir
	return v, nil
}

// List returns every volume, sorted by name.
func (s *Store) List() ([]*Volume, error) {
	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("listing volumes: %w", err)
	}
	var out []*Volume
	for _, e := range ents {
		if !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		v, err := s.Get(e.Name())
		if errors.Is(err, ErrNotFound) {
			continue // removed meanwhile
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Remove deletes a volume and its data, refusing while any container
// (running or not) uses it, as users reports.
func (s *Store) Remove(name string, users UsersFunc) error {
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return err
	}
	defer unlock()
	v, err := s.Get(name)
	if err != nil {
		return err
	}
	u, err := users()
	if err != nil {
		return fmt.Errorf("removing volume %q: finding the containers that use it: %w", name, err)
	}
	if cs := u[name]; len(cs) > 0 {
		sorted := append([]string{}, cs...)
		sort.Strings(sorted)
		return &InUseError{Name: name, Containers: sorted}
	}
	return s.delete(v)
}

// delete takes v out of sight with one rename, then deletes it.
// Preconditions: the exclusive lock held.
func (s *Store) delete(v *Volume) error {
	suffix, err := randomHex(8)
	if err != nil {
		return err
	}
	// Unique, so debris of an earlier failed delete cannot block this one.
	trash := filepath.Join(s.dir, ".trash-"+v.Name+"-"+suffix)
	if err := os.Rename(v.dir, trash); err != nil {
		return fmt.Errorf("removing volume %q: %w", v.Name, err)
	}
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("removing volume %q: %w (the rest is in %s)", v.Name, err, trash)
	}
	return nil
}

// PruneReport says what Prune removed.
type PruneReport struct {
	Removed   []string // volume names
	Reclaimed int64    // bytes
}

// Prune removes the volumes no container uses: only anonymous ones unless
// all is set, as `docker volume prune [-a]` does. It also clears debris of
// creates and removes that were cut short.
func (s *Store) Prune(all bool, users UsersFunc) (PruneReport, error) {
	var r PruneReport
	unlock, err := s.lock(unix.LOCK_EX)
	if err != nil {
		return r, err
	}
	defer unlock()
	u, err := users()
	if err != nil {
		return r, fmt.Errorf("pruning volumes: finding the containers that use them: %w", err)
	}
	vols, err := s.List()
	if err != nil {
		return r, err
	}
	for _, v := range vols {
		if len(u[v.Name]) > 0 || (!all && !v.Anonymous) {
			continue
		}
		size := Size(v)
		if err := s.delete(v); err != nil {
			return r, err
		}
		r.Removed = append(r.Removed, v.Name)
		r.Reclaimed += size
	}
	debris, _ := filepath.Glob(filepath.Join(s.dir, ".t*-*"))
	for _, d := range debris {
		if b := filepath.Base(d); strings.HasPrefix(b, ".tmp-") || strings.HasPrefix(b, ".trash-") {
			os.RemoveAll(d)
		}
	}
	return r, nil
}

// Hold takes the store's shared lock until release is called: no volume
// can be removed meanwhile. A caller holds it from creating or choosing a
// container's volumes until the container's config names them, the moment
// from which UsersFunc reports them in use.
func (s *Store) Hold() (release func(), err error) {
	return s.lock(unix.LOCK_SH)
}

// lock takes volumes/.lock, shared or exclusive. flock(2) locks belong to
// an open file description, so goroutines of one process exclude each
// other too, and a process holding the shared lock may take it again.
func (s *Store) lock(how int) (unlock func(), err error) {
	f, err := os.OpenFile(filepath.Join(s.dir, ".lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("locking volume store: %w", err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("locking volume store: %w", err)
	}
	return func() { f.Close() }, nil
}
