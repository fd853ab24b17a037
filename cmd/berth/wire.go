package main

import (
	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
)

// wire.go is the one place that builds berth's concrete parts and hands
// them to each other.

func newManager(g *globalOptions) (*runtime.Manager, error) {
	return runtime.New(g.root, g.runDir())
}

// newImageStore opens the image store, which shares berth's root with the
// containers (root/images, root/layers).
func newImageStore(g *globalOptions) (*image.Store, error) {
	return image.Open(g.root)
}

// imageLookup finds what `berth run IMAGE` needs of an image.
func imageLookup(g *globalOptions) func(ref string) (imageInfo, error) {
	return func(ref string) (imageInfo, error) {
		s, err := newImageStore(g)
		if err != nil {
			return imageInfo{}, err
		}
		img, err := s.Get(ref)
		if err != nil {
			return imageInfo{}, err
		}
		c := img.Config
		return imageInfo{
			ID: img.ID, Layers: img.Layers,
			Defaults: imageDefaults{
				Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
				WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal,
			},
		}, nil
	}
}
