package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/patternmatcher"

	"github.com/berthproject/berth/image"
)

// copyPlan is a COPY or ADD worked out: where its files go and what
// decides its cache key.
type copyPlan struct {
	instr     string // "COPY" or "ADD"
	dest      string // absolute in the image
	destIsDir bool
	chown     string
	chmod     *fs.FileMode
	tree      *srcTree // where sources are read (nil: --from, staged later)
	srcs      []source
	heredocs  []instructions.SourceContent
	// unpack: ADD unpacks local tar archives.
	unpack bool
}

// destOf is COPY's or ADD's destination: relative to WORKDIR; a directory
// when it ends in "/" (or "/.", ".") or there are several sources.
func destOf(workingDir, dest string, nsrc int) (string, bool) {
	isDir := strings.HasSuffix(dest, "/") || dest == "." || strings.HasSuffix(dest, "/.") || nsrc > 1
	return workdir(workingDir, dest), isDir
}

func (b *builder) dispatchCopy(ctx context.Context, st *stageState, c *instructions.CopyCommand) error {
	if c.Parents {
		return errors.New("--parents is not supported yet")
	}
	chmod, err := parseChmod(c.Chmod)
	if err != nil {
		return err
	}
	p := &copyPlan{instr: "COPY", chown: c.Chown, chmod: chmod, heredocs: c.SourceContents}
	p.dest, p.destIsDir = destOf(st.config.WorkingDir, c.DestPath, len(c.SourcePaths)+len(c.SourceContents))
	createdBy := historyOfCopy("COPY", c.From, c.Chown, c.Chmod, c.SourcePaths, c.SourceContents, c.DestPath)
	if c.From != "" {
		return b.copyFrom(ctx, st, c, p, createdBy)
	}
	if p.tree, err = b.ctxDir.withExcludes(c.ExcludePatterns); err != nil {
		return err
	}
	if p.srcs, err = p.tree.sources(c.SourcePaths); err != nil {
		return err
	}
	digest, err := digestSources(p.tree, p.srcs, p.heredocs)
	if err != nil {
		return err
	}
	return b.commit(ctx, st, st.stepKey(createdBy, digest), createdBy, b.copyChange(p))
}

// copyFrom is COPY --from: the sources are read from another stage's or
// an image's root, which its key (or ID) stands for in the cache key.
func (b *builder) copyFrom(ctx context.Context, st *stageState, c *instructions.CopyCommand, p *copyPlan, createdBy string) error {
	from, err := b.expander(st.expandEnv())(c.From)
	if err != nil {
		return err
	}
	var src *stageState
	if j, ok := b.stageRef(from, st.index, true); ok {
		src = b.results[j]
	} else {
		img, err := b.baseImage(ctx, from)
		if err != nil {
			return fmt.Errorf("--from=%s: not an earlier stage, and %w", from, err)
		}
		src = &stageState{img: img, key: img.ID}
	}
	key := st.stepKey(createdBy, "from="+src.key)
	return b.commit(ctx, st, key, createdBy, func(ctx context.Context, st *stageState) (*image.Layer, error) {
		if err := src.ensure(b.store); err != nil {
			return nil, err
		}
		staging, err := os.MkdirTemp(b.o.TempDir, "berth-build-from-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(staging)
		if p.srcs, err = b.stage(src.layerDirs(), staging, c.SourcePaths); err != nil {
			return nil, err
		}
		p.tree = &srcTree{root: staging, confined: true}
		return b.copyChange(p)(ctx, st)
	})
}

// stage copies the sources out of an image's root (its layers mounted)
// into staging, keeping owners, modes and times, so that the copy into
// the building image reads plain host files.
func (b *builder) stage(layers []string, staging string, patterns []string) ([]source, error) {
	var staged []source
	err := b.inOverlay(layers, func(root string) error {
		t := &srcTree{root: root, confined: true}
		srcs, err := t.sources(patterns)
		if err != nil {
			return err
		}
		cp := &copier{root: staging}
		for i, s := range srcs {
			dir := fmt.Sprintf("/%d", i)
			if err := copySource(cp, t, s, dir, true); err != nil {
				return err
			}
			host := filepath.Join(staging, dir)
			if !s.info.IsDir() {
				host = filepath.Join(host, s.name)
			}
			fi, err := os.Lstat(host)
			if err != nil {
				return err
			}
			staged = append(staged, source{path: host, name: s.name, info: fi})
		}
		return cp.finish()
	})
	return staged, err
}

// copyChange is the change a COPY or ADD makes: its files written into an
// overlay of the current layers, the upper directory stored as a layer.
func (b *builder) copyChange(p *copyPlan) change {
	return func(ctx context.Context, st *stageState) (*image.Layer, error) {
		upper, err := os.MkdirTemp(b.o.TempDir, "berth-build-upper-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(upper)
		err = b.inOverlayUpper(st.layerDirs(), upper, func(root string) error {
			own, err := resolveChown(root, p.chown)
			if err != nil {
				return err
			}
			if own == nil && p.tree.fromContext {
				own = &owner{}
			}
			cp := &copier{root: root, owner: own, chmod: p.chmod}
			if p.destIsDir {
				if _, err := cp.mkdirAll(p.dest); err != nil {
					return err
				}
			}
			for _, h := range p.heredocs {
				target := p.dest
				if p.destIsDir || cp.isDir(target) {
					target = path.Join(target, h.Path)
				}
				if err := cp.writeFile(target, []byte(h.Data), 0o644, b.o.Now()); err != nil {
					return err
				}
			}
			for _, s := range p.srcs {
				if p.unpack && !s.info.IsDir() && !s.downloaded {
					unpacked, err := unpackArchive(cp, s.path, p.dest)
					if err != nil {
						return fmt.Errorf("%s: %w", s.name, err)
					}
					if unpacked {
						continue
					}
				}
				if err := copySource(cp, p.tree, s, p.dest, p.destIsDir); err != nil {
					return err
				}
			}
			return cp.finish()
		})
		if err != nil {
			return nil, err
		}
		return b.storeUpper(ctx, st, upper)
	}
}

// copySource copies one source to dst: a directory's contents into dst, a
// file to dst, or into dst when that is a directory.
func copySource(cp *copier, t *srcTree, s source, dst string, destIsDir bool) error {
	if s.info.IsDir() {
		if _, err := cp.mkdirAll(dst); err != nil {
			return err
		}
		return t.walk(s, func(host, sub string, info fs.FileInfo) error {
			if sub == "" {
				return nil
			}
			return cp.entry(host, info, path.Join(dst, sub))
		})
	}
	target := dst
	if destIsDir || cp.isDir(dst) {
		if _, err := cp.mkdirAll(dst); err != nil {
			return err
		}
		target = path.Join(dst, s.name)
	} else if _, err := cp.mkdirAll(path.Dir(dst)); err != nil {
		return err
	}
	return cp.entry(s.path, s.info, target)
}

// inOverlay mounts an overlay of layers with a throwaway upper directory
// for reading, and calls fn with its root.
func (b *builder) inOverlay(layers []string, fn func(root string) error) error {
	upper, err := os.MkdirTemp(b.o.TempDir, "berth-build-read-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(upper)
	return b.inOverlayUpper(layers, upper, fn)
}

// inOverlayUpper calls fn with the root of an overlay of layers under
// upper. With no layers (scratch) the upper directory is the root: there
// is nothing to mount.
func (b *builder) inOverlayUpper(layers []string, upper string, fn func(root string) error) error {
	if len(layers) == 0 {
		return fn(upper)
	}
	work, err := os.MkdirTemp(b.o.TempDir, "berth-build-work-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	return image.InOverlay(layers, upper, work, fn)
}

// historyOfCopy is COPY's or ADD's history text, expanded.
func historyOfCopy(instr, from, chown, chmod string, srcs []string, contents []instructions.SourceContent, dest string) string {
	parts := []string{instr}
	for _, f := range [][2]string{{"from", from}, {"chown", chown}, {"chmod", chmod}} {
		if f[1] != "" {
			parts = append(parts, "--"+f[0]+"="+f[1])
		}
	}
	parts = append(parts, srcs...)
	for _, c := range contents {
		parts = append(parts, "<<"+c.Path)
	}
	return strings.Join(append(parts, dest), " ")
}

// digestSources hashes what a copy reads: each source's path, and for
// everything under it the path, type, mode, owner, size and content or
// link target. Times are left out, as BuildKit leaves them out.
func digestSources(t *srcTree, srcs []source, heredocs []instructions.SourceContent) (string, error) {
	h := sha256.New()
	for _, c := range heredocs {
		fmt.Fprintf(h, "heredoc %q %d %s\n", c.Path, len(c.Data), c.Data)
	}
	for _, s := range srcs {
		fmt.Fprintf(h, "source %q\n", s.rel)
		err := t.walk(s, func(host, sub string, info fs.FileInfo) error {
			st, _ := info.Sys().(*syscall.Stat_t)
			if st == nil {
				return fmt.Errorf("%s: no file status", host)
			}
			fmt.Fprintf(h, "%q %o %d %d %d ", sub, st.Mode, st.Uid, st.Gid, info.Size())
			switch {
			case info.Mode().IsRegular():
				f, err := os.Open(host)
				if err != nil {
					return err
				}
				_, err = io.Copy(h, f)
				f.Close()
				if err != nil {
					return err
				}
			case info.Mode()&fs.ModeSymlink != 0:
				target, err := os.Readlink(host)
				if err != nil {
					return err
				}
				fmt.Fprintf(h, "-> %q", target)
			}
			fmt.Fprintln(h)
			return nil
		})
		if err != nil {
			return "", err
		}
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// withExcludes is the tree with COPY --exclude's patterns added to
// .dockerignore's.
func (t *srcTree) withExcludes(excludes []string) (*srcTree, error) {
	if len(excludes) == 0 {
		return t, nil
	}
	var patterns []string
	if t.ignore != nil {
		for _, p := range t.ignore.Patterns() {
			patterns = append(patterns, p.String())
		}
	}
	pm, err := patternmatcher.New(append(patterns, excludes...))
	if err != nil {
		return nil, fmt.Errorf("--exclude: %w", err)
	}
	n := *t
	n.ignore = pm
	return &n, nil
}

// dispatchWorkdir sets the working directory and creates it when the
// image lacks it: a layer only then, as BuildKit makes one.
func (b *builder) dispatchWorkdir(ctx context.Context, st *stageState, c *instructions.WorkdirCommand) error {
	wd := workdir(st.config.WorkingDir, c.Path)
	createdBy := "WORKDIR " + wd
	key := st.stepKey(createdBy, "")
	st.config.WorkingDir = wd
	return b.commit(ctx, st, key, createdBy, func(ctx context.Context, st *stageState) (*image.Layer, error) {
		upper, err := os.MkdirTemp(b.o.TempDir, "berth-build-upper-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(upper)
		err = b.inOverlayUpper(st.layerDirs(), upper, func(root string) error {
			cp := &copier{root: root}
			if u := st.config.User; u != "" {
				// The directory belongs to the USER in effect (BuildKit).
				if o, err := resolveChown(root, u); err == nil {
					cp.owner = o
				}
			}
			_, err := cp.mkdirAll(wd)
			return err
		})
		if err != nil {
			return nil, err
		}
		return b.storeUpper(ctx, st, upper)
	})
}
