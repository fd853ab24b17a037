package build

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berthproject/berth/image"
)

// cacheKey hashes the parts of a step's identity, each length-prefixed so
// that no two lists of parts hash alike.
func cacheKey(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		fmt.Fprintf(h, "%d:%s\n", len(p), p)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// stepKey is the key of a step on st: its parent's key, what the step
// does (its history text, expanded), the build args in scope and the
// digest of the content it copies ("" for none).
func (st *stageState) stepKey(createdBy, content string) string {
	return cacheKey(st.key, createdBy, strings.Join(st.args.env(), "\n"), content)
}

// change is what a step does when the cache has no result for it: it may
// change st.config and returns the upper directory's layer, or nil when
// the step changed no file.
type change func(ctx context.Context, st *stageState) (*image.Layer, error)

// commit carries out one step: the cache's result when there is one,
// otherwise do, recorded as a new image (nameless) in the cache. createdBy
// is the history entry's text.
func (b *builder) commit(ctx context.Context, st *stageState, key, createdBy string, do change) error {
	if !b.o.NoCache {
		img, err := b.store.CacheGet(key)
		if err != nil {
			return err
		}
		if img != nil {
			fmt.Fprintln(b.out, "--> CACHED")
			st.author = ""
			st.img, st.file, st.layers, st.key = img, nil, nil, key
			st.config = cloneConfig(img.Config)
			return nil
		}
	}
	if err := st.ensure(b.store); err != nil {
		return err
	}
	layer, err := do(ctx, st)
	if err != nil {
		return err
	}
	now := b.o.Now().UTC()
	file := *st.file
	file.Config = cloneConfig(st.config)
	file.Created = v1.Time{Time: now}
	if st.author != "" {
		file.Author, st.author = st.author, ""
	}
	file.History = append(slices.Clone(st.file.History), v1.History{
		Created: v1.Time{Time: now}, CreatedBy: createdBy, EmptyLayer: layer == nil,
	})
	layers := st.layers
	if layer != nil {
		layers = append(slices.Clone(layers), *layer)
	}
	img, err := b.store.WriteImage(&file, layers)
	if err != nil {
		return err
	}
	if err := b.store.CachePut(key, img); err != nil {
		return err
	}
	st.img, st.file, st.layers, st.key = img, &file, layers, key
	return nil
}

// configOnly is a change that touches the config only: apply has made it
// to st.config already.
func configOnly(context.Context, *stageState) (*image.Layer, error) { return nil, nil }
