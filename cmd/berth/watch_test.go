package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// watchRun is a berth watch running in the background.
type watchRun struct {
	c   *cli
	cmd *exec.Cmd
	out syncBuffer
}

func (c *cli) startWatch(args ...string) *watchRun {
	c.t.Helper()
	w := &watchRun{c: c, cmd: c.command(append([]string{"watch"}, args...)...)}
	w.cmd.Stdout, w.cmd.Stderr = &w.out, &w.out
	if err := w.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		if w.cmd.ProcessState == nil {
			_ = w.cmd.Process.Kill()
			_ = w.cmd.Wait()
		}
	})
	w.waitFor("watching ", 30*time.Second)
	return w
}

// waitFor waits until the output has text count times in all.
func (w *watchRun) waitForN(text string, n int, d time.Duration) {
	w.c.t.Helper()
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if strings.Count(w.out.String(), text) >= n {
			return
		}
	}
	w.c.t.Fatalf("watch did not print %q %d times within %v:\n%s", text, n, d, w.out.String())
}

func (w *watchRun) waitFor(text string, d time.Duration) { w.c.t.Helper(); w.waitForN(text, 1, d) }

// stop is Ctrl-C.
func (w *watchRun) stop() {
	w.c.t.Helper()
	if err := w.cmd.Process.Signal(syscall.SIGINT); err != nil {
		w.c.t.Fatal(err)
	}
	if err := w.cmd.Wait(); err != nil {
		w.c.t.Errorf("watch after Ctrl-C: %v\n%s", err, w.out.String())
	}
}

func writeFile(t *testing.T, p, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// eventually runs berth until its output is want (trimmed).
func (c *cli) eventually(want string, d time.Duration, args ...string) {
	c.t.Helper()
	var out, errs string
	for deadline := time.Now().Add(d); time.Now().Before(deadline); time.Sleep(30 * time.Millisecond) {
		out, errs, _ = c.run(args...)
		if strings.TrimSpace(out) == want {
			return
		}
	}
	c.t.Errorf("berth %v: %q (%s), want %q", args, out, strings.TrimSpace(errs), want)
}

func (c *cli) ids(names ...string) map[string]string {
	c.t.Helper()
	out := map[string]string{}
	for _, n := range names {
		out[n] = strings.TrimSpace(c.must("inspect", "-f", "{{.Id}}", n))
	}
	return out
}

const watchStackYAML = `name: wt
services:
  web:
    build: ./web
    deploy:
      replicas: 2
    develop:
      watch:
        - path: ./web/site
          action: sync
          target: /www
          ignore: ["*.tmp"]
        - path: ./web/Dockerfile
          action: rebuild
  job:
    image: bb
    command: ["sh", "-c", "cat /conf/x 2>/dev/null || echo no conf; exec sleep 1000"]
    develop:
      watch:
        - path: ./conf
          action: sync+restart
          target: /conf
        - path: ./hooks
          action: sync+exec
          target: /hooks
          exec:
            command: ["sh", "-c", "cat /hooks/h > /hook-ran"]
  idle:
    image: bb
    command: ["sleep", "1000"]
    environment:
      A: "1"
`

// Every develop.watch action, end to end, and the stack file's live
// reload.
func TestCLI_Watch(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(watchStackYAML)
	f := filepath.Join(dir, "compose.yaml")
	site := filepath.Join(dir, "web", "site")
	writeFile(t, filepath.Join(dir, "web", "Dockerfile"), "FROM bb\nCOPY site /www\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n")
	writeFile(t, filepath.Join(site, "index.html"), "v1\n")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })

	w := c.startWatch("-f", f)
	if !strings.Contains(w.out.String(), "Container wt-web-2  Started") {
		t.Errorf("watch did not bring the stack up:\n%s", w.out.String())
	}
	catWWW := func(replica, file string) []string { return []string{"exec", replica, "cat", "/www/" + file} }

	// sync: into both replicas, no restart.
	before := c.ids("wt-web-1", "wt-web-2", "wt-job-1", "wt-idle-1")
	writeFile(t, filepath.Join(site, "index.html"), "v2\n")
	w.waitFor("web: synced 1 file into 2 replicas", 5*time.Second)
	c.eventually("v2", 2*time.Second, catWWW("wt-web-1", "index.html")...)
	c.eventually("v2", 2*time.Second, catWWW("wt-web-2", "index.html")...)

	// A new directory, an ignored file, a rename-over save, a removal.
	writeFile(t, filepath.Join(site, "a", "b", "deep.html"), "deep\n")
	writeFile(t, filepath.Join(site, "notes.tmp"), "not synced\n")
	c.eventually("deep", 5*time.Second, catWWW("wt-web-2", "a/b/deep.html")...)
	writeFile(t, filepath.Join(site, ".index.html.new"), "v3\n")
	if err := os.Rename(filepath.Join(site, ".index.html.new"), filepath.Join(site, "index.html")); err != nil {
		t.Fatal(err)
	}
	c.eventually("v3", 5*time.Second, catWWW("wt-web-1", "index.html")...)
	if err := os.RemoveAll(filepath.Join(site, "a")); err != nil {
		t.Fatal(err)
	}
	c.eventually("index.html", 5*time.Second, "exec", "wt-web-1", "ls", "/www")
	if out, _, code := c.run(catWWW("wt-web-1", "notes.tmp")...); code == 0 {
		t.Errorf("an ignored file was synced: %q", out)
	}
	if got := c.ids("wt-web-1", "wt-web-2"); got["wt-web-1"] != before["wt-web-1"] || got["wt-web-2"] != before["wt-web-2"] {
		t.Error("sync recreated the replicas")
	}

	// sync+exec: the command runs after the files land.
	writeFile(t, filepath.Join(dir, "hooks", "h"), "hooked\n")
	w.waitFor("job: ran sh -c", 5*time.Second)
	c.eventually("hooked", 2*time.Second, "exec", "wt-job-1", "cat", "/hook-ran")

	// sync+restart: a new replica, which starts with the file.
	writeFile(t, filepath.Join(dir, "conf", "x"), "configured\n")
	w.waitFor("job: restarted 1 replica", 10*time.Second)
	if got := c.ids("wt-job-1")["wt-job-1"]; got == before["wt-job-1"] {
		t.Error("sync+restart did not replace job-1")
	}
	c.eventually("configured", 5*time.Second, "logs", "wt-job-1")
	// The replacement has the earlier syncs too.
	c.eventually("hooked", 2*time.Second, "exec", "wt-job-1", "cat", "/hooks/h")

	// rebuild: a new image, new replicas, the synced files still there.
	writeFile(t, filepath.Join(dir, "web", "Dockerfile"), "FROM bb\nCOPY site /www\nENV REBUILT=1\nCMD [\"httpd\", \"-f\", \"-p\", \"80\", \"-h\", \"/www\"]\n")
	w.waitFor("web: rebuilt; recreated 2 replicas", 30*time.Second)
	if got := c.ids("wt-web-1"); got["wt-web-1"] == before["wt-web-1"] {
		t.Error("rebuild did not replace web-1")
	}
	c.eventually("REBUILT=1", 2*time.Second, "exec", "wt-web-1", "sh", "-c", "env | grep REBUILT")
	c.eventually("v3", 2*time.Second, catWWW("wt-web-2", "index.html")...)

	// The stack file: an edit of one service recreates it alone.
	mid := c.ids("wt-web-1", "wt-web-2", "wt-job-1", "wt-idle-1")
	writeFile(t, f, strings.Replace(watchStackYAML, `A: "1"`, `A: "2"`, 1))
	w.waitFor("stack file reloaded: idle: 1 created", 10*time.Second)
	after := c.ids("wt-web-1", "wt-web-2", "wt-job-1", "wt-idle-1")
	for n, id := range after {
		if changed := id != mid[n]; changed != (n == "wt-idle-1") {
			t.Errorf("%s recreated: %v", n, changed)
		}
	}
	c.eventually("A=2", 2*time.Second, "exec", "wt-idle-1", "sh", "-c", "env | grep ^A=")

	// A broken edit: reported with its line, nothing touched; fixing it
	// applies it.
	broken := strings.Replace(watchStackYAML, "    command: [\"sleep\", \"1000\"]", "    command: [\"sleep\", \"1000\"\n", 1)
	writeFile(t, f, broken)
	w.waitFor("stack file not reloaded", 10*time.Second)
	// Its lines follow the status line: the file and line of the mistake.
	w.waitFor("compose.yaml:29:", 5*time.Second)
	if got := c.ids("wt-web-1", "wt-web-2", "wt-job-1", "wt-idle-1"); fmt.Sprint(got) != fmt.Sprint(after) {
		t.Error("a broken edit changed containers")
	}
	writeFile(t, f, strings.Replace(watchStackYAML, `A: "1"`, `A: "3"`, 1))
	w.waitForN("stack file reloaded: idle: 1 created", 2, 10*time.Second)

	// Ctrl-C ends the watch, not the stack.
	w.stop()
	if out := c.must("ps", "-q"); len(strings.Fields(out)) != 4 {
		t.Errorf("after the watch: %d containers run, want 4", len(strings.Fields(out)))
	}
	// No watch any more: a change is not synced.
	writeFile(t, filepath.Join(site, "index.html"), "v4\n")
	time.Sleep(500 * time.Millisecond)
	if out := c.must(catWWW("wt-web-1", "index.html")...); strings.TrimSpace(out) != "v3" {
		t.Errorf("synced after the watch ended: %q", out)
	}
}

// A burst of a thousand files (a git checkout) is one rebuild, not one
// per file; watch --no-up needs the stack up.
func TestCLI_WatchBurst(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: wb
services:
  app:
    build: .
    develop:
      watch:
        - path: ./src
          action: rebuild
`)
	f := filepath.Join(dir, "compose.yaml")
	writeFile(t, filepath.Join(dir, "Dockerfile"), "FROM bb\nCOPY src /src\nCMD [\"sleep\", \"1000\"]\n")
	writeFile(t, filepath.Join(dir, "src", "main.txt"), "0\n")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })

	if _, errOut, code := c.run("watch", "--no-up", "-f", f); code == 0 || !strings.Contains(errOut, "is not up") {
		t.Errorf("watch --no-up of a stack that is not up: exit %d\n%s", code, errOut)
	}
	c.must("up", "-d", "-f", f)
	w := c.startWatch("--no-up", "--quiet", "-f", f)
	for i := range 1000 {
		writeFile(t, filepath.Join(dir, "src", fmt.Sprintf("d%d", i%20), fmt.Sprintf("f%d.txt", i)), fmt.Sprint(i))
	}
	w.waitFor("app: rebuilt; recreated 1 replica", 60*time.Second)
	time.Sleep(time.Second)
	if n := strings.Count(w.out.String(), "app: rebuilding"); n != 1 {
		t.Errorf("%d rebuilds for one burst, want 1:\n%s", n, w.out.String())
	}
	if strings.Contains(w.out.String(), " Container ") {
		t.Errorf("--quiet printed the containers' progress:\n%s", w.out.String())
	}
	c.eventually("1000", 2*time.Second, "exec", "wb-app-1", "sh", "-c", "find /src -name 'f*.txt' | wc -l")
	w.stop()
}

// up --watch: the logs and the watch's lines together; Ctrl-C stops the
// watch and the stack.
func TestCLI_UpWatch(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	hostDir := t.TempDir()
	dir := c.stackDir(`name: uw
services:
  app:
    image: bb
    command: ["sh", "-c", "echo app is up; exec sleep 1000"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /src
          initial_sync: true
`)
	f := filepath.Join(dir, "compose.yaml")
	writeFile(t, filepath.Join(dir, "src", "before.txt"), "there before\n")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	if _, errOut, code := c.run("up", "-d", "--watch", "-f", f); code != 2 || !strings.Contains(errOut, "cannot be combined with -d") {
		t.Errorf("up -d --watch: exit %d\n%s", code, errOut)
	}
	up := c.command("up", "--watch", "-f", f)
	var out syncBuffer
	up.Stdout, up.Stderr = &out, &out
	if err := up.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if up.ProcessState == nil {
			_ = up.Process.Kill()
			_ = up.Wait()
		}
	})
	waitOut := func(text string) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if strings.Contains(out.String(), text) {
				return
			}
		}
		t.Fatalf("up --watch did not print %q:\n%s", text, out.String())
	}
	waitOut("app-1 | app is up")
	waitOut("uw: watching 1 rules of app")
	// initial_sync: what the rule takes is copied in as the watch starts.
	waitOut("app: initial sync: 2 files and directories into 1 replica")
	c.eventually("there before", 2*time.Second, "exec", "uw-app-1", "cat", "/src/before.txt")
	writeFile(t, filepath.Join(dir, "src", "main.txt"), "synced\n")
	waitOut("app: synced 1 file into 1 replica")
	c.eventually("synced", 2*time.Second, "exec", "uw-app-1", "cat", "/src/main.txt")
	// The container turns a synced directory into a symbolic link to a
	// directory of the host's: a sync through it stays in the container.
	if err := os.Mkdir(filepath.Join(dir, "src", "esc"), 0o755); err != nil {
		t.Fatal(err)
	}
	c.eventually("directory", 5*time.Second, "exec", "uw-app-1", "stat", "-c", "%F", "/src/esc")
	c.must("exec", "uw-app-1", "sh", "-c", "rm -r /src/esc && ln -s "+hostDir+" /src/esc")
	writeFile(t, filepath.Join(dir, "src", "esc", "x"), "escaped\n")
	waitOut("app: sync failed")
	if entries, _ := os.ReadDir(hostDir); len(entries) > 0 {
		t.Errorf("a sync followed the container's symbolic link out to the host: %s has %v", hostDir, entries)
	}
	if err := up.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if err := up.Wait(); err != nil {
		t.Errorf("up --watch after Ctrl-C: %v\n%s", err, out.String())
	}
	if running := c.must("ps", "-q"); running != "" {
		t.Errorf("containers run after Ctrl-C: %q", running)
	}
}

// A watch outlives its engine: kill -9 the engine and a new one is
// started, which takes the watch over; the replica is not replaced.
func TestCLI_WatchOutlivesItsEngine(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: wk
services:
  app:
    image: bb
    command: ["sleep", "1000"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /src
`)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	w := c.startWatch("-f", f)
	before := c.ids("wk-app-1")
	if err := syscall.Kill(c.enginePid(), syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	w.waitFor("berth's engine went away; starting it again, the watch goes on", 20*time.Second)
	w.waitForN("wk: watching 1 rules of app", 2, 30*time.Second)
	writeFile(t, filepath.Join(dir, "src", "after.txt"), "synced by the new engine\n")
	w.waitFor("app: synced 1 file into 1 replica", 20*time.Second)
	c.eventually("synced by the new engine", 2*time.Second, "exec", "wk-app-1", "cat", "/src/after.txt")
	if after := c.ids("wk-app-1"); after["wk-app-1"] != before["wk-app-1"] {
		t.Errorf("the new engine replaced the replica: %s, was %s", after["wk-app-1"], before["wk-app-1"])
	}
	w.stop()
}

// Synced files, and the directories made for them, belong to the
// container's user, as docker compose's sync (a tar run as that user)
// leaves them; the host file's mode stays.
func TestCLI_WatchSyncOwner(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	dir := c.stackDir(`name: wo
services:
  app:
    image: bb
    user: "4242:4343"
    command: ["sleep", "1000"]
    develop:
      watch:
        - path: ./src
          action: sync
          target: /data/src
`)
	f := filepath.Join(dir, "compose.yaml")
	t.Cleanup(func() { c.run("down", "-t", "0", "-f", f) })
	w := c.startWatch("-f", f)
	writeFile(t, filepath.Join(dir, "src", "sub", "run.sh"), "#!/bin/sh\n")
	if err := os.Chmod(filepath.Join(dir, "src", "sub", "run.sh"), 0o750); err != nil {
		t.Fatal(err)
	}
	w.waitFor("app: synced", 10*time.Second)
	c.eventually("4242:4343 750 /data/src/sub/run.sh\n4242:4343 755 /data/src/sub\n4242:4343 755 /data/src\n4242:4343 755 /data", 5*time.Second,
		"exec", "wo-app-1", "stat", "-c", "%u:%g %a %n", "/data/src/sub/run.sh", "/data/src/sub", "/data/src", "/data")
	w.stop()
}
