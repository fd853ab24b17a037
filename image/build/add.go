package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// httpGetter downloads ADD's URLs; *http.Client is one.
type httpGetter interface {
	Do(req *http.Request) (*http.Response, error)
}

// dispatchAdd is ADD: COPY, plus local tar archives (plain, gzip, bzip2,
// xz) unpacked into the destination and URLs downloaded. A zip, or any
// other file, is copied as it is.
func (b *builder) dispatchAdd(ctx context.Context, st *stageState, c *instructions.AddCommand) error {
	if c.KeepGitDir != nil {
		return errors.New("--keep-git-dir: ADD of a git repository is not supported yet; clone it into the build context and COPY it")
	}
	chmod, err := parseChmod(c.Chmod)
	if err != nil {
		return err
	}
	p := &copyPlan{instr: "ADD", chown: c.Chown, chmod: chmod, heredocs: c.SourceContents, unpack: c.Unpack == nil || *c.Unpack}
	p.dest, p.destIsDir = destOf(st.config.WorkingDir, c.DestPath, len(c.SourcePaths)+len(c.SourceContents))
	if p.tree, err = b.ctxDir.withExcludes(c.ExcludePatterns); err != nil {
		return err
	}
	var local []string
	var remote []source
	var remoteDigest strings.Builder
	for _, src := range c.SourcePaths {
		if isGitSource(src) {
			return fmt.Errorf("%s: ADD of a git repository is not supported yet; clone it into the build context and COPY it", src)
		}
		if !isURL(src) {
			local = append(local, src)
			continue
		}
		s, sum, cleanup, err := b.download(ctx, src, c.Checksum)
		if err != nil {
			return err
		}
		defer cleanup()
		remote = append(remote, s)
		fmt.Fprintf(&remoteDigest, "url %q %s\n", src, sum)
	}
	if c.Checksum != "" && len(remote) == 0 {
		return errors.New("--checksum is for URL sources only")
	}
	if p.srcs, err = p.tree.sources(local); err != nil {
		return err
	}
	digest, err := digestSources(p.tree, p.srcs, p.heredocs)
	if err != nil {
		return err
	}
	// Downloads are plain files outside the context: no unpacking (Docker
	// does not unpack URLs), each read from where it was saved.
	p.srcs = append(p.srcs, remote...)
	createdBy := historyOfCopy("ADD", "", c.Chown, c.Chmod, c.SourcePaths, c.SourceContents, c.DestPath)
	return b.commit(ctx, st, st.stepKey(createdBy, digest+"\n"+remoteDigest.String()), createdBy, b.copyChange(p))
}

func isURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// isGitSource tells git sources as BuildKit does: git@..., git://...,
// or a URL of a .git repository.
func isGitSource(s string) bool {
	if strings.HasPrefix(s, "git@") || strings.HasPrefix(s, "git://") {
		return true
	}
	if !isURL(s) {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && strings.HasSuffix(u.Path, ".git")
}

// download fetches an ADD URL into a temporary file: mode 0600 as Docker
// gives downloads, mtime from Last-Modified. With checksum
// ("sha256:HEX") the content must match.
func (b *builder) download(ctx context.Context, src, checksum string) (s source, sum string, cleanup func(), err error) {
	dir, err := os.MkdirTemp(b.o.TempDir, "berth-build-url-")
	if err != nil {
		return s, "", nil, err
	}
	remove := func() { os.RemoveAll(dir) }
	defer func() {
		if err != nil {
			remove()
		}
	}()
	u, err := url.Parse(src)
	if err != nil {
		return s, "", nil, fmt.Errorf("%s: %w", src, err)
	}
	name := path.Base(u.Path)
	if name == "/" || name == "." || name == "" {
		name = "index.html"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, src, nil)
	if err != nil {
		return s, "", nil, err
	}
	client := b.o.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		return s, "", nil, fmt.Errorf("downloading %s: %w", src, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return s, "", nil, fmt.Errorf("downloading %s: the server answered %s", src, resp.Status)
	}
	host := filepath.Join(dir, name)
	f, err := os.OpenFile(host, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return s, "", nil, err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(f, h), resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return s, "", nil, fmt.Errorf("downloading %s: %w", src, err)
	}
	sum = "sha256:" + hex.EncodeToString(h.Sum(nil))
	if checksum != "" && checksum != sum {
		return s, "", nil, fmt.Errorf("%s: the content's digest is %s, --checksum wants %s", src, sum, checksum)
	}
	mtime := time.Unix(0, 0)
	if lm, err := http.ParseTime(resp.Header.Get("Last-Modified")); err == nil {
		mtime = lm
	}
	if err := os.Chtimes(host, mtime, mtime); err != nil {
		return s, "", nil, err
	}
	fi, err := os.Lstat(host)
	if err != nil {
		return s, "", nil, err
	}
	return source{rel: name, path: host, name: name, info: fi, downloaded: true}, sum, remove, nil
}
