//go:build registry

package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
)

// labelConfigFiles is where the scheduler notes a stack's files on its
// containers (scheduler/translate.go), under Compose's name.
const labelConfigFiles = "com.docker.compose.project.config_files"

type composeLsOptions struct {
	all    bool
	quiet  bool
	format string
}

func newComposeLsCmd(g *globalOptions) *cobra.Command {
	o := &composeLsOptions{}
	cmd := &cobra.Command{
		Use:   "ls [OPTIONS]",
		Short: "List the stacks on this host",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposeLs(g, o, cmd.OutOrStdout())
		},
	}
	// ls reads every stack on the host: it takes no stack flags, but
	// accepts them, as docker compose ls does after `compose -f`.
	var ignored stackOptions
	registerStackFlags(cmd, &ignored, true)
	for _, name := range []string{"file", "project-name", "project-directory", "profile", "env-file", "strict"} {
		cmd.Flags().Lookup(name).Hidden = true
	}
	f := cmd.Flags()
	f.BoolVarP(&o.all, "all", "a", false, "show all stacks, stopped ones too (default shows those with a running container)")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "only display the stacks' names")
	f.StringVar(&o.format, "format", "table", "output format: table or json")
	return cmd
}

// stackRow is one stack in `compose ls`, with docker compose's keys.
type stackRow struct {
	Name        string `json:"Name"`
	Status      string `json:"Status"`
	ConfigFiles string `json:"ConfigFiles"`
	running     bool
}

func runComposeLs(g *globalOptions, o *composeLsOptions, w io.Writer) error {
	if err := checkListFormat(o.format); err != nil {
		return err
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	cs, err := m.List()
	if err != nil {
		return err
	}
	rows := []stackRow{}
	for _, r := range stackRows(cs) {
		if o.all || r.running {
			rows = append(rows, r)
		}
	}
	switch {
	case o.quiet:
		for _, r := range rows {
			fmt.Fprintln(w, r.Name)
		}
	case o.format == "json":
		// docker compose ls prints one JSON array, not a line per stack.
		b, err := json.Marshal(rows)
		if err != nil {
			return err
		}
		fmt.Fprintln(w, string(b))
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "NAME\tSTATUS\tCONFIG FILES")
		for _, r := range rows {
			fmt.Fprintf(tw, "%s\t%s\t%s\n", r.Name, r.Status, r.ConfigFiles)
		}
		return tw.Flush()
	}
	return nil
}

// stackRows groups containers by their stack label: the status counts
// each state, "exited(1), running(2)", states in name order as compose
// prints them.
func stackRows(cs []*runtime.Container) []stackRow {
	counts := map[string]map[string]int{}
	files := map[string]string{}
	for _, c := range cs {
		name := c.Config.Labels[scheduler.LabelProject]
		if name == "" {
			continue
		}
		if counts[name] == nil {
			counts[name] = map[string]int{}
		}
		counts[name][c.State.Status]++
		if f := c.Config.Labels[labelConfigFiles]; f != "" {
			files[name] = f
		}
	}
	var rows []stackRow
	for name, byState := range counts {
		var states []string
		for s := range byState {
			states = append(states, s)
		}
		sort.Strings(states)
		parts := make([]string, len(states))
		for i, s := range states {
			parts[i] = fmt.Sprintf("%s(%d)", s, byState[s])
		}
		rows = append(rows, stackRow{Name: name, Status: strings.Join(parts, ", "), ConfigFiles: files[name], running: byState[runtime.StatusRunning] > 0})
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}
