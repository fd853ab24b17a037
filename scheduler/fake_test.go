package scheduler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/berthproject/berth/spec"
)

// fakeHost is a Host in memory, recording what it was asked to do.
type fakeHost struct {
	mu       sync.Mutex
	next     int
	ctrs     map[string]*fakeCtr
	networks map[string]bool
	images   map[string]string
	volumes  map[string]bool
	calls    []string
	// failCreateAfter, when > 0, makes every create after that many fail,
	// as an engine killed half-way through an up.
	failCreateAfter int
	// failPull is an image whose pull fails, as one no registry has;
	// failCreate a container whose create fails.
	failPull, failCreate string
	// stopDelay is how long each Stop takes, as a grace period would.
	stopDelay time.Duration
	creates   int
}

type fakeCtr struct {
	Replica
	spec   ContainerSpec
	exited chan struct{} // closed when it stops running
}

func newFakeHost() *fakeHost {
	return &fakeHost{ctrs: map[string]*fakeCtr{}, networks: map[string]bool{}, images: map[string]string{}, volumes: map[string]bool{}}
}

func (h *fakeHost) call(format string, args ...any) {
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
}

func (h *fakeHost) Replicas(_ context.Context, stack string) ([]Replica, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []Replica
	for _, c := range h.ctrs {
		if c.spec.Labels[LabelProject] == stack {
			out = append(out, c.Replica)
		}
	}
	slices.SortFunc(out, func(a, b Replica) int { return compareStrings(a.ID, b.ID) })
	return out, nil
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (h *fakeHost) Networks(_ context.Context, names []string) (map[string]bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string]bool{}
	for _, n := range names {
		if h.networks[n] {
			out[n] = true
		}
	}
	return out, nil
}

func (h *fakeHost) ImageID(_ context.Context, ref string) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.images[ref], nil
}

func (h *fakeHost) CreateNetwork(_ context.Context, nw *spec.Network) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call("create-network %s", nw.Name)
	h.networks[nw.Name] = true
	return nil
}

func (h *fakeHost) RemoveNetwork(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call("remove-network %s", name)
	delete(h.networks, name)
	return nil
}

func (h *fakeHost) Pull(_ context.Context, ref string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call("pull %s", ref)
	if ref == h.failPull {
		return fmt.Errorf("pulling %s: not found in the registry", ref)
	}
	h.images[ref] = "sha256:" + ref
	return nil
}

func (h *fakeHost) Build(_ context.Context, _ *spec.Stack, _ *spec.Service, tag string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call("build %s", tag)
	h.images[tag] = "sha256:built-" + tag
	return nil
}

func (h *fakeHost) Create(_ context.Context, c ContainerSpec) (string, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.creates++
	if h.failCreateAfter > 0 && h.creates > h.failCreateAfter {
		return "", errors.New("engine killed")
	}
	if c.Name == h.failCreate {
		return "", errors.New("the port is taken")
	}
	for _, o := range h.ctrs {
		if o.Name == c.Name {
			return "", fmt.Errorf("name %s is in use", c.Name)
		}
	}
	h.next++
	id := "c" + strconv.Itoa(h.next)
	n, _ := strconv.Atoi(c.Labels[LabelNumber])
	h.ctrs[id] = &fakeCtr{spec: c, exited: make(chan struct{}), Replica: Replica{
		ID: id, Name: c.Name, Service: c.Labels[LabelService], Number: n,
		Hash: c.Labels[LabelConfigHash], ImageID: c.Labels[LabelImage], State: StateCreated,
		Restart: RestartStateOf(c.Labels),
	}}
	if c.Healthcheck != nil {
		h.ctrs[id].Health = "starting"
	}
	h.call("create %s", c.Name)
	return id, nil
}

func (h *fakeHost) ctr(id string) (*fakeCtr, error) {
	c, ok := h.ctrs[id]
	if !ok {
		return nil, fmt.Errorf("no container %s", id)
	}
	return c, nil
}

func (h *fakeHost) Start(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return err
	}
	c.State = StateRunning
	h.call("start %s", c.Name)
	return nil
}

func (h *fakeHost) Stop(_ context.Context, id string, grace time.Duration) error {
	time.Sleep(h.stopDelay)
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return err
	}
	c.State, c.ExitCode, c.StopRequested = StateExited, 137, true
	close(c.exited)
	h.call("stop %s %s", c.Name, grace)
	return nil
}

// crash ends the running replica name with code, as a kill -9 of its
// process would.
func (h *fakeHost) crash(name string, code int) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	for id, c := range h.ctrs {
		if c.Name == name && c.State == StateRunning {
			c.State, c.ExitCode = StateExited, code
			c.StartedAt, c.FinishedAt = time.Now().Add(-time.Minute), time.Now()
			close(c.exited)
			return id
		}
	}
	panic("no running " + name)
}

func (h *fakeHost) WaitExit(ctx context.Context, id string) error {
	h.mu.Lock()
	c, ok := h.ctrs[id]
	h.mu.Unlock()
	if !ok {
		return nil
	}
	select {
	case <-c.exited:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (h *fakeHost) Remove(_ context.Context, id string, volumes bool) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return err
	}
	if c.State == StateRunning {
		return fmt.Errorf("%s is running", c.Name)
	}
	delete(h.ctrs, id)
	h.call("remove %s", c.Name)
	return nil
}

func (h *fakeHost) Healthy(_ context.Context, id string) (bool, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return false, err
	}
	return c.State == StateRunning && (c.spec.Healthcheck == nil || c.Health == "healthy"), nil
}

func (h *fakeHost) Exited(_ context.Context, id string) (bool, int, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return false, 0, err
	}
	return c.State == StateExited, c.ExitCode, nil
}

func (h *fakeHost) RemoveVolume(_ context.Context, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.call("remove-volume %s", name)
	delete(h.volumes, name)
	return nil
}

// takeCalls returns the calls so far, sorted (parallel steps come in any
// order), and forgets them.
func (h *fakeHost) takeCalls() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	slices.Sort(c)
	return c
}

func (h *fakeHost) CheckHealth(_ context.Context, id string) (string, time.Duration, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil || c.State != StateRunning {
		return "", 0, fmt.Errorf("%s is not running", id)
	}
	if c.spec.Healthcheck == nil {
		return "", 0, nil
	}
	if c.Health == "starting" {
		c.Health = "healthy"
	}
	c.Replica.Health = c.Health
	return c.Health, 10 * time.Millisecond, nil
}

func (h *fakeHost) Rename(_ context.Context, id, name string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return err
	}
	h.call("rename %s %s", c.Name, name)
	c.Name = name
	return nil
}

func (h *fakeHost) Drain(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, err := h.ctr(id)
	if err != nil {
		return err
	}
	h.call("drain %s", c.Name)
	c.StopRequested = true
	return nil
}
