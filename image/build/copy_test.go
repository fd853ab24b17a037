package build

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestBuild_CopyPaths(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{
		"f.txt": "f", "g.txt": "g", "h.md": "h",
		"dir/one": "1", "dir/sub/two": "2",
		"etc/passwd": "root:x:0:0::/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
		"etc/group":  "root:x:0:\nstaff:x:50:\n",
	})
	if err := os.Chmod(filepath.Join(e.ctx, "f.txt"), 0o741); err != nil {
		t.Fatal(err)
	}
	img := e.mustBuild(`FROM scratch
COPY etc /etc
WORKDIR /w
COPY f.txt .
COPY f.txt /renamed
COPY f.txt /d/
COPY dir /contents
COPY dir /slash/
COPY *.txt /glob/
COPY f.txt g.txt /multi
COPY f.txt relative/
COPY --chown=app f.txt /owned-name
COPY --chown=app:staff f.txt /owned-group
COPY --chown=7:8 f.txt /owned-ids
COPY --chown=9 f.txt /owned-uid
COPY --chmod=600 dir /chmod
`, Options{})
	cases := []struct {
		path     string
		content  string
		mode     os.FileMode
		uid, gid uint32
	}{
		{"w/f.txt", "f", 0o741, 0, 0},
		{"renamed", "f", 0o741, 0, 0},
		{"d/f.txt", "f", 0o741, 0, 0},
		{"contents/one", "1", 0o644, 0, 0},
		{"contents/sub/two", "2", 0o644, 0, 0},
		{"slash/one", "1", 0o644, 0, 0},
		{"glob/f.txt", "f", 0o741, 0, 0},
		{"glob/g.txt", "g", 0o644, 0, 0},
		{"multi/g.txt", "g", 0o644, 0, 0},
		{"w/relative/f.txt", "f", 0o741, 0, 0},
		{"owned-name", "f", 0o741, 1000, 1001},
		{"owned-group", "f", 0o741, 1000, 50},
		{"owned-ids", "f", 0o741, 7, 8},
		{"owned-uid", "f", 0o741, 9, 9},
		{"chmod/one", "1", 0o600, 0, 0},
	}
	for _, tc := range cases {
		got, fi := file(t, img, tc.path)
		if fi == nil {
			t.Errorf("%s: missing", tc.path)
			continue
		}
		st := fi.Sys().(*syscall.Stat_t)
		if got != tc.content || fi.Mode().Perm() != tc.mode || st.Uid != tc.uid || st.Gid != tc.gid {
			t.Errorf("%s: %q %v %d:%d, want %q %v %d:%d", tc.path, got, fi.Mode().Perm(), st.Uid, st.Gid, tc.content, tc.mode, tc.uid, tc.gid)
		}
	}
	if _, fi := file(t, img, "glob/h.md"); fi != nil {
		t.Error("*.txt copied h.md")
	}
	if _, fi := file(t, img, "contents/dir"); fi != nil {
		t.Error("COPY dir /contents made /contents/dir: a directory copies its contents")
	}
	if _, fi := file(t, img, "chmod/sub"); fi == nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("--chmod on a directory: %v", fi)
	}
}

func TestBuild_Dockerignore(t *testing.T) {
	e := newEnv(t)
	e.write(map[string]string{
		".dockerignore": "*.log\nsecret/\nlogs/**\n!logs/keep.log\n",
		"app.txt":       "app", "debug.log": "x", "secret/key": "k", "logs/a.log": "a", "logs/keep.log": "keep",
	})
	img := e.mustBuild("FROM scratch\nCOPY . /app/\n", Options{})
	for p, want := range map[string]bool{"app/app.txt": true, "app/debug.log": false, "app/secret/key": false, "app/logs/a.log": false, "app/logs/keep.log": true, "app/Dockerfile": true} {
		if _, fi := file(t, img, p); (fi != nil) != want {
			t.Errorf("%s in the image: %v, want %v", p, fi != nil, want)
		}
	}
	if _, err := e.build("FROM scratch\nCOPY debug.log /\n", Options{}); err == nil || !strings.Contains(err.Error(), "debug.log: excluded from the build context by .dockerignore") {
		t.Errorf("COPY of an excluded file: %v", err)
	}
	// An ignored file changing does not touch the cache.
	e.write(map[string]string{"debug.log": "changed"})
	if again := e.mustBuild("FROM scratch\nCOPY . /app/\n", Options{}); again.ID != img.ID {
		t.Error("changing an ignored file changed the image")
	}
}

func TestBuild_ContextEscape(t *testing.T) {
	e := newEnv(t)
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(outside, filepath.Join(e.ctx, "out")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(outside, "secret"), filepath.Join(e.ctx, "link")); err != nil {
		t.Fatal(err)
	}
	cases := []struct{ name, line, want string }{
		{"dot-dot", "COPY ../secret /", "Dockerfile:2: COPY: ../secret: the path is outside the build context"},
		{"through a symlinked directory", "COPY out/secret /", "Dockerfile:2: COPY: out/secret: a symlink leads out of the build context"},
		{"a symlink to outside", "ADD link /", "Dockerfile:2: ADD: link: a symlink leads out of the build context"},
		{"missing", "COPY nothing.txt /", "nothing.txt: no such file or directory"},
		{"no match", "COPY *.nope /", "*.nope: no source files were specified"},
		{"git", "ADD https://github.com/moby/moby.git /src", "ADD of a git repository is not supported yet"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := e.build("FROM scratch\n"+tc.line+"\n", Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestBuild_AddArchives(t *testing.T) {
	e := newEnv(t)
	tarball := tarOf(t, map[string]string{"pkg/a": "A", "pkg/b": "B"})
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tarball)
	zw.Close()
	var zipped bytes.Buffer
	z := zip.NewWriter(&zipped)
	w, _ := z.Create("inside.txt")
	w.Write([]byte("zip"))
	z.Close()
	e.write(map[string]string{"plain.tar": string(tarball), "gz.tar.gz": gz.String(), "files.zip": zipped.String(), "note.txt": "n"})
	for _, c := range []struct{ prog, ext string }{{"bzip2", "bz2"}, {"xz", "xz"}} {
		cmd := exec.Command(c.prog, "-c")
		cmd.Stdin = bytes.NewReader(tarball)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v", c.prog, err)
		}
		e.write(map[string]string{"t.tar." + c.ext: string(out)})
	}
	evil := tarOf(t, map[string]string{"../escape": "x"})
	e.write(map[string]string{"evil.tar": string(evil)})

	img := e.mustBuild(`FROM scratch
ADD plain.tar /plain
ADD gz.tar.gz /gz/
ADD t.tar.bz2 /bz2
ADD t.tar.xz /xz
ADD files.zip /zip/
ADD note.txt /note
`, Options{})
	for _, d := range []string{"plain", "gz", "bz2", "xz"} {
		if got, _ := file(t, img, d+"/pkg/a"); got != "A" {
			t.Errorf("%s/pkg/a = %q: the archive was not unpacked", d, got)
		}
	}
	if got, _ := file(t, img, "zip/files.zip"); got != zipped.String() {
		t.Error("the zip was not copied as it is")
	}
	if got, _ := file(t, img, "note"); got != "n" {
		t.Errorf("note = %q", got)
	}
	if _, err := e.build("FROM scratch\nADD evil.tar /x/\n", Options{}); err == nil || !strings.Contains(err.Error(), "leaves the destination") {
		t.Errorf("an archive entry with ..: %v", err)
	}
}

func TestBuild_AddURL(t *testing.T) {
	e := newEnv(t)
	modified := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Last-Modified", modified.Format(http.TimeFormat))
		fmt.Fprint(w, "remote content")
	}))
	defer srv.Close()
	sum := sha256.Sum256([]byte("remote content"))
	digest := "sha256:" + hex.EncodeToString(sum[:])
	img := e.mustBuild(fmt.Sprintf("FROM scratch\nADD --checksum=%s %s/files/data.txt /dl/\n", digest, srv.URL), Options{})
	got, fi := file(t, img, "dl/data.txt")
	if got != "remote content" || fi.Mode().Perm() != 0o600 || !fi.ModTime().Equal(modified) {
		t.Errorf("downloaded: %q %v %v", got, fi.Mode().Perm(), fi.ModTime())
	}
	if _, err := e.build(fmt.Sprintf("FROM scratch\nADD --checksum=sha256:%064d %s/x /\n", 0, srv.URL), Options{}); err == nil || !strings.Contains(err.Error(), "--checksum wants") {
		t.Errorf("a wrong checksum: %v", err)
	}
}

func tarOf(t *testing.T, files map[string]string) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, content := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content)), Typeflag: tar.TypeReg, ModTime: time.Unix(1e9, 0)}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte(content))
	}
	tw.Close()
	return buf.Bytes()
}
