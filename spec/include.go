package spec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/compose-spec/compose-go/v2/types"
)

// guard is given to compose-go as a ResourceLoader, so that the files the
// stack files include (`include:`) or extend (`extends.file`) pass the same
// checks as the stack files before compose-go parses them: a YAML bomb in
// an included file is refused too, and is indexed for positions.
//
// compose-go asks its loaders for each such path, with no word of the file
// declaring it (so of the directory a relative path is relative to). It
// does announce, with the "include" and "extends" events, the ones
// declared in the stack files themselves, with that directory: guard
// takes those, and resolves them as compose-go's own local loader would.
// Paths declared in included or extended files are not announced: guard
// declines them and compose-go reads them unchecked (its YAML decoder
// still refuses excessive aliasing and nesting past 10,000 levels).
type guard struct {
	l *loading
	// armed are the announced paths not loaded yet, and the directory
	// each is relative to.
	armed []armedPath
	// base is the directory of the last path loaded, for Dir.
	base string
}

type armedPath struct{ raw, base string }

// listen is compose-go's event listener: it arms the paths announced.
func (g *guard) listen(event string, meta map[string]any) {
	switch event {
	case "include":
		paths, _ := meta["path"].(types.StringList)
		wd, _ := meta["workingdir"].(string)
		g.armed = g.armed[:0]
		for _, p := range paths {
			g.armed = append(g.armed, armedPath{raw: p, base: wd})
		}
	case "extends":
		g.armed = g.armed[:0]
		if f, ok := meta["file"].(string); ok && f != "" {
			g.armed = append(g.armed, armedPath{raw: f, base: g.l.r.workingDir()})
		}
	}
}

// Accept takes the paths just announced.
func (g *guard) Accept(p string) bool {
	return slices.ContainsFunc(g.armed, func(a armedPath) bool { return a.raw == p })
}

// Load reads and checks the file at p and returns its absolute path, for
// compose-go to read.
func (g *guard) Load(_ context.Context, p string) (string, error) {
	i := slices.IndexFunc(g.armed, func(a armedPath) bool { return a.raw == p })
	if i < 0 {
		return "", fmt.Errorf("%s: not announced", p)
	}
	a := g.armed[i]
	g.armed = slices.Delete(g.armed, i, i+1)
	g.base = a.base
	path := g.abs(p)
	if _, ok := g.l.content[path]; ok {
		return path, nil
	}
	if err := g.l.read(path); err != nil {
		return "", err
	}
	name := g.l.name(path)
	ix, err := indexSources([]sourceFile{{Name: name, Data: g.l.content[path]}})
	if err == nil {
		err = ix.checkLoadCost()
	}
	if err != nil {
		return "", g.l.sourceError(err)
	}
	g.l.extra = true
	return path, nil
}

// Dir is compose-go's local loader's: the directory of p (p itself when it
// is one), relative to the directory p is relative to.
func (g *guard) Dir(p string) string {
	path := g.abs(p)
	if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
		path = g.abs(filepath.Dir(p))
	}
	rel, err := filepath.Rel(g.base, path)
	if err != nil {
		return path
	}
	return rel
}

func (g *guard) abs(p string) string {
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(g.base, p)
}

// indexIncluded adds the files guard read to the index, so that errors
// about what they define point into them.
func (l *loading) indexIncluded() error {
	if !l.extra {
		return nil
	}
	l.extra = false
	return l.index()
}
