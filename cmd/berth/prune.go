package main

import (
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"text/tabwriter"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
)

func newImagePruneCmd(g *globalOptions) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove images without a name (-a: every image no container uses)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			return pruneImages(s, m, all, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "also remove named images no container uses")
	return cmd
}

// pruneImages removes the images nobody needs: nameless ones, or with all
// every image no container was created from.
func pruneImages(s *image.Store, m *runtime.Manager, all bool, w io.Writer) error {
	imgs, err := s.List()
	if err != nil {
		return err
	}
	users, err := imageUsers(m)
	if err != nil {
		return err
	}
	before := storedSize(imgs)
	for _, img := range imgs {
		if users[img.ID] != "" || (!all && len(img.Names) > 0) {
			continue
		}
		// Each name goes; the last one takes the image and its unused
		// layers with it.
		for _, n := range img.Names {
			if err := s.Remove(n); err != nil {
				return err
			}
			fmt.Fprintln(w, "Untagged: "+familiarName(n))
		}
		if len(img.Names) == 0 {
			if err := s.Remove(img.ID); err != nil {
				return err
			}
		}
		fmt.Fprintln(w, "Deleted: "+img.ID)
	}
	// Layers shared with an image that stays are not freed: measure.
	after, err := s.List()
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "Total reclaimed space: %s\n", units.HumanSizeWithPrecision(float64(before-storedSize(after)), 3))
	return nil
}

// layerSizes maps each layer directory the images use to its size: a
// layer several images share is stored, and counted, once.
func layerSizes(imgs []*image.Image) map[string]int64 {
	sizes := map[string]int64{}
	for _, img := range imgs {
		for i, l := range img.Layers {
			sizes[l] = img.LayerSizes[i]
		}
	}
	return sizes
}

// storedSize is what the images' layers take on disk, each layer once.
func storedSize(imgs []*image.Image) int64 {
	var n int64
	for _, size := range layerSizes(imgs) {
		n += size
	}
	return n
}

func newSystemCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "system", Short: "Manage berth's state"}
	cmd.AddCommand(&cobra.Command{
		Use:   "df",
		Short: "Show the disk space images, layers and containers use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSystemDf(g, cmd.OutOrStdout())
		},
	})
	return cmd
}

// runSystemDf shows, as docker system df does, what is stored and what
// could be reclaimed; the LAYERS line shows what sharing saves.
func runSystemDf(g *globalOptions, w io.Writer) error {
	s, err := newImageStore(g)
	if err != nil {
		return err
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	imgs, err := s.List()
	if err != nil {
		return err
	}
	cs, err := m.List()
	if err != nil {
		return err
	}
	inUse := map[string]bool{}
	running := 0
	var ctrSize int64
	for _, c := range cs {
		inUse[c.Config.ImageID] = true
		if c.State.Running {
			running++
		}
		ctrSize += dirSize(filepath.Join(c.Dir, "upper"))
	}
	// A layer used by several images is stored once: count it once.
	layerSize := layerSizes(imgs)
	layerUsers := map[string]int{}
	var reclaimable, referenced int64
	activeImages := 0
	for _, img := range imgs {
		for _, l := range img.Layers {
			layerUsers[l]++
		}
		referenced += img.Size
		if inUse[img.ID] {
			activeImages++
		}
	}
	imgSize := storedSize(imgs)
	for _, img := range imgs {
		if !inUse[img.ID] {
			for _, l := range img.Layers {
				if layerUsers[l] == 1 {
					reclaimable += layerSize[l]
				}
			}
		}
	}
	shared := 0
	for _, n := range layerUsers {
		if n > 1 {
			shared++
		}
	}
	h := func(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	fmt.Fprintf(tw, "Images\t%d\t%d\t%s\t%s\n", len(imgs), activeImages, h(imgSize), h(reclaimable))
	fmt.Fprintf(tw, "Layers\t%d\t%d shared\t%s\t%s saved by sharing\n", len(layerSize), shared, h(imgSize), h(referenced-imgSize))
	fmt.Fprintf(tw, "Containers\t%d\t%d\t%s\t%s\n", len(cs), running, h(ctrSize), h(ctrSize))
	fmt.Fprintf(tw, "Local Volumes\t0\t0\t0B\t0B\n")
	return tw.Flush()
}

// dirSize adds up the sizes of the regular files under dir.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += info.Size()
			}
		}
		return nil
	})
	return n
}
