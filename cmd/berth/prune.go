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
	"github.com/berthproject/berth/volume"
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
	var format string
	df := &cobra.Command{
		Use:   "df",
		Short: "Show the disk space images, layers, containers and volumes use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListFormat(format); err != nil {
				return err
			}
			return runSystemDf(g, cmd.OutOrStdout(), format)
		},
	}
	df.Flags().StringVar(&format, "format", "table", "output format: table or json")
	cmd.AddCommand(df)
	return cmd
}

// dfRow is one line of system df; as JSON it has docker's keys, and
// docker's strings for values.
type dfRow struct {
	Type        string `json:"Type"`
	TotalCount  string `json:"TotalCount"`
	Active      string `json:"Active"`
	Size        string `json:"Size"`
	Reclaimable string `json:"Reclaimable"`
}

// runSystemDf shows, as docker system df does, what is stored and what
// could be reclaimed; the LAYERS line shows what sharing saves.
func runSystemDf(g *globalOptions, w io.Writer, format string) error {
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
	rows := imageDfRows(imgs, cs)
	rows = append(rows, containerDfRow(cs))
	vrow, err := volumeDfRow(g, cs)
	if err != nil {
		return err
	}
	rows = append(rows, vrow)
	entries, cacheSize, err := s.BuildCacheUsage()
	if err != nil {
		return err
	}
	rows = append(rows, dfRow{"Build Cache", fmt.Sprint(entries), "0", humanSize(cacheSize), humanSize(cacheSize)})
	if format == "json" {
		return writeJSONLines(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "TYPE\tTOTAL\tACTIVE\tSIZE\tRECLAIMABLE")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Type, r.TotalCount, r.Active, r.Size, r.Reclaimable)
	}
	return tw.Flush()
}

func humanSize(n int64) string { return units.HumanSizeWithPrecision(float64(n), 3) }

// imageDfRows are the Images and Layers lines.
func imageDfRows(imgs []*image.Image, cs []*runtime.Container) []dfRow {
	inUse := map[string]bool{}
	for _, c := range cs {
		inUse[c.Config.ImageID] = true
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
	return []dfRow{
		{"Images", fmt.Sprint(len(imgs)), fmt.Sprint(activeImages), humanSize(imgSize), humanSize(reclaimable)},
		{"Layers", fmt.Sprint(len(layerSize)), fmt.Sprintf("%d shared", shared), humanSize(imgSize), humanSize(referenced-imgSize) + " saved by sharing"},
	}
}

// containerDfRow is the Containers line: their own changes (upper/).
func containerDfRow(cs []*runtime.Container) dfRow {
	running := 0
	var size int64
	for _, c := range cs {
		if c.State.Running {
			running++
		}
		size += dirSize(filepath.Join(c.Dir, "upper"))
	}
	return dfRow{"Containers", fmt.Sprint(len(cs)), fmt.Sprint(running), humanSize(size), humanSize(size)}
}

// volumeDfRow is the Local Volumes line: a volume is active while any
// container, running or not, mounts it; the others' data is reclaimable.
func volumeDfRow(g *globalOptions, cs []*runtime.Container) (dfRow, error) {
	vs, err := newVolumeStore(g)
	if err != nil {
		return dfRow{}, err
	}
	vols, err := vs.List()
	if err != nil {
		return dfRow{}, err
	}
	used := map[string]bool{}
	for _, c := range cs {
		for _, n := range containerVolumes(g, c) {
			used[n] = true
		}
	}
	active := 0
	var size, reclaimable int64
	for _, v := range vols {
		n := volume.Size(v)
		size += n
		if used[v.Name] {
			active++
		} else {
			reclaimable += n
		}
	}
	return dfRow{"Local Volumes", fmt.Sprint(len(vols)), fmt.Sprint(active), humanSize(size), humanSize(reclaimable)}, nil
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
