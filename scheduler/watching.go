package scheduler

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/berthproject/berth/scheduler/watch"
	"github.com/berthproject/berth/spec"
)

// WatchOptions is a berth watch: what to watch and how to reload.
type WatchOptions struct {
	// Stack is the stack as the client loaded it; Load says how to load
	// it again when one of its files changes.
	Stack *spec.Stack
	Load  spec.Options
	// Services limits the develop.watch rules followed; empty: all.
	Services []string
	// Up, when set, brings the stack up first (berth up --watch, or
	// berth watch without --no-up); reloads use the same options.
	Up *PlanOptions
}

// ErrWatched is a second watch of one stack.
var ErrWatched = errors.New("the stack is already being watched (by another berth watch or berth up --watch): stop that one first")

// WatchKind is the kind of the events a watch sends about its own actions:
// Name is a service (or the stack file), Status what was done.
const WatchKind = "Watch"

// stackWatch is one running watch.
type stackWatch struct {
	e        *Engine
	l        *stackLoop
	o        WatchOptions
	up       PlanOptions
	progress func(Event)

	mu    sync.Mutex // guards st and rules: a pass's beforeStart reads them
	st    *spec.Stack
	rules []*watchRule
}

// Watch follows the stack's develop.watch rules and its files until ctx
// ends: files that change are synced into the running replicas, services
// are restarted or rebuilt and recreated, and an edit of the stack file
// is reconciled (a broken edit is reported and changes nothing). It
// reports what it does to progress.
func (e *Engine) Watch(ctx context.Context, o WatchOptions, progress func(Event)) error {
	if progress == nil {
		progress = func(Event) {}
	}
	w := &stackWatch{e: e, o: o, progress: progress, st: o.Stack}
	if o.Up != nil {
		w.up = *o.Up
		// The up is finished even if the client goes away meanwhile.
		if _, err := e.Up(context.WithoutCancel(ctx), o.Stack, w.up, progress); err != nil {
			return err
		}
	} else {
		rec, err := e.store.Load(o.Stack.Name)
		if err != nil {
			if errors.Is(err, ErrNoStack) {
				return fmt.Errorf("stack %s is not up: run berth watch without --no-up, or berth up first", o.Stack.Name)
			}
			return err
		}
		w.up = PlanOptions{Scale: rec.Scale, Services: rec.Services}
	}
	rules, err := compileWatchRules(o.Stack, o.Services)
	if err != nil {
		return err
	}
	w.rules = rules
	w.l = e.loop(o.Stack.Name)
	if !w.l.startWatch(w) {
		return ErrWatched
	}
	defer w.l.stopWatch(w)
	if len(rules) == 0 {
		progress(Event{Kind: WatchKind, Name: o.Stack.Name, Status: "no service has develop.watch rules: watching the stack files only"})
	}
	w.initialSync(ctx)
	for ctx.Err() == nil {
		fw, err := watch.New(w.roots(), watch.Options{Skip: w.skip})
		if err != nil {
			return err
		}
		progress(Event{Kind: WatchKind, Name: o.Stack.Name, Status: "watching " + w.describe()})
		reloaded := w.follow(ctx, fw)
		fw.Close()
		if !reloaded {
			break
		}
	}
	return nil
}

// follow handles batches until ctx ends or a reload changed what to
// watch (it then returns true).
func (w *stackWatch) follow(ctx context.Context, fw *watch.Watcher) bool {
	for {
		select {
		case <-ctx.Done():
			return false
		case err := <-fw.Errors:
			w.progress(Event{Kind: WatchKind, Name: w.st.Name, Status: "watching files", Err: err})
		case batch, ok := <-fw.C:
			if !ok {
				return false
			}
			if w.handle(ctx, batch) {
				return true
			}
		}
	}
}

// roots are the paths to watch: the rules' and the stack's files.
func (w *stackWatch) roots() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, r := range w.rules {
		out = append(out, r.Path)
	}
	out = append(out, w.st.Sources...)
	slices.Sort(out)
	return slices.Compact(out)
}

func (w *stackWatch) describe() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	services := map[string]bool{}
	for _, r := range w.rules {
		services[r.service] = true
	}
	files := len(w.st.Sources)
	if len(services) == 0 {
		return fmt.Sprintf("%d stack files", files)
	}
	return fmt.Sprintf("%d rules of %s and %d stack files", len(w.rules), strings.Join(sortedKeys(services), ", "), files)
}

// skip spares the watcher directories every rule ignores.
func (w *stackWatch) skip(dir string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, s := range w.st.Sources {
		if strings.HasPrefix(s, dir+string(filepath.Separator)) {
			return false
		}
	}
	for _, r := range w.rules {
		if !r.skips(dir) {
			return false
		}
	}
	return true
}

// serviceWork is what one batch asks of one service.
type serviceWork struct {
	rebuild, restart bool
	files            []SyncFile
	copied, removed  int // files among files, for the message (not directories)
	execs            []*spec.WatchExec
}

// handle acts on a batch; it reports whether the stack was reloaded with
// other things to watch.
func (w *stackWatch) handle(ctx context.Context, batch []watch.Change) bool {
	w.mu.Lock()
	sources := map[string]bool{}
	for _, s := range w.st.Sources {
		sources[s] = true
	}
	reload := false
	work := map[string]*serviceWork{}
	for _, c := range batch {
		if sources[c.Path] {
			reload = true
		}
		taken := map[string]bool{} // a path goes by its service's first rule that takes it
		for _, r := range w.rules {
			if taken[r.service] {
				continue
			}
			rel, ok := r.match(c.Path)
			if !ok {
				continue
			}
			taken[r.service] = true
			sw := work[r.service]
			if sw == nil {
				sw = &serviceWork{}
				work[r.service] = sw
			}
			switch r.Action {
			case spec.WatchRebuild:
				sw.rebuild = true
			case spec.WatchRestart:
				sw.restart = true
			default:
				f := SyncFile{Target: r.target(rel), Remove: c.Removed}
				if !c.Removed {
					f.Source = c.Path
				}
				sw.files = append(sw.files, f)
				switch {
				case c.Removed:
					sw.removed++
				case !c.Dir:
					sw.copied++
				}
				if r.Action == spec.WatchSyncRestart {
					sw.restart = true
				}
				if r.Action == spec.WatchSyncExec && r.Exec != nil && !slices.Contains(sw.execs, r.Exec) {
					sw.execs = append(sw.execs, r.Exec)
				}
			}
		}
	}
	w.mu.Unlock()
	// An action that began is finished even if the client goes away:
	// a rolling recreate is not left half done.
	ctx, stop := context.WithoutCancel(ctx), ctx.Done()
	changed := false
	if reload {
		changed = w.reload(ctx)
	}
	for _, name := range sortedKeys(work) {
		select {
		case <-stop:
			return false
		default:
		}
		w.act(ctx, name, work[name])
	}
	return changed
}

// act does a service's work: rebuild and recreate; or sync, then exec or
// restart.
func (w *stackWatch) act(ctx context.Context, name string, sw *serviceWork) {
	w.mu.Lock()
	st := w.st
	w.mu.Unlock()
	svc := st.Services[name]
	if svc == nil {
		return
	}
	say := func(status string, err error) {
		w.progress(Event{Kind: WatchKind, Name: name, Status: status, Err: err})
	}
	if sw.rebuild {
		say("rebuilding", nil)
		if svc.Build == nil {
			say("not rebuilt", fmt.Errorf("service %s has a rebuild watch rule but no build section", name))
			return
		}
		if err := w.e.host.Build(ctx, st, svc, ImageName(st, svc)); err != nil {
			say("build failed; the running replicas are left as they are", err)
			return
		}
		n, err := w.recreate(ctx, name, false)
		if err != nil {
			say("not recreated", err)
			return
		}
		say(fmt.Sprintf("rebuilt; recreated %s", countReplicas(n)), nil)
		return
	}
	if len(sw.files) > 0 {
		n, err := w.syncRunning(ctx, name, sw.files)
		if err != nil {
			say("sync failed", err)
		} else {
			say(fmt.Sprintf("synced %s into %s", countFiles(sw.copied, sw.removed), countReplicas(n)), nil)
		}
	}
	if sw.restart {
		say("restarting", nil)
		n, err := w.recreate(ctx, name, true)
		if err != nil {
			say("not restarted", err)
			return
		}
		say(fmt.Sprintf("restarted %s", countReplicas(n)), nil)
		return
	}
	for _, x := range sw.execs {
		w.execRunning(ctx, name, x, say)
	}
}

// recreate replaces the service's replicas: those whose image changed,
// or all of them with force; rolling, as update_config says. The new
// replicas get the synced files before they start (beforeStart).
func (w *stackWatch) recreate(ctx context.Context, name string, force bool) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	rec, err := w.e.store.Load(w.st.Name)
	if err != nil {
		return 0, err
	}
	o := PlanOptions{Scale: rec.Scale, Services: []string{name}}
	if force {
		o.Recreate = []string{name}
	}
	p, err := w.e.upPass(ctx, rec, &o, nil)
	n := 0
	for _, s := range p.Steps {
		if s.Op == OpCreate && s.Service == name {
			n++
		}
	}
	return n, err
}

// running returns the service's running replicas.
func (w *stackWatch) running(ctx context.Context, name string) ([]Replica, error) {
	rs, err := w.e.host.Replicas(ctx, w.st.Name)
	if err != nil {
		return nil, err
	}
	var out []Replica
	for _, r := range rs {
		if r.Service == name && !r.Oneoff && r.State == StateRunning {
			out = append(out, r)
		}
	}
	return out, nil
}

func (w *stackWatch) syncer() (Syncer, error) {
	s, ok := w.e.host.(Syncer)
	if !ok {
		return nil, errors.New("this engine cannot copy files into containers")
	}
	return s, nil
}

// syncRunning copies files into every running replica of the service.
func (w *stackWatch) syncRunning(ctx context.Context, name string, files []SyncFile) (int, error) {
	s, err := w.syncer()
	if err != nil {
		return 0, err
	}
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	rs, err := w.running(ctx, name)
	if err != nil {
		return 0, err
	}
	var errs []error
	for _, r := range rs {
		if err := s.Sync(ctx, r.ID, files); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", r.Name, err))
		}
	}
	return len(rs), errors.Join(errs...)
}

func (w *stackWatch) execRunning(ctx context.Context, name string, x *spec.WatchExec, say func(string, error)) {
	s, err := w.syncer()
	if err != nil {
		say("exec failed", err)
		return
	}
	rs, err := w.running(ctx, name)
	if err != nil {
		say("exec failed", err)
		return
	}
	for _, r := range rs {
		code, out, err := s.Exec(ctx, r.ID, x)
		switch {
		case err != nil:
			say("exec failed in "+r.Name, err)
		case code != 0:
			say(fmt.Sprintf("%s exited with code %d in %s", strings.Join(x.Command, " "), code, r.Name), errors.New(strings.TrimSpace(out)))
		default:
			say(fmt.Sprintf("ran %s in %s", strings.Join(x.Command, " "), r.Name), nil)
		}
	}
}

// fullSync copies everything the service's sync rules take into the
// container id.
func (w *stackWatch) fullSync(ctx context.Context, name, id string, initialOnly bool) (int, error) {
	w.mu.Lock()
	var files []SyncFile
	var err error
	for _, r := range w.rules {
		if r.service != name || !r.Syncs() || (initialOnly && !r.InitialSync) {
			continue
		}
		fs, ferr := r.syncFiles()
		files = append(files, fs...)
		err = errors.Join(err, ferr)
	}
	w.mu.Unlock()
	if err != nil || len(files) == 0 {
		return 0, err
	}
	s, err := w.syncer()
	if err != nil {
		return 0, err
	}
	return len(files), s.Sync(ctx, id, files)
}

// beforeStart is the passes' hook while the watch runs (Scheduler).
func (w *stackWatch) beforeStart(ctx context.Context, service, id string) error {
	if _, err := w.fullSync(ctx, service, id, false); err != nil {
		return fmt.Errorf("copying the watched files into the new replica: %w", err)
	}
	return nil
}

// initialSync copies, at the start, what rules with initial_sync take
// into the running replicas.
func (w *stackWatch) initialSync(ctx context.Context) {
	services := map[string]bool{}
	for _, r := range w.rules {
		if r.InitialSync && r.Syncs() {
			services[r.service] = true
		}
	}
	for _, name := range sortedKeys(services) {
		rs, err := w.running(ctx, name)
		if err != nil {
			w.progress(Event{Kind: WatchKind, Name: name, Status: "initial sync failed", Err: err})
			continue
		}
		n := 0
		for _, r := range rs {
			k, err := w.fullSync(ctx, name, r.ID, true)
			if err != nil {
				w.progress(Event{Kind: WatchKind, Name: name, Status: "initial sync failed", Err: err})
			}
			n = k
		}
		w.progress(Event{Kind: WatchKind, Name: name, Status: fmt.Sprintf("initial sync: %d files and directories into %s", n, countReplicas(len(rs)))})
	}
}

// reload loads the stack files again and, when they load, makes the
// stack match them. It reports whether what to watch may have changed.
func (w *stackWatch) reload(ctx context.Context) bool {
	name := w.st.Name
	st, warnings, err := spec.Load(ctx, w.o.Load)
	if err != nil {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file not reloaded: the stack runs on as it was until the file is fixed", Err: err})
		return false
	}
	for _, warn := range warnings {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "warning: " + warn.String()})
	}
	if st.Name != name {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file not reloaded", Err: fmt.Errorf("the stack's name changed to %s: stop the watch and run berth up for the new name", st.Name)})
		return false
	}
	rules, err := compileWatchRules(st, w.o.Services)
	if err != nil {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file not reloaded", Err: err})
		return false
	}
	w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file changed: reloading"})
	w.mu.Lock()
	w.st, w.rules = st, rules
	w.mu.Unlock()
	p, err := w.e.Up(ctx, st, w.up, w.progress)
	if err != nil {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "reload failed", Err: err})
		return true
	}
	if len(p.Steps) == 0 {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file reloaded: nothing to change"})
	} else {
		w.progress(Event{Kind: WatchKind, Name: name, Status: "stack file reloaded: " + summary(p)})
	}
	return true
}

// summary says what a plan did by service: "web: recreated 2".
func summary(p Plan) string {
	created := map[string]int{}
	removed := map[string]int{}
	for _, s := range p.Steps {
		switch s.Op {
		case OpCreate:
			created[s.Service]++
		case OpRemove:
			removed[s.Service]++
		}
	}
	var parts []string
	for _, svc := range sortedKeys(created) {
		parts = append(parts, fmt.Sprintf("%s: %d created", svc, created[svc]))
	}
	for _, svc := range sortedKeys(removed) {
		if _, ok := created[svc]; !ok {
			parts = append(parts, fmt.Sprintf("%s: %d removed", svc, removed[svc]))
		}
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d steps", len(p.Steps))
	}
	return strings.Join(parts, "; ")
}

func countReplicas(n int) string {
	if n == 1 {
		return "1 replica"
	}
	return fmt.Sprintf("%d replicas", n)
}

func countFiles(copied, removed int) string {
	s := fmt.Sprintf("%d files", copied)
	if copied == 1 {
		s = "1 file"
	}
	if removed > 0 {
		s += fmt.Sprintf(" (%d removed)", removed)
	}
	return s
}
