package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"text/template"
	"time"

	units "github.com/docker/go-units"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
)

type historyOptions struct {
	noTrunc bool
	quiet   bool
	human   bool
	format  string
}

// historyRow is one line of `berth history`, with docker's JSON keys in
// docker's order.
type historyRow struct {
	Comment      string `json:"Comment"`
	CreatedAt    string `json:"CreatedAt"`
	CreatedBy    string `json:"CreatedBy"`
	CreatedSince string `json:"CreatedSince"`
	ID           string `json:"ID"`
	Size         string `json:"Size"`
}

func newHistoryCmd(g *globalOptions) *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		Use:   "history [OPTIONS] IMAGE",
		Short: "Show how an image was made, one line per step, newest first",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(g, o, args[0], cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.noTrunc, "no-trunc", false, "show whole image IDs and commands")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only show image IDs")
	f.BoolVarP(&o.human, "human", "H", true, "show sizes and dates in human form")
	f.StringVar(&o.format, "format", "table", "output format: table, json, or a Go template (fields .ID .CreatedSince .CreatedAt .CreatedBy .Size .Comment)")
	return cmd
}

func runHistory(g *globalOptions, o *historyOptions, ref string, w io.Writer) error {
	tmpl, err := historyTemplate(o.format)
	if err != nil {
		return err
	}
	s, err := newImageStore(g)
	if err != nil {
		return err
	}
	img, err := s.Get(ref)
	if err != nil {
		return err
	}
	cfg, layers, err := s.ImageLayers(img.ID)
	if err != nil {
		return err
	}
	rows := historyRows(img.ID, cfg.History, layers, o, time.Now())
	switch {
	case o.quiet:
		for _, r := range rows {
			fmt.Fprintln(w, r.ID)
		}
	case o.format == "json":
		return writeJSONLines(w, rows)
	case tmpl != nil:
		for _, r := range rows {
			if err := tmpl.Execute(w, r); err != nil {
				return fmt.Errorf("--format: %w", err)
			}
			fmt.Fprintln(w)
		}
	default:
		tw := tabwriter.NewWriter(w, 10, 1, 3, ' ', 0) // docker's
		fmt.Fprintln(tw, "IMAGE\tCREATED\tCREATED BY\tSIZE\tCOMMENT")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.ID, r.CreatedSince, r.CreatedBy, r.Size, r.Comment)
		}
		return tw.Flush()
	}
	return nil
}

// historyTemplate parses a --format that is neither table nor json.
func historyTemplate(format string) (*template.Template, error) {
	if format == "table" || format == "json" {
		return nil, nil
	}
	t, err := template.New("format").Parse(format)
	if err != nil {
		return nil, &exitError{code: 2, err: fmt.Errorf("--format %q: use table, json or a Go template: %w", format, err)}
	}
	return t, nil
}

// historyRows pairs the config's history with the layers, newest first:
// each entry that is not an empty layer made the next layer, bottom up.
// The newest entry shows the image's ID, the others <missing>, as docker
// shows a pulled image (berth keeps no parent images).
func historyRows(id string, hist []v1.History, layers []image.Layer, o *historyOptions, now time.Time) []historyRow {
	rows := make([]historyRow, 0, len(hist))
	next := 0
	for _, h := range hist {
		var size int64
		if !h.EmptyLayer && next < len(layers) {
			size = layers[next].Size
			next++
		}
		rows = append(rows, historyRow{
			ID:           "<missing>",
			CreatedAt:    h.Created.Time.Local().Format(time.RFC3339),
			CreatedSince: o.since(h.Created.Time, now),
			CreatedBy:    strings.ReplaceAll(h.CreatedBy, "\t", " "),
			Size:         o.size(size),
			Comment:      h.Comment,
		})
	}
	// Layers no history entry tells of (an image written without
	// history): shown, so that sizes add up.
	for ; next < len(layers); next++ {
		rows = append(rows, historyRow{ID: "<missing>", CreatedSince: "N/A", Size: o.size(layers[next].Size)})
	}
	for i, j := 0, len(rows)-1; i < j; i, j = i+1, j-1 {
		rows[i], rows[j] = rows[j], rows[i]
	}
	if len(rows) > 0 {
		rows[0].ID = id
		if !o.noTrunc {
			rows[0].ID = shortID(id)
		}
	}
	if !o.noTrunc {
		for i := range rows {
			rows[i].CreatedBy = ellipsis(rows[i].CreatedBy, 45)
		}
	}
	return rows
}

func (o *historyOptions) size(n int64) string {
	if !o.human {
		return strconv.FormatInt(n, 10)
	}
	return units.HumanSizeWithPrecision(float64(n), 3)
}

func (o *historyOptions) since(t, now time.Time) string {
	if !o.human {
		return t.Local().Format(time.RFC3339)
	}
	return units.HumanDuration(now.Sub(t)) + " ago"
}

// ellipsis shortens s to max runes, its last one "…", as docker's
// tables do.
func ellipsis(s string, max int) string {
	r := []rune(s)
	if len(r) <= max {
		return s
	}
	return string(r[:max-1]) + "…"
}
