//go:build registry

package main

import (
	"context"
	"fmt"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
)

// newComposeCpCmd is `compose cp SERVICE:PATH DEST` (and the reverse):
// berth cp with the service's replica --index, running or stopped, as
// docker compose cp.
func newComposeCpCmd(g *globalOptions) *cobra.Command {
	o := &cpOptions{}
	var so stackOptions
	index := 1
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] SERVICE:SRC_PATH DEST_PATH|-\n  berth compose cp [OPTIONS] SRC_PATH|- SERVICE:DEST_PATH",
		Short: "Copy files and directories between a service's replica and the host",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst := splitCpArg(args[0]), splitCpArg(args[1])
			if err := checkCpArgs(src, dst); err != nil {
				return err
			}
			c, err := cpReplica(cmd, g, &so, src.container+dst.container, index)
			if err != nil {
				return err
			}
			return runCp(c, src, dst, o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	registerStackFlags(cmd, &so, true)
	f := cmd.Flags()
	f.IntVar(&index, "index", 1, "which replica of the service")
	f.BoolVarP(&o.archive, "archive", "a", false, "archive mode: keep the uid and gid of the source")
	f.BoolVarP(&o.follow, "follow-link", "L", false, "follow SRC_PATH if it is a symbolic link")
	return cmd
}

// cpReplica finds replica index of service, stopped ones too (replicaOf
// wants them running, as exec must).
func cpReplica(cmd *cobra.Command, g *globalOptions, so *stackOptions, service string, index int) (*runtime.Container, error) {
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	_, _, cs, err := openStack(ctx, g, so, []string{service}, cmd.ErrOrStderr())
	if err != nil {
		return nil, err
	}
	for _, c := range cs {
		if c.Config.Labels[scheduler.LabelNumber] == strconv.Itoa(index) && c.Config.Labels[scheduler.LabelOneoff] != "True" {
			return c, nil
		}
	}
	return nil, &exitError{code: 1, err: fmt.Errorf("service %q has no replica %d (berth compose ps -a lists them)", service, index)}
}
