package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
)

type psOptions struct {
	all     bool
	quiet   bool
	noTrunc bool
	format  string
}

func newPsCmd(g *globalOptions) *cobra.Command {
	o := &psOptions{}
	cmd := &cobra.Command{
		Use:     "ps [OPTIONS]",
		Aliases: []string{"ls"},
		Short:   "List containers",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPs(g, o, cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "show all containers (default shows just running)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// psRow is one container in `ps --format json`, with Docker's keys.
type psRow struct {
	ID         string `json:"ID"`
	Image      string `json:"Image"`
	Command    string `json:"Command"`
	CreatedAt  string `json:"CreatedAt"`
	RunningFor string `json:"RunningFor"`
	State      string `json:"State"`
	Status     string `json:"Status"`
	Ports      string `json:"Ports"`
	Names      string `json:"Names"`
	Networks   string `json:"Networks"`
	Labels     string `json:"Labels"`
}

func runPs(g *globalOptions, o *psOptions, w io.Writer) error {
	if err := checkListFormat(o.format); err != nil {
		return err
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	all, err := m.List()
	if err != nil {
		return err
	}
	now := time.Now()
	var rows []psRow
	sbs := &sandboxes{g: g}
	for _, c := range all {
		if !o.all && !c.State.Running {
			continue
		}
		r := newPsRow(c, now, o.noTrunc)
		if !o.quiet {
			r.Ports = sbs.of(c).portsColumn()
		}
		rows = append(rows, r)
	}
	switch {
	case o.quiet:
		for _, r := range rows {
			fmt.Fprintln(w, r.ID)
		}
	case o.format == "json":
		return writeJSONLines(w, rows)
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Image, r.Command, r.RunningFor, r.Status, r.Ports, r.Names)
		}
		return tw.Flush()
	}
	return nil
}

func newPsRow(c *runtime.Container, now time.Time, noTrunc bool) psRow {
	id, command := c.ID, strings.Join(c.Config.Args, " ")
	if !noTrunc {
		id = id[:12]
		if len(command) > 20 {
			command = command[:19] + "…"
		}
	}
	var labels []string
	for k, v := range c.Config.Labels {
		labels = append(labels, k+"="+v)
	}
	return psRow{
		ID:         id,
		Image:      c.Config.Image,
		Command:    fmt.Sprintf("%q", command),
		CreatedAt:  c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		RunningFor: units.HumanDuration(now.Sub(c.Created)) + " ago",
		State:      c.State.Status,
		Status:     statusText(c.State, now),
		Names:      c.Name(),
		Networks:   c.Config.Network,
		Labels:     strings.Join(labels, ","),
	}
}

// statusText reads like Docker's STATUS column.
func statusText(s runtime.State, now time.Time) string {
	switch s.Status {
	case runtime.StatusPaused:
		// Docker's words, health left out as Docker leaves it.
		return "Up " + units.HumanDuration(now.Sub(s.StartedAt)) + " (Paused)"
	case runtime.StatusRunning:
		up := "Up " + units.HumanDuration(now.Sub(s.StartedAt))
		if s.Health != nil {
			// Docker's words: "Up 5 seconds (health: starting)".
			if s.Health.Status == runtime.HealthStarting {
				return up + " (health: starting)"
			}
			return up + " (" + s.Health.Status + ")"
		}
		return up
	case runtime.StatusExited:
		if s.FinishedAt.IsZero() {
			return fmt.Sprintf("Exited (%d)", s.ExitCode)
		}
		return fmt.Sprintf("Exited (%d) %s ago", s.ExitCode, units.HumanDuration(now.Sub(s.FinishedAt)))
	}
	return "Created"
}
