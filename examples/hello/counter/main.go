// Command counter is the hello example's back end: an in-memory counter
// per key, over HTTP. POST /incr/{key} adds one and answers the new count;
// GET /healthz answers ok. The counts live as long as the process: a
// restarted counter starts from zero again, which the demo shows.
//
// Settings come from the environment: COUNTER_ADDR (default ":8081").
// counter -healthcheck GETs its own /healthz and exits 0 or 1, for the
// image's HEALTHCHECK: the image is FROM scratch, with no shell or wget.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET this server's /healthz; exit 0 if it answers 200, else 1")
	flag.Parse()
	addr := env("COUNTER_ADDR", ":8081")
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	if *healthcheck {
		os.Exit(probe(addr))
	}
	if err := serve(addr, newCounter()); err != nil {
		log.Printf("counter: %v", err)
		os.Exit(1)
	}
}

// counter holds the counts.
type counter struct {
	mu     sync.Mutex
	counts map[string]int64
}

func newCounter() *counter { return &counter{counts: map[string]int64{}} }

func (c *counter) incr(key string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.counts[key]++
	return c.counts[key]
}

func (c *counter) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /incr/{key}", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, strconv.FormatInt(c.incr(r.PathValue("key")), 10))
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// serve runs the server until SIGTERM or SIGINT, then lets requests in
// flight finish: berth's stop grace period is 10 s by default, the
// shutdown takes at most 5.
func serve(addr string, c *counter) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := &http.Server{Addr: addr, Handler: logged(c.routes()), ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Printf("counter listening on %s", addr)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Printf("counter: shutting down")
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
		fmt.Fprintf(os.Stderr, "healthcheck: COUNTER_ADDR %q: %v\n", addr, err)
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
