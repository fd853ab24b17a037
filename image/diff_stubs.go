package image

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// createdStubs picks the paths WriteContainerDiff leaves out.
func createdStubs(upper string, lowers, stubs []string) (map[string]bool, error) {
	skip := map[string]bool{}
	for _, s := range stubs {
		s = path.Clean(s)
		empty, err := emptyStub(filepath.Join(upper, s))
		if err != nil {
			return nil, err
		}
		if !empty {
			continue
		}
		if _, ok, err := inLowers(lowers, s); ok || err != nil {
			if err != nil {
				return nil, err
			}
			continue // the image's own: not made by the runtime
		}
		skip[s] = true
		// Stubs that share a directory: the last one checked frees it.
		for dir := path.Dir(s); dir != "."; dir = path.Dir(dir) {
			free, err := onlyStubs(upper, lowers, dir, skip)
			if err != nil {
				return nil, err
			}
			if !free {
				break
			}
			skip[dir] = true
		}
	}
	return skip, nil
}

// emptyStub says whether p is an empty directory (not opaque) or an
// empty regular file of one name: what a runtime mounts on.
func emptyStub(p string) (bool, error) {
	var st unix.Stat_t
	err := unix.Lstat(p, &st)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading the container's changes: %w", err)
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFREG:
		return st.Size == 0 && st.Nlink == 1, nil
	case unix.S_IFDIR:
		if opaque(p) {
			return false, nil
		}
		return emptyDir(p)
	}
	return false, nil
}

func opaque(p string) bool {
	v, err := getXattr(p, overlayXattr+"opaque")
	return err == nil && bytes.Equal(v, []byte("y"))
}

func emptyDir(p string) (bool, error) {
	f, err := os.Open(p)
	if err != nil {
		return false, fmt.Errorf("reading the container's changes: %w", err)
	}
	defer f.Close()
	_, err = f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return false, err
}

// inLowers finds rel in the topmost of lowers that has it, as overlayfs
// does (a whiteout there means it is not in the image; opaque
// directories above rel are not looked at, which only matters to
// images that delete a directory holding a mount point).
func inLowers(lowers []string, rel string) (unix.Stat_t, bool, error) {
	var st unix.Stat_t
	for i := len(lowers) - 1; i >= 0; i-- {
		err := unix.Lstat(filepath.Join(lowers[i], rel), &st)
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
			continue
		}
		if err != nil {
			return st, false, fmt.Errorf("reading the image's layers: %w", err)
		}
		whiteout := st.Mode&unix.S_IFMT == unix.S_IFCHR && st.Rdev == 0
		return st, !whiteout, nil
	}
	return st, false, nil
}

// onlyStubs says whether the upper directory dir holds nothing but paths
// in skip and is otherwise as the image has it (or not in the image).
func onlyStubs(upper string, lowers []string, dir string, skip map[string]bool) (bool, error) {
	p := filepath.Join(upper, dir)
	names, err := os.ReadDir(p)
	if err != nil {
		return false, fmt.Errorf("reading the container's changes: %w", err)
	}
	for _, e := range names {
		if !skip[path.Join(dir, e.Name())] {
			return false, nil
		}
	}
	if opaque(p) {
		return false, nil
	}
	low, ok, err := inLowers(lowers, dir)
	if err != nil || !ok {
		return err == nil, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(p, &st); err != nil {
		return false, fmt.Errorf("reading the container's changes: %w", err)
	}
	return st.Mode == low.Mode && st.Uid == low.Uid && st.Gid == low.Gid, nil
}
