package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// TestExample_Nginx builds and runs examples/nginx, the seed's worked
// example, as its README tells a user to: base.sh makes debian:bookworm,
// berth build the image, berth run -p serves the page.
//
// Where each part runs, and why:
//   - base.sh and the build run in the machine's network namespace: the
//     first debootstrap and the RUN steps' apt-get need the Debian archive,
//     and the test's own namespace has no route out. The build asks for
//     --network host, so it makes no bridge, rule or DNS server there
//     (checked below); the archive is the only traffic off the machine.
//   - everything after the build runs in the test's own namespace: the
//     container, its bridge and published port, and the fetch of the page.
//
// The Debian tarball stays cached under BERTH_EXAMPLES_CACHE (default
// /var/cache/berth-examples), so only the first run on a machine
// bootstraps; the test's berth root, with its images, goes with the test.
func TestExample_Nginx(t *testing.T) {
	c := newCLI(t)
	dir, err := filepath.Abs("../../examples/nginx")
	if err != nil {
		t.Fatal(err)
	}
	before := hostBerthLinks(t)

	base := exec.Command(filepath.Join(dir, "base.sh"))
	base.Env = append(os.Environ(), "BERTH="+berthBin, "BERTH_ROOT="+c.root)
	if out, err := base.CombinedOutput(); err != nil {
		t.Fatalf("examples/nginx/base.sh: %v\n%s", err, out)
	}

	start := time.Now()
	out, err := c.hostBuild("--network", "host", "-t", "berth-nginx", dir)
	if err != nil {
		t.Fatalf("berth build --network host -t berth-nginx examples/nginx: %v\n%s", err, out)
	}
	t.Logf("built examples/nginx in %v", time.Since(start).Round(time.Millisecond))
	id := strings.TrimSpace(c.must("images", "-q", "--no-trunc", "berth-nginx"))
	// Nothing changed: every step comes from the cache, the same image.
	again, err := c.hostBuild("--network", "host", "-q", "-t", "berth-nginx", dir)
	if err != nil || strings.TrimSpace(again) != id {
		t.Errorf("rebuild with nothing changed: %v, printed %q, want the first build's %s", err, again, id)
	}
	if after := hostBerthLinks(t); !slices.Equal(before, after) {
		t.Errorf("the host-network build changed the machine's links: before %v, after %v", before, after)
	}

	var views []struct {
		Config struct {
			Cmd          []string
			ExposedPorts map[string]struct{}
			StopSignal   string
			Env          []string
		}
	}
	if err := json.Unmarshal([]byte(c.must("image", "inspect", "berth-nginx")), &views); err != nil || len(views) != 1 {
		t.Fatalf("image inspect berth-nginx: %v", err)
	}
	cfg := views[0].Config
	if !slices.Equal(cfg.Cmd, []string{"nginx", "-g", "daemon off;"}) || len(cfg.ExposedPorts) != 1 || cfg.StopSignal != "SIGQUIT" {
		t.Errorf("image config: Cmd %q, ExposedPorts %v, StopSignal %q", cfg.Cmd, cfg.ExposedPorts, cfg.StopSignal)
	}
	if _, ok := cfg.ExposedPorts["80/tcp"]; !ok {
		t.Errorf("ExposedPorts %v lacks 80/tcp", cfg.ExposedPorts)
	}
	if slices.ContainsFunc(cfg.Env, func(e string) bool { return strings.HasPrefix(e, "DEBIAN_FRONTEND=") }) {
		t.Errorf("the ARG DEBIAN_FRONTEND reached the image's Env: %q", cfg.Env)
	}

	port := c.freePort()
	c.must("run", "-d", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--name", "web", "berth-nginx")
	for page, want := range map[string]string{
		"/":          "<h1>Hello from berth-nginx</h1>",           // COPY index.html
		"/step.html": "<p>written by a RUN step of the build</p>", // RUN echo
	} {
		got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d%s", port, page))
		if err != nil || !strings.Contains(got, want) {
			t.Errorf("GET %s: %v, got %q, want it to contain %q", page, err, got, want)
		}
	}
	// nginx.conf sends the access log to the container's output; nginx
	// writes the line once the answer is out, so it may come a moment
	// after the page.
	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if logs = c.must("logs", "web"); strings.Contains(logs, `"GET /step.html HTTP/1.1" 200`) {
			break
		}
	}
	if !strings.Contains(logs, `"GET /step.html HTTP/1.1" 200`) {
		t.Errorf("berth logs web has no access log line for /step.html:\n%s", logs)
	}
	c.must("stop", "-t", "5", "web")
	if code := strings.TrimSpace(c.must("wait", "web")); code != "0" {
		t.Errorf("nginx exited %s on its stop signal (SIGQUIT), want 0", code)
	}
	c.must("rm", "web")
	c.must("rmi", "berth-nginx")
}

// hostBuild runs `berth build ARGS` in the machine's network namespace
// (see TestExample_Nginx) and returns its output.
func (c *cli) hostBuild(args ...string) (string, error) {
	cmd := exec.Command(berthBin, append([]string{"--root", c.root, "build"}, args...)...)
	cmd.Env = append(os.Environ(), c.env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hostBerthLinks lists the machine's links named as berth names bridges
// and veths: a build with --network host must add none.
func hostBerthLinks(t *testing.T) []string {
	t.Helper()
	ls, err := netlink.LinkList()
	for i := 0; errors.Is(err, netlink.ErrDumpInterrupted) && i < 10; i++ {
		ls, err = netlink.LinkList() // a change of the host's links cut the dump
	}
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range ls {
		if n := l.Attrs().Name; strings.HasPrefix(n, "br-") || strings.HasPrefix(n, "bth") {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}
