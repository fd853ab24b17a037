//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/spec"
)

// `berth compose COMMAND` is `docker compose COMMAND`. Docker puts the
// stack flags (-f, -p, ...) before the command, where `compose -f x.yaml
// logs -f` means a file and then --follow; cobra parses all flags of a
// command line with the last command's flags, which would read both as
// --follow. So the group parses its own flags, moves them after the
// command in their long form, and runs the command from a tree of its own.
// Every command also takes them after its name, as `berth up -f` does.

// composeGlobalFlags are the stack flags the group takes before the
// command, by long name; all take a value.
var composeGlobalFlags = []struct{ long, short string }{
	{"file", "f"}, {"project-name", "p"}, {"project-directory", ""}, {"profile", ""}, {"env-file", ""},
}

func newComposeCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:                "compose [-f FILE] [-p NAME] COMMAND",
		Short:              "Run and inspect Compose stacks (docker compose: up, down, ps, logs, ls, ...)",
		DisableFlagParsing: true, // see above: the group parses its flags itself
		RunE: func(cmd *cobra.Command, args []string) error {
			argv, err := composeArgs(args)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			tree := newComposeTree(g)
			tree.SetArgs(append([]string{"compose"}, argv...))
			tree.SetOut(cmd.OutOrStdout())
			tree.SetErr(cmd.ErrOrStderr())
			tree.SetIn(cmd.InOrStdin())
			ctx := cmd.Context()
			if ctx == nil {
				ctx = context.Background()
			}
			return tree.ExecuteContext(ctx)
		},
	}
}

// composeArgs turns `-f x -p y logs -f web` into `logs --file x
// --project-name y -f web`, for the group's own command tree.
func composeArgs(args []string) ([]string, error) {
	fs := pflag.NewFlagSet("compose", pflag.ContinueOnError)
	fs.SetInterspersed(false) // the first word that is no flag is the command
	fs.SetOutput(io.Discard)
	vals := map[string]*[]string{}
	for _, f := range composeGlobalFlags {
		vals[f.long] = fs.StringArrayP(f.long, f.short, nil, "")
	}
	// berth's own flags reach here too: with flag parsing off, cobra
	// leaves `berth --root X compose` 's --root among the group's args.
	root := fs.String("root", "", "")
	debug := fs.Bool("debug", false, "")
	help := fs.BoolP("help", "h", false, "")
	if err := fs.Parse(args); err != nil {
		return nil, fmt.Errorf("%w\nSee 'berth compose --help'", err)
	}
	rest := fs.Args()
	if *help || len(rest) == 0 {
		return []string{"--help"}, nil
	}
	out := []string{rest[0]}
	if fs.Changed("root") {
		out = append(out, "--root="+*root)
	}
	if *debug {
		out = append(out, "--debug")
	}
	for _, f := range composeGlobalFlags {
		for _, v := range *vals[f.long] {
			out = append(out, "--"+f.long+"="+v)
		}
	}
	return append(out, rest[1:]...), nil
}

// newComposeTree is the group's commands under "berth compose", so help
// and errors read "berth compose ps". It returns the tree's root, which
// runs it (cobra runs a tree from its root).
func newComposeTree(g *globalOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "compose",
		Short: "Run and inspect Compose stacks, as docker compose does",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return &exitError{code: 2, err: fmt.Errorf("unknown command %q for \"berth compose\"\nSee 'berth compose --help'", args[0])}
			}
			return cmd.Help()
		},
	}
	// --root and --debug may come after compose too.
	root.PersistentFlags().StringVar(&g.root, "root", g.root, "directory for all of berth's state (env BERTH_ROOT)")
	root.PersistentFlags().BoolVar(&g.debug, "debug", g.debug, "log what berth does to stderr")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())}
	})
	root.AddCommand(
		newUpCmd(g), newDownCmd(g), newConfigCmd(g), newWatchCmd(g),
		newComposePsCmd(g), newComposeLogsCmd(g), newComposeLsCmd(g), newComposeTopCmd(g),
		newComposePortCmd(g), newComposeImagesCmd(g),
		newComposeStopCmd(g), newComposeStartCmd(g), newComposeRestartCmd(g), newComposeKillCmd(g),
		newComposeRmCmd(g), newComposePauseCmd(g, "pause"), newComposePauseCmd(g, "unpause"),
		newComposeExecCmd(g), newComposeScaleCmd(g), newComposeWaitCmd(g),
		newComposeBuildCmd(g), newComposePullCmd(g),
		newComposeCpCmd(g),
		newComposeRunCmd(g), newComposeEventsCmd(g),
	)
	parent := &cobra.Command{Use: "berth", SilenceUsage: true, SilenceErrors: true}
	parent.AddCommand(root)
	return parent
}

// registerStackFlags binds the stack flags for a compose command. logs
// and rm keep -f for --follow and --force, as docker compose's do, so
// their file is --file only.
func registerStackFlags(cmd *cobra.Command, o *stackOptions, fileShorthand bool) {
	if fileShorthand {
		o.register(cmd)
		return
	}
	f := cmd.Flags()
	f.StringArrayVar(&o.files, "file", nil, "stack file (repeat to merge several; default: compose.yaml or docker-compose.yml here or in a parent)")
	f.StringVarP(&o.project, "project-name", "p", "", "stack name (default: name: in the file, or the directory's name)")
	f.StringVar(&o.projectDir, "project-directory", "", "directory relative paths start from (default: the first file's)")
	f.StringArrayVar(&o.profiles, "profile", nil, "enable services of this profile (repeatable; env COMPOSE_PROFILES)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "variables for interpolation (default: .env in the project directory)")
	f.BoolVar(&o.strict, "strict", false, "fail on keys berth does not implement instead of warning")
}

// composeProject is the stack a command acts on: its name always, its
// loaded file when there is one.
type composeProject struct {
	name string
	st   *spec.Stack // nil: named by -p, with no stack file at hand
}

// resolveProject finds the stack. Commands that only read the host need
// only its name: -p alone gives it, with no file; otherwise the file is
// loaded for it, as docker compose does. needFile commands need the file.
func resolveProject(ctx context.Context, o *stackOptions, needFile bool, errOut io.Writer) (*composeProject, error) {
	st, err := o.load(ctx, errOut)
	if err == nil {
		return &composeProject{name: st.Name, st: st}, nil
	}
	name := o.project
	if name == "" {
		name = os.Getenv("COMPOSE_PROJECT_NAME")
	}
	if needFile || name == "" || len(o.files) > 0 || !errors.Is(err, spec.ErrNoStackFile) {
		return nil, err
	}
	return &composeProject{name: normalizeProjectName(name)}, nil
}

// normalizeProjectName is compose's rule for a -p with no file: lower
// case, and only letters, digits, '-' and '_'.
func normalizeProjectName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// containers lists the project's containers (of services, when given),
// sorted by name. A service that is neither in the file nor on the host
// is an error, as in docker compose.
func (p *composeProject) containers(m *runtime.Manager, services []string) ([]*runtime.Container, error) {
	all, err := m.List()
	if err != nil {
		return nil, err
	}
	var mine []*runtime.Container
	known := map[string]bool{}
	if p.st != nil {
		for name := range p.st.Services {
			known[name] = true
		}
	}
	for _, c := range all {
		if c.Config.Labels[scheduler.LabelProject] != p.name {
			continue
		}
		known[c.Config.Labels[scheduler.LabelService]] = true
		mine = append(mine, c)
	}
	for _, s := range services {
		if !known[s] {
			return nil, &exitError{code: 1, err: fmt.Errorf("no such service: %q in stack %q", s, p.name)}
		}
	}
	var out []*runtime.Container
	for _, c := range mine {
		if len(services) == 0 || slices.Contains(services, c.Config.Labels[scheduler.LabelService]) {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b *runtime.Container) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

// openStack finds the stack so says and the containers of services (all
// when none): what every read-side compose command starts with.
func openStack(ctx context.Context, g *globalOptions, so *stackOptions, services []string, errOut io.Writer) (*composeProject, *runtime.Manager, []*runtime.Container, error) {
	p, err := resolveProject(ctx, so, false, errOut)
	if err != nil {
		return nil, nil, nil, err
	}
	m, err := newManager(g)
	if err != nil {
		return nil, nil, nil, err
	}
	cs, err := p.containers(m, services)
	if err != nil {
		return nil, nil, nil, err
	}
	return p, m, cs, nil
}

// serviceOf is the service c is a replica of.
func serviceOf(c *runtime.Container) string { return c.Config.Labels[scheduler.LabelService] }

// replicaName is c's name in the stack: "web-1", as compose's log prefixes
// and events show it.
func replicaName(c *runtime.Container) string {
	return serviceOf(c) + "-" + c.Config.Labels[scheduler.LabelNumber]
}
