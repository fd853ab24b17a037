package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helloPage is the page examples/hello's web answers.
var helloPage = regexp.MustCompile(`^Hello from (\S+) — visit number (\d+)\n$`)

// TestExample_Hello brings up examples/hello as its README tells a user
// to: build.sh makes the two static binaries (here into a copy of the
// example, so the checkout stays clean), berth up -d builds the FROM
// scratch images and starts counter, then (once it is healthy) three web
// replicas, each on its own host port. Every replica answers with its own hostname and one
// shared count, found through the counter's service name; a replica whose
// process is killed is replaced by the engine (restart: always).
func TestExample_Hello(t *testing.T) {
	c := newCLI(t)
	src, err := filepath.Abs("../../examples/hello")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "hello")
	build := exec.Command(filepath.Join(src, "build.sh"), dir)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("examples/hello/build.sh %s: %v\n%s", dir, err, out)
	}
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "2", "-f", f) })
	start := time.Now()
	if _, errOut, code := c.run("up", "-d", "-f", f); code != 0 {
		t.Fatalf("up: exit %d\n%s", code, errOut)
	}
	t.Logf("built and up in %v", time.Since(start).Round(time.Millisecond))
	// web waits for counter's health check (depends_on: service_healthy),
	// and each answers its own, the binary checking itself.
	c.waitHealthy("hello-counter-1")
	c.waitHealthy("hello-web-1")

	hosts := map[string]bool{}
	last := 0
	for round := 0; round < 2; round++ {
		for _, port := range []int{8080, 8081, 8082} {
			host, n := c.helloVisit(port)
			if n <= last {
				t.Errorf("port %d: visit number %d after %d: the count did not go up", port, n, last)
			}
			last = n
			hosts[host] = true
		}
	}
	if len(hosts) != 3 {
		t.Errorf("%d hostnames answered on ports 8080-8082, want 3 (one per replica): %v", len(hosts), hosts)
	}
	if logs := c.must("logs", "hello-web-1"); !strings.Contains(logs, "GET / 200") {
		t.Errorf("berth logs hello-web-1 has no line for GET /:\n%s", logs)
	}
	if logs := c.must("logs", "hello-counter-1"); !strings.Contains(logs, "POST /incr/hits 200") {
		t.Errorf("berth logs hello-counter-1 has no line for POST /incr/hits:\n%s", logs)
	}

	// kill -9 of web-2's process: the engine starts a new web-2, which
	// serves port 8081 again with a hostname of its own and the same count.
	oldHost, _ := c.helloVisit(8081)
	old := strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", "hello-web-2"))
	killed := time.Now()
	if err := syscall.Kill(c.workloadPid("hello-web-2"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	var replaced time.Duration
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		out, _, code := c.run("inspect", "-f", "{{.Id}} {{.State.Running}}", "hello-web-2")
		if f := strings.Fields(out); code == 0 && len(f) == 2 && f[0] != old && f[1] == "true" {
			replaced = time.Since(killed)
			break
		}
	}
	if replaced == 0 {
		t.Fatal("hello-web-2 was not replaced after its process was killed")
	}
	t.Logf("kill -9 of web-2 to its replacement running: %v", replaced.Round(time.Millisecond))
	host, n := c.helloVisit(8081)
	if host == oldHost {
		t.Errorf("port 8081 still answers from %s, the killed replica", host)
	}
	if n <= last+1 {
		t.Errorf("visit number %d after %d and one more visit: the count did not survive a web replica's restart", n, last)
	}
}

// helloVisit fetches examples/hello's page on a published port and
// returns the hostname and visit number it names. A replica just started
// may not listen yet, or not yet find the counter: that is tried again for
// a few seconds.
func (c *cli) helloVisit(port int) (string, int) {
	c.t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	var page string
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if page, err = c.httpGetReady(url); err == nil {
			break
		}
	}
	m := helloPage.FindStringSubmatch(page)
	if err != nil || m == nil {
		c.t.Fatalf("GET %s: %v, page %q", url, err, page)
	}
	n, _ := strconv.Atoi(m[2])
	return m[1], n
}

// waitHealthy waits for a container's health check to pass.
func (c *cli) waitHealthy(name string) {
	c.t.Helper()
	var status string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if status = strings.TrimSpace(c.must("inspect", "-f", "{{.State.Health.Status}}", name)); status == "healthy" {
			return
		}
	}
	c.t.Errorf("%s's health check: %q after 10 s, want healthy", name, status)
}

// workloadPid is the pid of a running container's workload: the child of
// its init (berth inspect's State.Pid).
func (c *cli) workloadPid(name string) int {
	c.t.Helper()
	initPid, _ := strconv.Atoi(strings.TrimSpace(c.must("inspect", "-f", "{{.State.Pid}}", name)))
	children, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", initPid, initPid))
	pid, _ := strconv.Atoi(strings.Fields(string(children) + " 0")[0])
	if err != nil || pid == 0 {
		c.t.Fatalf("the workload of %s (init %d): %q, %v", name, initPid, children, err)
	}
	return pid
}
