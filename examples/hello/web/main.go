// Command web is the hello example's front end. GET / asks the counter
// service, by its name on the stack's network, for the next visit number
// and answers "Hello from <hostname> — visit number N": with three
// replicas, each answers with its own hostname and all share one count.
// GET /healthz answers ok.
//
// Settings come from the environment: WEB_ADDR (default ":8080") and
// COUNTER_URL (default "http://counter:8081"). web -healthcheck GETs its
// own /healthz and exits 0 or 1, for the image's HEALTHCHECK: the image is
// FROM scratch, with no shell or wget.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET this server's /healthz; exit 0 if it answers 200, else 1")
	flag.Parse()
	addr := env("WEB_ADDR", ":8080")
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	if *healthcheck {
		os.Exit(probe(addr))
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	a := &app{host: host, counterURL: strings.TrimRight(env("COUNTER_URL", "http://counter:8081"), "/"),
		client: &http.Client{Timeout: 2 * time.Second}}
	if err := serve(addr, a); err != nil {
		log.Printf("web: %v", err)
		os.Exit(1)
	}
}

// app answers the page.
type app struct {
	host       string
	counterURL string
	client     *http.Client
}

func (a *app) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", a.hello)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
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

// serve runs the server until SIGTERM or SIGINT, then lets requests in
// flight finish: berth's stop grace period is 10 s by default, the
// shutdown takes at most 5.
func serve(addr string, a *app) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: logged(a.routes()), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("web listening on %s as %s, counter at %s", addr, a.host, a.counterURL)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("web: shutting down")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logged writes one line per request to stdout, which berth logs keeps.
func logged(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		h.ServeHTTP(rec, r)
		log.Printf("%s %s %s %d %v", r.RemoteAddr, r.Method, r.URL.Path, rec.status, time.Since(start).Round(time.Microsecond))
	})
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// probe is the health check: 0 when the server on addr's port answers
// /healthz with 200, 1 otherwise.
func probe(addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: WEB_ADDR %q: %v\n", addr, err)
		return 1
	}
	client := &http.Client{Timeout: 2 * time.Second}
	resp, err := client.Get("http://127.0.0.1:" + port + "/healthz")
	if err != nil {
		fmt.Fprintf(os.Stderr, "healthcheck: %v\n", err)
		return 1
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(os.Stderr, "healthcheck: /healthz answered %s\n", resp.Status)
		return 1
	}
	return 0
}

func env(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
