package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/volume"
)

// anonymousLabel is how Docker marks anonymous volumes; berth keeps the
// mark in volume.json and shows it as Docker does.
const anonymousLabel = "com.docker.volume.anonymous"

func newVolumeCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "volume", Short: "Manage volumes"}
	cmd.AddCommand(newVolumeCreateCmd(g), newVolumeLsCmd(g), newVolumeInspectCmd(g), newVolumeRmCmd(g), newVolumePruneCmd(g))
	return cmd
}

func newVolumeCreateCmd(g *globalOptions) *cobra.Command {
	var labels []string
	var driver string
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] [VOLUME]",
		Short: "Create a volume (a random name when none is given); an existing one is left as it is",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if driver != volume.Driver {
				return &exitError{code: 2, err: fmt.Errorf("--driver %q: only %q is supported", driver, volume.Driver)}
			}
			// A volume created on purpose without a name is a named one
			// with a random name, not an anonymous one, as in Docker: a
			// prune without -a keeps it.
			var name string
			var err error
			if len(args) == 1 {
				name = args[0]
				err = volume.ValidName(name)
			} else {
				name, err = volume.RandomName()
			}
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			s, err := newVolumeStore(g)
			if err != nil {
				return err
			}
			v, err := s.Create(name, volume.CreateOptions{Labels: parseLabels(labels)})
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), v.Name)
			return nil
		},
	}
	cmd.Flags().StringArrayVarP(&labels, "label", "l", nil, "set a label KEY=VALUE")
	cmd.Flags().StringVarP(&driver, "driver", "d", volume.Driver, "volume driver (only local)")
	return cmd
}

// parseLabels reads KEY=VALUE flags; a bare KEY has an empty value.
func parseLabels(flags []string) map[string]string {
	if len(flags) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, l := range flags {
		k, v, _ := strings.Cut(l, "=")
		out[k] = v
	}
	return out
}

// volumeRow is one line of `volume ls --format json`, with Docker's keys.
type volumeRow struct {
	Driver     string `json:"Driver"`
	Labels     string `json:"Labels"`
	Mountpoint string `json:"Mountpoint"`
	Name       string `json:"Name"`
	Scope      string `json:"Scope"`
}

func newVolumeLsCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	var format string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List volumes",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListFormat(format); err != nil {
				return err
			}
			s, err := newVolumeStore(g)
			if err != nil {
				return err
			}
			vols, err := s.List()
			if err != nil {
				return err
			}
			return printVolumes(cmd.OutOrStdout(), vols, quiet, format)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show volume names")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func printVolumes(w io.Writer, vols []*volume.Volume, quiet bool, format string) error {
	switch {
	case quiet:
		for _, v := range vols {
			fmt.Fprintln(w, v.Name)
		}
	case format == "json":
		rows := make([]volumeRow, 0, len(vols))
		for _, v := range vols {
			var labels []string
			for k, val := range volumeLabels(v) {
				labels = append(labels, k+"="+val)
			}
			sort.Strings(labels)
			rows = append(rows, volumeRow{
				Driver: v.Driver, Labels: strings.Join(labels, ","), Mountpoint: v.Mountpoint(),
				Name: v.Name, Scope: "local",
			})
		}
		return writeJSONLines(w, rows)
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 4, ' ', 0)
		fmt.Fprintln(tw, "DRIVER\tVOLUME NAME")
		for _, v := range vols {
			fmt.Fprintf(tw, "%s\t%s\n", v.Driver, v.Name)
		}
		return tw.Flush()
	}
	return nil
}

// volumeLabels are v's labels as Docker shows them: with its mark on an
// anonymous volume.
func volumeLabels(v *volume.Volume) map[string]string {
	out := map[string]string{}
	for k, val := range v.Labels {
		out[k] = val
	}
	if v.Anonymous {
		out[anonymousLabel] = ""
	}
	return out
}

// volumeView is `docker volume inspect`'s shape.
type volumeView struct {
	CreatedAt  string            `json:"CreatedAt"`
	Driver     string            `json:"Driver"`
	Labels     map[string]string `json:"Labels"`
	Mountpoint string            `json:"Mountpoint"`
	Name       string            `json:"Name"`
	Options    map[string]string `json:"Options"`
	Scope      string            `json:"Scope"`
}

func newVolumeInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] VOLUME...",
		Short: "Show volumes in detail, as JSON shaped like docker volume inspect",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newVolumeStore(g)
			if err != nil {
				return err
			}
			var out []volumeView
			err = eachVolume(args, func(name string) error {
				v, err := s.Get(name)
				if err != nil {
					return err
				}
				out = append(out, volumeView{
					CreatedAt: v.CreatedAt.UTC().Format(time.RFC3339), Driver: v.Driver,
					Labels: volumeLabels(v), Mountpoint: v.Mountpoint(), Name: v.Name,
					Options: map[string]string{}, Scope: "local",
				})
				return nil
			})
			if perr := printInspect(cmd.OutOrStdout(), out, format); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each volume, e.g. '{{.Mountpoint}}'")
	return cmd
}

func newVolumeRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm [OPTIONS] VOLUME...",
		Aliases: []string{"remove"},
		Short:   "Remove volumes; a volume a container uses (running or not) stays",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newVolumeStore(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			users := volumeUsers(g, m)
			return eachVolume(args, func(name string) error {
				err := s.Remove(name, users)
				if force && errors.Is(err, volume.ErrNotFound) {
					return nil // -f: gone is what was asked for, as in Docker
				}
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), name)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not complain about volumes that do not exist (one in use still stays)")
	return cmd
}

// eachVolume runs fn for every name, printing each failure and going on
// with the rest; the error says how many failed.
func eachVolume(names []string, fn func(name string) error) error {
	failed := 0
	var last error
	for _, n := range names {
		if err := fn(n); err != nil {
			failed++
			last = err
			if len(names) > 1 {
				printError(os.Stderr, err)
			}
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(names) == 1:
		return last
	}
	return fmt.Errorf("%d of %d volumes failed", failed, len(names))
}

func newVolumePruneCmd(g *globalOptions) *cobra.Command {
	var all, force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove anonymous volumes no container uses (-a: every volume no container uses)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if !force && !confirmPrune(w, os.Stdin, all) {
				return errors.New("volume prune cancelled")
			}
			s, err := newVolumeStore(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			r, err := s.Prune(all, volumeUsers(g, m))
			if len(r.Removed) > 0 {
				fmt.Fprintln(w, "Deleted Volumes:")
				for _, n := range r.Removed {
					fmt.Fprintln(w, n)
				}
				fmt.Fprintln(w)
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "Total reclaimed space: %s\n", units.HumanSizeWithPrecision(float64(r.Reclaimed), 3))
			return nil
		},
	}
	cmd.Flags().BoolVarP(&all, "all", "a", false, "remove every unused volume, named ones too")
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return cmd
}

// confirmPrune asks, as docker does, since pruned data is gone for good.
func confirmPrune(w io.Writer, in io.Reader, all bool) bool {
	what := "anonymous local volumes"
	if all {
		what = "all local volumes"
	}
	return confirm(w, in, fmt.Sprintf("WARNING! This will remove %s not used by at least one container.", what))
}

// confirm prints warning and asks whether to go on. Anything but y or
// yes, or no answer at all, is a no.
func confirm(w io.Writer, in io.Reader, warning string) bool {
	fmt.Fprintf(w, "%s\nAre you sure you want to continue? [y/N] ", warning)
	line, _ := bufio.NewReader(in).ReadString('\n')
	answer := strings.ToLower(strings.TrimSpace(line))
	return answer == "y" || answer == "yes"
}
