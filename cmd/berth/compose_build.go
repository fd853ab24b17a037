//go:build registry

package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/spec"
)

// newComposeBuildCmd is `compose build [SERVICE...]`: the images of the
// services that have a build: section, as up would build them.
func newComposeBuildCmd(g *globalOptions) *cobra.Command {
	var so stackOptions
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] [SERVICE...]",
		Short: "Build the images of the stack's services that have a build section",
		RunE: func(cmd *cobra.Command, args []string) error {
			return eachService(cmd, &so, args, func(ctx context.Context, st *spec.Stack, svc *spec.Service) error {
				if svc.Build == nil {
					return nil
				}
				return buildService(ctx, g, cmd.ErrOrStderr(), st, svc, scheduler.ImageName(st, svc))
			})
		},
	}
	registerStackFlags(cmd, &so, true)
	return cmd
}

// newComposePullCmd is `compose pull [SERVICE...]`: the images of the
// services that name one, as up would pull them if missing.
func newComposePullCmd(g *globalOptions) *cobra.Command {
	var so stackOptions
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] [SERVICE...]",
		Short: "Pull the images of the stack's services",
		RunE: func(cmd *cobra.Command, args []string) error {
			h, err := newStackHost(g, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			pulled := map[string]bool{}
			return eachService(cmd, &so, args, func(ctx context.Context, st *spec.Stack, svc *spec.Service) error {
				if svc.Build != nil || svc.Image == "" || pulled[svc.Image] {
					return nil
				}
				pulled[svc.Image] = true
				fmt.Fprintf(cmd.ErrOrStderr(), " Image %s  Pulling\n", svc.Image)
				if err := h.Pull(ctx, svc.Image); err != nil {
					return fmt.Errorf("service %q: pulling %s: %w", svc.Name, svc.Image, err)
				}
				fmt.Fprintf(cmd.ErrOrStderr(), " Image %s  Pulled\n", svc.Image)
				return nil
			})
		},
	}
	registerStackFlags(cmd, &so, true)
	return cmd
}

// eachService loads the stack and calls fn for the services named (all
// when none), in start order.
func eachService(cmd *cobra.Command, so *stackOptions, names []string, fn func(context.Context, *spec.Stack, *spec.Service) error) error {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	st, err := so.load(ctx, cmd.ErrOrStderr())
	if err != nil {
		return err
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, ok := st.Services[n]; !ok {
			return &exitError{code: 1, err: fmt.Errorf("no such service: %q", n)}
		}
		want[n] = true
	}
	for _, n := range st.StartOrder() {
		if len(want) > 0 && !want[n] {
			continue
		}
		if err := fn(ctx, st, st.Services[n]); err != nil {
			return err
		}
	}
	return nil
}
