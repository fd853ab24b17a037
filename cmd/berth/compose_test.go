package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// composeStack imports busybox as bb, writes yaml as the stack file and
// brings it up; down runs at cleanup. It returns the stack's directory
// and file.
func (c *cli) composeStack(yaml string) (dir, file string) {
	c.t.Helper()
	c.must("image", "import", busyboxTar(c.t, c.rootfs), "bb")
	dir = c.stackDir(yaml)
	file = filepath.Join(dir, "compose.yaml")
	c.t.Cleanup(func() { c.run("compose", "-f", file, "down", "-t", "1") })
	if _, errOut, code := c.run("compose", "-f", file, "up", "-d"); code != 0 {
		c.t.Fatalf("compose up: exit %d\n%s", code, errOut)
	}
	return dir, file
}

// runInDir runs berth in dir (where discovery finds compose.yaml).
func (c *cli) runInDir(dir string, args ...string) (string, string, int) {
	c.t.Helper()
	cmd := c.command(args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Env, "COMPOSE_FILE=", "COMPOSE_PROJECT_NAME=")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.ProcessState == nil {
		c.t.Fatalf("running berth %v: %v", args, err)
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

const composeLoop = `["sh", "-c", "echo up; exec sleep 1000"]`

// ps, ls, images, port and top of a stack: compose's columns and JSON
// keys, filters, and a stack named by -p or found in its directory.
func TestCLI_ComposePsLsImagesPortTop(t *testing.T) {
	c := newCLI(t)
	port := c.freePort()
	dir, f := c.composeStack(fmt.Sprintf(`name: cps
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
  job:
    image: bb
    command: ["sh", "-c", "echo done"]
`, composeLoop, port))
	waitFor(t, "job to exit", func() bool {
		return strings.TrimSpace(c.must("compose", "-f", f, "ps", "-q", "--status", "exited")) != ""
	})

	table := c.must("compose", "-f", f, "ps")
	lines := strings.Split(strings.TrimSpace(table), "\n")
	if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME IMAGE COMMAND SERVICE CREATED STATUS PORTS" {
		t.Errorf("ps header: %q", lines[0])
	}
	if len(lines) != 4 || !strings.HasPrefix(lines[1], "cps-front-1 ") || !strings.HasPrefix(lines[2], "cps-web-1 ") || !strings.HasPrefix(lines[3], "cps-web-2 ") {
		t.Errorf("ps shows, want the running front-1, web-1, web-2 in name order:\n%s", table)
	}
	if !strings.Contains(lines[1], fmt.Sprintf("127.0.0.1:%d->80/tcp", port)) || !strings.Contains(lines[2], "Up ") || !strings.Contains(lines[2], " web ") {
		t.Errorf("ps rows lack ports, status or service:\n%s", table)
	}
	if all := c.must("compose", "-f", f, "ps", "-a"); !regexp.MustCompile(`cps-job-1 .* job .*Exited \(0\)`).MatchString(all) {
		t.Errorf("ps -a lacks the exited job:\n%s", all)
	}

	var rows []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(c.must("compose", "-f", f, "ps", "-a", "--format", "json")), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("ps --format json line %q: %v", line, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 4 {
		t.Fatalf("ps -a --format json: %d rows, want 4", len(rows))
	}
	for _, key := range []string{"ID", "Name", "Image", "Command", "Project", "Service", "Created", "State", "Status", "Health", "ExitCode", "Publishers", "Labels", "LocalVolumes", "Mounts", "Networks", "RunningFor", "Size"} {
		if _, ok := rows[0][key]; !ok {
			t.Errorf("ps --format json lacks %s: %v", key, rows[0])
		}
	}
	front, job := rows[0], rows[1]
	if front["Name"] != "cps-front-1" || front["Project"] != "cps" || front["Service"] != "front" || front["State"] != "running" ||
		front["Image"] != "bb" || front["Networks"] != "cps_default" || len(front["ID"].(string)) != 64 {
		t.Errorf("front's row: %v", front)
	}
	pubs := fmt.Sprint(front["Publishers"])
	if want := fmt.Sprintf("[map[Protocol:tcp PublishedPort:%d TargetPort:80 URL:127.0.0.1]]", port); pubs != want {
		t.Errorf("front's Publishers: %s, want %s", pubs, want)
	}
	if job["Name"] != "cps-job-1" || job["State"] != "exited" || job["ExitCode"] != float64(0) || !strings.Contains(job["Labels"].(string), "com.docker.compose.service=job") {
		t.Errorf("job's row: %v", job)
	}

	if got := c.must("compose", "-f", f, "ps", "--services"); got != "front\nweb\n" {
		t.Errorf("ps --services: %q", got)
	}
	if got := c.must("compose", "-f", f, "ps", "-a", "--services"); got != "front\njob\nweb\n" {
		t.Errorf("ps -a --services: %q", got)
	}
	if ids := strings.Fields(c.must("compose", "-f", f, "ps", "-q", "web")); len(ids) != 2 || len(ids[0]) != 64 {
		t.Errorf("ps -q web: %q", ids)
	}
	if got := c.must("compose", "-f", f, "ps", "--status", "exited", "--services"); got != "job\n" {
		t.Errorf("ps --status exited: %q", got)
	}
	if _, errOut, code := c.run("compose", "-f", f, "ps", "nosuch"); code == 0 || !strings.Contains(errOut, `no such service: "nosuch"`) {
		t.Errorf("ps of an unknown service: exit %d, %s", code, errOut)
	}

	// The stack is found from its directory, and by -p with no file.
	if out, errOut, code := c.runInDir(dir, "compose", "ps", "--services"); code != 0 || out != "front\nweb\n" {
		t.Errorf("compose ps in the stack's directory: exit %d, %q %s", code, out, errOut)
	}
	if out, errOut, code := c.runInDir(t.TempDir(), "compose", "-p", "cps", "ps", "-a", "--services"); code != 0 || out != "front\njob\nweb\n" {
		t.Errorf("compose -p cps ps with no file: exit %d, %q %s", code, out, errOut)
	}

	ls := c.must("compose", "ls")
	if !regexp.MustCompile(`(?m)^NAME +STATUS +CONFIG FILES\ncps +exited\(1\), running\(3\) +` + regexp.QuoteMeta(f) + `$`).MatchString(ls) {
		t.Errorf("ls:\n%s", ls)
	}
	var stacks []map[string]string
	if err := json.Unmarshal([]byte(c.must("compose", "ls", "--format", "json")), &stacks); err != nil || len(stacks) != 1 ||
		stacks[0]["Name"] != "cps" || stacks[0]["Status"] != "exited(1), running(3)" || stacks[0]["ConfigFiles"] != f {
		t.Errorf("ls --format json: %v %v", stacks, err)
	}
	if got := c.must("compose", "ls", "-q"); got != "cps\n" {
		t.Errorf("ls -q: %q", got)
	}

	images := c.must("compose", "-f", f, "images")
	if !regexp.MustCompile(`(?m)^CONTAINER +REPOSITORY +TAG +IMAGE ID +SIZE\n(cps-\S+ +bb +latest +[0-9a-f]{12} .*\n){4}$`).MatchString(images) {
		t.Errorf("images:\n%s", images)
	}
	if ids := strings.Fields(c.must("compose", "-f", f, "images", "-q")); len(ids) != 1 {
		t.Errorf("images -q: %q, want the one image", ids)
	}

	if got := c.must("compose", "-f", f, "port", "front", "80"); got != fmt.Sprintf("127.0.0.1:%d\n", port) {
		t.Errorf("port front 80: %q", got)
	}
	if _, errOut, code := c.run("compose", "-f", f, "port", "front", "81"); code == 0 || !strings.Contains(errOut, "no port 81/tcp") {
		t.Errorf("port front 81: exit %d, %s", code, errOut)
	}

	top := c.must("compose", "-f", f, "top", "web")
	for _, want := range []string{"cps-web-1\nUID ", "cps-web-2\nUID ", "sleep 1000"} {
		if !strings.Contains(top, want) {
			t.Errorf("top web lacks %q:\n%s", want, top)
		}
	}
	if strings.Contains(top, "cps-front-1") {
		t.Errorf("top web shows front:\n%s", top)
	}
}

// syncBuffer is a bytes.Buffer a process writes while the test reads.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// logs: prefixes padded to the longest, --tail, --no-log-prefix, and -f
// following a replica added by --scale and one replaced by restart.
func TestCLI_ComposeLogs(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(`name: clg
services:
  a:
    image: bb
    command: ["sh", "-c", "echo one; echo two; exec sleep 1000"]
  chatter:
    image: bb
    command: ["sh", "-c", "echo hello >&2; exec sleep 1000"]
`)
	waitFor(t, "both to log", func() bool {
		out, errOut, _ := c.run("compose", "-f", f, "logs")
		return strings.Count(out, "\n") == 2 && errOut != ""
	})
	out, errOut, code := c.run("compose", "-f", f, "logs")
	if code != 0 || out != "a-1       | one\na-1       | two\n" || errOut != "chatter-1 | hello\n" {
		t.Errorf("logs: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := c.must("compose", "-f", f, "logs", "--tail", "1", "a"); got != "a-1 | two\n" {
		t.Errorf("logs --tail 1 a: %q", got)
	}
	if got := c.must("compose", "-f", f, "logs", "--no-log-prefix", "a"); got != "one\ntwo\n" {
		t.Errorf("logs --no-log-prefix a: %q", got)
	}
	if got := c.must("compose", "-f", f, "logs", "-t", "a"); !regexp.MustCompile(`^a-1 \| \d{4}-\d\d-\d\dT\S+Z one\n`).MatchString(got) {
		t.Errorf("logs -t a: %q", got)
	}
	if got := c.must("compose", "-f", f, "logs", "--since", "1h", "--until", "2000-01-01", "a"); got != "" {
		t.Errorf("logs --until 2000-01-01 printed %q", got)
	}

	// -f before the command is the file, after it --follow.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	follow := c.command("compose", "-f", f, "logs", "-f", "a")
	var followed syncBuffer
	follow.Stdout, follow.Stderr = &followed, &followed
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var waitErr error
	go func() { waitErr = follow.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = follow.Process.Kill() // fails harmlessly when it has ended
		<-done
	})
	wait := func(what string, cond func(string) bool) {
		t.Helper()
		for !cond(followed.String()) {
			select {
			case <-done:
				t.Fatalf("logs -f ended (%v) before %s:\n%s", waitErr, what, followed.String())
			case <-ctx.Done():
				t.Fatalf("logs -f: timed out waiting for %s:\n%s", what, followed.String())
			case <-time.After(50 * time.Millisecond):
			}
		}
	}
	wait("a-1's lines", func(s string) bool { return strings.Contains(s, "a-1 | two\n") })

	if _, errOut, code := c.run("compose", "-f", f, "up", "-d", "--scale", "a=2"); code != 0 {
		t.Fatalf("up --scale a=2: exit %d\n%s", code, errOut)
	}
	wait("the new replica a-2", func(s string) bool { return strings.Contains(s, "a-2 | two\n") })

	// A restarted replica is a new container of the same name.
	if _, errOut, code := c.run("compose", "-f", f, "restart", "-t", "1", "a"); code != 0 {
		t.Fatalf("restart a: exit %d\n%s", code, errOut)
	}
	wait("a-1 again after restart", func(s string) bool { return strings.Count(s, "a-1 | one\n") == 2 })
	if strings.Contains(followed.String(), "chatter") {
		t.Errorf("logs -f a followed chatter:\n%s", followed.String())
	}

	// Only Ctrl-C ends it.
	select {
	case <-done:
		t.Fatalf("logs -f ended by itself: %v", waitErr)
	case <-time.After(300 * time.Millisecond):
	}
	if err := syscall.Kill(follow.Process.Pid, syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
		if waitErr != nil {
			t.Errorf("logs -f after Ctrl-C: %v", waitErr)
		}
	case <-ctx.Done():
		t.Fatal("logs -f did not end on SIGINT")
	}
}

// stop, start, restart, kill and rm act on the stack's containers; start
// replaces an exited replica (pause and unpause: pause_test.go).
func TestCLI_ComposeStopStartRestartRm(t *testing.T) {
	c := newCLI(t)
	_, f := c.composeStack(fmt.Sprintf(`name: cctl
services:
  app:
    image: bb
    command: %s
    deploy:
      replicas: 2
  db:
    image: bb
    command: %s
`, composeLoop, composeLoop))
	ids := func(svc ...string) string {
		return c.must(append([]string{"compose", "-f", f, "ps", "-q"}, svc...)...)
	}
	before := ids("app")

	_, errOut, code := c.run("compose", "-f", f, "stop", "-t", "1", "app")
	if code != 0 || !strings.Contains(errOut, " Container cctl-app-1  Stopped") || !strings.Contains(errOut, " Container cctl-app-2  Stopped") {
		t.Fatalf("stop app: exit %d\n%s", code, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "--services"); got != "db\n" {
		t.Errorf("after stop app, running: %q", got)
	}
	if got := c.must("compose", "ls", "-a"); !strings.Contains(got, "exited(2), running(1)") {
		t.Errorf("ls -a after stop:\n%s", got)
	}

	// start replaces the exited replicas: new containers, same names.
	if _, errOut, code := c.run("compose", "-f", f, "start"); code != 0 {
		t.Fatalf("start: exit %d\n%s", code, errOut)
	}
	after := ids("app")
	if len(strings.Fields(after)) != 2 || after == before {
		t.Errorf("after start, app's ids %q (before %q)", after, before)
	}
	if got := c.must("compose", "-f", f, "ps", "--services"); got != "app\ndb\n" {
		t.Errorf("after start, running: %q", got)
	}

	dbBefore := ids("db")
	if _, errOut, code := c.run("compose", "-f", f, "restart", "-t", "1", "db"); code != 0 || !strings.Contains(errOut, "cctl-db-1") {
		t.Fatalf("restart db: exit %d\n%s", code, errOut)
	}
	if got := ids("db"); got == dbBefore || strings.TrimSpace(got) == "" {
		t.Errorf("restart db: ids %q, before %q", got, dbBefore)
	}
	if got := ids("app"); got != after {
		t.Errorf("restart db touched app: %q, was %q", got, after)
	}

	if _, errOut, code := c.run("compose", "-f", f, "kill", "-s", "TERM", "db"); code != 0 || !strings.Contains(errOut, "cctl-db-1  Killed") {
		t.Fatalf("kill db: exit %d\n%s", code, errOut)
	}
	waitFor(t, "db to exit after SIGTERM", func() bool { return ids("db") == "" })

	// rm asks first; no answer is no.
	out, errOut, code := c.runIn(strings.NewReader("n\n"), "compose", "-f", f, "rm", "db")
	if code != 0 || !strings.Contains(errOut, "Going to remove cctl-db-1\nAre you sure? [yN]") {
		t.Errorf("rm db: exit %d, %s%s", code, out, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "-a", "-q", "db"); got == "" {
		t.Error("rm db removed though the answer was n")
	}
	if _, errOut, code := c.run("compose", "-f", f, "rm", "-f", "app"); code != 0 || !strings.Contains(errOut, "No stopped containers") {
		t.Errorf("rm -f of running app: exit %d, %s", code, errOut)
	}
	if _, errOut, code := c.run("compose", "-f", f, "rm", "-s", "-f"); code != 0 || !strings.Contains(errOut, " Container cctl-app-2  Removed") {
		t.Errorf("rm -s -f: exit %d\n%s", code, errOut)
	}
	if got := c.must("compose", "-f", f, "ps", "-a", "-q"); got != "" {
		t.Errorf("containers left after rm -s -f: %q", got)
	}
	if _, errOut, code := c.run("compose", "-f", f, "start"); code == 0 || !strings.Contains(errOut, "no container to start") {
		t.Errorf("start with no containers: exit %d, %s", code, errOut)
	}

	if _, _, code := c.run("compose", "nosuch"); code != 2 {
		t.Errorf("compose nosuch: exit %d, want 2", code)
	}
}
