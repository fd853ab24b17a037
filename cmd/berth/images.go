package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
)

func newImageCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "image", Short: "Manage images"}
	cmd.AddCommand(newImageImportCmd(g), newImagesCmd(g, "ls"), newImageInspectCmd(g), newRmiCmd(g, "rm"), newTagCmd(g), newImagePruneCmd(g),
		newLoadCmd(g), newSaveCmd(g))
	return cmd
}

func newImageImportCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "import TAR|- NAME",
		Short: "Make a one-layer image from a root filesystem tarball (plain or compressed), like docker import",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			var r io.Reader = os.Stdin
			if args[0] != "-" {
				f, err := os.Open(args[0])
				if err != nil {
					return fmt.Errorf("importing %s: %w", args[0], err)
				}
				defer f.Close()
				r = f
			}
			img, err := s.Import(cmd.Context(), r, args[1])
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), img.ID)
			return nil
		},
	}
}

type imagesOptions struct {
	quiet   bool
	noTrunc bool
	format  string
	filter  string // REPOSITORY[:TAG], as docker images takes it
}

// matches says whether the normalised name n passes the filter: the same
// repository, and the same tag when the filter has one.
func (o *imagesOptions) matches(n string) bool {
	if o.filter == "" {
		return true
	}
	want, err := image.NormalizeName(o.filter)
	if err != nil {
		return false
	}
	if _, tag := splitName(o.filter); tag != "<none>" {
		return n == want
	}
	repo, _ := splitName(n)
	wantRepo, _ := splitName(want)
	return repo == wantRepo
}

// imageRow is one line of `images --format json`, with Docker's keys.
type imageRow struct {
	Repository   string `json:"Repository"`
	Tag          string `json:"Tag"`
	ID           string `json:"ID"`
	CreatedAt    string `json:"CreatedAt"`
	CreatedSince string `json:"CreatedSince"`
	Size         string `json:"Size"`
}

func newImagesCmd(g *globalOptions, use string) *cobra.Command {
	o := &imagesOptions{}
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] [REPOSITORY[:TAG]]",
		Short: "List images",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				o.filter = args[0]
			}
			return runImages(g, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVarP(&o.quiet, "quiet", "q", false, "only show image IDs")
	cmd.Flags().BoolVar(&o.noTrunc, "no-trunc", false, "show whole image IDs")
	cmd.Flags().StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

func (o *imagesOptions) id(id string) string {
	if o.noTrunc {
		return id
	}
	return shortID(id)
}

func runImages(g *globalOptions, o *imagesOptions, w io.Writer) error {
	if err := checkListFormat(o.format); err != nil {
		return err
	}
	s, err := newImageStore(g)
	if err != nil {
		return err
	}
	imgs, err := s.List()
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []imageRow
	for _, img := range imgs {
		names := img.Names
		if len(names) == 0 {
			names = []string{"<none>:<none>"}
		}
		for _, n := range names {
			if !o.matches(n) {
				continue
			}
			repo, tag := splitName(n)
			rows = append(rows, imageRow{
				Repository: repo, Tag: tag, ID: o.id(img.ID),
				CreatedAt:    img.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
				CreatedSince: units.HumanDuration(now.Sub(img.Created)) + " ago",
				Size:         units.HumanSizeWithPrecision(float64(img.Size), 3),
			})
		}
	}
	switch {
	case o.quiet:
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.ID] {
				seen[r.ID] = true
				fmt.Fprintln(w, r.ID)
			}
		}
	case o.format == "json":
		return writeJSONLines(w, rows)
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size)
		}
		return tw.Flush()
	}
	return nil
}

// splitName cuts a normalised name into Docker's REPOSITORY and TAG
// columns, showing docker.io/library/x as x, as Docker does.
func splitName(n string) (repo, tag string) {
	repo, tag = n, "<none>"
	if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
		repo, tag = n[:i], n[i+1:]
	}
	return familiarName(repo), tag
}

func shortID(id string) string {
	id = strings.TrimPrefix(id, "sha256:")
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func newImageInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect IMAGE...",
		Short: "Show images in detail, as JSON shaped like docker image inspect",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			var out []map[string]any
			for _, ref := range args {
				img, err := s.Get(ref)
				if err != nil {
					return err
				}
				out = append(out, imageView(img))
			}
			return printInspect(cmd.OutOrStdout(), out, format)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each image, e.g. '{{.Id}}'")
	return cmd
}

func newTagCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "tag SOURCE TARGET",
		Short: "Give an image another name",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			return s.Tag(args[0], args[1])
		},
	}
}

func newRmiCmd(g *globalOptions, use string) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   use + " [OPTIONS] IMAGE...",
		Short: "Remove images (untag; the layers go when no image uses them)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			users, err := imageUsers(m)
			if err != nil {
				return err
			}
			for _, ref := range args {
				img, err := s.Get(ref)
				if err != nil {
					return err
				}
				user := users[img.ID]
				switch {
				case user != "" && !force:
					return fmt.Errorf("removing image %s: container %s uses it: %w", ref, user, errImageInUse)
				case user != "":
					// The container runs on the image's layers: -f takes
					// the name away and leaves the image, as Docker does.
					err = s.Untag(ref)
				default:
					err = s.Remove(ref)
				}
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "Untagged: "+ref)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "remove the name even if a container uses the image")
	return cmd
}

// errImageInUse: a container was created from the image.
var errImageInUse = errors.New("image is in use")

// imageView is `docker image inspect`'s shape, for the fields berth has.
func imageView(img *image.Image) map[string]any {
	c := img.Config
	layers := make([]string, 0, len(img.Layers))
	for _, l := range img.DiffIDs {
		layers = append(layers, l.String())
	}
	return map[string]any{
		"Id":          img.ID,
		"RepoTags":    familiar(img.Names),
		"RepoDigests": repoDigests(img),
		"Created":     img.Created.UTC().Format(time.RFC3339Nano),
		"Config": map[string]any{
			"Env": c.Env, "Entrypoint": c.Entrypoint, "Cmd": c.Cmd,
			"WorkingDir": c.WorkingDir, "User": c.User, "ExposedPorts": c.ExposedPorts,
			"Volumes": c.Volumes, "Labels": c.Labels, "StopSignal": c.StopSignal,
			"Healthcheck": c.Healthcheck,
		},
		"RootFS": map[string]any{"Type": "layers", "Layers": layers},
		"Size":   img.Size,
	}
}

func repoDigests(img *image.Image) []string {
	out := []string{}
	for _, n := range img.Names {
		repo := n
		if i := strings.LastIndex(n, ":"); i > strings.LastIndex(n, "/") {
			repo = n[:i]
		}
		out = append(out, familiarName(repo)+"@"+img.Digest)
	}
	return out
}

// familiar shows names as Docker does: docker.io/library/x:y as x:y.
func familiar(names []string) []string {
	out := []string{}
	for _, n := range names {
		out = append(out, familiarName(n))
	}
	return out
}

func familiarName(n string) string { return image.FamiliarName(n) }

// imageUsers maps each image id containers were created from to one such
// container's name. An error is returned, not ignored: without the list,
// an image in use could be taken for unused and deleted.
func imageUsers(m *runtime.Manager) (map[string]string, error) {
	cs, err := m.List()
	if err != nil {
		return nil, err
	}
	users := map[string]string{}
	for _, c := range cs {
		if c.Config.ImageID != "" {
			users[c.Config.ImageID] = c.Name()
		}
	}
	return users, nil
}
