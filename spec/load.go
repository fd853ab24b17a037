package spec

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// Options say which stack files to load and how: docker compose's global
// flags, and the environment it reads.
type Options struct {
	// WorkingDir is where berth runs; relative paths in the other options
	// are relative to it. "" is the process's working directory.
	WorkingDir string
	// ConfigFiles are -f, merged in order. When empty, COMPOSE_FILE
	// names them, or they are found in the project directory (else
	// WorkingDir) or one of its parents.
	ConfigFiles []string
	// ProjectDirectory is --project-directory; by default the first
	// file's directory.
	ProjectDirectory string
	// ProjectName is -p; by default COMPOSE_PROJECT_NAME, `name:`, or the
	// project directory's name.
	ProjectName string
	// EnvFiles are --env-file; by default COMPOSE_ENV_FILES, or .env in
	// the project directory.
	EnvFiles []string
	// Profiles are --profile; by default COMPOSE_PROFILES.
	Profiles []string
	// Environ is the process environment, as os.Environ returns it. It is
	// the only environment Load reads, so tests control it.
	Environ []string
	// Strict turns the warnings about keys berth does not implement into
	// errors.
	Strict bool
}

// Load reads, interpolates, merges and validates the stack files that o
// names or finds, as Docker Compose does (through compose-go, the loader
// Docker Compose itself uses), and returns the stack. Warnings are things
// the user should know that do not stop the load: keys berth does not
// implement (errors when o.Strict), an unreadable .env. Mistakes in the
// files are ValidationErrors, several joined with errors.Join, each naming
// the file, line and key.
func Load(ctx context.Context, o Options) (*Stack, []Warning, error) {
	r, err := resolveOptions(o)
	if err != nil {
		return nil, nil, err
	}
	l := &loading{r: r, content: map[string][]byte{}, names: map[string]string{}}
	l.guard = &guard{l: l}
	for _, f := range r.files {
		if err := l.read(f); err != nil {
			return nil, r.warnings, l.fileError(f, err)
		}
	}
	if err := l.index(); err != nil {
		return nil, r.warnings, err
	}

	project, loadErr := l.project(ctx, true)
	if err := l.indexIncluded(); err != nil {
		return nil, r.warnings, err
	}
	warnings := append(r.warnings, l.warnings()...)
	if loadErr != nil {
		// compose-go stops at the first inconsistency and rarely says
		// where: load again without its consistency checks and let ours,
		// which point into the files and report everything, explain.
		if p, err := l.project(ctx, false); err == nil {
			if _, errs := l.build(p); len(errs) > 0 {
				return nil, warnings, errors.Join(errs...)
			}
		}
		return nil, warnings, l.describe(loadErr)
	}
	st, errs := l.build(project)
	if o.Strict {
		warnings, errs = l.strict(warnings, errs)
	}
	if len(errs) > 0 {
		return nil, warnings, errors.Join(errs...)
	}
	return st, warnings, nil
}

// strict turns the warnings about keys and values berth does not
// implement into errors. The obsolete `version`, which Compose ignores,
// and unset variables, which Compose replaces by "", stay warnings.
func (l *loading) strict(warnings []Warning, errs []error) ([]Warning, []error) {
	unimplemented := map[Warning]bool{}
	for _, w := range l.ix.unimplemented() {
		unimplemented[w] = w.Key != "version"
	}
	var kept []Warning
	for _, w := range warnings {
		if !unimplemented[w] {
			kept = append(kept, w)
			continue
		}
		errs = append(errs, &ValidationError{
			Position: w.Position,
			Key:      w.Key,
			Message:  w.Message,
			Hint:     "remove it, or load without --strict to only warn about it",
		})
	}
	l.sortErrors(errs)
	return kept, errs
}

// loading is one Load: the files as read, their index, and what compose-go
// told along the way.
type loading struct {
	r       *resolved
	content map[string][]byte // every file read, by absolute path
	order   []string          // the keys of content, in the order read
	// names are the files' names in positions and messages: relative to
	// where berth runs when they are below it, else absolute.
	names map[string]string
	ix    *sourceIndex
	// guard checks the files that the stack files include or extend
	// before compose-go reads them (include.go).
	guard *guard
	// extra are the included and extended files read by guard, not yet
	// in the index.
	extra bool
	unset unsetVars
}

func (l *loading) read(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	// One byte more than indexSources takes, for it to say the file is
	// too large.
	b, err := io.ReadAll(io.LimitReader(f, maxSourceSize+1))
	if err != nil {
		return err
	}
	l.content[path] = b
	l.order = append(l.order, path)
	l.names[path] = path
	if rel, err := filepath.Rel(l.r.cwd, path); err == nil && filepath.IsLocal(rel) {
		l.names[path] = rel
	}
	return nil
}

// name returns the name a file goes by in messages; path may be one
// already.
func (l *loading) name(path string) string {
	if n, ok := l.names[path]; ok {
		return n
	}
	return path
}

func (l *loading) fileError(path string, err error) error {
	if l.r.origin != "" {
		return fmt.Errorf("reading stack file %s (%s): %w", path, l.r.origin, err)
	}
	return fmt.Errorf("reading stack file %s: %w", path, err)
}

// index indexes every file read: the included and extended ones first,
// since what the stack files say wins over them, then the stack files in
// merge order. A file the index refuses (a YAML bomb, a syntax error) is
// a ValidationError at the place it names.
func (l *loading) index() error {
	var files []sourceFile
	for _, f := range l.order {
		if !slices.Contains(l.r.files, f) {
			files = append(files, sourceFile{Name: l.name(f), Data: l.content[f]})
		}
	}
	for _, f := range l.r.files {
		files = append(files, sourceFile{Name: l.name(f), Data: l.content[f]})
	}
	ix, err := indexSources(files)
	if err == nil {
		err = ix.checkLoadCost()
	}
	if err != nil {
		return l.sourceError(err)
	}
	l.ix = ix
	return nil
}

// project runs compose-go's loader on the bytes read, with the options
// docker compose gives it.
func (l *loading) project(ctx context.Context, consistency bool) (p *types.Project, err error) {
	// compose-go panics on a few malformed files (env_file: [{path:
	// null}]): that is its bug, and the user's file to fix.
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, &loaderPanic{value: r}
		}
	}()
	files := make([]types.ConfigFile, len(l.r.files))
	for i, f := range l.r.files {
		files[i] = types.ConfigFile{Filename: f, Content: l.content[f]}
	}
	wd := l.r.workingDir()
	details := types.ConfigDetails{
		WorkingDir:  wd,
		ConfigFiles: files,
		Environment: maps.Clone(l.r.env),
	}
	p, err = loader.LoadWithContext(ctx, details,
		func(o *loader.Options) {
			if l.r.name != "" {
				o.SetProjectName(l.r.name, true)
			} else {
				// `name:` in a file, when there is one, wins over this.
				o.SetProjectName(loader.NormalizeProjectName(filepath.Base(wd)), false)
			}
			o.SkipConsistencyCheck = !consistency
			o.Interpolate.Substitute = l.unset.substitute
			o.Listeners = append(o.Listeners, l.guard.listen)
			o.ResourceLoaders = append(o.ResourceLoaders, l.guard)
		},
		// env_file is folded into environment, and its files are kept
		// for Stack.Sources; build drops them from what config prints,
		// as docker compose does.
		loader.WithProfiles(l.r.profiles),
	)
	if err != nil {
		return nil, err
	}
	p.ComposeFiles = l.r.files
	return p, nil
}

// warnings are the index's (keys berth does not implement, the obsolete
// `version`) and the variables found unset.
func (l *loading) warnings() []Warning {
	return append(l.ix.unimplemented(), l.unset.warnings(l)...)
}

// pos returns where path was written, or where the closest of its parents
// was (a key set through extends or by a default has no place of its own),
// but never less than the resource it belongs to ("services.web"): a
// service from a file that was not indexed has no position rather than a
// wrong one.
func (l *loading) pos(path ...string) Position {
	for n := len(path); n > 0 && n >= min(2, len(path)); n-- {
		if p, ok := l.ix.lookup(path[:n]...); ok {
			return p
		}
	}
	return Position{}
}

// item returns the path of the i-th entry of the list at path when the
// index names the entry as written. That holds with one stack file, where
// compose-go keeps lists in order; with several merged, an index into the
// merged list says nothing of where the entry came from, and the list's
// own path is returned.
func (l *loading) item(path []string, i int) []string {
	if len(l.content) != 1 {
		return path
	}
	return append(slices.Clone(path), strconv.Itoa(i))
}

// sortErrors puts ValidationErrors in reading order: by file (in the order
// they were read), line and column; those without a place last.
func (l *loading) sortErrors(errs []error) {
	rank := func(e error) (int, int, int) {
		ve, ok := e.(*ValidationError)
		if !ok || ve.Position.Line == 0 {
			return len(l.order), 0, 0
		}
		i := slices.IndexFunc(l.order, func(f string) bool { return l.name(f) == ve.Position.File })
		if i < 0 {
			i = len(l.order)
		}
		return i, ve.Position.Line, ve.Position.Column
	}
	slices.SortStableFunc(errs, func(a, b error) int {
		fa, la, ca := rank(a)
		fb, lb, cb := rank(b)
		return cmp.Or(cmp.Compare(fa, fb), cmp.Compare(la, lb), cmp.Compare(ca, cb))
	})
}

// fail builds a ValidationError at path.
func (l *loading) fail(path []string, hint, format string, args ...any) *ValidationError {
	return &ValidationError{
		Position: l.pos(path...),
		Key:      keyString(path),
		Message:  fmt.Sprintf(format, args...),
		Hint:     hint,
	}
}

// loaderPanic is a panic of compose-go's loader, recovered.
type loaderPanic struct{ value any }

func (e *loaderPanic) Error() string {
	return fmt.Sprintf("compose-go failed to load the stack (%v)", e.value)
}
