package runtime

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// CleanDebris removes what killed processes left of containers: a
// directory without config.json whose creator no longer holds its lock
// (a create cut short), or whose Remove was cut short after it took
// config.json away, with its cgroup and its name. A create in progress
// holds the lock and is left alone. It returns how many it removed.
func (m *Manager) CleanDebris() (int, error) {
	ids, err := m.ids()
	if err != nil {
		return 0, err
	}
	removed := 0
	for _, id := range ids {
		dir := m.containerDir(id)
		if _, err := os.Stat(filepath.Join(dir, "config.json")); !errors.Is(err, fs.ErrNotExist) {
			continue
		}
		d, err := os.Open(dir)
		if err != nil {
			continue
		}
		if unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB) != nil {
			d.Close() // being created right now
			continue
		}
		if cg, err := loadCgroup(id); err == nil {
			_ = cg.Delete()
		}
		m.releaseNamesOf(id)
		err = os.RemoveAll(dir)
		d.Close()
		if err != nil {
			return removed, err
		}
		removed++
	}
	m.removeDeadClaimTemps()
	return removed, nil
}

// removeDeadClaimTemps removes the temporaries of claim (names/.claim-*)
// that a killed create left between making one and linking it into
// place: those whose lock nobody holds.
func (m *Manager) removeDeadClaimTemps() {
	tmps, _ := filepath.Glob(filepath.Join(m.root, "names", ".claim-*"))
	for _, p := range tmps {
		if lockFree(p) {
			os.Remove(p)
		}
	}
}

// releaseNamesOf drops the name reservations that point at id.
func (m *Manager) releaseNamesOf(id string) {
	dir := filepath.Join(m.root, "names")
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if b, err := os.ReadFile(filepath.Join(dir, de.Name())); err == nil && string(b) == id {
			os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}
