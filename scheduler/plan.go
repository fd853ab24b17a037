package scheduler

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berthproject/berth/spec"
)

// Op is what a step does.
type Op string

const (
	OpCreateNetwork Op = "create-network"
	OpPull          Op = "pull"
	OpBuild         Op = "build"
	OpCreate        Op = "create"
	OpStart         Op = "start"
	OpStop          Op = "stop"
	OpRemove        Op = "remove"
	// OpWait waits for a service's replicas to meet a depends_on
	// condition (Step.Condition) before its dependents are created.
	OpWait Op = "wait"
	// Rolling updates: rename a replica out of its name's way, wait until
	// a new one is ready, take one out of DNS, wait update_config's delay.
	OpRename    Op = "rename"
	OpWaitReady Op = "wait-ready"
	OpDrain     Op = "drain"
	OpDelay     Op = "delay"
)

// Step is one thing a pass does to the host.
type Step struct {
	Op Op
	// Target names the object: "container:web-1", "network:app_default",
	// "image:nginx:1.27", "service:db".
	Target string
	// Reason is printed to the user: "missing", "config changed", ...
	Reason string
	// After are indexes of earlier steps that must be done first.
	After []int

	Service   string // the service the step is for, if any
	Number    int    // replica number, for create
	ID        string // the existing container, for start, stop, remove
	Network   string // the stack's network key, for create-network
	Condition string // for wait: a spec.Condition*
	// Restart is what a replica created after an exit carries on.
	Restart RestartState
	NewName string        // for rename
	Delay   time.Duration // for delay
}

// Plan is the steps of one pass, in an order that honours every After.
type Plan struct {
	Stack string
	Steps []Step
	// Warnings are things the user should hear that need no step, such
	// as orphans kept without --remove-orphans.
	Warnings []string
	// Wake, when set, is when a replica waiting out its restart back-off
	// is due: the engine plans again then.
	Wake time.Time
}

// String prints the plan one step per line, as `up --dry-run` shows it
// and the golden tests compare it.
func (p Plan) String() string {
	var b strings.Builder
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "#%d %-14s %s  %s", i, s.Op, s.Target, s.Reason)
		if len(s.After) > 0 {
			var after []string
			for _, a := range s.After {
				after = append(after, "#"+strconv.Itoa(a))
			}
			fmt.Fprintf(&b, " after %s", strings.Join(after, ","))
		}
		b.WriteByte('\n')
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(&b, "warning: %s\n", w)
	}
	return b.String()
}

// PlanOptions are `up`'s flags that change the plan.
type PlanOptions struct {
	// Services limits the pass to these services and what they depend
	// on; empty means all.
	Services []string
	// Scale overrides replicas by service.
	Scale         map[string]int
	ForceRecreate bool
	NoRecreate    bool
	NoStart       bool
	RemoveOrphans bool
	Build         bool // build every service that has a build section
	// Recreate are services whose replicas are replaced even if nothing
	// changed (berth watch's restart), rolling as update_config says.
	Recreate []string
	// Heal is the engine's own pass, between ups: exited replicas are
	// replaced only as their restart policy says, after their back-off
	// (Now is the time to judge that by), and changed services are left
	// for the next up.
	Heal bool
	Now  time.Time
}

// planner accumulates steps.
type planner struct {
	st   *spec.Stack
	have Observed
	o    PlanOptions
	plan Plan
	// ready are, by service, the steps after which the service's
	// replicas are up as its dependents need them to be.
	ready map[string][]int
	// recreated are the services whose replicas this plan replaces.
	recreated map[string]bool
}

// dependencyRecreated names a dependency of svc, with depends_on's
// restart: true, that this plan recreates: svc is then recreated after
// it, as Compose does. "" when there is none.
func (p *planner) dependencyRecreated(svc *spec.Service) string {
	for _, d := range sortedKeys(svc.DependsOn) {
		if svc.DependsOn[d].Restart && p.recreated[d] {
			return d
		}
	}
	return ""
}

// wakeAt notes that the plan must be made again at t.
func (p *planner) wakeAt(t time.Time) {
	if p.plan.Wake.IsZero() || t.Before(p.plan.Wake) {
		p.plan.Wake = t
	}
}

func (p *planner) add(s Step) int {
	p.plan.Steps = append(p.plan.Steps, s)
	return len(p.plan.Steps) - 1
}

// planFor decides what makes the host match st, given what is there. It
// is pure: no I/O, no clock, no randomness; maps are walked in sorted
// order, services in dependency order.
func planFor(st *spec.Stack, have Observed, o PlanOptions) Plan {
	if o.Heal {
		o.NoRecreate, o.ForceRecreate = true, false
	}
	p := &planner{st: st, have: have, o: o, plan: Plan{Stack: st.Name}, ready: map[string][]int{}, recreated: map[string]bool{}}
	selected := p.selected()
	networks := p.networks(selected)
	images := p.images(selected)
	byService := map[string][]Replica{}
	var orphans []Replica
	for _, r := range have.Replicas {
		if r.Oneoff {
			continue
		}
		if _, ok := st.Services[r.Service]; !ok {
			orphans = append(orphans, r)
			continue
		}
		byService[r.Service] = append(byService[r.Service], r)
	}
	for _, name := range st.StartOrder() {
		if !selected[name] {
			continue
		}
		svc := st.Services[name]
		// What a replica of svc waits for, worked out (and wait steps
		// added) only when svc has something to create or start: a stack
		// that is up plans no waits.
		var deps []int
		depsDone := false
		after := func() []int {
			if !depsDone {
				depsDone = true
				for _, n := range sortedNetworks(svc) {
					if i, ok := networks[n]; ok {
						deps = append(deps, i)
					}
				}
				if i, ok := images[name]; ok {
					deps = append(deps, i)
				}
				deps = append(deps, p.dependencies(svc)...)
			}
			return deps
		}
		p.service(svc, byService[name], after)
	}
	slices.SortFunc(orphans, func(a, b Replica) int { return strings.Compare(a.Name, b.Name) })
	for _, r := range orphans {
		if !o.RemoveOrphans {
			p.plan.Warnings = append(p.plan.Warnings, fmt.Sprintf("container %s belongs to service %q, which the stack file no longer has; remove it with --remove-orphans", r.Name, r.Service))
			continue
		}
		p.removeReplica(r, "not in the stack file", nil)
	}
	return p.plan
}

// selected is the services of the pass: those asked for and everything
// they depend on.
func (p *planner) selected() map[string]bool {
	sel := map[string]bool{}
	if len(p.o.Services) == 0 {
		for n := range p.st.Services {
			sel[n] = true
		}
		return sel
	}
	var visit func(string)
	visit = func(n string) {
		s, ok := p.st.Services[n]
		if !ok || sel[n] {
			return
		}
		sel[n] = true
		for d := range s.DependsOn {
			visit(d)
		}
	}
	for _, n := range p.o.Services {
		visit(n)
	}
	return sel
}

// networks plans the stack networks the selected services need and the
// host lacks; it returns their steps by network key.
func (p *planner) networks(selected map[string]bool) map[string]int {
	need := map[string]bool{}
	for n := range selected {
		for key := range p.st.Services[n].Networks {
			need[key] = true
		}
	}
	steps := map[string]int{}
	for _, key := range sortedKeys(need) {
		nw, ok := p.st.Networks[key]
		if !ok || nw.External || p.have.Networks[nw.Name] {
			continue
		}
		steps[key] = p.add(Step{Op: OpCreateNetwork, Target: "network:" + nw.Name, Reason: "missing", Network: key})
	}
	return steps
}

// images plans a pull for each selected service whose image is missing,
// and a build for those built from a Dockerfile whose image is missing
// (or all of them with --build).
func (p *planner) images(selected map[string]bool) map[string]int {
	steps := map[string]int{}
	pulled := map[string]int{} // one pull per image, shared by services
	for _, n := range sortedKeys(selected) {
		svc := p.st.Services[n]
		_, have := p.have.Images[n]
		switch {
		case svc.Build != nil && (!have || p.o.Build):
			reason := "missing"
			if have {
				reason = "--build"
			}
			steps[n] = p.add(Step{Op: OpBuild, Target: "image:" + ImageName(p.st, svc), Reason: reason, Service: n})
		case svc.Build == nil && !have:
			if i, ok := pulled[svc.Image]; ok {
				steps[n] = i
				continue
			}
			i := p.add(Step{Op: OpPull, Target: "image:" + svc.Image, Reason: "missing", Service: n})
			steps[n], pulled[svc.Image] = i, i
		}
	}
	return steps
}

// dependencies returns the steps svc's replicas must wait for: its
// dependencies' ready steps, with a wait step for conditions beyond
// "started".
func (p *planner) dependencies(svc *spec.Service) []int {
	var out []int
	for _, d := range sortedKeys(svc.DependsOn) {
		dep := svc.DependsOn[d]
		if _, ok := p.st.Services[d]; !ok {
			continue // not in the stack (required: false); spec checked the rest
		}
		ready := p.ready[d]
		if dep.Condition == spec.ConditionHealthy || dep.Condition == spec.ConditionCompleted {
			reason := "healthy"
			if dep.Condition == spec.ConditionCompleted {
				reason = "completed successfully"
			}
			i := p.add(Step{Op: OpWait, Target: "service:" + d, Reason: reason + ", for " + svc.Name, After: ready, Service: d, Condition: dep.Condition})
			out = append(out, i)
			continue
		}
		out = append(out, ready...)
	}
	return out
}

// service plans one service: replicas 1..N present, running and current;
// the others gone, highest numbers first.
func (p *planner) service(svc *spec.Service, have []Replica, deps func() []int) {
	want := svc.Replicas
	if n, ok := p.o.Scale[svc.Name]; ok {
		want = n
	}
	if svc.ContainerName != "" && want > 1 {
		want = 1 // spec refuses this; a --scale cannot make it possible
	}
	byNumber := map[int][]Replica{}
	for _, r := range have {
		byNumber[r.Number] = append(byNumber[r.Number], r)
	}
	hash := svc.ConfigHash()
	imageID := p.have.Images[svc.Name]
	var ready []int
	var stale []staleReplica
	for n := 1; n <= want; n++ {
		rs := byNumber[n]
		// Two containers with one number (a crash between create and the
		// removal of the old one): keep the newest-looking, drop the rest.
		for _, extra := range duplicates(rs) {
			p.removeReplica(extra, "duplicate of replica "+strconv.Itoa(n), nil)
		}
		if len(rs) == 0 {
			ready = append(ready, p.createReplica(svc, n, "missing", deps())...)
			continue
		}
		r := rs[0]
		changed := r.Hash != hash || (imageID != "" && r.ImageID != "" && r.ImageID != imageID)
		depRecreated := p.dependencyRecreated(svc)
		forced := p.o.ForceRecreate || slices.Contains(p.o.Recreate, svc.Name)
		if forced || ((changed || depRecreated != "") && !p.o.NoRecreate) {
			reason := "config changed"
			switch {
			case p.o.ForceRecreate:
				reason = "--force-recreate"
			case forced:
				reason = "restart requested"
			case !changed:
				reason = "dependency " + depRecreated + " recreated"
			case r.Hash == hash:
				reason = "image changed"
			}
			stale = append(stale, staleReplica{n: n, r: r, reason: reason})
			continue
		}
		if p.o.Heal && r.State == StateRunning && r.Health == "unhealthy" && svc.Labels[LabelRestartUnhealthy] == "true" {
			gone := p.removeReplica(r, "unhealthy", deps())
			ready = append(ready, p.createReplicaAs(svc, n, "unhealthy", []int{gone}, nextRestart(r))...)
			continue
		}
		if r.State != StateRunning && !p.o.NoStart {
			if r.State == StateExited && svc.Restart.Name == spec.RestartNo && r.ExitCode == 0 && hasCompletedDependents(p.st, svc.Name) {
				continue // a one-shot job that did its work
			}
			if r.State == StateExited {
				reason, restart := "exited", RestartState{}
				if p.o.Heal {
					due, ok := restartDue(svc.Restart, r, p.o.Now)
					if !ok {
						continue // its restart policy leaves it exited
					}
					if due.After(p.o.Now) {
						p.wakeAt(due)
						continue
					}
					reason, restart = "restart policy "+svc.Restart.Name, nextRestart(r)
				}
				// berth's runtime starts a container once: an exited
				// replica is replaced by a new one of the same name.
				gone := p.removeReplica(r, reason, deps())
				ready = append(ready, p.createReplicaAs(svc, n, reason, []int{gone}, restart)...)
				continue
			}
			i := p.add(Step{Op: OpStart, Target: "container:" + r.Name, Reason: "not running", After: deps(), Service: svc.Name, ID: r.ID})
			ready = append(ready, i)
		}
	}
	if len(stale) > 0 {
		ready = append(ready, p.rollingUpdate(svc, stale, deps())...)
		p.recreated[svc.Name] = true
	}
	var extra []Replica
	for n, rs := range byNumber {
		if n > want || n < 1 {
			extra = append(extra, rs...)
		}
	}
	slices.SortFunc(extra, func(a, b Replica) int { return b.Number - a.Number })
	for _, r := range extra {
		p.removeReplica(r, "scaled down", nil)
	}
	p.ready[svc.Name] = ready
}

func (p *planner) createReplica(svc *spec.Service, n int, reason string, after []int) []int {
	return p.createReplicaAs(svc, n, reason, after, RestartState{})
}

// staleReplica is a replica to replace with a current one.
type staleReplica struct {
	n      int
	r      Replica
	reason string
}

// rollingUpdate replaces stale replicas as deploy.update_config says:
// parallelism at a time, each batch after the one before (and its
// delay). stop-first stops the old replica, then starts the new one;
// start-first renames the old one out of the way, starts the new one
// under the replica's name, waits until it is ready (healthy, if it has
// a check), takes the old one out of DNS and only then stops it, so its
// clients see no failed request. It returns the steps after which the
// new replicas run.
func (p *planner) rollingUpdate(svc *spec.Service, stale []staleReplica, after []int) []int {
	uc := svc.UpdateConfig
	par := uc.Parallelism
	if par <= 0 || par > len(stale) {
		par = len(stale)
	}
	var ready []int
	prev := after
	for i := 0; i < len(stale); i += par {
		var done []int
		for _, s := range stale[i:min(i+par, len(stale))] {
			name := ReplicaName(p.st, svc, s.n)
			if uc.Order != "start-first" || s.r.State != StateRunning {
				gone := p.removeReplica(s.r, s.reason, prev)
				started := p.createReplica(svc, s.n, s.reason, []int{gone})
				ready, done = append(ready, started...), append(done, started...)
				continue
			}
			aside := shortID(s.r.ID) + "_" + s.r.Name
			ren := p.add(Step{Op: OpRename, Target: "container:" + s.r.Name, Reason: s.reason + ", start-first: to " + aside, After: prev, Service: svc.Name, ID: s.r.ID, NewName: aside})
			started := p.createReplica(svc, s.n, s.reason, []int{ren})
			up := p.add(Step{Op: OpWaitReady, Target: "container:" + name, Reason: "ready before the old one stops", After: started, Service: svc.Name, Number: s.n})
			drain := p.add(Step{Op: OpDrain, Target: "container:" + aside, Reason: "out of DNS before it stops", After: []int{up}, Service: svc.Name, ID: s.r.ID})
			stop := p.add(Step{Op: OpStop, Target: "container:" + aside, Reason: s.reason, After: []int{drain}, Service: svc.Name, ID: s.r.ID})
			gone := p.add(Step{Op: OpRemove, Target: "container:" + aside, Reason: s.reason, After: []int{stop}, Service: svc.Name, ID: s.r.ID})
			ready, done = append(ready, up), append(done, up, gone)
		}
		prev = done
		if uc.Delay > 0 && i+par < len(stale) {
			prev = []int{p.add(Step{Op: OpDelay, Target: "service:" + svc.Name, Reason: "update_config delay " + uc.Delay.String(), After: done, Service: svc.Name, Delay: uc.Delay})}
		}
	}
	return ready
}

func shortID(id string) string { return id[:min(12, len(id))] }

// createReplicaAs plans replica n's creation carrying restart, the count
// and back-off of the replica it replaces after an exit.
func (p *planner) createReplicaAs(svc *spec.Service, n int, reason string, after []int, restart RestartState) []int {
	name := ReplicaName(p.st, svc, n)
	c := p.add(Step{Op: OpCreate, Target: "container:" + name, Reason: reason, After: after, Service: svc.Name, Number: n, Restart: restart})
	if p.o.NoStart {
		return []int{c}
	}
	s := p.add(Step{Op: OpStart, Target: "container:" + name, Reason: "created", After: []int{c}, Service: svc.Name, Number: n})
	return []int{s}
}

// removeReplica plans stop (when running) and remove; it returns the
// index of the remove step.
func (p *planner) removeReplica(r Replica, reason string, after []int) int {
	if r.State == StateRunning {
		i := p.add(Step{Op: OpStop, Target: "container:" + r.Name, Reason: reason, After: after, Service: r.Service, ID: r.ID})
		after = []int{i}
	}
	return p.add(Step{Op: OpRemove, Target: "container:" + r.Name, Reason: reason, After: after, Service: r.Service, ID: r.ID})
}

// duplicates returns all but the first of rs after sorting: running ones
// first, then by name, so the choice is the same on every pass.
func duplicates(rs []Replica) []Replica {
	if len(rs) < 2 {
		return nil
	}
	slices.SortFunc(rs, func(a, b Replica) int {
		if (a.State == StateRunning) != (b.State == StateRunning) {
			if a.State == StateRunning {
				return -1
			}
			return 1
		}
		return strings.Compare(a.ID, b.ID)
	})
	return rs[1:]
}

// hasCompletedDependents reports whether a service waits for name to
// complete successfully: then name is a job, not something to keep up.
func hasCompletedDependents(st *spec.Stack, name string) bool {
	for _, s := range st.Services {
		if d, ok := s.DependsOn[name]; ok && d.Condition == spec.ConditionCompleted {
			return true
		}
	}
	return false
}

// ReplicaName is the container name of replica n: container_name, or
// Compose's "<stack>-<service>-<n>".
func ReplicaName(st *spec.Stack, svc *spec.Service, n int) string {
	if svc.ContainerName != "" {
		return svc.ContainerName
	}
	return st.Name + "-" + svc.Name + "-" + strconv.Itoa(n)
}

// ImageName is the image a service runs: its image, or for a built one
// without image: Compose's "<stack>-<service>".
func ImageName(st *spec.Stack, svc *spec.Service) string {
	if svc.Image != "" {
		return svc.Image
	}
	return st.Name + "-" + svc.Name
}

func sortedNetworks(svc *spec.Service) []string { return sortedKeys(svc.Networks) }

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
