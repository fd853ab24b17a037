//go:build registry

package main

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	units "github.com/docker/go-units"
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
)

type composePsOptions struct {
	stack    stackOptions
	all      bool
	quiet    bool
	services bool
	noTrunc  bool
	format   string
	status   []string
}

// composeStatuses are the states --status takes, as docker compose's.
var composeStatuses = []string{"paused", "restarting", "removing", "running", "dead", "created", "exited"}

func newComposePsCmd(g *globalOptions) *cobra.Command {
	o := &composePsOptions{}
	cmd := &cobra.Command{
		Use:   "ps [OPTIONS] [SERVICE...]",
		Short: "List the stack's containers",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposePs(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "show all containers, stopped ones too (default shows running ones)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display container IDs")
	f.BoolVar(&o.services, "services", false, "only display the services' names")
	f.BoolVar(&o.noTrunc, "no-trunc", false, "don't truncate output")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	f.StringArrayVar(&o.status, "status", nil, "only containers in this state: "+strings.Join(composeStatuses, ", ")+" (repeatable)")
	return cmd
}

// composePsRow is one container in `compose ps --format json`, with
// docker compose's keys.
type composePsRow struct {
	ID           string          `json:"ID"`
	Name         string          `json:"Name"`
	Names        string          `json:"Names"`
	Image        string          `json:"Image"`
	Command      string          `json:"Command"`
	Project      string          `json:"Project"`
	Service      string          `json:"Service"`
	Created      int64           `json:"Created"`
	CreatedAt    string          `json:"CreatedAt"`
	State        string          `json:"State"`
	Status       string          `json:"Status"`
	Health       string          `json:"Health"`
	ExitCode     int             `json:"ExitCode"`
	Publishers   []portPublisher `json:"Publishers"`
	Ports        string          `json:"Ports"`
	Labels       string          `json:"Labels"`
	LocalVolumes string          `json:"LocalVolumes"`
	Mounts       string          `json:"Mounts"`
	Networks     string          `json:"Networks"`
	RunningFor   string          `json:"RunningFor"`
	Size         string          `json:"Size"`
}

// portPublisher is one published port, as compose's Publishers list it.
type portPublisher struct {
	URL           string `json:"URL"`
	TargetPort    int    `json:"TargetPort"`
	PublishedPort int    `json:"PublishedPort"`
	Protocol      string `json:"Protocol"`
}

func runComposePs(ctx context.Context, g *globalOptions, o *composePsOptions, services []string, w, errOut io.Writer) error {
	if err := checkListFormat(o.format); err != nil {
		return err
	}
	for _, s := range o.status {
		if !slices.Contains(composeStatuses, s) {
			return &exitError{code: 2, err: fmt.Errorf("--status %q: use one of %s", s, strings.Join(composeStatuses, ", "))}
		}
	}
	p, _, cs, err := openStack(ctx, g, &o.stack, services, errOut)
	if err != nil {
		return err
	}
	var shown []*runtime.Container
	for _, c := range cs {
		switch {
		case len(o.status) > 0:
			if !slices.Contains(o.status, c.State.Status) {
				continue
			}
		case !o.all && !c.State.Running:
			continue
		}
		shown = append(shown, c)
	}
	switch {
	case o.quiet:
		for _, c := range shown {
			fmt.Fprintln(w, c.ID)
		}
		return nil
	case o.services:
		var names []string
		for _, c := range shown {
			if s := serviceOf(c); !slices.Contains(names, s) {
				names = append(names, s)
			}
		}
		sort.Strings(names)
		for _, s := range names {
			fmt.Fprintln(w, s)
		}
		return nil
	}
	now := time.Now()
	sbs := &sandboxes{g: g}
	rows := make([]composePsRow, 0, len(shown))
	for _, c := range shown {
		rows = append(rows, newComposePsRow(g, c, sbs.of(c), p.name, now, o.noTrunc))
	}
	if o.format == "json" {
		return writeJSONLines(w, rows)
	}
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	fmt.Fprintln(tw, "NAME\tIMAGE\tCOMMAND\tSERVICE\tCREATED\tSTATUS\tPORTS")
	for _, r := range rows {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Name, r.Image, r.Command, r.Service, r.RunningFor, r.Status, r.Ports)
	}
	return tw.Flush()
}

func newComposePsRow(g *globalOptions, c *runtime.Container, sb *sandboxView, project string, now time.Time, noTrunc bool) composePsRow {
	command := strings.Join(c.Config.Args, " ")
	if !noTrunc && len(command) > 20 {
		command = command[:19] + "…"
	}
	var labels []string
	for _, k := range sortedLabelKeys(c.Config.Labels) {
		labels = append(labels, k+"="+c.Config.Labels[k])
	}
	vols := containerVolumes(g, c)
	var mounts []string
	for _, mnt := range c.Config.Mounts {
		if mnt.Type == "bind" {
			mounts = append(mounts, mnt.Source)
		}
	}
	if len(vols) > 0 {
		mounts = vols // volume names read better than their data paths
	}
	r := composePsRow{
		ID: c.ID, Name: c.Name(), Names: c.Name(), Image: c.Config.Image,
		Command: fmt.Sprintf("%q", command), Project: project, Service: serviceOf(c),
		Created:   c.Created.Unix(),
		CreatedAt: c.Created.Local().Format("2006-01-02 15:04:05 -0700 MST"),
		State:     c.State.Status, Status: statusText(c.State, now), ExitCode: c.State.ExitCode,
		Publishers: []portPublisher{}, Labels: strings.Join(labels, ","),
		LocalVolumes: fmt.Sprint(len(vols)), Mounts: strings.Join(mounts, ","),
		Networks:   strings.Join(containerNetworks(c, sb), ","),
		RunningFor: units.HumanDuration(now.Sub(c.Created)) + " ago",
		Size:       "0B", // berth does not measure a container's upper directory (yet)
	}
	if c.State.Running {
		r.ExitCode = 0
		if c.State.Health != nil {
			r.Health = c.State.Health.Status // compose's: "starting", "healthy", "unhealthy"
		}
	}
	for _, b := range sb.ports() {
		r.Publishers = append(r.Publishers, portPublisher{
			URL: b.HostIP.String(), TargetPort: int(b.ContainerPort), PublishedPort: int(b.HostPort), Protocol: b.Protocol,
		})
	}
	r.Ports = sb.portsColumn()
	return r
}

// containerNetworks names the networks c is on: its sandbox's while it
// runs, else what it was created with.
func containerNetworks(c *runtime.Container, sb *sandboxView) []string {
	var out []string
	if sb != nil {
		for _, e := range sb.Endpoints {
			out = append(out, e.Network)
		}
		return out
	}
	for _, n := range strings.Split(c.Config.Network, ",") {
		if n != "" && n != "none" {
			out = append(out, n)
		}
	}
	return out
}

// publishedAddr is the host address of b, as `port` prints it.
func publishedAddr(hostIP netip.Addr, port uint16) string {
	return netip.AddrPortFrom(hostIP, port).String()
}
