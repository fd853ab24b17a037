package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// stackDir writes compose.yaml into a directory of the test's and returns
// the directory.
func (c *cli) stackDir(yaml string) string {
	c.t.Helper()
	dir := c.t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "compose.yaml"), []byte(yaml), 0o644); err != nil {
		c.t.Fatal(err)
	}
	return dir
}

// A stack comes up with its network, replicas that find each other by
// service name and a published port; up again changes nothing; a changed
// service and a new replica count are applied; down leaves nothing.
func TestCLI_StackUpDown(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	port := c.freePort()
	web := `["sh", "-c", "mkdir -p /www && hostname > /www/index.html && exec httpd -f -p 80 -h /www"]`
	yaml := fmt.Sprintf(`name: st
services:
  web:
    image: bb
    command: %s
    deploy:
      replicas: 2
  front:
    image: bb
    command: ["sh", "-c", "mkdir -p /www && echo FRONT > /www/index.html && exec httpd -f -p 80 -h /www"]
    ports: ["127.0.0.1:%d:80"]
    depends_on: [web]
`, web, port)
	dir := c.stackDir(yaml)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-f", f) })

	plan := c.must("up", "-d", "--dry-run", "-f", f)
	for _, want := range []string{"create-network network:st_default  missing", "create         container:st-web-2  missing", "container:st-front-1  missing after #0,#2,#4"} {
		if !strings.Contains(plan, want) {
			t.Errorf("dry run lacks %q:\n%s", want, plan)
		}
	}
	if ps := c.must("ps", "-a", "-q"); ps != "" {
		t.Fatalf("--dry-run created containers: %q", ps)
	}

	_, progress, code := c.run("up", "-d", "-f", f)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, progress)
	}
	for _, want := range []string{" Network st_default  Created", " Container st-web-1  Started", " Container st-front-1  Started"} {
		if !strings.Contains(progress, want) {
			t.Errorf("up's output lacks %q:\n%s", want, progress)
		}
	}
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || got != "FRONT\n" {
		t.Errorf("published port: %q, %v", got, err)
	}
	// The service's name answers for every replica.
	out, code := c.in([]string{"--network", "st_default"}, `nslookup web | grep -c '^Address: 10\.'`)
	if code != 0 || strings.TrimSpace(out) != "2" {
		t.Errorf("web resolves to %q addresses (exit %d), want 2", out, code)
	}
	for _, name := range []string{"st-web-1", "st-web-2"} {
		labels := c.must("inspect", "-f", `{{index .Config.Labels "com.docker.compose.service"}} {{index .Config.Labels "com.docker.compose.container-number"}}`, name)
		if !strings.HasPrefix(labels, "web ") {
			t.Errorf("%s labels: %q", name, labels)
		}
	}

	if again := c.must("up", "-d", "--dry-run", "-f", f); !strings.Contains(again, "nothing to do") {
		t.Errorf("a second up plans:\n%s", again)
	}
	idsBefore := c.must("ps", "-q")
	c.must("up", "-d", "-f", f)
	if ids := c.must("ps", "-q"); ids != idsBefore {
		t.Errorf("a second up changed the containers:\n%s\nbefore:\n%s", ids, idsBefore)
	}

	// One more replica, and front's config changed: web-3 is added,
	// front is recreated, web-1 and web-2 stay as they are.
	changed := strings.Replace(strings.Replace(yaml, "replicas: 2", "replicas: 3", 1), "echo FRONT", "echo FRONT2", 1)
	if err := os.WriteFile(f, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	web1 := c.must("inspect", "-f", "{{.Id}}", "st-web-1")
	c.must("up", "-d", "-f", f)
	if got := c.must("inspect", "-f", "{{.Id}}", "st-web-1"); got != web1 {
		t.Error("web-1 was recreated, though its service did not change")
	}
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || got != "FRONT2\n" {
		t.Errorf("after the change, the published port serves %q, %v", got, err)
	}
	c.must("inspect", "st-web-3")

	// Scale down: the highest numbers go.
	c.must("up", "-d", "--scale", "web=1", "-f", f)
	for _, gone := range []string{"st-web-2", "st-web-3"} {
		if _, _, code := c.run("inspect", gone); code == 0 {
			t.Errorf("%s is still there after --scale web=1", gone)
		}
	}

	start := time.Now()
	_, progress, code = c.run("down", "-f", f)
	if code != 0 {
		t.Fatalf("down: exit %d\n%s", code, progress)
	}
	if ps := c.must("ps", "-a", "-q"); ps != "" {
		t.Errorf("containers left after down: %q", ps)
	}
	if nets := c.must("network", "ls"); strings.Contains(nets, "st_default") {
		t.Errorf("network left after down: %q", nets)
	}
	t.Logf("down took %v", time.Since(start))
}

// A stack file with a mistake changes nothing and says where it is.
func TestCLI_StackUpRefusesABadFile(t *testing.T) {
	c := newCLI(t)
	dir := c.stackDir("services:\n  web:\n    image: bb\n    ports: [\"80:80:80\"]\n")
	_, errOut, code := c.run("up", "-d", "-f", filepath.Join(dir, "compose.yaml"))
	if code == 0 || !strings.Contains(errOut, "compose.yaml:4") {
		t.Errorf("exit %d, stderr:\n%s", code, errOut)
	}
	if ps := c.must("ps", "-a", "-q"); ps != "" {
		t.Errorf("a bad file created containers: %q", ps)
	}
}

// A service with build: gets its image built by up, named
// <stack>-<service>; --build builds again, and an unchanged build (all
// cached, same image) recreates nothing.
func TestCLI_StackBuild(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: bs
services:
  app:
    build:
      context: ./app
      args:
        WORD: built
`)
	app := filepath.Join(dir, "app")
	if err := os.MkdirAll(app, 0o755); err != nil {
		t.Fatal(err)
	}
	dockerfile := "FROM bb\nARG WORD\nRUN echo $WORD > /word\nCMD [\"sh\", \"-c\", \"cat /word; exec sleep 1000\"]\n"
	if err := os.WriteFile(filepath.Join(app, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-f", f) })
	if _, errOut, code := c.run("up", "-d", "-f", f); code != 0 {
		t.Fatalf("up: exit %d\n%s", code, errOut)
	}
	if img := c.must("images", "-q", "bs-app"); strings.TrimSpace(img) == "" {
		t.Error("no image bs-app after up")
	}
	var logs string
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if logs = c.must("logs", "bs-app-1"); logs != "" {
			break
		}
	}
	if logs != "built\n" {
		t.Errorf("logs of bs-app-1: %q", logs)
	}
	id := c.must("inspect", "-f", "{{.Id}}", "bs-app-1")
	_, errOut, code := c.run("up", "-d", "--build", "-f", f)
	if code != 0 {
		t.Fatalf("up --build: exit %d\n%s", code, errOut)
	}
	if got := c.must("inspect", "-f", "{{.Id}}", "bs-app-1"); got != id {
		t.Errorf("an unchanged rebuild recreated the container:\n%s", errOut)
	}
	// down --rmi local takes the image the stack built, not its base.
	c.must("down", "--rmi", "local", "-f", f)
	if img := c.must("images", "-q", "bs-app"); strings.TrimSpace(img) != "" {
		t.Error("bs-app is still there after down --rmi local")
	}
	if img := c.must("images", "-q", "bb"); strings.TrimSpace(img) == "" {
		t.Error("down --rmi local took the base image bb too")
	}
}

// The engine replaces a replica whose process is killed (restart:
// always), with its static address and published port (the old replica's
// network goes down in the background, once its port is free), restarts
// an on-failure job only as often as max_attempts says, and leaves a
// replica that berth stop stopped.
func TestCLI_StackSelfHealing(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	port := c.freePort()
	dir := c.stackDir(fmt.Sprintf(`name: heal
networks:
  fixed:
    ipam:
      config:
        - subnet: 10.97.3.0/24
services:
  web:
    image: bb
    command: ["sleep", "1000"]
    restart: always
    ports: ["127.0.0.1:%d:80"]
    networks:
      fixed:
        ipv4_address: 10.97.3.10
  job:
    image: bb
    command: ["sh", "-c", "exit 3"]
    restart: on-failure:2
`, port))
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	c.must("up", "-d", "-f", f)

	old := strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", "heal-web-1"))
	killed := time.Now()
	if err := syscall.Kill(c.workloadPid("heal-web-1"), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if !c.waitReplaced("heal-web-1", old, 10*time.Second) {
		t.Fatal("heal-web-1 was not replaced after its process was killed")
	}
	t.Logf("kill -9 to a running replacement: %v", time.Since(killed))
	ns := c.netSettings("heal-web-1")
	if ip := ns.Networks["heal_fixed"].IPAddress; ip != "10.97.3.10" {
		t.Errorf("the replacement's address is %q, want the static 10.97.3.10 (%+v)", ip, ns.Networks)
	}
	if b := ns.Ports["80/tcp"]; len(b) != 1 || b[0].HostPort != fmt.Sprint(port) {
		t.Errorf("the replacement's published port: %v, want %d", ns.Ports, port)
	}
	// The engine reaps what it started: the old replica's init, helpers.
	time.Sleep(300 * time.Millisecond)
	if z := zombiesOf(c.enginePid()); len(z) > 0 {
		t.Errorf("the engine leaves zombie children: %v", z)
	}
	if rc := c.must("inspect", "-f", `{{index .Config.Labels "io.berth.restart-count"}}`, "heal-web-1"); strings.TrimSpace(rc) != "1" {
		t.Errorf("restart count label %q, want 1", rc)
	}

	// job fails at once: it runs 1 + 2 times, then stays exited.
	var count string
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, _, code := c.run("inspect", "-f", `{{.State.Running}} {{index .Config.Labels "io.berth.restart-count"}}`, "heal-job-1")
		if code == 0 && strings.TrimSpace(out) == "false 2" {
			count = "2"
			break
		}
	}
	if count != "2" {
		t.Fatal("heal-job-1 did not end up exited after 2 restarts")
	}
	time.Sleep(500 * time.Millisecond) // more than its next back-off
	if out := c.must("inspect", "-f", `{{index .Config.Labels "io.berth.restart-count"}}`, "heal-job-1"); strings.TrimSpace(out) != "2" {
		t.Errorf("heal-job-1 was restarted past max_attempts: count %q", out)
	}

	// berth stop: the engine leaves it stopped.
	c.must("stop", "-t", "1", "heal-web-1")
	stopped := c.must("inspect", "-f", "{{.Id}}", "heal-web-1")
	time.Sleep(500 * time.Millisecond)
	out := c.must("inspect", "-f", "{{.Id}} {{.State.Running}}", "heal-web-1")
	if !strings.HasPrefix(out, strings.TrimSpace(stopped)+" false") {
		t.Errorf("a stopped replica was restarted: %q", out)
	}
}

// zombiesOf lists the zombie children of pid.
func zombiesOf(pid int) []string {
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		i := strings.LastIndexByte(string(b), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(b[i+1:]))
		if len(f) > 1 && f[0] == "Z" && f[1] == strconv.Itoa(pid) {
			out = append(out, string(b[:i+1]))
		}
	}
	return out
}

// waitReplaced waits up to d for the container name to run in another
// container than old, and reports whether it did.
func (c *cli) waitReplaced(name, old string, d time.Duration) bool {
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		out, _, code := c.run("inspect", "-f", "{{.Id}} {{.State.Running}}", name)
		if f := strings.Fields(out); code == 0 && len(f) == 2 && f[0] != old && f[1] == "true" {
			return true
		}
	}
	return false
}

// enginePid is the pid of the root's engine, from its pid file.
func (c *cli) enginePid() int {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.root, "run", "engine.pid"))
	if err != nil {
		c.t.Fatalf("no engine pid file: %v", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if !strings.Contains(string(cmdline), c.root) {
		c.t.Fatalf("pid %d is not this test's engine: %q", pid, cmdline)
	}
	return pid
}

// Killing the engine (kill -9) leaves the containers running; the next
// up starts an engine that takes them over and restarts nothing, and an
// up of 30 replicas cut short by the kill is finished with no duplicate.
func TestCLI_StackSurvivesAKilledEngine(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: crash
services:
  web:
    image: bb
    command: ["sleep", "1000"]
    restart: always
    deploy:
      replicas: 3
`)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	c.must("up", "-d", "-f", f)
	before := c.must("ps", "-q")
	if err := syscall.Kill(c.enginePid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	if ps := c.must("ps", "-q"); ps != before {
		t.Fatalf("containers changed when the engine died:\n%s\nbefore:\n%s", ps, before)
	}
	if plan := c.must("up", "-d", "--dry-run", "-f", f); !strings.Contains(plan, "nothing to do") {
		t.Errorf("after the engine died, up plans:\n%s", plan)
	}
	c.must("up", "-d", "-f", f) // a new engine
	if ps := c.must("ps", "-q"); ps != before {
		t.Errorf("the new engine changed the containers:\n%s\nbefore:\n%s", ps, before)
	}

	// 30 replicas; the engine is killed while it creates them.
	big := `name: crash
services:
  web:
    image: bb
    command: ["sleep", "1000"]
    deploy:
      replicas: 30
`
	if err := os.WriteFile(f, []byte(big), 0o644); err != nil {
		t.Fatal(err)
	}
	up := c.command("up", "-d", "-f", f)
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	pid := c.enginePid()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if n := len(strings.Fields(c.must("ps", "-a", "-q"))); n >= 8 {
			break
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = up.Wait() // it fails: its engine died
	created := len(strings.Fields(c.must("ps", "-a", "-q")))
	if created >= 30 {
		t.Logf("the engine finished all 30 before it was killed; the cut-short case was not exercised this time")
	}
	c.must("up", "-d", "-f", f)
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(c.must("ps", "--format", "json")), "\n") {
		var row struct{ Names string }
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("ps --format json: %q: %v", line, err)
		}
		names = append(names, row.Names)
	}
	seen := map[string]bool{}
	for _, n := range names {
		if seen[n] {
			t.Errorf("%s twice", n)
		}
		seen[n] = true
	}
	if len(seen) != 30 {
		t.Errorf("%d replicas running after the second up, want 30 (%d were there when the engine died)", len(seen), created)
	}
	if all := strings.Fields(c.must("ps", "-a", "-q")); len(all) != 30 {
		t.Errorf("%d containers in all, want 30", len(all))
	}
}

// A service_healthy dependency holds its dependents until its health
// check passes; the engine keeps checking, inspect shows the health, and
// a replica that turns unhealthy is replaced when its service asks.
func TestCLI_StackHealthChecks(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: hc
services:
  db:
    image: bb
    command: ["sh", "-c", "sleep 1; touch /tmp/ready; exec sleep 1000"]
    labels:
      io.berth.restart-on-unhealthy: "true"
    healthcheck:
      test: ["CMD-SHELL", "test -f /tmp/ready"]
      interval: 300ms
      timeout: 2s
      retries: 2
      start_period: 10s
      start_interval: 100ms
  web:
    image: bb
    command: ["sleep", "1000"]
    depends_on:
      db:
        condition: service_healthy
`)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	start := time.Now()
	_, errOut, code := c.run("up", "--wait", "--wait-timeout", "20", "-f", f)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(errOut, " Stack hc  Ready") {
		t.Errorf("up --wait did not say the stack is ready:\n%s", errOut)
	}
	if time.Since(start) < time.Second {
		t.Errorf("up returned after %v, before db could be healthy (it sleeps 1 s first)", time.Since(start))
	}
	if !strings.Contains(errOut, " Service db  Healthy") {
		t.Errorf("up's output does not show the wait:\n%s", errOut)
	}
	if h := strings.TrimSpace(c.must("inspect", "-f", "{{.State.Health.Status}}", "hc-db-1")); h != "healthy" {
		t.Errorf("db's health after up: %q", h)
	}
	old := strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", "hc-db-1"))
	c.must("exec", "hc-db-1", "rm", "/tmp/ready")
	if !c.waitReplaced("hc-db-1", old, 15*time.Second) {
		t.Fatal("the unhealthy db was not replaced")
	}
}

// A start-first rolling update: a client asking for the service by name
// in a loop sees no failed request while every replica is replaced.
func TestCLI_StackRollingUpdate(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	stackFile := func(version string) string {
		return fmt.Sprintf(`name: roll
services:
  web:
    image: bb
    command: ["sh", "-c", "mkdir -p /www && echo %s > /www/index.html && exec httpd -f -p 80 -h /www"]
    deploy:
      replicas: 2
      update_config:
        parallelism: 1
        order: start-first
    healthcheck:
      test: ["CMD-SHELL", "timeout 1 wget -q -O /dev/null http://127.0.0.1/"]
      interval: 200ms
      start_period: 10s
      start_interval: 100ms
  client:
    image: bb
    command: ["sh", "-c", "while true; do if timeout 2 wget -q -O- http://web/ >/dev/null 2>&1; then echo ok; else echo FAIL; fi; sleep 0.05; done"]
    depends_on:
      web:
        condition: service_healthy
`, version)
	}
	dir := c.stackDir(stackFile("v1"))
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	c.must("up", "-d", "-f", f)
	old := c.must("inspect", "-f", "{{.Id}}", "roll-web-1", "roll-web-2")
	time.Sleep(500 * time.Millisecond)

	if err := os.WriteFile(f, []byte(stackFile("v2")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, progress, code := c.run("up", "-d", "-f", f)
	if code != 0 {
		t.Fatalf("up: exit %d\n%s", code, progress)
	}
	for _, want := range []string{"Renamed", "Ready", "Draining"} {
		if !strings.Contains(progress, want) {
			t.Errorf("the update's output lacks %q:\n%s", want, progress)
		}
	}
	if now := c.must("inspect", "-f", "{{.Id}}", "roll-web-1", "roll-web-2"); now == old {
		t.Fatal("the replicas were not replaced")
	}
	time.Sleep(300 * time.Millisecond)
	logs := c.must("logs", "roll-client-1")
	oks, fails := strings.Count(logs, "ok\n"), strings.Count(logs, "FAIL\n")
	if oks < 20 || fails != 0 {
		t.Errorf("the client saw %d answers and %d failures during the update", oks, fails)
	}
	if out, code := c.in([]string{"--network", "roll_default"}, "timeout 2 wget -q -O- http://web/"); code != 0 || out != "v2\n" {
		t.Errorf("after the update web serves %q (exit %d)", out, code)
	}
	// Nothing of the old replicas is left.
	if all := strings.Fields(c.must("ps", "-a", "-q")); len(all) != 3 {
		t.Errorf("%d containers after the update, want 3", len(all))
	}
}

// up in the foreground follows the replicas' logs, prefixed, and Ctrl-C
// stops the stack (which the engine then leaves stopped).
func TestCLI_StackUpForeground(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: fg
services:
  web:
    image: bb
    command: ["sh", "-c", "echo hello from $$(hostname); exec sleep 1000"]
    restart: always
    deploy:
      replicas: 2
`)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	up := c.command("up", "-f", f)
	var out, errOut syncBuffer
	up.Stdout, up.Stderr = &out, &errOut
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Count(out.String(), "| hello from") == 2 {
			break
		}
	}
	if got := out.String(); !strings.Contains(got, "web-1 | hello from") || !strings.Contains(got, "web-2 | hello from") {
		t.Errorf("up's output:\n%s\n%s", got, errOut.String())
	}
	// nsenter execs berth: the pid is berth's.
	if err := up.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Errorf("up after Ctrl-C: %v\n%s", err, errOut.String())
	}
	if !strings.Contains(errOut.String(), "Gracefully stopping") {
		t.Errorf("no graceful stop:\n%s", errOut.String())
	}
	time.Sleep(300 * time.Millisecond)
	if running := c.must("ps", "-q"); running != "" {
		t.Errorf("containers run after Ctrl-C: %q", running)
	}
}
