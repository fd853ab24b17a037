package api

import "github.com/berthproject/berth/spec"

// UpRequest asks the engine to make the host match Stack (berth up).
type UpRequest struct {
	Stack         *spec.Stack    `json:"stack"`
	Services      []string       `json:"services,omitempty"`
	Scale         map[string]int `json:"scale,omitempty"`
	ForceRecreate bool           `json:"force_recreate,omitempty"`
	NoRecreate    bool           `json:"no_recreate,omitempty"`
	NoStart       bool           `json:"no_start,omitempty"`
	RemoveOrphans bool           `json:"remove_orphans,omitempty"`
	Build         bool           `json:"build,omitempty"`
}

// WatchRequest asks the engine to follow the stack's develop.watch rules
// and its files until the client goes away (berth watch, up --watch).
type WatchRequest struct {
	Stack *spec.Stack `json:"stack"`
	// Load says how the client loaded Stack (its flags and environment),
	// for the engine to load it again when a stack file changes.
	Load     spec.Options `json:"load"`
	Services []string     `json:"services,omitempty"`
	// Up, when set, brings the stack up first (not with --no-up).
	Up *UpRequest `json:"up,omitempty"`
}

// DownRequest asks the engine to take Stack down (berth down).
type DownRequest struct {
	Stack   *spec.Stack `json:"stack"`
	Volumes bool        `json:"volumes,omitempty"`
	// Timeout, when set, replaces every service's stop grace period, in
	// seconds.
	Timeout *int `json:"timeout,omitempty"`
}

// Event is progress: "Container app-web-1 Started".
type Event struct {
	Kind   string `json:"kind"`
	Name   string `json:"name"`
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Result ends a request's stream.
type Result struct {
	Error string `json:"error,omitempty"`
	// Errors are the failures Error joins, one each, when there are
	// several (steps of a pass that failed apart from each other).
	Errors   []string `json:"errors,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
	Steps    int      `json:"steps"`
}

// Message is one line of a stream: an event or the result.
type Message struct {
	Event  *Event  `json:"event,omitempty"`
	Result *Result `json:"result,omitempty"`
}

// Ping is the engine's answer to GET /v1/ping.
type Ping struct {
	Pid int `json:"pid"`
}
