package scheduler

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"path/filepath"
	"slices"

	"github.com/moby/patternmatcher"

	"github.com/berthproject/berth/image/build"
	"github.com/berthproject/berth/spec"
)

// watchRule is one develop.watch rule, its patterns compiled.
type watchRule struct {
	service string
	spec.WatchRule
	ignore, include *patternmatcher.PatternMatcher
	// dockerignore is the service's build context's .dockerignore, which
	// applies to paths inside context (as in Compose).
	dockerignore *patternmatcher.PatternMatcher
	context      string
}

// compileWatchRules returns the rules of services (all when empty), in
// service name order and, within a service, in the file's order.
func compileWatchRules(st *spec.Stack, services []string) ([]*watchRule, error) {
	var out []*watchRule
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		if svc.Develop == nil || (len(services) > 0 && !slices.Contains(services, name)) {
			continue
		}
		var di *patternmatcher.PatternMatcher
		var context string
		if svc.Build != nil && filepath.IsAbs(svc.Build.Context) {
			context = svc.Build.Context
			var err error
			if di, err = build.ReadDockerignore(context); err != nil {
				return nil, fmt.Errorf("service %s: %w", name, err)
			}
		}
		for _, r := range svc.Develop.Watch {
			wr := &watchRule{service: name, WatchRule: r, dockerignore: di, context: context}
			var err error
			if len(r.Ignore) > 0 {
				if wr.ignore, err = patternmatcher.New(r.Ignore); err != nil {
					return nil, fmt.Errorf("service %s: watch rule for %s: ignore: %w", name, r.Path, err)
				}
			}
			if len(r.Include) > 0 {
				if wr.include, err = patternmatcher.New(r.Include); err != nil {
					return nil, fmt.Errorf("service %s: watch rule for %s: include: %w", name, r.Path, err)
				}
			}
			out = append(out, wr)
		}
	}
	return out, nil
}

// match reports whether the host path p is one the rule takes, and its
// path relative to the rule's path, with slashes ("." for the path
// itself).
func (r *watchRule) match(p string) (string, bool) {
	rel, err := filepath.Rel(r.Path, p)
	if err != nil || (rel != "." && !filepath.IsLocal(rel)) {
		return "", false
	}
	rel = filepath.ToSlash(rel)
	if rel == "." {
		return rel, true
	}
	if r.include != nil {
		if ok, _ := r.include.MatchesOrParentMatches(rel); !ok {
			return "", false
		}
	}
	if r.ignore != nil {
		if ok, _ := r.ignore.MatchesOrParentMatches(rel); ok {
			return "", false
		}
	}
	if r.dockerignore != nil {
		if crel, err := filepath.Rel(r.context, p); err == nil && filepath.IsLocal(crel) {
			if ok, _ := r.dockerignore.MatchesOrParentMatches(filepath.ToSlash(crel)); ok {
				return "", false
			}
		}
	}
	return rel, true
}

// target is where the host path with rel (from match) goes in the
// container.
func (r *watchRule) target(rel string) string {
	return path.Join(r.Target, rel)
}

// skips reports whether the rule ignores all of dir (so it need not be
// watched): its ignore patterns take dir and none of them is an
// exception that could take something below it back.
func (r *watchRule) skips(dir string) bool {
	rel, err := filepath.Rel(r.Path, dir)
	if err != nil || !filepath.IsLocal(rel) {
		return true // not this rule's
	}
	if r.ignore == nil || r.ignore.Exclusions() {
		return false
	}
	ok, _ := r.ignore.MatchesOrParentMatches(filepath.ToSlash(rel))
	return ok
}

// syncFiles lists what a full sync of the rule copies: every file and
// directory under its path that it takes, or the path itself when it is
// a file.
func (r *watchRule) syncFiles() ([]SyncFile, error) {
	var out []SyncFile
	err := filepath.WalkDir(r.Path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) && p == r.Path {
				return filepath.SkipAll // nothing to copy yet
			}
			return err
		}
		rel, ok := r.match(p)
		if !ok {
			if d.IsDir() && r.skips(p) {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() && d.Name() == ".git" && p != r.Path {
			return filepath.SkipDir
		}
		if d.Type()&fs.ModeSymlink != 0 || !(d.IsDir() || d.Type().IsRegular()) {
			return nil // as a build context's, links are not followed; devices and sockets are not copied
		}
		out = append(out, SyncFile{Source: p, Target: r.target(rel)})
		return nil
	})
	return out, err
}
