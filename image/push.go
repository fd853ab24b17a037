//go:build registry

package image

import (
	"context"
	"fmt"
	"io"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/sync/errgroup"
)

// Push uploads the image named ref to the registry its name points at:
// layer blobs from the store, then the config and the manifest as stored,
// byte for byte, so that a later Pull of the name yields the same
// manifest digest. Layers the registry has already are not sent
// ("exists").
func (s *Store) Push(ctx context.Context, ref string, progress Progress) error {
	n, err := NormalizeName(ref)
	if err != nil {
		return err
	}
	img, err := s.Get(n)
	if err != nil {
		return err
	}
	cfg, err := loadRegistryConfig()
	if err != nil {
		return err
	}
	r, err := parseRemote(ctx, n, cfg)
	if err != nil {
		return err
	}
	h, err := v1.NewHash(img.Digest)
	if err != nil {
		return err
	}
	// The layout package reads the store's blobs as they are; it is never
	// used to write.
	limg, err := layout.Path(s.imageDir()).Image(h)
	if err != nil {
		return fmt.Errorf("reading image %s from the store: %w", n, err)
	}
	layers, err := limg.Layers()
	if err != nil {
		return fmt.Errorf("reading layers of image %s: %w", n, err)
	}
	rep := &reporter{fn: progress}
	opts := remoteOptions(ctx, cfg)
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(pullJobs)
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		size, _ := l.Size()
		rep.emit(d, "waiting", 0, size)
		g.Go(func() error {
			pl := &pushLayer{Layer: l, digest: d, size: size, rep: rep}
			if err := remote.WriteLayer(r.Context(), pl, append(opts, remote.WithContext(gctx))...); err != nil {
				return fmt.Errorf("pushing layer %s: %w", d, err)
			}
			if pl.opened.Load() {
				rep.emit(d, "pushed", size, size)
			} else {
				rep.emit(d, "exists", size, size)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return registryError("pushing", r, err)
	}
	// The layers are there now: Write sends the config and the manifest.
	if err := remote.Write(r, limg, opts...); err != nil {
		return registryError("pushing", r, err)
	}
	return nil
}

// pushLayer reports a layer's upload; remote.WriteLayer opens it only
// when the registry lacks the blob.
type pushLayer struct {
	v1.Layer
	digest v1.Hash
	size   int64
	rep    *reporter
	opened atomic.Bool
}

func (l *pushLayer) Compressed() (io.ReadCloser, error) {
	rc, err := l.Layer.Compressed()
	if err != nil {
		return nil, err
	}
	l.opened.Store(true)
	l.rep.emit(l.digest, "pushing", 0, l.size)
	return &countingReadCloser{ReadCloser: rc, step: 1 << 20, onRead: func(n int64) {
		l.rep.emit(l.digest, "pushing", n, l.size)
	}}, nil
}

type countingReadCloser struct {
	io.ReadCloser
	n, next, step int64
	onRead        func(n int64)
}

func (c *countingReadCloser) Read(p []byte) (int, error) {
	n, err := c.ReadCloser.Read(p)
	c.n += int64(n)
	if c.n >= c.next {
		c.next = c.n + c.step
		c.onRead(c.n)
	}
	return n, err
}
