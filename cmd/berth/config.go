//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/spec"
)

// stackOptions are docker compose's global flags, which every stack
// command takes.
type stackOptions struct {
	files      []string
	project    string
	projectDir string
	profiles   []string
	envFiles   []string
	strict     bool
}

func (o *stackOptions) register(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "file", "f", nil, "stack file (repeat to merge several; default: compose.yaml or docker-compose.yml here or in a parent)")
	f.StringVarP(&o.project, "project-name", "p", "", "stack name (default: name: in the file, or the directory's name)")
	f.StringVar(&o.projectDir, "project-directory", "", "directory relative paths start from (default: the first file's)")
	f.StringArrayVar(&o.profiles, "profile", nil, "enable services of this profile (repeatable; env COMPOSE_PROFILES)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "variables for interpolation (default: .env in the project directory)")
	f.BoolVar(&o.strict, "strict", false, "fail on keys berth does not implement instead of warning")
}

// specOptions are the options load loads with; the engine loads the
// stack again with them when berth watch sees a stack file change, so
// they carry the working directory and the environment.
func (o *stackOptions) specOptions() spec.Options {
	wd, _ := os.Getwd()
	return spec.Options{
		WorkingDir: wd, ConfigFiles: o.files, ProjectName: o.project, ProjectDirectory: o.projectDir,
		Profiles: o.profiles, EnvFiles: o.envFiles, Environ: os.Environ(), Strict: o.strict,
	}
}

// load reads the stack, printing warnings to w.
func (o *stackOptions) load(ctx context.Context, w io.Writer) (*spec.Stack, error) {
	st, warnings, err := spec.Load(ctx, o.specOptions())
	for _, warn := range warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	if err != nil {
		return nil, &stackError{err}
	}
	return st, nil
}

// stackError is a failed load: each mistake is printed on its own, with
// its hint, and the command exits 1 (compose prints them and exits 1 too).
type stackError struct{ err error }

func (e *stackError) Error() string { return e.err.Error() }
func (e *stackError) Unwrap() error { return e.err }

// printTo prints each of a load's mistakes as an error line and a hint
// line.
func (se *stackError) printTo(w io.Writer) {
	verrs := spec.ValidationErrors(se.err)
	if len(verrs) == 0 {
		fmt.Fprintf(w, "error: %v\n", se.err)
		if errors.Is(se.err, spec.ErrNoStackFile) {
			fmt.Fprintln(w, "hint:  run berth in the stack's directory, or name the file with -f FILE")
		}
		return
	}
	for _, ve := range verrs {
		fmt.Fprintf(w, "error: %v\n", ve)
		if ve.Hint != "" {
			fmt.Fprintf(w, "hint:  %s\n", strings.ReplaceAll(ve.Hint, "\n", "\n       "))
		}
	}
	if len(verrs) > 1 {
		fmt.Fprintf(w, "%d mistakes in the stack files\n", len(verrs))
	}
}

type configOptions struct {
	stack                                  stackOptions
	format                                 string
	services, volumes, profiles, images, q bool
	hash                                   string
}

func newConfigCmd(g *globalOptions) *cobra.Command {
	o := &configOptions{}
	cmd := &cobra.Command{
		Use:   "config [OPTIONS]",
		Short: "Check the stack file and print it resolved, as docker compose config does",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runConfig(cmd.Context(), o, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	o.stack.register(cmd)
	f := cmd.Flags()
	f.StringVar(&o.format, "format", "yaml", "output format: yaml or json")
	f.BoolVar(&o.services, "services", false, "print the services' names, one per line")
	f.BoolVar(&o.volumes, "volumes", false, "print the volumes' names, one per line")
	f.BoolVar(&o.profiles, "profiles", false, "print the profiles services name, one per line")
	f.BoolVar(&o.images, "images", false, "print the images services run, one per line")
	f.StringVar(&o.hash, "hash", "", `print "SERVICE HASH" lines for these services ("*" for all, or a comma-separated list)`)
	f.BoolVarP(&o.q, "quiet", "q", false, "only check the stack file; print nothing")
	return cmd
}

func runConfig(ctx context.Context, o *configOptions, w, errw io.Writer) error {
	if o.format != "yaml" && o.format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--format %q: use yaml or json", o.format)}
	}
	st, err := o.stack.load(ctx, errw)
	if err != nil {
		return err
	}
	var lines []string
	switch {
	case o.q:
		return nil
	case o.services:
		lines = st.ServiceNames()
	case o.volumes:
		for name := range st.Volumes {
			lines = append(lines, name)
		}
		sort.Strings(lines)
	case o.profiles:
		lines = st.AllProfiles()
	case o.images:
		for _, name := range st.ServiceNames() {
			lines = append(lines, st.ImageName(name))
		}
	case o.hash != "":
		names := st.ServiceNames()
		if o.hash != "*" {
			names = strings.Split(o.hash, ",")
		}
		for _, name := range names {
			s := st.Services[name]
			if s == nil {
				return &exitError{code: 1, err: fmt.Errorf("--hash: the stack has no service %q (it has: %s)", name, strings.Join(st.ServiceNames(), ", "))}
			}
			lines = append(lines, name+" "+s.ConfigHash())
		}
	default:
		out, err := st.MarshalCompose(o.format)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	}
	for _, l := range lines {
		fmt.Fprintln(w, l)
	}
	return nil
}

// checkServices refuses names the stack does not have.
func checkServices(st *spec.Stack, services []string) error {
	for _, s := range services {
		if _, ok := st.Services[s]; !ok {
			return &exitError{code: 1, err: fmt.Errorf("no such service: %q (the stack has %s)", s, strings.Join(st.ServiceNames(), ", "))}
		}
	}
	return nil
}
