//go:build registry

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
)

// `compose events` streams the stack's container events as docker compose
// does. It polls the host's containers every eventPoll and reports what
// changed. Why not have the engine publish them: the engine sees only
// what it does itself and the exits it watches, while containers also
// change under `berth rm`, `compose kill`, a one-off of `compose run` or
// a `berth run --rm` reaper. Reading the host catches all of them, at
// most eventPoll late, with no protocol between the CLI and the engine.

const eventPoll = 100 * time.Millisecond

type composeEventsOptions struct {
	stack stackOptions
	json  bool
}

func newComposeEventsCmd(g *globalOptions) *cobra.Command {
	o := &composeEventsOptions{}
	cmd := &cobra.Command{
		Use:   "events [OPTIONS] [SERVICE...]",
		Short: "Stream the stack's container events as they happen (until Ctrl-C)",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
			defer stop()
			return runComposeEvents(ctx, g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	cmd.Flags().BoolVar(&o.json, "json", false, "one JSON object per line")
	return cmd
}

func runComposeEvents(ctx context.Context, g *globalOptions, o *composeEventsOptions, services []string, out, errOut io.Writer) error {
	p, err := resolveProject(ctx, &o.stack, false, errOut)
	if err != nil {
		return err
	}
	if p.st != nil {
		if err := checkServices(p.st, services); err != nil {
			return err
		}
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	w := &eventWriter{out: out, json: o.json}
	var have map[string]containerView
	tick := time.NewTicker(eventPoll)
	defer tick.Stop()
	for {
		now, err := stackContainerViews(m, p.name, services)
		if err != nil {
			return fmt.Errorf("listing the containers of stack %q: %w", p.name, err)
		}
		if have != nil { // the first look is the baseline: no events for what was there
			for _, e := range diffContainers(have, now, time.Now()) {
				if err := w.write(e); err != nil {
					return err
				}
			}
		}
		have = now
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// containerView is what events compare of a container between looks.
type containerView struct {
	id, name, service, image string
	created, running         bool // created: made but never started
	exitCode                 int
	health                   string
	startedAt, finishedAt    time.Time
}

// stackContainerViews reads the stack's containers (of services, when
// given) by id.
func stackContainerViews(m *runtime.Manager, stack string, services []string) (map[string]containerView, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	out := map[string]containerView{}
	for _, c := range all {
		l := c.Config.Labels
		if l[scheduler.LabelProject] != stack || (len(services) > 0 && !slices.Contains(services, l[scheduler.LabelService])) {
			continue
		}
		v := containerView{
			id: c.ID, name: c.Name(), service: l[scheduler.LabelService], image: c.Config.Image,
			created: c.State.Status == runtime.StatusCreated, running: c.State.Running,
			exitCode: c.State.ExitCode, startedAt: c.State.StartedAt, finishedAt: c.State.FinishedAt,
		}
		if c.State.Health != nil {
			v.health = c.State.Health.Status
		}
		out[c.ID] = v
	}
	return out, nil
}

// containerEvent is one event, as compose's --json prints it.
type containerEvent struct {
	Time       time.Time         `json:"-"`
	Action     string            `json:"action"`
	ID         string            `json:"id"`
	Service    string            `json:"service"`
	Attributes map[string]string `json:"attributes"`
}

// diffContainers is what happened between two looks, containers in name
// order, each one's events in the order they happened. A container that
// came and went between two looks is missed: 100 ms is shorter than any
// container's create, start and remove.
func diffContainers(was, is map[string]containerView, now time.Time) []containerEvent {
	var evs []containerEvent
	add := func(v containerView, action string, at time.Time, extra ...string) {
		if at.IsZero() || at.After(now) {
			at = now
		}
		attrs := map[string]string{"image": v.image, "name": v.name}
		for i := 0; i+1 < len(extra); i += 2 {
			attrs[extra[i]] = extra[i+1]
		}
		evs = append(evs, containerEvent{Time: at, Action: action, ID: v.id, Service: v.service, Attributes: attrs})
	}
	died := func(v containerView) {
		add(v, "die", v.finishedAt, "exitCode", strconv.Itoa(v.exitCode))
	}
	ids := slices.Collect(maps.Keys(is))
	for id := range was {
		if _, ok := is[id]; !ok {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, func(a, b string) int {
		return strings.Compare(viewOf(was, is, a).name, viewOf(was, is, b).name)
	})
	for _, id := range ids {
		old, existed := was[id]
		cur, exists := is[id]
		switch {
		case !exists:
			if old.running {
				died(old) // stopped and removed between two looks
			}
			add(old, "destroy", now)
		case !existed:
			add(cur, "create", now)
			if !cur.created {
				add(cur, "start", cur.startedAt)
			}
			if !cur.created && !cur.running {
				died(cur)
			}
		default:
			if old.name != cur.name {
				add(cur, "rename", now, "oldName", old.name)
			}
			if old.created && !cur.created || !old.running && cur.running {
				add(cur, "start", cur.startedAt)
			}
			if (old.running || old.created) && !cur.running && !cur.created {
				died(cur)
			}
			if cur.health != "" && cur.health != old.health && cur.health != runtime.HealthStarting {
				add(cur, "health_status: "+cur.health, now)
			}
		}
	}
	return evs
}

func viewOf(was, is map[string]containerView, id string) containerView {
	if v, ok := is[id]; ok {
		return v
	}
	return was[id]
}

// eventWriter prints events in compose's text form or as JSON lines.
type eventWriter struct {
	out  io.Writer
	json bool
}

func (w *eventWriter) write(e containerEvent) error {
	if w.json {
		b, err := json.Marshal(struct {
			Time string `json:"time"`
			Type string `json:"type"`
			containerEvent
		}{e.Time.Format(time.RFC3339Nano), "container", e})
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w.out, "%s\n", b)
		return err
	}
	var attrs []string
	for _, k := range slices.Sorted(maps.Keys(e.Attributes)) {
		attrs = append(attrs, k+"="+e.Attributes[k])
	}
	_, err := fmt.Fprintf(w.out, "%s container %s %s (%s)\n", e.Time.Local().Format("2006-01-02 15:04:05.000000"), e.Action, e.ID, strings.Join(attrs, ", "))
	return err
}
