package build

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// srcTree is where COPY and ADD read from: the build context, or the root
// of another stage or image mounted for the copy.
type srcTree struct {
	root string // absolute, symlinks resolved
	// confined trees (images) resolve symlinks inside root, as the
	// container would; the context refuses a symlink that leaves it.
	confined bool
	ignore   *patternmatcher.PatternMatcher // .dockerignore; nil: none
	// fromContext: files get 0:0 unless --chown (another stage's files
	// keep their owners).
	fromContext bool
}

// buildContext is the context directory with its .dockerignore.
type buildContext = srcTree

// openContext opens the context directory and reads its .dockerignore.
func openContext(dir string) (*buildContext, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("build context %s: %w", dir, err)
	}
	if fi, err := os.Stat(real); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("build context %s is not a directory", dir)
	}
	t := &srcTree{root: real, fromContext: true}
	if t.ignore, err = ReadDockerignore(real); err != nil {
		return nil, err
	}
	return t, nil
}

// ReadDockerignore reads the .dockerignore of the context directory dir;
// nil when it has none (or an empty one).
func ReadDockerignore(dir string) (*patternmatcher.PatternMatcher, error) {
	f, err := os.Open(filepath.Join(dir, ".dockerignore"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	patterns, err := ignorefile.ReadAll(f)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if len(patterns) == 0 {
		return nil, nil
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	return pm, nil
}

// excluded reports whether rel (slash-separated, relative to the tree)
// is left out by .dockerignore.
func (t *srcTree) excluded(rel string) bool {
	if t.ignore == nil || rel == "" || rel == "." {
		return false
	}
	m, err := t.ignore.MatchesOrParentMatches(rel)
	return err == nil && m
}

// source is one file or directory COPY or ADD copies.
type source struct {
	rel  string      // relative to its tree, slash-separated ("" is the root)
	path string      // on the host, the top's symlinks resolved
	name string      // its name at the destination, for a file
	info fs.FileInfo // of path
	// downloaded: an ADD URL's file, which is never unpacked.
	downloaded bool
}

// cleanSource makes a source path relative to the tree, refusing one that
// leaves it ("../x").
func cleanSource(p string) (string, error) {
	c := path.Clean(filepath.ToSlash(p))
	c = strings.TrimPrefix(c, "/")
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", fmt.Errorf("%s: the path is outside the build context", p)
	}
	if c == "." {
		c = ""
	}
	return c, nil
}

// resolve is rel's path on the host. In the context every symlink on the
// way is followed and must stay inside; in an image it is resolved inside
// the root.
func (t *srcTree) resolve(rel, shown string) (string, error) {
	if t.confined {
		return securejoin.SecureJoin(t.root, rel)
	}
	full := filepath.Join(t.root, rel)
	real, err := filepath.EvalSymlinks(full)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", fmt.Errorf("%s: no such file or directory in the build context", shown)
		}
		return "", err
	}
	if real != t.root && !strings.HasPrefix(real, t.root+string(filepath.Separator)) {
		return "", fmt.Errorf("%s: a symlink leads out of the build context (to %s); copy the file into the context instead", shown, real)
	}
	return real, nil
}

// sources resolves COPY's or ADD's source paths, with wildcards
// (filepath.Match's syntax, per path element). Excluded files are not
// there, as if the context lacked them.
func (t *srcTree) sources(patterns []string) ([]source, error) {
	var out []source
	for _, p := range patterns {
		rel, err := cleanSource(p)
		if err != nil {
			return nil, err
		}
		if !hasMeta(rel) {
			s, err := t.source(rel, p)
			if err != nil {
				return nil, err
			}
			if t.excluded(rel) {
				return nil, fmt.Errorf("%s: excluded from the build context by .dockerignore", p)
			}
			out = append(out, s)
			continue
		}
		matches, err := t.glob(rel, p)
		if err != nil {
			return nil, err
		}
		n := 0
		for _, m := range matches {
			if t.excluded(m) {
				continue
			}
			s, err := t.source(m, m)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("%s: no source files were specified (nothing in the build context matches)", p)
		}
	}
	return out, nil
}

func (t *srcTree) source(rel, shown string) (source, error) {
	host, err := t.resolve(rel, shown)
	if err != nil {
		return source{}, err
	}
	fi, err := os.Stat(host)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return source{}, fmt.Errorf("%s: no such file or directory", shown)
		}
		return source{}, err
	}
	name := path.Base(rel)
	if rel == "" {
		name = "."
	}
	return source{rel: rel, path: host, name: name, info: fi}, nil
}

func hasMeta(p string) bool { return strings.ContainsAny(p, `*?[\`) }

// glob expands a wildcard pattern element by element.
func (t *srcTree) glob(pattern, shown string) ([]string, error) {
	cur := []string{""}
	for _, elem := range strings.Split(pattern, "/") {
		var next []string
		for _, prefix := range cur {
			if !hasMeta(elem) {
				next = append(next, path.Join(prefix, elem))
				continue
			}
			dir, err := t.resolve(prefix, shown)
			if err != nil {
				continue
			}
			names, err := readNames(dir)
			if err != nil {
				continue
			}
			for _, n := range names {
				ok, err := path.Match(elem, n)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", shown, err)
				}
				if ok {
					next = append(next, path.Join(prefix, n))
				}
			}
		}
		cur = next
	}
	var out []string
	for _, c := range cur {
		host, err := t.resolve(c, c)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || strings.Contains(err.Error(), "no such file") {
				continue
			}
			return nil, err
		}
		if _, err := os.Lstat(host); err == nil {
			out = append(out, c)
		}
	}
	return out, nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// walk calls fn for s and, for a directory, everything under it in
// lexical order, sub being the path below s ("" for s itself). Excluded
// entries are skipped; an excluded directory is still entered when
// .dockerignore has exceptions ("!x") that may take something in it back.
func (t *srcTree) walk(s source, fn func(host, sub string, info fs.FileInfo) error) error {
	if !s.info.IsDir() {
		return fn(s.path, "", s.info)
	}
	return filepath.WalkDir(s.path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		sub, _ := filepath.Rel(s.path, p)
		sub = filepath.ToSlash(sub)
		if sub == "." {
			return fn(p, "", s.info)
		}
		if t.excluded(path.Join(s.rel, sub)) {
			if d.IsDir() && !t.ignore.Exclusions() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		return fn(p, sub, info)
	})
}
