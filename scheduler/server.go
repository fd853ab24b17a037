package scheduler

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"sync"

	"github.com/berthproject/berth/scheduler/api"
	"github.com/berthproject/berth/spec"
)

// Handler serves the engine's API (package api) over HTTP.
func (e *Engine) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/ping", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(api.Ping{Pid: os.Getpid()})
	})
	mux.HandleFunc("POST /v1/stacks/up", func(w http.ResponseWriter, r *http.Request) {
		var req api.UpRequest
		if !decode(w, r, &req) || !hasStack(w, req.Stack) {
			return
		}
		o := PlanOptions{Services: req.Services, Scale: req.Scale, ForceRecreate: req.ForceRecreate,
			NoRecreate: req.NoRecreate, NoStart: req.NoStart, RemoveOrphans: req.RemoveOrphans, Build: req.Build}
		e.active.Add(1)
		defer e.active.Add(-1)
		streamTo(w, func(ctx context.Context, progress func(Event)) api.Result {
			p, err := e.Up(ctx, req.Stack, o, progress)
			res := api.Result{Warnings: p.Warnings, Steps: len(p.Steps)}
			res.SetErr(err)
			return res
		})
	})
	mux.HandleFunc("POST /v1/stacks/watch", func(w http.ResponseWriter, r *http.Request) {
		var req api.WatchRequest
		if !decode(w, r, &req) || !hasStack(w, req.Stack) {
			return
		}
		o := WatchOptions{Stack: req.Stack, Load: req.Load, Services: req.Services}
		if u := req.Up; u != nil {
			o.Up = &PlanOptions{Services: u.Services, Scale: u.Scale, ForceRecreate: u.ForceRecreate,
				NoRecreate: u.NoRecreate, NoStart: u.NoStart, RemoveOrphans: u.RemoveOrphans, Build: u.Build}
		}
		e.active.Add(1)
		defer e.active.Add(-1)
		// Unlike an up, a watch lasts as long as its client: it ends when
		// the client hangs up (Ctrl-C on berth watch).
		clientGone := r.Context()
		streamTo(w, func(_ context.Context, progress func(Event)) api.Result {
			var res api.Result
			res.SetErr(e.Watch(clientGone, o, progress))
			return res
		})
	})
	mux.HandleFunc("POST /v1/stacks/down", func(w http.ResponseWriter, r *http.Request) {
		var req api.DownRequest
		if !decode(w, r, &req) || !hasStack(w, req.Stack) {
			return
		}
		e.active.Add(1)
		defer e.active.Add(-1)
		streamTo(w, func(ctx context.Context, progress func(Event)) api.Result {
			var res api.Result
			res.SetErr(e.Down(ctx, req.Stack, DownOptions{Volumes: req.Volumes, Timeout: req.Timeout}, progress))
			return res
		})
	})
	return mux
}

func decode(w http.ResponseWriter, r *http.Request, v any) bool {
	err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 64<<20)).Decode(v)
	if err == nil {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(api.Message{Result: &api.Result{Error: "reading the request: " + err.Error()}})
	return false
}

func hasStack(w http.ResponseWriter, st *spec.Stack) bool {
	if st != nil && st.Name != "" {
		return true
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(api.Message{Result: &api.Result{Error: "the request names no stack"}})
	return false
}

// streamTo runs work, writing its progress and then its result as JSON
// lines. The work goes on if the client goes away: a pass is never left
// half done because a terminal closed.
func streamTo(w http.ResponseWriter, work func(context.Context, func(Event)) api.Result) {
	w.Header().Set("Content-Type", "application/x-ndjson")
	flusher, _ := w.(http.Flusher)
	enc := json.NewEncoder(w)
	var mu sync.Mutex
	gone := false
	send := func(m api.Message) {
		mu.Lock()
		defer mu.Unlock()
		if gone {
			return
		}
		if err := enc.Encode(m); err != nil {
			gone = true
			return
		}
		if flusher != nil {
			flusher.Flush()
		}
	}
	res := work(context.Background(), func(ev Event) {
		msg := api.Event{Kind: ev.Kind, Name: ev.Name, Status: ev.Status}
		if ev.Err != nil {
			msg.Error = ev.Err.Error()
		}
		send(api.Message{Event: &msg})
	})
	send(api.Message{Result: &res})
}
