package scheduler

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/berthproject/berth/spec"
)

// StackStore keeps the stacks the engine runs: ROOT/stacks/<name>.json,
// the last applied stack, normalised, with the scale overrides it was
// applied with. Files are written atomically.
type StackStore struct {
	dir string
}

// StackRecord is one stack's file.
type StackRecord struct {
	Stack *spec.Stack    `json:"stack"`
	Scale map[string]int `json:"scale,omitempty"`
	// Services are the services ups asked for (with what they depend on):
	// the engine keeps those up and leaves the others be, as `up web`
	// starts only web. Empty means all.
	Services []string `json:"services,omitempty"`
	// Applied is false from the moment an up records the stack until its
	// pass went through: a new engine finishes an up that was cut short.
	Applied bool `json:"applied"`
	// Removing is set while a down takes the stack away, with its
	// options: a new engine finishes it.
	Removing bool         `json:"removing,omitempty"`
	Down     *DownOptions `json:"down,omitempty"`
	Updated  time.Time    `json:"updated"`
}

// ErrNoStack: the store has no stack of that name.
var ErrNoStack = errors.New("no such stack")

// OpenStackStore opens (creating) the store in dir.
func OpenStackStore(dir string) (*StackStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the stack store %s: %w", dir, err)
	}
	return &StackStore{dir: dir}, nil
}

func (s *StackStore) path(name string) string { return filepath.Join(s.dir, name+".json") }

// Save writes rec atomically.
func (s *StackStore) Save(rec StackRecord) error {
	rec.Updated = time.Now().UTC()
	b, err := json.Marshal(rec)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(s.dir, ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Rename(f.Name(), s.path(rec.Stack.Name)); err != nil {
		return fmt.Errorf("saving stack %s: %w", rec.Stack.Name, err)
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Load reads the stack name.
func (s *StackStore) Load(name string) (StackRecord, error) {
	var rec StackRecord
	b, err := os.ReadFile(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return rec, fmt.Errorf("stack %q: %w", name, ErrNoStack)
	}
	if err != nil {
		return rec, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, fmt.Errorf("reading %s: %w", s.path(name), err)
	}
	if rec.Stack == nil {
		return rec, fmt.Errorf("reading %s: no stack in it", s.path(name))
	}
	return rec, nil
}

// Remove forgets the stack name.
func (s *StackStore) Remove(name string) error {
	err := os.Remove(s.path(name))
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// List returns the stored stacks' names, sorted.
func (s *StackStore) List() ([]string, error) {
	des, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, de := range des {
		n := de.Name()
		if filepath.Ext(n) == ".json" && n[0] != '.' {
			names = append(names, n[:len(n)-len(".json")])
		}
	}
	slices.Sort(names)
	return names, nil
}
