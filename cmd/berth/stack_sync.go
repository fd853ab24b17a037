//go:build registry

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"syscall"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/runtime/containerinit"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/spec"
)

// syncChunk is how many files one chroot into a container copies: their
// host files are opened before (the chrooted thread cannot reach them),
// and a thousand-file checkout must not run out of descriptors.
const syncChunk = 256

// Sync copies files from the host into container id (berth watch's sync
// rules). Each file is written beside its target and renamed over it, so
// the workload never reads half a file; the writes happen in the
// container's root (runtime.InRoot), where no symlink leads out. What is
// written, and the directories made for it, belong to the container's
// user (its `user:`, or the image's USER), with the host file's mode.
func (h *stackHost) Sync(ctx context.Context, id string, files []scheduler.SyncFile) error {
	c, err := h.get(id)
	if err != nil {
		return err
	}
	for len(files) > 0 {
		n := min(len(files), syncChunk)
		if err := syncSome(c, files[:n]); err != nil {
			return err
		}
		files = files[n:]
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// syncSource is a SyncFile with its host side opened.
type syncSource struct {
	scheduler.SyncFile
	dir  bool
	mode fs.FileMode
	f    *os.File
}

func syncSome(c *runtime.Container, files []scheduler.SyncFile) error {
	srcs := make([]syncSource, 0, len(files))
	defer func() {
		for _, s := range srcs {
			if s.f != nil {
				s.f.Close()
			}
		}
	}()
	for _, f := range files {
		s := syncSource{SyncFile: f}
		if !f.Remove {
			fi, err := os.Lstat(f.Source)
			switch {
			case errors.Is(err, fs.ErrNotExist):
				s.Remove = true // gone since the change was seen
			case err != nil:
				return err
			case fi.IsDir():
				s.dir, s.mode = true, fi.Mode().Perm()
			case fi.Mode().IsRegular():
				if s.f, err = os.Open(f.Source); errors.Is(err, fs.ErrNotExist) {
					s.Remove = true
				} else if err != nil {
					return err
				}
				s.mode = fi.Mode().Perm()
			default:
				continue // links, sockets, devices: not synced
			}
		}
		srcs = append(srcs, s)
	}
	// Directories first, removals last, so a directory replaced by a file
	// of the same name and the reverse both end as the host has them.
	sort.SliceStable(srcs, func(i, j int) bool { return syncOrder(srcs[i]) < syncOrder(srcs[j]) })
	err := runtime.InRoot(c, image.InOverlay, func() error {
		// Looked up inside: the container's passwd and group files.
		uid, gid, err := containerinit.Owner(c.Config.User, "/etc/passwd", "/etc/group")
		if err != nil {
			return fmt.Errorf("finding the owner of synced files, the container's user %q: %w", c.Config.User, err)
		}
		own := syncOwner{int(uid), int(gid)}
		for _, s := range srcs {
			if err := s.apply(own); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("syncing into container %s: %w", c.Name(), err)
	}
	return nil
}

func syncOrder(s syncSource) int {
	switch {
	case s.Remove:
		return 2
	case s.dir:
		return 0
	}
	return 1
}

// syncOwner is who owns what a sync writes: the container's user.
type syncOwner struct{ uid, gid int }

// mkdirAll makes dir and its missing parents, as os.MkdirAll, giving the
// ones it makes to own.
func (own syncOwner) mkdirAll(dir string, mode fs.FileMode) error {
	if fi, err := os.Stat(dir); err == nil {
		if fi.IsDir() {
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: dir, Err: syscall.ENOTDIR}
	}
	if parent := path.Dir(dir); parent != dir {
		if err := own.mkdirAll(parent, 0o755); err != nil {
			return err
		}
	}
	if err := os.Mkdir(dir, mode); err != nil {
		if fi, serr := os.Lstat(dir); serr == nil && fi.IsDir() {
			return nil // made meanwhile
		}
		return err
	}
	return os.Lchown(dir, own.uid, own.gid)
}

// apply runs inside the container's root.
func (s syncSource) apply(own syncOwner) error {
	switch {
	case s.Remove:
		if err := os.RemoveAll(s.Target); err != nil {
			return fmt.Errorf("removing %s: %w", s.Target, err)
		}
		return nil
	case s.dir:
		if fi, err := os.Lstat(s.Target); err == nil && !fi.IsDir() {
			_ = os.Remove(s.Target)
		}
		if err := own.mkdirAll(s.Target, s.mode|0o700); err != nil {
			return fmt.Errorf("making directory %s: %w", s.Target, err)
		}
		return nil
	}
	dir := path.Dir(s.Target)
	if err := own.mkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("making directory %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, ".berth-sync-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", s.Target, err)
	}
	_, err = io.Copy(tmp, s.f)
	if err == nil {
		err = tmp.Chown(own.uid, own.gid)
	}
	if err == nil {
		err = tmp.Chmod(s.mode) // after the chown, which drops setuid bits
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		if err = os.Rename(tmp.Name(), s.Target); err != nil {
			// A directory where the file goes: the host has a file now.
			if fi, lerr := os.Lstat(s.Target); lerr == nil && fi.IsDir() && os.RemoveAll(s.Target) == nil {
				err = os.Rename(tmp.Name(), s.Target)
			}
		}
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing %s: %w", s.Target, err)
	}
	return nil
}

// execOutputMax is how much of a sync+exec command's output is kept for
// the message when it fails.
const execOutputMax = 4 << 10

// Exec runs a sync+exec rule's command in container id.
func (h *stackHost) Exec(ctx context.Context, id string, x *spec.WatchExec) (int, string, error) {
	c, err := h.get(id)
	if err != nil {
		return 0, "", err
	}
	env := make([]string, 0, len(x.Environment))
	for _, k := range sortedLabelKeys(x.Environment) {
		env = append(env, k+"="+x.Environment[k])
	}
	r, w, err := os.Pipe()
	if err != nil {
		return 0, "", err
	}
	var out bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		buf := make([]byte, 32<<10)
		for {
			n, err := r.Read(buf)
			out.Write(buf[:n])
			if out.Len() > execOutputMax {
				out.Next(out.Len() - execOutputMax) // keep the end
			}
			if err != nil {
				return
			}
		}
	}()
	code, err := h.m.Exec(ctx, c, runtime.ExecConfig{Args: x.Command, Env: env, User: x.User, WorkingDir: x.WorkingDir},
		&runtime.Stdio{Out: w, Err: w})
	w.Close()
	<-read
	r.Close()
	return code, out.String(), err
}
