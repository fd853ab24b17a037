package main

import (
	"log/slog"
	"os"
	"sort"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/volume"
)

// wire.go is the one place that builds berth's concrete parts and hands
// them to each other.

func newManager(g *globalOptions) (*runtime.Manager, error) {
	return runtime.New(g.root, g.runDir())
}

// newNetworkManager opens berth's networks (root/networks, and the
// containers' namespaces under the runtime directory). With --debug it
// logs what it does to stderr.
func newNetworkManager(g *globalOptions) (*network.Manager, error) {
	var o network.Options
	if g.debug {
		o.Log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return network.OpenWith(g.root, g.runDir(), o)
}

// newImageStore opens the image store, which shares berth's root with the
// containers (root/images, root/layers).
func newImageStore(g *globalOptions) (*image.Store, error) {
	return image.Open(g.root)
}

// newVolumeStore opens the volume store (root/volumes).
func newVolumeStore(g *globalOptions) (*volume.Store, error) {
	return volume.Open(g.root)
}

// volumeUsers tells the volume store which containers use which volumes,
// read from the containers' configs on every call: a container mounts a
// volume when one of its bind mounts' source is the volume's data.
func volumeUsers(g *globalOptions, m *runtime.Manager) volume.UsersFunc {
	return func() (map[string][]string, error) {
		cs, err := m.List()
		if err != nil {
			return nil, err
		}
		users := map[string][]string{}
		for _, c := range cs {
			for _, name := range containerVolumes(g, c) {
				users[name] = append(users[name], c.Name())
			}
		}
		return users, nil
	}
}

// containerVolumes names the volumes c mounts.
func containerVolumes(g *globalOptions, c *runtime.Container) []string {
	var names []string
	for _, mnt := range c.Config.Mounts {
		if name, ok := volume.NameOf(g.root, mnt.Source); ok && mnt.Type == "bind" {
			names = append(names, name)
		}
	}
	return names
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
		vols := make([]string, 0, len(c.Volumes))
		for p := range c.Volumes {
			vols = append(vols, p)
		}
		sort.Strings(vols)
		return imageInfo{
			ID: img.ID, Layers: img.Layers,
			Defaults: imageDefaults{
				Entrypoint: c.Entrypoint, Cmd: c.Cmd, Env: c.Env,
				WorkingDir: c.WorkingDir, User: c.User, StopSignal: c.StopSignal,
				Volumes: vols, Healthcheck: imageHealthcheck(c.Healthcheck),
			},
		}, nil
	}
}

// onceLookup is lookup answering each ref from the store once: a
// replica's create asks for its image three times (command, config,
// health check), and each read of the store parses its index, manifest
// and config.
func onceLookup(lookup func(ref string) (imageInfo, error)) func(ref string) (imageInfo, error) {
	type answer struct {
		info imageInfo
		err  error
	}
	seen := map[string]answer{}
	return func(ref string) (imageInfo, error) {
		a, ok := seen[ref]
		if !ok {
			a.info, a.err = lookup(ref)
			seen[ref] = a
		}
		return a.info, a.err
	}
}

// imageHealthcheck is an image's HEALTHCHECK in the runtime's terms; nil
// for none, or for HEALTHCHECK NONE.
func imageHealthcheck(h *v1.HealthConfig) *runtime.HealthConfig {
	if h == nil || len(h.Test) == 0 || h.Test[0] == "NONE" {
		return nil
	}
	return &runtime.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
		StartPeriod: h.StartPeriod, Retries: h.Retries}
}
