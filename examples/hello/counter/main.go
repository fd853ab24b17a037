// Command counter is the hello example's back end: an in-memory counter
// per key, over HTTP. POST /incr/{key} adds one and answers the new count;
// GET /healthz answers ok. The counts live as long as the process: a
// restarted counter starts again from COUNTER_START (zero), which the
// demo shows.
//
// Settings come from the environment: COUNTER_ADDR (default ":8081") and
// COUNTER_START (default 0), the number every count starts from: set it
// in compose.yaml to carry a count over to a new counter (berth watch
// recreates the counter alone when its environment changes).
// counter -healthcheck GETs its own /healthz and exits 0 or 1, for the
// image's HEALTHCHECK: the image is FROM scratch, with no shell or wget.
package main

import (
	"flag"
	"fmt"
	"log"
	"net/http"
	"os"
	"strconv"
	"sync"

	"github.com/berthproject/berth/examples/hello/internal/httpsvc"
)

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET this server's /healthz; exit 0 if it answers 200, else 1")
	flag.Parse()
	addr := httpsvc.Env("COUNTER_ADDR", ":8081")
	log.SetFlags(0)
	log.SetOutput(os.Stdout)
	if *healthcheck {
		os.Exit(httpsvc.Probe("COUNTER_ADDR", addr))
	}
	start, err := strconv.ParseInt(httpsvc.Env("COUNTER_START", "0"), 10, 64)
	if err != nil {
		log.Printf("counter: COUNTER_START: %v", err)
		os.Exit(2)
	}
	if err := httpsvc.Serve("counter", addr, newCounter(start).routes()); err != nil {
		log.Printf("counter: %v", err)
		os.Exit(1)
	}
}

// counter holds the counts; a key not seen yet counts from start.
type counter struct {
	start int64

	mu     sync.Mutex
	counts map[string]int64
}

func newCounter(start int64) *counter { return &counter{start: start, counts: map[string]int64{}} }

func (c *counter) incr(key string) int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.counts[key]
	if !ok {
		n = c.start
	}
	c.counts[key] = n + 1
	return n + 1
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
