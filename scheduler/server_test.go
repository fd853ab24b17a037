package scheduler

import (
	"context"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/scheduler/api"
	"github.com/berthproject/berth/spec"
)

func TestAPI_UpDownOverTheSocket(t *testing.T) {
	h := newFakeHost()
	e := startEngine(t, h, t.TempDir())
	sock := filepath.Join(t.TempDir(), "berth.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e.Handler()}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })

	c := api.NewClient(sock)
	if p, err := c.Ping(context.Background()); err != nil || p.Pid == 0 {
		t.Fatalf("ping: %+v, %v", p, err)
	}
	st := stack(svc("web", "nginx", replicas(2)))
	var events []string
	res, err := c.Up(context.Background(), api.UpRequest{Stack: st, Scale: map[string]int{"web": 3}}, func(ev api.Event) {
		events = append(events, ev.Kind+" "+ev.Name+" "+ev.Status)
	})
	if err != nil || res.Steps == 0 {
		t.Fatalf("up: %+v, %v", res, err)
	}
	if !slices.Contains(events, "Container app-web-3 Started") {
		t.Errorf("events: %q", events)
	}
	// A failing up comes back as an error with the engine's words.
	bad := stack(svc("web", "nginx", dependsOn("db", spec.ConditionHealthy)), svc("db", "postgres"))
	bad.Name = "bad"
	if _, err := c.Up(context.Background(), api.UpRequest{Stack: bad}, nil); err == nil {
		t.Error("an up that cannot work returned no error")
	}
	// Failures apart from each other come back one each, joined.
	h.failPull = "nosuch:1"
	two := stack(svc("api", "nosuch:1"), svc("web", "nginx"))
	two.Name = "two"
	h.failCreate = "two-web-1"
	_, err = c.Up(context.Background(), api.UpRequest{Stack: two}, nil)
	j, ok := err.(api.Errors)
	if !ok || len(j) != 2 {
		t.Errorf("an up with two failed steps: %v, want the two errors, one each", err)
	} else if got := j.Failures(); !strings.HasPrefix(got[0].Error(), "pull image:nosuch:1: ") || !strings.HasPrefix(got[1].Error(), "create two-web-1: ") {
		t.Errorf("the two errors, in plan order: %q", got)
	}
	for _, s := range []*spec.Stack{st, bad, two} {
		if _, err := c.Down(context.Background(), api.DownRequest{Stack: s}, nil); err != nil {
			t.Fatal(err)
		}
	}
	if len(h.ctrs) != 0 {
		t.Errorf("%d containers left", len(h.ctrs))
	}
	if _, err := c.Up(context.Background(), api.UpRequest{}, nil); err == nil {
		t.Error("an up without a stack was taken")
	}
}
