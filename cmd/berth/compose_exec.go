//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler/api"
)

// compose exec, scale and wait: the stack commands that act through one
// replica, or through the engine.

type composeExecOptions struct {
	execOptions
	stack stackOptions
	index int
}

// newComposeExecCmd is `compose exec SERVICE CMD...`: berth exec on the
// service's replica --index (1 by default).
func newComposeExecCmd(g *globalOptions) *cobra.Command {
	o := &composeExecOptions{index: 1}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] SERVICE COMMAND [ARG...]",
		Short: "Run a command in a running replica of a service",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := replicaOf(cmd, g, &o.stack, args[0], o.index)
			if err != nil {
				return err
			}
			return runExec(cmd.Context(), g, &o.execOptions, c.ID, args[1:])
		},
	}
	cmd.Flags().SetInterspersed(false) // the command's own flags are its own
	registerStackFlags(cmd, &o.stack, false)
	f := cmd.Flags()
	f.IntVar(&o.index, "index", 1, "which replica of the service")
	f.BoolVarP(&o.detach, "detach", "d", false, "run the command in the background")
	f.BoolVarP(&o.interactive, "interactive", "i", true, "keep stdin open (compose exec does by default)")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-terminal")
	f.BoolP("no-TTY", "T", false, "do not allocate a pseudo-terminal (the default here without -t)")
	f.StringVarP(&o.user, "user", "u", "", "user to run as: name|uid[:group|gid]")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE)")
	return cmd
}

// replicaOf finds replica index of service in the stack.
func replicaOf(cmd *cobra.Command, g *globalOptions, so *stackOptions, service string, index int) (*runtime.Container, error) {
	c, err := cpReplica(cmd, g, so, service, index)
	if err != nil {
		return nil, err
	}
	if !c.State.Running {
		return nil, &exitError{code: 1, err: fmt.Errorf("service %q: replica %d (%s) is not running", service, index, c.Name())}
	}
	return c, nil
}

// newComposeScaleCmd is `compose scale SERVICE=N...`: replicas up or down
// through the engine, recreating nothing else.
func newComposeScaleCmd(g *globalOptions) *cobra.Command {
	o := &upOptions{detach: true, noRecreate: true}
	cmd := &cobra.Command{
		Use:   "scale [OPTIONS] SERVICE=REPLICAS...",
		Short: "Set the number of replicas of services",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.scale = args
			var services []string
			for _, a := range args {
				name, _, _ := strings.Cut(a, "=")
				services = append(services, name)
			}
			return runUp(cmd.Context(), g, o, services, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, true)
	return cmd
}

// newComposeWaitCmd is `compose wait SERVICE...`: waits for the services'
// containers to stop and prints their exit codes, as docker compose wait.
func newComposeWaitCmd(g *globalOptions) *cobra.Command {
	var so stackOptions
	var downProject bool
	cmd := &cobra.Command{
		Use:   "wait [OPTIONS] SERVICE...",
		Short: "Wait for the services' containers to stop; print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			p, err := resolveProject(ctx, &so, downProject, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			cs, err := p.containers(m, args)
			if err != nil {
				return err
			}
			last := 0
			for _, c := range cs {
				st, err := m.Wait(ctx, c)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), st.ExitCode)
				last = st.ExitCode
			}
			if downProject {
				return takeDown(ctx, g, p, cmd.ErrOrStderr())
			}
			if last != 0 {
				return &exitError{code: last}
			}
			return nil
		},
	}
	registerStackFlags(cmd, &so, true)
	cmd.Flags().BoolVar(&downProject, "down-project", false, "take the stack down once they stopped")
	return cmd
}

// takeDown is `down` of p through the engine.
func takeDown(ctx context.Context, g *globalOptions, p *composeProject, errOut io.Writer) error {
	if p.st == nil {
		return errors.New("taking the stack down needs its file")
	}
	engine, err := ensureEngine(ctx, g)
	if err != nil {
		return err
	}
	_, err = engine.Down(ctx, api.DownRequest{Stack: p.st}, apiProgress(errOut))
	return err
}
