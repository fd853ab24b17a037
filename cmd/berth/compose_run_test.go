package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// compose run: a one-off of the service's config on the stack's network,
// its command's output and exit code, -e, --entrypoint, -w, --rm, -d and
// --name; the engine neither restarts nor removes it, even under
// restart: always.
func TestCLI_ComposeRun(t *testing.T) {
	c := newCLI(t)
	dbPort, sitePort, extraPort := c.freePort(), c.freePort(), c.freePort()
	_, f := c.composeStack(fmt.Sprintf(`name: crun
services:
  db:
    image: bb
    command: ["sh", "-c", "mkdir -p /www && echo from db > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:%d:80"]
  site:
    image: bb
    command: ["sh", "-c", "mkdir -p /www && echo from site > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:%d:80"]
    deploy:
      replicas: 0
  app:
    image: bb
    command: ["sleep", "1000"]
    restart: always
    environment:
      GREETING: hi
    volumes: ["/scratch"]
    depends_on: [db]
`, dbPort, sitePort))
	run := func(args ...string) (string, string, int) {
		t.Helper()
		return c.run(append([]string{"compose", "-f", f, "run"}, args...)...)
	}
	oneoffs := func() string {
		t.Helper()
		var names []string
		for _, line := range strings.Split(strings.TrimSpace(c.must("ps", "-a", "--format", "json")), "\n") {
			var row struct{ Names string }
			if line != "" && json.Unmarshal([]byte(line), &row) != nil {
				t.Fatalf("ps --format json: %q", line)
			}
			if strings.Contains(row.Names, "-run-") || row.Names == "once" {
				names = append(names, row.Names)
			}
		}
		return strings.Join(names, " ")
	}

	if out, errOut, code := run("--rm", "app", "sh", "-c", "echo out; echo err >&2; exit 3"); code != 3 || out != "out\n" || errOut != "err\n" {
		t.Errorf("run --rm app ... exit 3: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code := run("--rm", "-e", "X=1", "-e", "GREETING=hello", "app", "sh", "-c", "echo $X $GREETING"); code != 0 || out != "1 hello\n" {
		t.Errorf("run -e: exit %d, %q %s", code, out, errOut)
	}
	if out, errOut, code := run("--rm", "--entrypoint", "echo ep", "app", "more"); code != 0 || out != "ep more\n" {
		t.Errorf("run --entrypoint: exit %d, %q %s", code, out, errOut)
	}
	if out, errOut, code := run("--rm", "-w", "/etc", "-u", "65534", "app", "sh", "-c", "pwd; id -u"); code != 0 || out != "/etc\n65534\n" {
		t.Errorf("run -w -u: exit %d, %q %s", code, out, errOut)
	}
	// On the stack's network: the other service answers by its name.
	if out, errOut, code := run("--rm", "app", "sh", "-c", "timeout 5 wget -q -O - http://db/"); code != 0 || out != "from db\n" {
		t.Errorf("run: fetching http://db/: exit %d, %q %s", code, out, errOut)
	}
	if left := oneoffs(); left != "" {
		t.Errorf("containers left after run --rm: %s", left)
	}
	if vols := strings.Fields(c.must("volume", "ls", "-q")); len(vols) != 1 {
		t.Errorf("volumes after run --rm: %q, want app-1's anonymous one only", vols)
	}

	// Without --rm it stays, named STACK-SERVICE-run-HEX and labelled a
	// one-off; the engine leaves it exited (app has restart: always).
	if _, errOut, code := run("app", "true"); code != 0 {
		t.Fatalf("run app true: exit %d, %s", code, errOut)
	}
	name := oneoffs()
	if len(name) != len("crun-app-run-")+12 || !strings.HasPrefix(name, "crun-app-run-") {
		t.Fatalf("one-off's name %q, want crun-app-run-<12 hex>", name)
	}
	if got := c.must("inspect", "-f", `{{index .Config.Labels "com.docker.compose.oneoff"}} {{index .Config.Labels "com.docker.compose.service"}}`, name); got != "True app\n" {
		t.Errorf("one-off's labels: %q", got)
	}

	// -d starts it in the background and prints its name.
	out, errOut, code := run("-d", "--name", "once", "app", "sh", "-c", "sleep 0.3; exit 1")
	if code != 0 || out != "once\n" {
		t.Fatalf("run -d --name once: exit %d, %q %s", code, out, errOut)
	}
	waitFor(t, "once to exit", func() bool {
		return strings.TrimSpace(c.must("inspect", "-f", "{{.State.Status}}", "once")) == "exited"
	})
	time.Sleep(2 * time.Second) // what the engine would do, it does by now
	for _, n := range []string{name, "once"} {
		if st := strings.TrimSpace(c.must("inspect", "-f", "{{.State.Status}}", n)); !strings.HasPrefix(st, "exited") {
			t.Errorf("one-off %s after its exit: %q, want it left exited", n, st)
		}
	}
	if got := c.must("compose", "-f", f, "ps", "--services", "app", "db"); got != "app\ndb\n" {
		t.Errorf("services running after the one-offs: %q", got)
	}

	// Ports: the service's only with --service-ports (db's would clash
	// with db-1's), -p's always.
	if _, errOut, code := run("-d", "--name", "once-db", "-p", fmt.Sprintf("127.0.0.1:%d:80", extraPort), "db"); code != 0 {
		t.Fatalf("run -d -p db: exit %d, %s", code, errOut)
	}
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", extraPort)); err != nil || got != "from db\n" {
		t.Errorf("run -p: the one-off's port serves %q, %v", got, err)
	}
	if _, errOut, code := run("-d", "--name", "once-site", "--service-ports", "site"); code != 0 {
		t.Fatalf("run -d --service-ports site: exit %d, %s", code, errOut)
	}
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", sitePort)); err != nil || got != "from site\n" {
		t.Errorf("run --service-ports: the service's port serves %q, %v", got, err)
	}

	if _, errOut, code := run("nosuch", "true"); code != 1 || !strings.Contains(errOut, `no such service: "nosuch"`) {
		t.Errorf("run nosuch: exit %d, %s", code, errOut)
	}
}

// compose run on a stack that is down brings the service's dependencies
// up through the engine, and with --no-deps does not.
func TestCLI_ComposeRunStartsDependencies(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: cdep
services:
  db:
    image: bb
    command: ["sleep", "1000"]
  cache:
    image: bb
    command: ["sleep", "1000"]
    depends_on: [db]
  app:
    image: bb
    command: ["sleep", "1000"]
    depends_on: [cache]
  other:
    image: bb
    command: ["sleep", "1000"]
`)
	f := dir + "/compose.yaml"
	t.Cleanup(func() { c.run("compose", "-f", f, "down", "-t", "1") })

	if out, errOut, code := c.run("compose", "-f", f, "run", "--rm", "--no-deps", "app", "echo", "alone"); code != 0 || out != "alone\n" {
		t.Fatalf("run --no-deps: exit %d, %q %s", code, out, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "-a", "--services"); got != "" {
		t.Errorf("run --no-deps started %q", got)
	}
	out, errOut, code := c.run("compose", "-f", f, "run", "--rm", "app", "sh", "-c", "nslookup cache >/dev/null && echo found")
	if code != 0 || out != "found\n" {
		t.Fatalf("run app: exit %d, %q %s", code, out, errOut)
	}
	// (The engine's healing then brings the rest of the stack up too, as
	// after `up -d cache`: its record is the whole stack.)
	if got := c.must("compose", "-f", f, "ps", "--services", "cache", "db"); got != "cache\ndb\n" {
		t.Errorf("running after run app: %q, want its dependencies cache and db", got)
	}
}

// On a terminal compose run gives the one-off a terminal of its own, as
// docker compose run does; -T does not.
func TestCLI_ComposeRunTTY(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(`name: crtty
services:
  app:
    image: bb
    command: ["sleep", "1000"]
`)
	onTerminal := func(args ...string) string {
		t.Helper()
		cmd := c.command(append([]string{"compose", "-f", f, "run", "--rm"}, args...)...)
		ptmx, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 33, Cols: 101})
		if err != nil {
			t.Fatal(err)
		}
		defer ptmx.Close()
		out, _ := io.ReadAll(ptmx) // EIO once the CLI exits
		_ = cmd.Wait()
		return strings.ReplaceAll(string(out), "\r", "")
	}
	if got := onTerminal("app", "sh", "-c", "tty; stty size"); !strings.Contains(got, "/dev/pts/0") || !strings.Contains(got, "33 101") {
		t.Errorf("compose run on a terminal: %q, want /dev/pts/0 and the size 33 101", got)
	}
	if got := onTerminal("-T", "app", "tty"); !strings.Contains(got, "not a tty") {
		t.Errorf("compose run -T: %q, want no terminal", got)
	}
}
