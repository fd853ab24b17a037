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
	if err := httpsvc.Serve("counter", addr, newCounter().routes()); err != nil {
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
