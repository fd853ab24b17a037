package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/volume"
)

// runVolumes are the volumes a new container mounts, between their
// creation and the container's: the store's shared lock is held so that
// no volume rm or prune takes one before the container's config names it.
type runVolumes struct {
	store     *volume.Store
	release   func()
	anonymous []string // made for this container: gone if it never is
}

// prepareVolumes creates (or finds) the container's volumes, fills new,
// empty ones from the image (copy-up), and adds their bind mounts to cfg.
// With no volumes it does nothing and returns a runVolumes whose methods
// do nothing.
func prepareVolumes(g *globalOptions, cfg *runtime.Config, vols []volumeMount) (*runVolumes, error) {
	rv := &runVolumes{release: func() {}}
	if len(vols) == 0 {
		return rv, nil
	}
	s, err := newVolumeStore(g)
	if err != nil {
		return rv, err
	}
	rv.store = s
	if rv.release, err = s.Hold(); err != nil {
		rv.release = func() {}
		return rv, err
	}
	for _, vm := range vols {
		v, err := s.Create(vm.Name, volume.CreateOptions{})
		if err != nil {
			return rv, err
		}
		if vm.Name == "" {
			rv.anonymous = append(rv.anonymous, v.Name)
		}
		if err := copyUp(cfg, v, vm); err != nil {
			return rv, err
		}
		cfg.Mounts = append(cfg.Mounts, runtime.Mount{
			Type: "bind", Source: v.Mountpoint(), Destination: vm.Destination, ReadOnly: vm.ReadOnly,
		})
	}
	sortMounts(cfg.Mounts)
	return rv, nil
}

// copyUp fills v from what the container's root has at the mount path:
// the image's layers, or the --rootfs directory.
func copyUp(cfg *runtime.Config, v *volume.Volume, vm volumeMount) error {
	switch {
	case vm.NoCopy:
		return nil
	case len(cfg.Layers) > 0:
		return volume.CopyUpLayers(v, cfg.Layers, vm.Destination)
	case cfg.Rootfs != "":
		return volume.CopyUp(v, cfg.Rootfs, vm.Destination)
	}
	return nil
}

// created says the container's config exists (or never will): from now
// on the container itself holds its volumes.
func (rv *runVolumes) created() { rv.release() }

// discard removes the anonymous volumes of a container that was never
// created; named ones stay, as Docker leaves them.
func (rv *runVolumes) discard(g *globalOptions, m *runtime.Manager) {
	rv.release() // Remove takes the lock exclusively: ours would block it
	if len(rv.anonymous) > 0 {
		removeVolumes(rv.store, volumeUsers(g, m), rv.anonymous)
	}
}

// removeAnonymousVolumes removes the anonymous volumes c mounted, once c is
// gone: what `rm -v` and `run --rm` do. Named volumes stay. A failure is a
// warning: the container is removed already.
func removeAnonymousVolumes(g *globalOptions, m *runtime.Manager, c *runtime.Container) {
	names := containerVolumes(g, c)
	if len(names) == 0 {
		return
	}
	s, err := newVolumeStore(g)
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: removing the volumes of %s: %v\n", c.Name(), err)
		return
	}
	var anon []string
	for _, n := range names {
		if v, err := s.Get(n); err == nil && v.Anonymous {
			anon = append(anon, n)
		}
	}
	removeVolumes(s, volumeUsers(g, m), anon)
}

// removeVolumes removes the named volumes, warning about each failure: one
// that another container uses as well stays, as in Docker.
func removeVolumes(s *volume.Store, users volume.UsersFunc, names []string) {
	for _, n := range names {
		if err := s.Remove(n, users); err != nil && !errors.Is(err, volume.ErrNotFound) {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}
	}
}
