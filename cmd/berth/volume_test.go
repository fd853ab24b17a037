package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"

	"github.com/berthproject/berth/internal/testutil"
)

// imageWithVolumes gets an image whose config declares volumes into c's
// store. `berth image import` makes no config, so the image is built here
// with go-containerregistry, pushed to a registry on loopback and pulled,
// as a user would get one.
func imageWithVolumes(t *testing.T, c *cli, volumes ...string) string {
	t.Helper()
	reg := testutil.StartRegistry(t)
	layer, err := tarball.LayerFromFile(busyboxTar(t, c.rootfs))
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = "amd64", "linux"
	cf.Config = v1.Config{Cmd: []string{"sh"}, Env: []string{"PATH=/bin"}, Volumes: map[string]struct{}{}}
	for _, v := range volumes {
		cf.Config.Volumes[v] = struct{}{}
	}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	ref := reg.Host + "/test/vol:1"
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	c.must("pull", ref)
	return ref
}

// volumeNames lists c's volumes.
func (c *cli) volumeNames() []string {
	return strings.Fields(c.must("volume", "ls", "-q"))
}

// mountpoint is where volume name keeps its data on the host.
func (c *cli) mountpoint(name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.must("volume", "inspect", "-f", "{{.Mountpoint}}", name))
}

type mountJSON struct {
	Type, Name, Source, Destination, Driver string
	RW                                      bool
}

func (c *cli) mounts(ctr string) []mountJSON {
	c.t.Helper()
	var views []struct{ Mounts []mountJSON }
	if err := json.Unmarshal([]byte(c.must("inspect", ctr)), &views); err != nil {
		c.t.Fatal(err)
	}
	return views[0].Mounts
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still waiting for %s after 10 s", what)
		}
	}
}

func TestCLI_ImageVolumes(t *testing.T) {
	c := newCLI(t)
	seed := filepath.Join(c.rootfs, "data", "seed")
	if err := os.MkdirAll(filepath.Dir(seed), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seed, []byte("from the image\n"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chown(seed, 1000, 1000)
	os.Chown(filepath.Dir(seed), 1000, 1000)
	img := imageWithVolumes(t, c, "/data", "/cache")

	// Each VOLUME gets an anonymous volume, /data filled from the image.
	out := c.must("run", "--name", "a", img, "sh", "-c", "cat /data/seed; stat -c '%u %a' /data /data/seed; echo written > /data/new")
	if out != "from the image\n1000 755\n1000 640\n" {
		t.Errorf("inside: %q", out)
	}
	ms := c.mounts("a")
	if len(ms) != 2 || ms[0].Type != "volume" || ms[0].Driver != "local" || !ms[0].RW || len(ms[0].Name) != 64 {
		t.Fatalf("inspect Mounts: %+v", ms)
	}
	var data string
	for _, m := range ms {
		if m.Destination == "/data" {
			data = m.Source
		}
	}
	if data != c.mountpoint(filepath.Base(filepath.Dir(data))) || readFile(t, filepath.Join(data, "new")) != "written\n" {
		t.Errorf("the container's write is not in the volume on the host (%s)", data)
	}
	if vols := c.volumeNames(); len(vols) != 2 {
		t.Errorf("volumes after one run: %v", vols)
	}
	if cv := c.must("inspect", "-f", "{{json .Config.Volumes}}", "a"); cv != `{"/cache":{},"/data":{}}`+"\n" {
		t.Errorf("Config.Volumes = %s", cv)
	}

	// A flag's mount on a VOLUME path replaces its anonymous volume.
	host := t.TempDir()
	c.must("run", "--name", "b", "-v", host+":/cache", "--tmpfs", "/data", img, "true")
	if ms := c.mounts("b"); len(ms) != 2 || ms[0].Type == "volume" || ms[1].Type == "volume" {
		t.Errorf("with /cache and /data mounted by flags: %+v", ms)
	}
	if vols := c.volumeNames(); len(vols) != 2 {
		t.Errorf("flags' mounts made volumes anyway: %v", vols)
	}

	// rm -v takes the container's anonymous volumes, and only those.
	c.must("rm", "-v", "a", "b")
	if vols := c.volumeNames(); len(vols) != 0 {
		t.Errorf("volumes after rm -v: %v", vols)
	}
	if _, err := os.Stat(host); err != nil {
		t.Errorf("rm -v touched a host directory: %v", err)
	}

	// --rm takes them too, in the foreground and detached.
	if out := c.must("run", "--rm", img, "cat", "/data/seed"); out != "from the image\n" {
		t.Errorf("run --rm: %q", out)
	}
	if vols := c.volumeNames(); len(vols) != 0 {
		t.Errorf("volumes after run --rm: %v", vols)
	}
	c.must("run", "-d", "--rm", img, "sleep", "0.2")
	waitFor(t, "the detached --rm container and its volumes to go", func() bool {
		return c.must("ps", "-a", "-q") == "" && len(c.volumeNames()) == 0
	})
}

func TestCLI_NamedVolume(t *testing.T) {
	c := newCLI(t)
	www := filepath.Join(c.rootfs, "srv", "www")
	if err := os.MkdirAll(www, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(www, "index.html"), []byte("image page\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must("image", "import", busyboxTar(t, c.rootfs), "bb")

	// Created on first use, and filled from the image.
	out := c.must("run", "--name", "w", "-v", "site:/srv/www", "bb", "sh", "-c", "cat /srv/www/index.html; echo kept > /srv/www/note")
	if out != "image page\n" {
		t.Errorf("first use: %q", out)
	}
	ms := c.mounts("w")
	if len(ms) != 1 || ms[0].Type != "volume" || ms[0].Name != "site" || ms[0].Destination != "/srv/www" {
		t.Errorf("inspect Mounts: %+v", ms)
	}
	if b := c.must("inspect", "-f", "{{json .HostConfig.Binds}}", "w"); b != `["site:/srv/www"]`+"\n" {
		t.Errorf("Binds = %s", b)
	}
	mp := c.mountpoint("site")
	if readFile(t, filepath.Join(mp, "note")) != "kept\n" {
		t.Error("the container's write is not in the volume")
	}

	// rm, even rm -v, leaves a named volume; the next container gets its
	// data, not the image's again.
	c.must("rm", "-v", "w")
	if err := os.WriteFile(filepath.Join(mp, "index.html"), []byte("changed on the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out = c.must("run", "--rm", "-v", "site:/srv/www:ro", "bb", "sh", "-c", "cat /srv/www/index.html /srv/www/note; touch /srv/www/x 2>/dev/null || echo read-only")
	if out != "changed on the host\nkept\nread-only\n" {
		t.Errorf("reused volume: %q", out)
	}
	// nocopy: a new volume that stays empty.
	if out := c.must("run", "--rm", "-v", "bare:/srv/www:nocopy", "bb", "ls", "-A", "/srv/www"); out != "" {
		t.Errorf("nocopy volume holds %q", out)
	}
	c.must("volume", "rm", "bare")
	if vols := c.volumeNames(); len(vols) != 1 || vols[0] != "site" {
		t.Errorf("volumes: %v", vols)
	}

	// A stopped container still holds its volume.
	c.must("run", "--name", "holder", "-v", "site:/x", "bb", "true")
	_, errs, code := c.run("volume", "rm", "site")
	if code != 1 || !strings.Contains(errs, `volume "site" is in use by container holder`) || !strings.Contains(errs, "hint:  remove the container first: berth rm holder") {
		t.Errorf("volume rm of a volume in use: exit %d, %q", code, errs)
	}
	c.must("rm", "holder")
	if out := c.must("volume", "rm", "site"); out != "site\n" {
		t.Errorf("volume rm printed %q", out)
	}
	if _, err := os.Stat(mp); !os.IsNotExist(err) {
		t.Errorf("data left after volume rm: %v", err)
	}
}

func TestCLI_VolumeCommands(t *testing.T) {
	c := newCLI(t)
	if out := c.must("volume", "create", "--label", "team=a", "one"); out != "one\n" {
		t.Errorf("create printed %q", out)
	}
	c.must("volume", "create", "one") // exists: returned as it is
	random := strings.TrimSpace(c.must("volume", "create"))
	if len(random) != 64 {
		t.Errorf("create without a name printed %q", random)
	}
	var views []map[string]any
	if err := json.Unmarshal([]byte(c.must("volume", "inspect", "one")), &views); err != nil {
		t.Fatal(err)
	}
	v := views[0]
	labels, _ := v["Labels"].(map[string]any)
	if v["Name"] != "one" || v["Driver"] != "local" || v["Scope"] != "local" || labels["team"] != "a" ||
		v["Mountpoint"] != filepath.Join(c.root, "volumes", "one", "_data") {
		t.Errorf("inspect: %v", v)
	}
	if _, err := time.Parse(time.RFC3339, v["CreatedAt"].(string)); err != nil {
		t.Errorf("CreatedAt: %v", err)
	}
	var row map[string]any
	line := strings.Split(c.must("volume", "ls", "--format", "json"), "\n")[1] // sorted: the random one, then "one"
	if err := json.Unmarshal([]byte(line), &row); err != nil || row["Name"] != "one" || row["Labels"] != "team=a" {
		t.Errorf("ls --format json: %q (%v)", line, err)
	}
	if ls := c.must("volume", "ls"); !strings.Contains(ls, "DRIVER    VOLUME NAME\nlocal     "+random) {
		t.Errorf("ls:\n%s", ls)
	}

	for _, tc := range []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"one-character name", []string{"volume", "create", "x"}, 2, `invalid volume name "x"`},
		{"bad character", []string{"volume", "create", "a:b"}, 2, "[a-zA-Z0-9_.-]"},
		{"bad -v name", []string{"run", "--rm", "-v", "no$pe:/d", "--rootfs", c.rootfs, "--", "true"}, 125, "give its absolute path"},
		{"relative -v path", []string{"run", "--rm", "-v", "./dir:/d", "--rootfs", c.rootfs, "--", "true"}, 125, "must be absolute"},
		{"duplicate mount point", []string{"run", "--rm", "-v", "one:/d", "--tmpfs", "/d/", "--rootfs", c.rootfs, "--", "true"}, 125, "duplicate mount point /d"},
		{"missing volume", []string{"volume", "inspect", "nope"}, 1, "berth volume ls"},
		{"rm missing volume", []string{"volume", "rm", "nope"}, 1, `volume "nope": no such volume`},
		{"other driver", []string{"volume", "create", "-d", "nfs", "vv"}, 2, `only "local"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := c.run(tc.args...)
			if code != tc.code || !strings.HasPrefix(errs, "error: ") || !strings.Contains(errs, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q", code, errs, tc.code, tc.msg)
			}
		})
	}
	if _, errs, code := c.run("volume", "rm", "-f", "nope"); code != 0 {
		t.Errorf("rm -f of a missing volume: exit %d, %q", code, errs)
	}

	// df: "one" (1000 bytes) is used by a stopped container; the random
	// one (24 bytes) and an anonymous one (0 bytes) are not.
	if err := os.WriteFile(filepath.Join(c.mountpoint("one"), "f"), make([]byte, 1000), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.mountpoint(random), "f"), make([]byte, 24), 0o644); err != nil {
		t.Fatal(err)
	}
	c.must("run", "--name", "user", "-v", "one:/one", "--rootfs", c.rootfs, "--", "true")
	c.must("run", "--name", "anon", "-v", "/anon", "--rootfs", c.rootfs, "--", "true")
	c.must("rm", "anon") // without -v its volume stays, unused
	if df := c.must("system", "df"); !strings.Contains(df, "Local Volumes   3       1          1.02kB   24B") {
		t.Errorf("system df:\n%s", df)
	}
	var dfRow map[string]string
	for _, line := range strings.Split(strings.TrimSpace(c.must("system", "df", "--format", "json")), "\n") {
		var row map[string]string
		if err := json.Unmarshal([]byte(line), &row); err != nil {
			t.Fatalf("system df --format json: %q: %v", line, err)
		}
		if row["Type"] == "Local Volumes" {
			dfRow = row
		}
	}
	if dfRow["TotalCount"] != "3" || dfRow["Active"] != "1" || dfRow["Reclaimable"] != "24B" {
		t.Errorf("system df --format json, Local Volumes: %v", dfRow)
	}

	// prune asks first; without -a it takes only the anonymous volume.
	if out, _, code := c.runIn(strings.NewReader("n\n"), "volume", "prune"); code != 1 || !strings.Contains(out, "Are you sure") {
		t.Errorf("prune answered no: exit %d, %q", code, out)
	}
	if len(c.volumeNames()) != 3 {
		t.Error("prune removed something when told no")
	}
	out, _, code := c.runIn(strings.NewReader("y\n"), "volume", "prune")
	if code != 0 || strings.Contains(out, random) || !strings.Contains(out, "Deleted Volumes:") || !strings.Contains(out, "Total reclaimed space: 0B") {
		t.Errorf("prune: exit %d\n%s", code, out)
	}
	out = c.must("volume", "prune", "-a", "-f")
	if !strings.Contains(out, random) || strings.Contains(out, "one\n") || !strings.Contains(out, "Total reclaimed space: 24B") {
		t.Errorf("prune -a:\n%s", out)
	}
	if vols := c.volumeNames(); len(vols) != 1 || vols[0] != "one" {
		t.Errorf("after prune -a, with one in use: %v", vols)
	}
	c.must("rm", "user")
	c.must("volume", "rm", "one")
}
