package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"
)

// Client talks to the engine on its socket.
type Client struct {
	http *http.Client
}

// NewClient returns a client for the engine listening on socket.
func NewClient(socket string) *Client {
	tr := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", socket)
	}}
	return &Client{http: &http.Client{Transport: tr}}
}

// Ping returns the engine's pid, or an error when none answers.
func (c *Client) Ping(ctx context.Context) (Ping, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var p Ping
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://engine/v1/ping", nil)
	if err != nil {
		return p, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return p, err
	}
	defer resp.Body.Close()
	return p, json.NewDecoder(resp.Body).Decode(&p)
}

// Up sends an up and calls onEvent with its progress.
func (c *Client) Up(ctx context.Context, r UpRequest, onEvent func(Event)) (Result, error) {
	return c.stream(ctx, "/v1/stacks/up", r, onEvent)
}

// Watch sends a watch and calls onEvent with what it does, until ctx
// ends (the engine stops watching when the client goes away).
func (c *Client) Watch(ctx context.Context, r WatchRequest, onEvent func(Event)) (Result, error) {
	return c.stream(ctx, "/v1/stacks/watch", r, onEvent)
}

// Down sends a down and calls onEvent with its progress.
func (c *Client) Down(ctx context.Context, r DownRequest, onEvent func(Event)) (Result, error) {
	return c.stream(ctx, "/v1/stacks/down", r, onEvent)
}

// stream posts body to path and reads the answer's lines until the
// result. A Result with an error is returned as that error too.
func (c *Client) stream(ctx context.Context, path string, body any, onEvent func(Event)) (Result, error) {
	b, err := json.Marshal(body)
	if err != nil {
		return Result{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://engine"+path, bytes.NewReader(b))
	if err != nil {
		return Result{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("talking to berth's engine: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var m Message
		if json.NewDecoder(resp.Body).Decode(&m) == nil && m.Result != nil && m.Result.Error != "" {
			return *m.Result, errors.New(m.Result.Error)
		}
		return Result{}, fmt.Errorf("berth's engine answered %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m Message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return Result{}, fmt.Errorf("reading the engine's answer: %w", err)
		}
		if m.Event != nil && onEvent != nil {
			onEvent(*m.Event)
		}
		if m.Result != nil {
			return *m.Result, m.Result.Err()
		}
	}
	if err := sc.Err(); err != nil && ctx.Err() == nil {
		return Result{}, fmt.Errorf("reading the engine's answer: %w (%w)", err, ErrEngineGone)
	}
	return Result{}, fmt.Errorf("berth's engine ended the answer without a result: %w; see its log", ErrEngineGone)
}

// Errors are the failures of one request apart from each other (the
// steps of a pass that failed each on its own).
type Errors []error

func (e Errors) Error() string { return errors.Join(e...).Error() }

// Unwrap lets errors.Is and errors.As look at each failure.
func (e Errors) Unwrap() []error { return e }

// Failures lists them, for a client to print one by one.
func (e Errors) Failures() []error { return e }

// Err is r's failure: nil, one error, or Errors, one for each of r.Errors.
func (r Result) Err() error {
	if len(r.Errors) > 1 {
		errs := make(Errors, len(r.Errors))
		for i, e := range r.Errors {
			errs[i] = errors.New(e)
		}
		return errs
	}
	if r.Error != "" {
		return errors.New(r.Error)
	}
	return nil
}

// SetErr records err in r: its message, and each of several it joins.
func (r *Result) SetErr(err error) {
	if err == nil {
		return
	}
	r.Error = err.Error()
	if j, ok := err.(interface{ Unwrap() []error }); ok && len(j.Unwrap()) > 1 {
		for _, e := range j.Unwrap() {
			r.Errors = append(r.Errors, e.Error())
		}
	}
}

// ErrEngineGone is an answer cut off: the engine stopped (or was killed)
// while it streamed. A client may start one again and ask anew.
var ErrEngineGone = errors.New("the engine went away")
