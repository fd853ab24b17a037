package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// buildContext writes a build context: files by name, relative to a new
// directory.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	writeFiles(t, dir, files)
	return dir
}

func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const appDockerfile = `FROM bb
ENV GREETING=hello
WORKDIR /app
COPY config.txt .
RUN echo "built by $(id -u)" > /app/built.txt && ls /sys/class/net > /app/nets
COPY page.txt /app/
RUN cat /app/page.txt > /app/page.copy
USER nobody
ENTRYPOINT ["/bin/sh", "-c"]
CMD ["echo $GREETING; id -un; pwd; cat built.txt config.txt page.copy"]
`

func TestCLI_Build(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	ctx := buildContext(t, map[string]string{"Dockerfile": appDockerfile, "config.txt": "config\n", "page.txt": "page 1\n"})

	out := c.must("build", "-t", "app:1", "--label", "team=berth", ctx)
	for _, want := range []string{"STEP 1/10: FROM bb", "STEP 5/10: RUN echo", "Successfully tagged docker.io/library/app:1"} {
		if !strings.Contains(out, want) {
			t.Errorf("build output lacks %q:\n%s", want, out)
		}
	}
	id := strings.TrimSpace(c.must("image", "inspect", "-f", "{{.Id}}", "app:1"))
	if got := c.must("run", "--rm", "--network", "none", "app:1"); got != "hello\nnobody\n/app\nbuilt by 0\nconfig\npage 1\n" {
		t.Errorf("running the built image printed %q", got)
	}
	// The step ran on the default bridge network: it had an interface.
	if nets := c.must("run", "--rm", "--network", "none", "app:1", "cat /app/nets"); !strings.Contains(nets, "eth0") {
		t.Errorf("the RUN step's interfaces: %q", nets)
	}
	if labels := c.must("image", "inspect", "-f", "{{.Config.Labels}}", "app:1"); !strings.Contains(labels, "team:berth") {
		t.Errorf("--label: %s", labels)
	}

	// Nothing changed: every step cached, the same image.
	out = c.must("build", "-t", "app:1", "--label", "team=berth", ctx)
	if n := strings.Count(out, "--> CACHED"); n != 9 {
		t.Errorf("%d steps cached, want 9:\n%s", n, out)
	}
	if again := strings.TrimSpace(c.must("build", "-q", "-t", "app:1", "--label", "team=berth", ctx)); again != id {
		t.Errorf("build -q printed %q, want the same id %s", again, id)
	}

	// One copied file changes: that step and those after it run again.
	writeFiles(t, ctx, map[string]string{"page.txt": "page 2\n"})
	out = c.must("build", "-t", "app:1", ctx)
	if n := strings.Count(out, "--> CACHED"); n != 4 {
		t.Errorf("%d steps cached after changing page.txt, want 4 (ENV, WORKDIR, COPY, RUN):\n%s", n, out)
	}
	if got := c.must("run", "--rm", "--network", "none", "app:1", "cat /app/page.copy"); got != "page 2\n" {
		t.Errorf("page.copy = %q", got)
	}
	if left := c.must("ps", "-a", "-q"); left != "" {
		t.Errorf("builds left containers: %q", left)
	}
}

func TestCLI_BuildNetworkNoneAndTarget(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	ctx := buildContext(t, map[string]string{"Dockerfile": `FROM bb AS builder
RUN ls /sys/class/net > /nets && echo compiled > /artifact

FROM bb AS never
RUN exit 9

FROM bb
COPY --from=builder /artifact /nets /
CMD ["cat", "/artifact", "/nets"]
`})
	c.must("build", "--network", "none", "-t", "multi", ctx)
	if got := c.must("run", "--rm", "--network", "none", "multi"); got != "compiled\nlo\n" {
		t.Errorf("the final stage printed %q", got)
	}
	c.must("build", "--network", "none", "--target", "builder", "-t", "builder", ctx)
	if got := c.must("run", "--rm", "--network", "none", "builder", "cat", "/artifact"); got != "compiled\n" {
		t.Errorf("--target builder: %q", got)
	}
	if _, errs, code := c.run("run", "--rm", "--network", "none", "builder", "cat", "/nets"); code != 0 {
		t.Errorf("--target builder lacks its own file: %s", errs)
	}
}

func TestCLI_BuildFailingRun(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")
	ctx := buildContext(t, map[string]string{"Dockerfile": "FROM bb\nRUN echo before\nRUN echo doomed; exit 3\nRUN echo after\n"})
	out, errs, code := c.run("build", "--network", "none", "-t", "broken", ctx)
	if code != 1 || !strings.Contains(errs, "RUN step 3/4 failed with exit code 3 (Dockerfile:3: RUN echo doomed; exit 3)") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
	if !strings.Contains(out, "doomed") || strings.Contains(out, "after") {
		t.Errorf("output:\n%s", out)
	}
	if _, _, code := c.run("image", "inspect", "broken"); code == 0 {
		t.Error("a failed build named an image")
	}
	if left := c.must("ps", "-a", "-q"); left != "" {
		t.Errorf("the failed step left a container: %q", left)
	}
	// -q shows the failing step's output all the same.
	_, errs, _ = c.run("build", "-q", "--network", "none", ctx)
	if !strings.Contains(errs, "doomed") {
		t.Errorf("build -q did not show the failing step's output: %q", errs)
	}
	// A Dockerfile mistake names file and line.
	writeFiles(t, ctx, map[string]string{"Dockerfile": "FROM bb\n\nCOPY missing.txt /\n"})
	if _, errs, code := c.run("build", ctx); code != 1 || !strings.Contains(errs, "Dockerfile:3: COPY: missing.txt: no such file or directory") {
		t.Errorf("exit %d, stderr %q", code, errs)
	}
}
