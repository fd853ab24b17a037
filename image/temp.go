package image

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Temporaries are the store's names starting with ".tmp-": layers being
// unpacked and removed (layers/), blobs being written (images/blobs/sha256/),
// files being replaced atomically (beside them). Their owner holds a
// flock(2) LOCK_EX on each for as long as it exists, so a temporary whose
// lock can be taken has lost its owner (the kernel drops a dead process's
// locks) and cleanTemps may delete it.
//
// A temporary exists for a moment before its owner has locked it. To keep
// cleanTemps out of that moment, creators hold a shared flock on the
// directory the temporary goes into from before it exists until it is
// locked, and cleanTemps takes that directory's lock exclusively while it
// looks:
//
//	creator:    flock(dir, SH)  create .tmp-x  flock(.tmp-x, EX)  unlock dir
//	cleanTemps: flock(dir, EX)  for each .tmp-*: flock(NB) taken -> dead   unlock dir
//	            delete the dead ones, their locks still held
const tempPrefix = ".tmp-"

// tempFile creates a temporary file in dir, open for writing and locked
// until it is closed: close it only once it is renamed or removed.
func tempFile(dir, pattern string) (*os.File, error) {
	var f *os.File
	err := creatingIn(dir, func() (*os.File, error) {
		var err error
		f, err = os.CreateTemp(dir, pattern)
		return f, err
	})
	if err != nil {
		return nil, err
	}
	return f, nil
}

// tempDir creates a temporary directory in dir and returns it with the
// open directory that holds its lock: close that only once the directory
// is renamed or removed.
func tempDir(dir, pattern string) (string, *os.File, error) {
	var p string
	var lock *os.File
	err := creatingIn(dir, func() (*os.File, error) {
		var err error
		if p, err = os.MkdirTemp(dir, pattern); err != nil {
			return nil, err
		}
		if lock, err = os.Open(p); err != nil {
			os.Remove(p)
		}
		return lock, err
	})
	if err != nil {
		return "", nil, err
	}
	return p, lock, nil
}

// creatingIn runs create, which makes a temporary in dir and returns it
// open, and locks it, all under dir's shared lock.
func creatingIn(dir string, create func() (*os.File, error)) error {
	unlock, err := flockDir(dir, unix.LOCK_SH)
	if err != nil {
		return err
	}
	defer unlock()
	f, err := create()
	if err != nil {
		return err
	}
	// Nobody else can hold a lock on what was just created: LOCK_NB only
	// turns a bug into an error rather than a hang.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		os.RemoveAll(f.Name())
		f.Close()
		return fmt.Errorf("locking %s: %w", f.Name(), err)
	}
	return nil
}

// flockDir locks the directory dir itself, waiting for the lock.
func flockDir(dir string, how int) (unlock func(), err error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	for {
		err = unix.Flock(int(d.Fd()), how)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return func() { d.Close() }, nil
}

// cleanTemps deletes the temporaries that killed processes left behind.
// It never touches a live process's temporary, and what it cannot delete
// stays for the next call: it is housekeeping, never a reason to fail.
func (s *Store) cleanTemps() {
	for _, dir := range []string{s.imageDir(), s.blobDir(), s.layerDir()} {
		for _, dead := range deadTemps(dir) {
			os.RemoveAll(dead.Name())
			dead.Close()
		}
	}
}

// deadTemps returns dir's temporaries whose owners are gone, each open
// and locked by us, so that no other cleanTemps deletes it at the same time.
func deadTemps(dir string) []*os.File {
	unlock, err := flockDir(dir, unix.LOCK_EX)
	if err != nil {
		return nil
	}
	defer unlock()
	des, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var dead []*os.File
	for _, de := range des {
		if !strings.HasPrefix(de.Name(), tempPrefix) {
			continue
		}
		f, err := os.OpenFile(filepath.Join(dir, de.Name()), os.O_RDONLY|unix.O_NOFOLLOW, 0)
		if err != nil {
			continue
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close() // alive (EWOULDBLOCK), or not ours to judge
			continue
		}
		dead = append(dead, f)
	}
	return dead
}
