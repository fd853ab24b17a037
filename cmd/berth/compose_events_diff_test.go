//go:build registry

package main

import (
	"strings"
	"testing"
	"time"
)

// diffContainers: what two looks at the stack say happened.
func TestDiffContainers(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	now := t0.Add(time.Minute)
	web := containerView{id: "a1", name: "st-web-1", service: "web", image: "bb", running: true, startedAt: t0}
	exited := web
	exited.running, exited.exitCode, exited.finishedAt = false, 137, t0.Add(time.Second)
	renamed := web
	renamed.name = "st-web-1-old"
	healthy := web
	healthy.health = "healthy"
	starting := web
	starting.health = "starting"
	created := web
	created.created, created.running = true, false
	views := func(vs ...containerView) map[string]containerView {
		m := map[string]containerView{}
		for _, v := range vs {
			m[v.id] = v
		}
		return m
	}
	for _, tc := range []struct {
		name     string
		was, is  map[string]containerView
		want     string
		wantTime time.Time // of the last event, when set
	}{
		{"nothing changed", views(web), views(web), "", time.Time{}},
		{"made and started", views(), views(web), "create start", t0},
		{"made only", views(), views(created), "create", time.Time{}},
		{"created, then started", views(created), views(web), "start", t0},
		{"exited", views(web), views(exited), "die exitCode=137", t0.Add(time.Second)},
		{"made and gone through between looks", views(), views(exited), "create start die exitCode=137", time.Time{}},
		{"removed while running", views(web), views(), "die exitCode=0 destroy", now},
		{"removed after its exit", views(exited), views(), "destroy", now},
		{"renamed aside", views(web), views(renamed), "rename oldName=st-web-1", now},
		{"health starting says nothing", views(web), views(starting), "", time.Time{}},
		{"turned healthy", views(starting), views(healthy), "health_status: healthy", now},
	} {
		t.Run(tc.name, func(t *testing.T) {
			evs := diffContainers(tc.was, tc.is, now)
			var got []string
			for _, e := range evs {
				got = append(got, e.Action)
				if e.ID != "a1" || e.Service != "web" || e.Attributes["image"] != "bb" {
					t.Errorf("event %+v", e)
				}
				for _, k := range []string{"exitCode", "oldName"} {
					if v, ok := e.Attributes[k]; ok {
						got = append(got, k+"="+v)
					}
				}
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("events %q, want %q", s, tc.want)
			}
			if !tc.wantTime.IsZero() && !evs[len(evs)-1].Time.Equal(tc.wantTime) {
				t.Errorf("last event at %v, want %v", evs[len(evs)-1].Time, tc.wantTime)
			}
		})
	}
}

// The text form is compose's: time, "container", action, id, attributes
// in key order.
func TestEventWriter(t *testing.T) {
	at := time.Date(2026, 1, 2, 12, 0, 0, 123456000, time.Local)
	e := containerEvent{Time: at, Action: "die", ID: "a1", Service: "web", Attributes: map[string]string{"name": "st-web-1", "image": "bb", "exitCode": "0"}}
	var b strings.Builder
	if err := (&eventWriter{out: &b}).write(e); err != nil {
		t.Fatal(err)
	}
	if want := "2026-01-02 12:00:00.123456 container die a1 (exitCode=0, image=bb, name=st-web-1)\n"; b.String() != want {
		t.Errorf("text: %q, want %q", b.String(), want)
	}
	b.Reset()
	if err := (&eventWriter{out: &b, json: true}).write(e); err != nil {
		t.Fatal(err)
	}
	want := `{"time":"` + at.Format(time.RFC3339Nano) + `","type":"container","action":"die","id":"a1","service":"web","attributes":{"exitCode":"0","image":"bb","name":"st-web-1"}}` + "\n"
	if b.String() != want {
		t.Errorf("json: %s, want %s", b.String(), want)
	}
}
