//go:build registry

package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
)

type commitOptions struct {
	changes []string
	message string
	author  string
	pause   bool
}

func newCommitCmd(g *globalOptions) *cobra.Command {
	o := &commitOptions{}
	cmd := &cobra.Command{
		Use:   "commit [OPTIONS] CONTAINER [NAME[:TAG]]",
		Short: "Make an image of a container's changes",
		Long: `Make an image of a container's changes: its image's layers, and one layer
more holding what the container added, changed and deleted, with the image's
config changed by the -c instructions. Prints the new image's ID.

A running container is paused while its changes are read (as docker commit
does; --pause=false lets it run on, at the risk of files caught
half-written).`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := ""
			if len(args) == 2 {
				name = args[1]
			}
			img, err := commitContainer(cmd.Context(), g, o, args[0], name)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.changes, "change", "c", nil, "apply a Dockerfile instruction to the image's config: CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME or WORKDIR (repeatable)")
	f.StringVarP(&o.message, "message", "m", "", "commit message, the history entry's comment")
	f.StringVarP(&o.author, "author", "a", "", `author (e.g. "Jane Doe <jane@example.com>")`)
	f.BoolVarP(&o.pause, "pause", "p", true, "pause a running container while its changes are read")
	return cmd
}

// containerMountStubs are where berth's container init mounts /proc,
// /sys, /dev and the /etc files berth writes (runtime/containerinit:
// mountSystem, mountEtcFiles). When the image lacks one, the init
// creates it, empty, and so in the container's upper directory. A commit
// leaves those out (image.WriteContainerDiff says exactly when), as
// Docker's do: Docker makes the same stubs in an "init layer" below the
// container's own. The mount points of -v and --tmpfs are kept, as
// Docker keeps them: its runtime makes them in the container's layer.
var containerMountStubs = []string{"proc", "sys", "dev", "etc/hostname", "etc/hosts", "etc/resolv.conf"}

// commitContainer stores the container ref's changes as a layer on its
// image's and writes the image, named name when that is not empty.
func commitContainer(ctx context.Context, g *globalOptions, o *commitOptions, ref, name string) (*image.Image, error) {
	if name != "" {
		if _, err := image.NormalizeName(name); err != nil {
			return nil, &exitError{code: 2, err: fmt.Errorf("image name %q: %w", name, err)}
		}
	}
	m, err := newManager(g)
	if err != nil {
		return nil, err
	}
	c, err := m.Get(ref)
	if err != nil {
		return nil, err
	}
	if c.Config.ImageID == "" || len(c.Config.Layers) == 0 {
		return nil, fmt.Errorf("container %s runs on the directory %s (--rootfs), not on an image: there are no layers to put its changes on; tar that directory and berth image import it instead", c.Name(), c.Config.Rootfs)
	}
	s, err := newImageStore(g)
	if err != nil {
		return nil, err
	}
	cfg, layers, err := s.ImageLayers(c.Config.ImageID)
	if err != nil {
		return nil, fmt.Errorf("the image of container %s (%s): %w", c.Name(), c.Config.ImageID, err)
	}
	if err := applyChanges(&cfg.Config, o.changes); err != nil {
		return nil, err
	}
	if o.pause && c.State.Running && !c.State.Paused {
		if err := m.Pause(c); err != nil {
			return nil, fmt.Errorf("committing container %s: %w", c.Name(), err)
		}
		defer func() {
			if err := m.Unpause(c); err != nil {
				fmt.Fprintf(os.Stderr, "warning: unpausing %s after the commit: %v\n", c.Name(), err)
			}
		}()
	}
	layer, err := addContainerLayer(ctx, s, c, layers)
	if err != nil {
		return nil, fmt.Errorf("committing container %s: %w", c.Name(), err)
	}
	now := time.Now().UTC()
	cfg.Created = v1.Time{Time: now}
	cfg.Author = o.author
	cfg.Container = c.ID
	cfg.History = append(cfg.History, v1.History{
		Created: v1.Time{Time: now}, CreatedBy: "berth commit",
		Author: o.author, Comment: o.message, EmptyLayer: layer == nil,
	})
	if layer != nil {
		layers = append(layers, *layer)
	}
	var names []string
	if name != "" {
		names = []string{name}
	}
	img, err := s.WriteImage(cfg, layers, names...)
	if err != nil {
		return nil, err
	}
	if name == "" {
		// Docker's <none>:<none>: listed, and kept until removed.
		if err := s.Keep(img); err != nil {
			return nil, err
		}
	}
	return img, nil
}

// addContainerLayer stores c's changes as a layer on layers. A container
// that changed nothing gets none (nil), as in Docker: its commit is an
// empty layer in history only.
func addContainerLayer(ctx context.Context, s *image.Store, c *runtime.Container, layers []image.Layer) (*image.Layer, error) {
	upper := filepath.Join(c.Dir, "upper")
	if _, err := os.Stat(upper); errors.Is(err, fs.ErrNotExist) {
		return nil, nil // created, never started
	}
	below := make([]v1.Hash, len(layers))
	for i, l := range layers {
		below[i] = l.DiffID
	}
	pr, pw := io.Pipe()
	written := make(chan error, 1)
	go func() {
		err := image.WriteContainerDiff(pw, upper, c.Config.Layers, containerMountStubs)
		pw.CloseWithError(err)
		written <- err
	}()
	layer, err := storeUnlessEmpty(ctx, s, below, pr)
	if err != nil {
		pr.CloseWithError(err) // the writer stops at its next write
		<-written
		return nil, err
	}
	// Whatever the tar reader left (the end-of-archive blocks), so that
	// the writer finishes and says whether all went well.
	io.Copy(io.Discard, pr)
	if err := <-written; err != nil {
		return nil, err
	}
	return layer, nil
}

// storeUnlessEmpty stores the layer tar r unless it has no entries: a tar
// stream starts with an entry's header, never with a zero block, which
// only the end of an archive is.
func storeUnlessEmpty(ctx context.Context, s *image.Store, below []v1.Hash, r io.Reader) (*image.Layer, error) {
	br := bufio.NewReaderSize(r, 4096)
	head, err := br.Peek(512)
	if err != nil {
		return nil, fmt.Errorf("reading the container's changes: %w", err)
	}
	if bytes.Count(head, []byte{0}) == len(head) {
		return nil, nil
	}
	layer, err := s.AddLayer(ctx, below, br)
	if err != nil {
		return nil, err
	}
	return &layer, nil
}
