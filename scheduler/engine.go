package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berthproject/berth/spec"
)

// ExitWatcher is a Host that can say at once when a container ends
// (pidfd): the engine then heals without waiting for its resync.
type ExitWatcher interface {
	// WaitExit returns once the container id is not running, or ctx ends.
	WaitExit(ctx context.Context, id string) error
}

// DefaultResync is how often the engine looks at a stack when nothing
// told it to.
const DefaultResync = 10 * time.Second

// Engine keeps stacks the way their files say. Each stack has a loop that
// runs heal passes when one of its containers exits, when a restart
// back-off ends and every Resync; Up and Down go through the same loop's
// lock, so passes of one stack never overlap. What it keeps is in Store,
// so a new engine takes over where a killed one stopped.
type Engine struct {
	host   Host
	store  *StackStore
	log    *slog.Logger
	Resync time.Duration

	mu    sync.Mutex
	ctx   context.Context // Run's
	ready chan struct{}   // closed once Run has set ctx
	loops map[string]*stackLoop

	active atomic.Int32 // requests being served
}

type stackLoop struct {
	name   string
	ctx    context.Context // the loop's: health checks and exit watches live as long
	mu     sync.Mutex      // held by every pass
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}

	watchMu  sync.Mutex
	watching map[string]bool // container ids with a WaitExit running
	checking map[string]bool // container ids with a health loop running
	watch    *stackWatch     // the berth watch following the stack, if any
}

// startWatch makes w the stack's watch, unless it has one.
func (l *stackLoop) startWatch(w *stackWatch) bool {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	if l.watch != nil {
		return false
	}
	l.watch = w
	return true
}

func (l *stackLoop) stopWatch(w *stackWatch) {
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	if l.watch == w {
		l.watch = nil
	}
}

// hook gives s what the stack's loop adds to a pass: health checks for
// service_healthy waits, and a running watch's files for new replicas.
func (l *stackLoop) hook(e *Engine, s *Scheduler) {
	s.startChecks = func() { e.watch(l.ctx, l) }
	s.beforeStart = func(ctx context.Context, service, id string) error {
		l.watchMu.Lock()
		w := l.watch
		l.watchMu.Unlock()
		if w == nil {
			return nil
		}
		return w.beforeStart(ctx, service, id)
	}
}

// NewEngine returns an engine acting on host and keeping its stacks in
// store.
func NewEngine(host Host, store *StackStore, log *slog.Logger) *Engine {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Engine{host: host, store: store, log: log, Resync: DefaultResync, loops: map[string]*stackLoop{}, ready: make(chan struct{})}
}

// Run starts a loop for every stored stack, finishing the ups a killed
// engine left half done, and returns when ctx ends and every loop has.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	e.ctx = ctx
	e.mu.Unlock()
	close(e.ready)
	names, err := e.store.List()
	if err != nil {
		return err
	}
	var finishing sync.WaitGroup
	defer finishing.Wait()
	for _, name := range names {
		rec, err := e.store.Load(name)
		if err != nil {
			e.log.Error("reading stack", "stack", name, "err", err)
			continue
		}
		if rec.Removing {
			// A down was cut short: finish it.
			finishing.Add(1)
			go func() {
				defer finishing.Done()
				o := DownOptions{}
				if rec.Down != nil {
					o = *rec.Down
				}
				if err := e.Down(ctx, rec.Stack, o, nil); err != nil {
					e.log.Warn("finishing the interrupted down", "stack", name, "err", err)
				}
			}()
			continue
		}
		l := e.loop(name)
		if !rec.Applied {
			// The last up did not finish: finish it before healing.
			finishing.Add(1)
			go func() {
				defer finishing.Done()
				l.mu.Lock()
				defer l.mu.Unlock()
				if _, err := e.upPass(ctx, rec, nil, nil); err != nil {
					e.log.Warn("finishing the interrupted up", "stack", name, "err", err)
				}
				l.poke()
			}()
		}
	}
	<-ctx.Done()
	e.mu.Lock()
	loops := make([]*stackLoop, 0, len(e.loops))
	for _, l := range e.loops {
		loops = append(loops, l)
	}
	e.mu.Unlock()
	for _, l := range loops {
		<-l.done
	}
	return nil
}

// loop returns the stack's loop, starting it if needed. A request that
// comes before Run has started waits for it (the daemon serves its
// socket and starts Run at once).
func (e *Engine) loop(name string) *stackLoop {
	<-e.ready
	e.mu.Lock()
	defer e.mu.Unlock()
	if l, ok := e.loops[name]; ok {
		return l
	}
	ctx, cancel := context.WithCancel(e.ctx)
	l := &stackLoop{name: name, ctx: ctx, kick: make(chan struct{}, 1), cancel: cancel, done: make(chan struct{}), watching: map[string]bool{}, checking: map[string]bool{}}
	e.loops[name] = l
	go e.heal(ctx, l)
	return l
}

func (l *stackLoop) poke() {
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// Up records st as the stack's desired state and runs a pass for it,
// reporting to progress.
func (e *Engine) Up(ctx context.Context, st *spec.Stack, o PlanOptions, progress func(Event)) (Plan, error) {
	rec := StackRecord{Stack: st, Scale: o.Scale}
	if len(o.Services) > 0 {
		// An up of some services adds them to those kept up; an up of
		// all keeps all (rec.Services empty).
		prev, err := e.store.Load(st.Name)
		if err != nil || len(prev.Services) > 0 {
			rec.Services = mergeServices(prev.Services, o.Services)
		}
	}
	if err := e.store.Save(rec); err != nil {
		return Plan{}, err
	}
	l := e.loop(st.Name)
	l.mu.Lock()
	defer l.mu.Unlock()
	p, err := e.upPass(ctx, rec, &o, progress)
	l.poke() // watch what it made
	return p, err
}

// upPass runs an up's pass and marks the record applied once it went
// through. o nil means the options the record has.
func (e *Engine) upPass(ctx context.Context, rec StackRecord, o *PlanOptions, progress func(Event)) (Plan, error) {
	opts := PlanOptions{Scale: rec.Scale, Services: rec.Services}
	if o != nil {
		opts = *o
	}
	s := New(e.host, progress)
	e.loop(rec.Stack.Name).hook(e, s)
	p, err := s.Up(ctx, rec.Stack, opts)
	if err != nil {
		return p, err
	}
	rec.Applied = true
	return p, e.store.Save(rec)
}

// Down ends the stack's loop and takes the stack down.
func (e *Engine) Down(ctx context.Context, st *spec.Stack, o DownOptions, progress func(Event)) error {
	e.mu.Lock()
	l := e.loops[st.Name]
	delete(e.loops, st.Name)
	e.mu.Unlock()
	if l != nil {
		l.cancel()
		<-l.done
	}
	// Marked first, removed last: an engine killed in between finishes
	// the down instead of bringing the stack back.
	rec := StackRecord{Stack: st, Removing: true, Down: &o}
	if err := e.store.Save(rec); err != nil {
		return err
	}
	if err := New(e.host, progress).Down(ctx, st, o); err != nil {
		return err
	}
	return e.store.Remove(st.Name)
}

// healRetry is how long the loop waits before it tries again after n
// failed passes in a row (0: the first failure): a second, doubling up to
// a minute, as Docker backs off restarts.
func healRetry(n int) time.Duration {
	if n >= 6 {
		return time.Minute
	}
	return min(time.Second<<n, time.Minute)
}

// Busy reports whether a request is being served: an idle exit waits.
func (e *Engine) Busy() bool { return e.active.Load() > 0 }

// heal is a stack's loop: a heal pass on every kick, timer and resync.
func (e *Engine) heal(ctx context.Context, l *stackLoop) {
	defer close(l.done)
	resync := time.NewTicker(e.Resync)
	defer resync.Stop()
	var wake <-chan time.Time
	failures := 0 // passes failed in a row
	for {
		select {
		case <-ctx.Done():
			return
		case <-l.kick:
		case <-resync.C:
		case <-wake:
		}
		wake = nil
		rec, err := e.store.Load(l.name)
		if err != nil {
			if !errors.Is(err, ErrNoStack) {
				e.log.Error("reading stack", "stack", l.name, "err", err)
			}
			continue
		}
		l.mu.Lock()
		p, err := e.healPass(ctx, l, rec)
		l.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			e.log.Warn("healing", "stack", l.name, "err", err)
			// Try again soon, not at once: a failing step would spin,
			// and a pull that fails would ask its registry every second.
			wake = time.After(healRetry(failures))
			failures++
		} else if err == nil {
			failures = 0
		}
		if !p.Wake.IsZero() {
			wake = time.After(time.Until(p.Wake))
		}
		e.watch(ctx, l)
	}
}

// healPass replaces what exited, as the restart policies say.
func (e *Engine) healPass(ctx context.Context, l *stackLoop, rec StackRecord) (Plan, error) {
	s := New(e.host, func(ev Event) {
		e.log.Info(ev.Status, "stack", rec.Stack.Name, "object", ev.Kind+" "+ev.Name, "err", ev.Err)
	})
	l.hook(e, s)
	have, err := s.observe(ctx, rec.Stack)
	if err != nil {
		return Plan{}, err
	}
	p := planFor(rec.Stack, have, PlanOptions{Heal: true, Now: time.Now(), Scale: rec.Scale, Services: rec.Services})
	if len(p.Steps) == 0 {
		return p, nil
	}
	e.log.Info("healing", "stack", rec.Stack.Name, "plan", p.String())
	return p, s.apply(ctx, rec.Stack, have, p)
}

// watch starts a WaitExit for every running replica not yet watched, and
// a health loop for those with a health check; an exit or a change of
// health kicks the loop.
func (e *Engine) watch(ctx context.Context, l *stackLoop) {
	rs, err := e.host.Replicas(ctx, l.name)
	if err != nil {
		return
	}
	l.watchMu.Lock()
	defer l.watchMu.Unlock()
	for _, r := range rs {
		if r.State == StateRunning && r.Health != "" && !l.checking[r.ID] {
			l.checking[r.ID] = true
			go e.checkHealth(ctx, l, r)
		}
	}
	w, ok := e.host.(ExitWatcher)
	if !ok {
		return
	}
	for _, r := range rs {
		if r.State != StateRunning || l.watching[r.ID] {
			continue
		}
		l.watching[r.ID] = true
		go func() {
			err := w.WaitExit(ctx, r.ID)
			l.watchMu.Lock()
			delete(l.watching, r.ID)
			l.watchMu.Unlock()
			if err == nil {
				l.poke()
			}
		}()
	}
}

// checkHealth runs r's health check whenever it is due, until r no longer
// runs; a change of health kicks the loop (a service_healthy wait, an
// unhealthy replica to replace, DNS following).
func (e *Engine) checkHealth(ctx context.Context, l *stackLoop, r Replica) {
	defer func() {
		l.watchMu.Lock()
		delete(l.checking, r.ID)
		l.watchMu.Unlock()
	}()
	last := r.Health
	next := time.Duration(0) // the first check at once: "starting" says nothing yet
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
		health, n, err := e.host.CheckHealth(ctx, r.ID)
		if err != nil || n <= 0 {
			return // it stopped running (its exit kicks the loop), or has no check
		}
		if health != last {
			e.log.Info("health", "stack", l.name, "container", r.Name, "health", health)
			last = health
			l.poke()
		}
		next = n
	}
}

// mergeServices is the sorted union of a and b.
func mergeServices(a, b []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range append(append([]string{}, a...), b...) {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}
