// Command web is the hello example's front end. GET / asks the counter
// service, by its name on the stack's network, for the next visit number
// and answers "Hello from <hostname> — visit number N": with three
// replicas, each answers with its own hostname and all share one count.
// GET /static/... serves the files of a directory (web/static, which the
// image holds at /static): what a user edits without recompiling, and
// what berth watch copies into the running replicas (develop.watch in
// compose.yaml). GET /healthz answers ok.
//
// Settings come from the environment: WEB_ADDR (default ":8080"),
// COUNTER_URL (default "http://counter:8081") and WEB_STATIC (default
// "/static"). web -healthcheck GETs its own /healthz and exits 0 or 1,
// for the image's HEALTHCHECK: the image is FROM scratch, with no shell
// or wget.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/berthproject/berth/examples/hello/internal/httpsvc"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET this server's /healthz; exit 0 if it answers 200, else 1")
	flag.Parse()
	addr := httpsvc.Env("WEB_ADDR", ":8080")
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	if *healthcheck {
		os.Exit(httpsvc.Probe("WEB_ADDR", addr))
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	a := &app{host: host, counterURL: strings.TrimRight(httpsvc.Env("COUNTER_URL", "http://counter:8081"), "/"),
		static: httpsvc.Env("WEB_STATIC", "/static"), client: &http.Client{Timeout: 2 * time.Second}}
	if err := httpsvc.Serve("web", addr, a.routes()); err != nil {
		log.Printf("web: %v", err)
		os.Exit(1)
	}
}

// app answers the page.
type app struct {
	host       string
	counterURL string
	static     string // directory served under /static/
	client     *http.Client
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.hello)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	// Read from disk at each request, so a file synced into the container
	// is served at once: nothing is cached or embedded.
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServer(http.Dir(a.static))))
	return mux
}

func (a *app) hello(w http.ResponseWriter, r *http.Request) {
	n, err := a.visit(r.Context())
	if err != nil {
		http.Error(w, fmt.Sprintf("Hello from %s — the counter did not answer: %v", a.host, err), http.StatusBadGateway)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "Hello from %s — visit number %s\n", a.host, n)
}

// visit adds one to the counter's "hits" and returns the new count.
func (a *app) visit(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.counterURL+"/incr/hits", nil)
	if err != nil {
		return "", err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64))
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("%s answered %s", req.URL, resp.Status)
	}
	return strings.TrimSpace(string(b)), nil
}
