package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestSourcePosition_String(t *testing.T) {
	for _, c := range []struct {
		p    Position
		want string
	}{
		{Position{"compose.yaml", 12, 5}, "compose.yaml:12:5"},
		{Position{"/srv/app/compose.yaml", 3, 1}, "/srv/app/compose.yaml:3:1"},
		{Position{"sub/compose.yaml", 7, 0}, "sub/compose.yaml:7"},
		{Position{"compose.yaml", 0, 0}, "compose.yaml"},
	} {
		if got := c.p.String(); got != c.want {
			t.Errorf("%#v.String() = %q, want %q", c.p, got, c.want)
		}
	}
}

func TestSourceWarning_String(t *testing.T) {
	w := Warning{Position{"compose.yaml", 12, 5}, "services.web.gpus", "berth does not implement gpus; it is ignored"}
	if got, want := w.String(), "compose.yaml:12:5: services.web.gpus: berth does not implement gpus; it is ignored"; got != want {
		t.Errorf("String() = %q, want %q", got, want)
	}
}

// mustIndex indexes files given as name, content, name, content...
func mustIndex(t *testing.T, nameContent ...string) *sourceIndex {
	t.Helper()
	var files []sourceFile
	for i := 0; i+1 < len(nameContent); i += 2 {
		files = append(files, sourceFile{Name: nameContent[i], Data: []byte(nameContent[i+1])})
	}
	ix, err := indexSources(files)
	if err != nil {
		t.Fatalf("indexSources: %v", err)
	}
	return ix
}

// lookupCase is a path and where it was written ("" for nowhere).
type lookupCase struct {
	path string // elements joined by "/"
	want string
}

func checkLookups(t *testing.T, ix *sourceIndex, cases []lookupCase) {
	t.Helper()
	for _, c := range cases {
		var path []string
		if c.path != "" {
			path = strings.Split(c.path, "/")
		}
		pos, ok := ix.lookup(path...)
		got := pos.String()
		if !ok {
			got = ""
		}
		if got != c.want {
			t.Errorf("lookup(%s) = %q (ok %v), want %q", c.path, got, ok, c.want)
		}
	}
}

const lookupBase = `services:
  web:
    image: nginx
    ports:
      - "80:80"
      - target: 443
        published: 8443
  db: {image: postgres, ports: ["5432:5432", {target: 5433}]}
volumes:
  data:
`

const lookupOverride = `services:
  web:
    image: nginx:1.27
  cache:
    image: redis
`

func TestSourceLookup_MultiFile(t *testing.T) {
	ix := mustIndex(t, "compose.yaml", lookupBase, "compose.override.yaml", lookupOverride)
	checkLookups(t, ix, []lookupCase{
		// The later file wins where both set a key...
		{"services/web/image", "compose.override.yaml:3:5"},
		{"services/web", "compose.override.yaml:2:3"},
		{"services", "compose.override.yaml:1:1"},
		{"services/cache/image", "compose.override.yaml:5:5"},
		// ...and the earlier one is found for what only it sets.
		{"services/web/ports", "compose.yaml:4:5"},
		{"services/web/ports/0", "compose.yaml:5:9"},
		{"services/web/ports/1", "compose.yaml:6:9"},
		{"services/web/ports/1/published", "compose.yaml:7:9"},
		{"volumes/data", "compose.yaml:10:3"},
		// Flow style.
		{"services/db", "compose.yaml:8:3"},
		{"services/db/image", "compose.yaml:8:8"},
		{"services/db/ports/0", "compose.yaml:8:33"},
		{"services/db/ports/1", "compose.yaml:8:46"},
		{"services/db/ports/1/target", "compose.yaml:8:47"},
		// Nowhere.
		{"services/web/ports/2", ""},
		{"services/web/ports/01", ""},
		{"services/web/ports/-1", ""},
		{"services/web/ports/x", ""},
		{"services/web/image/x", ""},
		{"services/nope", ""},
		{"networks", ""},
		// The empty path is the last file's root.
		{"", "compose.override.yaml:1:1"},
	})
}

const lookupAnchors = `x-base: &base
  image: busybox
  environment: &env
    A: "1"
x-more: &more
  user: nobody
  image: alpine
services:
  a:
    <<: *base
    image: own
  b:
    <<: [*more, *base]
  c: *base
  d:
    environment: *env
  e:
    <<: {image: inline}
    "<<": quoted
`

func TestSourceLookup_Anchors(t *testing.T) {
	ix := mustIndex(t, "compose.yaml", lookupAnchors)
	checkLookups(t, ix, []lookupCase{
		// A key of its own wins over a merged one.
		{"services/a/image", "compose.yaml:11:5"},
		// Merged keys are where the anchor's content was written.
		{"services/a/environment", "compose.yaml:3:3"},
		{"services/a/environment/A", "compose.yaml:4:5"},
		// The first mapping of a merge list wins.
		{"services/b/image", "compose.yaml:7:3"},
		{"services/b/user", "compose.yaml:6:3"},
		{"services/b/environment/A", "compose.yaml:4:5"},
		// An alias value: the key is where the alias is, what is under it
		// where the anchor is.
		{"services/c", "compose.yaml:14:3"},
		{"services/c/image", "compose.yaml:2:3"},
		{"services/d/environment/A", "compose.yaml:4:5"},
		{"services/e/image", "compose.yaml:18:10"},
		{"services/e/<<", "compose.yaml:19:5"},
		{"services/a/<<", ""},
		{"services/nope/image", ""},
	})
}

func TestSourceLookup_Documents(t *testing.T) {
	ix := mustIndex(t, "compose.yaml", "services:\n  web: {image: a, user: me}\n---\nservices:\n  web: {image: b}\n")
	checkLookups(t, ix, []lookupCase{
		{"services/web/image", "compose.yaml:5:9"},
		{"services/web/user", "compose.yaml:2:19"},
	})
}

func TestSourceLookup_BigMapping(t *testing.T) {
	var b strings.Builder
	b.WriteString("services:\n")
	for i := range 100 {
		fmt.Fprintf(&b, "  s%d: {image: x}\n", i)
	}
	b.WriteString("  s7: {image: duplicate}\n")
	ix := mustIndex(t, "compose.yaml", b.String())
	checkLookups(t, ix, []lookupCase{
		{"services/s0/image", "compose.yaml:2:8"},
		{"services/s99", "compose.yaml:101:3"},
		// The last of duplicate keys, as for a small mapping.
		{"services/s7/image", "compose.yaml:102:8"},
		{"services/s100", ""},
	})
}

// withinDeadline runs indexSources in a goroutine and fails the test if
// it has not returned after a generous deadline: a guard against a hang,
// not a measure of speed.
func withinDeadline(t *testing.T, files ...sourceFile) error {
	t.Helper()
	done := make(chan error, 1)
	go func() {
		_, err := indexSources(files)
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("indexSources did not return within 10 s")
		return nil
	}
}

// sourceLaughs is a "billion laughs" file: levels anchors, each a list of
// width aliases to the previous one.
func sourceLaughs(levels, width int) string {
	var b strings.Builder
	b.WriteString("x-a0: &a0 lol\n")
	for l := 1; l <= levels; l++ {
		fmt.Fprintf(&b, "x-a%d: &a%d [%s]\n", l, l, strings.TrimSuffix(strings.Repeat(fmt.Sprintf("*a%d, ", l-1), width), ", "))
	}
	return b.String()
}

func sourceDeepBlock(levels int) string {
	var b strings.Builder
	for i := range levels {
		b.WriteString(strings.Repeat("  ", i) + "a:\n")
	}
	return b.String()
}

func TestIndexSources_Bombs(t *testing.T) {
	nest50 := strings.Repeat("[", 50) + "1" + strings.Repeat("]", 50)
	for _, c := range []struct {
		name string
		data string
		want string // in the error
	}{
		{"billion laughs", sourceLaughs(9, 9),
			`compose.yaml:8:17: the document has more than 1000000 nodes once aliases are expanded here`},
		{"laughs through merge keys", "x-a: &a {a: 1, b: 2}\n" +
			"x-b: &b {<<: [" + strings.TrimSuffix(strings.Repeat("*a, ", 9), ", ") + "], c: *a, d: *a, e: *a}\n" +
			strings.Repeat("", 0) + "x-c: &c [" + strings.TrimSuffix(strings.Repeat("*b, ", 100), ", ") + "]\n" +
			"x-d: &d [" + strings.TrimSuffix(strings.Repeat("*c, ", 100), ", ") + "]\n" +
			"x-e: [" + strings.TrimSuffix(strings.Repeat("*d, ", 100), ", ") + "]\n",
			"compose.yaml:5:"},
		{"deep flow sequence", strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
			"compose.yaml:1:101: collections nested more than 100 levels deep"},
		{"deep flow mapping", strings.Repeat("{a: ", 10000) + "1" + strings.Repeat("}", 10000),
			"compose.yaml:1:401: collections nested more than 100 levels deep"},
		{"deeper than the parser takes", strings.Repeat("[", 15000) + strings.Repeat("]", 15000),
			"compose.yaml: yaml:"},
		{"deep block", sourceDeepBlock(150),
			"compose.yaml:101:201: collections nested more than 100 levels deep"},
		{"deep through aliases", "x-a: &a " + nest50 + "\nx-b: &b " + strings.Repeat("[", 50) + "*a" + strings.Repeat("]", 50) + "\n",
			"compose.yaml:2:59: alias *a nests collections more than 100 levels deep"},
		{"alias inside its anchor", "x-a: &a [1, *a]\n",
			"compose.yaml:1:13: alias *a is inside the node it names"},
		{"merge of itself", "x-a: &a\n  b: 1\n  <<: *a\n",
			"compose.yaml:3:7: alias *a is inside the node it names"},
		{"huge scalar", "services:\n  web:\n    command: " + strings.Repeat("x", 2<<20) + "\n",
			"compose.yaml:3:14: a scalar of 2097152 bytes, more than the 1 MiB berth reads in one"},
		{"huge block scalar", "x-a: |\n" + strings.Repeat("  "+strings.Repeat("y", 1000)+"\n", 1100),
			"compose.yaml:1:6: a scalar of 1101100 bytes"},
		{"huge file", "# " + strings.Repeat("z", 5<<20) + "\n",
			"compose.yaml: the file is 5242883 bytes, more than the 4 MiB berth reads in a stack file"},
		{"many flow items", "x-a: [" + strings.Repeat("1,\n", 60000) + "1]\n",
			"compose.yaml:50000: more than 50000 commas and brackets in the file"},
		{"many nodes", strings.Repeat("-\n", 1_500_000),
			"compose.yaml:333334: more than 1000000 words, punctuation marks and lines in the file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := withinDeadline(t, sourceFile{Name: "compose.yaml", Data: []byte(c.data)})
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %q\ndoes not contain %q", truncate(err.Error()), c.want)
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

// TestIndexSources_Accepts checks that what is near the limits, and real
// stack files, are accepted.
func TestIndexSources_Accepts(t *testing.T) {
	var big strings.Builder
	big.WriteString("x-common: &common\n  restart: always\n  labels: {team: a}\nservices:\n")
	for i := range 3000 {
		fmt.Fprintf(&big, "  svc%d:\n    <<: *common\n    image: registry.example.com/app/svc%d:1.2.3\n"+
			"    ports: [\"%d:80\"]\n    environment:\n      ID: \"%d\"\n", i, i, 10000+i, i)
	}
	cases := map[string]string{
		"wide aliases":          sourceLaughs(4, 30), // 30^4 = 810,000 nodes
		"deep but not too deep": strings.Repeat("[", 99) + strings.Repeat("]", 99),
		"alias depth at the limit": "x-a: &a " + strings.Repeat("[", 50) + "1" + strings.Repeat("]", 50) +
			"\nx-b: " + strings.Repeat("[", 49) + "*a" + strings.Repeat("]", 49) + "\n",
		"scalar at the limit": "x-a: " + strings.Repeat("x", 1<<20) + "\n",
		"3000 services":       big.String(),
		"empty":               "",
		"comments only":       "# nothing\n",
		"empty documents":     "---\n---\n",
	}
	for _, name := range []string{"voting-app.yaml", "compose.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "source", name))
		if err != nil {
			t.Fatal(err)
		}
		cases[name] = string(b)
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			if err := withinDeadline(t, sourceFile{Name: "compose.yaml", Data: []byte(data)}); err != nil {
				t.Errorf("refused: %v", truncate(err.Error()))
			}
		})
	}
}

func TestIndexSources_SyntaxErrorNamesFile(t *testing.T) {
	_, err := indexSources([]sourceFile{
		{Name: "compose.yaml", Data: []byte("services: {}\n")},
		{Name: "sub/override.yaml", Data: []byte("services:\n  web:\n    image: [\n")},
	})
	if err == nil || !strings.HasPrefix(err.Error(), "sub/override.yaml: ") || !strings.Contains(err.Error(), "line 3") {
		t.Errorf("error = %v, want one naming sub/override.yaml and its line 3", err)
	}
	_, err = indexSources([]sourceFile{{Name: "compose.yaml", Data: []byte("a: *nope\n")}})
	if err == nil || !strings.HasPrefix(err.Error(), "compose.yaml: ") {
		t.Errorf("error = %v, want one naming compose.yaml", err)
	}
}

func TestSourceLookup_RealFile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("testdata", "source", "voting-app.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	ix := mustIndex(t, "testdata/source/voting-app.yaml", string(b))
	checkLookups(t, ix, []lookupCase{
		{"services/vote/logging/options/max-size", "testdata/source/voting-app.yaml:16:7"},
		{"services/worker/restart", "testdata/source/voting-app.yaml:12:3"},
		{"services/vote/healthcheck/interval", "testdata/source/voting-app.yaml:6:3"},
		{"services/vote/healthcheck/test", "testdata/source/voting-app.yaml:34:7"},
		{"services/result/ports/1", "testdata/source/voting-app.yaml:65:24"},
		{"services/worker/deploy/resources/limits/pids", "testdata/source/voting-app.yaml:77:45"},
		{"networks/back-tier/ipam/config/0/gateway", "testdata/source/voting-app.yaml:132:11"},
	})
	if ws := ix.unimplemented(); len(ws) != 0 {
		t.Errorf("warnings for a file berth implements all of:\n%s", warningLines(ws))
	}
}

func warningLines(ws []Warning) string {
	var b strings.Builder
	for _, w := range ws {
		b.WriteString(w.String())
		b.WriteString("\n")
	}
	return b.String()
}

const unimplementedBase = `version: "3.9"
services:
  web:
    image: nginx
    gpus: all
    ports:
      - target: 80
        mode: host
        app_protocol: http
      - "8080:80"
    labels:
      gpus: not a key here
    environment:
      privileged_mode: x
    sysctls: {net.ipv4.ip_forward: 1}
    x-note: {gpus: all}
    logging:
      driver: ${LOG_DRIVER:-json-file}
      options: {max-size: 10m, compress: "true"}
    volumes:
      - type: bind
        source: .
        target: /src
        bind: {selinux: z, create_host_path: true}
    imgae: a typo, which compose-go rejects
    deploy:
      mode: global
      resources:
        limits: {cpus: "1", memory: 1g}
        reservations:
          devices: [{capabilities: [gpu]}]
x-anything:
  gpus: all
networks:
  front:
    driver: overlay
    attachable: true
    ipam: {driver: default}
volumes:
  data: {driver: local, driver_opts: {type: nfs}}
  other: {driver: rexray}
secrets:
  key: {environment: KEY, driver: vault}
`

const unimplementedOverride = `services:
  web:
    platform: linux/arm64
    gpus: !reset null
    logging: {driver: syslog}
`

func TestSourceUnimplemented(t *testing.T) {
	ix := mustIndex(t, "compose.yaml", unimplementedBase, "compose.override.yaml", unimplementedOverride)
	want := `compose.yaml:1:1: version: version is obsolete; it is ignored
compose.yaml:5:5: services.web.gpus: berth does not implement gpus; it is ignored
compose.yaml:8:9: services.web.ports[0].mode: berth does not implement mode; it is ignored
compose.yaml:9:9: services.web.ports[0].app_protocol: berth does not implement app_protocol; it is ignored
compose.yaml:19:32: services.web.logging.options.compress: berth does not implement compress; it is ignored
compose.yaml:24:16: services.web.volumes[0].bind.selinux: berth does not implement selinux; it is ignored
compose.yaml:27:7: services.web.deploy.mode: berth does not implement mode; it is ignored
compose.yaml:31:11: services.web.deploy.resources.reservations.devices: berth does not implement devices; it is ignored
compose.yaml:36:13: networks.front.driver: berth implements only "bridge"; "overlay" is ignored
compose.yaml:37:5: networks.front.attachable: berth does not implement attachable; it is ignored
compose.yaml:38:12: networks.front.ipam.driver: berth does not implement driver; it is ignored
compose.yaml:41:19: volumes.other.driver: berth implements only "local"; "rexray" is ignored
compose.yaml:43:27: secrets.key.driver: berth does not implement driver; it is ignored
compose.override.yaml:3:5: services.web.platform: berth does not implement platform; it is ignored
compose.override.yaml:5:23: services.web.logging.driver: berth implements only "json-file" and "local"; "syslog" is ignored
`
	if got := warningLines(ix.unimplemented()); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

func TestSourceUnimplemented_AnchorsWarnOnce(t *testing.T) {
	ix := mustIndex(t, "compose.yaml", `x-base: &base
  shm_size: 1g
  image: busybox
services:
  a: {<<: *base, ipc: host}
  b: {<<: *base}
  c: *base
  d:
    deploy: &deploy {placement: {constraints: []}}
  e:
    deploy: *deploy
`)
	want := `compose.yaml:2:3: services.a.shm_size: berth does not implement shm_size; it is ignored
compose.yaml:5:18: services.a.ipc: berth does not implement ipc; it is ignored
compose.yaml:9:22: services.d.deploy.placement: berth does not implement placement; it is ignored
`
	if got := warningLines(ix.unimplemented()); got != want {
		t.Errorf("warnings:\n%s\nwant:\n%s", got, want)
	}
}

// TestSourceImplemented_InSpec checks every key of berthImplements against
// the Compose schema: a key the schema does not know is a typo in the
// table, or a sign that the schema walk lost track.
func TestSourceImplemented_InSpec(t *testing.T) {
	var check func(shape *keyShape, schemas schemaSet, path string)
	check = func(shape *keyShape, schemas schemaSet, path string) {
		if shape == nil {
			return
		}
		if len(schemas) == 0 {
			t.Errorf("%s: lost track of the schema", path)
			return
		}
		if shape.items != nil {
			check(shape.items, schemas.items(), path+"[]")
		}
		if shape.names != nil {
			sub, ok := schemas.key("name")
			if !ok {
				t.Errorf("%s: the schema takes no names here", path)
			}
			check(shape.names, sub, path+".<name>")
		}
		for k, sub := range shape.fields {
			s, ok := schemas.key(k)
			if !ok {
				t.Errorf("%s.%s: not in the Compose schema", path, k)
			}
			check(sub, s, path+"."+k)
		}
	}
	check(berthImplements, rootSchemas(), "")
}

// TestSourceUnimplemented_EverySpecKey writes every key the Compose schema
// defines for a service, a network, a volume, a config, a secret and the
// top level, and checks each is implemented or warned.
func TestSourceUnimplemented_EverySpecKey(t *testing.T) {
	root := rootSchemas()
	declared := func(set schemaSet) []string {
		var keys []string
		for _, s := range set {
			for k := range s.Properties {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
		slices.Sort(keys)
		return keys
	}
	at := func(path ...string) (schemaSet, *keyShape) {
		set, shape := root, berthImplements
		for _, p := range path {
			set, _ = set.key(p)
			if shape.names != nil {
				shape = shape.names
			} else {
				shape = shape.fields[p]
			}
		}
		return set, shape
	}
	for _, path := range [][]string{{}, {"services", "web"}, {"networks", "n"}, {"volumes", "v"}, {"configs", "c"}, {"secrets", "s"}} {
		set, shape := at(path...)
		keys := declared(set)
		if len(keys) == 0 {
			t.Errorf("%v: no keys in the schema", path)
			continue
		}
		var doc strings.Builder
		for i, p := range path {
			fmt.Fprintf(&doc, "%s%s:\n", strings.Repeat("  ", i), p)
		}
		indent := strings.Repeat("  ", len(path))
		var unimplemented []string
		for _, k := range keys {
			fmt.Fprintf(&doc, "%s%s: null\n", indent, k)
			if sub, ok := shape.fields[k]; !ok || sub != nil && sub.obsolete != "" {
				unimplemented = append(unimplemented, strings.Join(append(slices.Clone(path), k), "."))
			}
		}
		ix := mustIndex(t, "compose.yaml", doc.String())
		var warned []string
		for _, w := range ix.unimplemented() {
			warned = append(warned, w.Key)
		}
		slices.Sort(warned)
		slices.Sort(unimplemented)
		if !slices.Equal(warned, unimplemented) {
			t.Errorf("%v: warned %v\nwant %v", path, warned, unimplemented)
		}
	}
}

// FuzzIndexSources feeds indexSources anything: it must return (an error
// naming the file, or an index), never panic or hang, and an index must
// answer lookups and list warnings with positions in the file.
func FuzzIndexSources(f *testing.F) {
	for _, s := range []string{
		lookupBase, lookupOverride, lookupAnchors, unimplementedBase,
		sourceLaughs(3, 3),
		"x-a: &a [1, *a]\n",
		"x-a: &a {<<: *a}\n",
		"[[[[[[[[[[]]]]]]]]]]",
		"{a: {b: {c: [1, 2, {d: e}]}}}",
		"services:\n  web: {image: a}\n---\nservices:\n  web: *x\n",
		"? [a, b]\n: c\n",
		"*a: b\n",
		"services: !reset {}\n",
		"services:\n  web:\n    ports: !override [\"80:80\"]\n",
		"a: |\n  text\n b: c\n",
		"\t- tab",
	} {
		f.Add([]byte(s))
	}
	if b, err := os.ReadFile(filepath.Join("testdata", "source", "voting-app.yaml")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ix, err := indexSources([]sourceFile{
			{Name: "base.yaml", Data: []byte("services:\n  web:\n    image: a\n")},
			{Name: "fuzz.yaml", Data: data},
		})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz.yaml") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		paths := [][]string{{}, {"services"}, {"services", "web"}, {"services", "web", "image"}, {"services", "web", "ports", "0"}, {"x"}}
		for _, p := range paths {
			if pos, ok := ix.lookup(p...); ok && (pos.Line < 1 || pos.Column < 1) {
				t.Fatalf("lookup(%v) = %v", p, pos)
			}
		}
		for _, w := range ix.unimplemented() {
			if w.Position.File != "fuzz.yaml" && w.Position.File != "base.yaml" || w.Position.Line < 1 || w.Key == "" {
				t.Fatalf("warning %v", w)
			}
		}
	})
}
