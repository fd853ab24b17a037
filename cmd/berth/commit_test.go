package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berthproject/berth/image"
)

// layerFiles lists the files of the top layer of the image ref in c's
// store, as paths relative to the layer.
func layerFiles(t *testing.T, c *cli, ref string) []string {
	t.Helper()
	s, err := image.Open(c.root)
	if err != nil {
		t.Fatal(err)
	}
	img, err := s.Get(ref)
	if err != nil {
		t.Fatal(err)
	}
	top := img.Layers[len(img.Layers)-1]
	var files []string
	err = filepath.Walk(top, func(p string, _ os.FileInfo, err error) error {
		if err == nil && p != top {
			rel, _ := filepath.Rel(top, p)
			files = append(files, rel)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func TestCLI_Commit(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")
	c.must("run", "--name", "work", "bb:1", "sh", "-c", "echo hello > /hello; rm /etc/group")

	id := strings.TrimSpace(c.must("commit", "-c", `CMD ["cat","/hello"]`, "-c", "ENV A=b", "-m", "added hello", "-a", "Tess Ter", "work", "bb:committed"))
	if !strings.HasPrefix(id, "sha256:") || len(id) != 71 {
		t.Fatalf("commit printed %q, want an image ID", id)
	}
	if out := c.must("run", "--rm", "bb:committed"); out != "hello\n" {
		t.Errorf("the committed image's CMD printed %q", out)
	}
	out := c.must("run", "--rm", "bb:committed", "sh", "-c", `echo A=$A; test -e /etc/group && echo group there || echo group deleted`)
	if out != "A=b\ngroup deleted\n" {
		t.Errorf("in the committed image: %q", out)
	}
	// The new layer holds the container's changes and none of the mount
	// points (/proc, /etc/hosts...) the init made for it.
	if files := layerFiles(t, c, "bb:committed"); !slices.Equal(files, []string{"etc", "etc/group", "hello"}) {
		t.Errorf("the commit's layer holds %q, want etc, etc/group (the whiteout) and hello", files)
	}

	lines := strings.Split(strings.TrimSpace(c.must("history", "bb:committed")), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[1], id[7:19]+" ") || !strings.Contains(lines[1], "berth commit") ||
		!strings.Contains(lines[1], "6B") || !strings.Contains(lines[1], "added hello") || !strings.HasPrefix(lines[2], "<missing>") {
		t.Errorf("history of the commit:\n%s", strings.Join(lines, "\n"))
	}
	var view []map[string]any
	if err := json.Unmarshal([]byte(c.must("image", "inspect", "bb:committed")), &view); err != nil {
		t.Fatal(err)
	}
	if layers := view[0]["RootFS"].(map[string]any)["Layers"].([]any); len(layers) != 2 {
		t.Errorf("the commit has %d layers, want the image's one and its own", len(layers))
	}
}

func TestCLI_CommitNothingChangedRunningAndErrors(t *testing.T) {
	c := newCLI(t)
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb:1")

	// Nothing changed but the mount points: no layer, an empty history
	// entry, and the commit is a nameless image.
	c.must("run", "--name", "idle", "bb:1", "true")
	id := strings.TrimSpace(c.must("commit", "idle"))
	if images := c.must("images"); !strings.Contains(images, "<none>") || !strings.Contains(images, id[7:19]) {
		t.Errorf("a commit without a name is not listed as <none>:\n%s", images)
	}
	var rows []historyRow
	for _, l := range strings.Split(strings.TrimSpace(c.must("history", "--format", "json", id)), "\n") {
		var r historyRow
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("history --format json line %q: %v", l, err)
		}
		rows = append(rows, r)
	}
	if len(rows) != 2 || rows[0].Size != "0B" || rows[0].CreatedBy != "berth commit" {
		t.Errorf("history of an empty commit: %+v", rows)
	}

	// A running container: committed as it runs.
	c.must("run", "-d", "--name", "live", "bb:1", "sh", "-c", "echo x > /live; echo ready; sleep 100")
	for deadline := time.Now().Add(10 * time.Second); c.must("logs", "live") != "ready\n"; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the container did not get ready")
		}
	}
	c.must("commit", "live", "bb:live") // paused meanwhile, and running again after
	if out := c.must("run", "--rm", "bb:live", "cat", "/live"); out != "x\n" {
		t.Errorf("the running container's file in its commit: %q", out)
	}
	if st := strings.TrimSpace(c.must("inspect", "-f", "{{.State.Status}}", "live")); st != "running" {
		t.Errorf("after the commit the container is %q, want running (unpaused)", st)
	}
	c.must("commit", "--pause=false", "live", "bb:live2")
	c.must("rm", "-f", "live")

	c.must("run", "--name", "plain", "--rootfs", c.rootfs, "true")
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"a --rootfs container", []string{"commit", "plain"}, 1, "--rootfs"},
		{"RUN", []string{"commit", "-c", "RUN true", "idle"}, 2, "RUN cannot be changed by commit"},
		{"no such container", []string{"commit", "nope"}, 1, "no such container"},
		{"bad name", []string{"commit", "idle", "Bad:Name:x"}, 2, "Bad:Name:x"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := c.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.msg)
			}
		})
	}
}
