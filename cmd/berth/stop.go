package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
)

// actOn runs act on every container named in refs and prints each ref it
// succeeded on, as Docker's stop, kill and rm do.
func actOn(g *globalOptions, out io.Writer, refs []string, act func(*runtime.Manager, *runtime.Container) error) error {
	m, err := newManager(g)
	if err != nil {
		return err
	}
	return eachContainer(m, refs, func(ref string, c *runtime.Container) error {
		if err := act(m, c); err != nil {
			return err
		}
		fmt.Fprintln(out, ref)
		return nil
	})
}

func newStopCmd(g *globalOptions) *cobra.Command {
	var secs int
	cmd := &cobra.Command{
		Use:   "stop [OPTIONS] CONTAINER...",
		Short: "Stop containers: the stop signal, then SIGKILL after the grace period",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			timeout := time.Duration(-1)
			if secs >= 0 {
				timeout = time.Duration(secs) * time.Second
			}
			return actOn(g, cmd.OutOrStdout(), args, func(m *runtime.Manager, c *runtime.Container) error {
				if err := m.Stop(context.Background(), c, timeout); err != nil {
					return err
				}
				// A stopped container keeps no address or published port,
				// as in Docker (berth cannot start it again anyway).
				detachContainer(g, c)
				return nil
			})
		},
	}
	cmd.Flags().IntVarP(&secs, "time", "t", -1, "seconds to wait before killing (default: the container's --stop-timeout, or 10)")
	return cmd
}

func newKillCmd(g *globalOptions) *cobra.Command {
	var sigName string
	cmd := &cobra.Command{
		Use:   "kill [OPTIONS] CONTAINER...",
		Short: "Send a signal to containers (SIGKILL by default)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			sig, err := runtime.ParseSignal(sigName)
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			return actOn(g, cmd.OutOrStdout(), args, func(m *runtime.Manager, c *runtime.Container) error {
				return m.Kill(c, sig)
			})
		},
	}
	cmd.Flags().StringVarP(&sigName, "signal", "s", "KILL", "signal to send")
	return cmd
}

func newRmCmd(g *globalOptions) *cobra.Command {
	var force, volumes bool
	cmd := &cobra.Command{
		Use:   "rm [OPTIONS] CONTAINER...",
		Short: "Remove containers",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return actOn(g, cmd.OutOrStdout(), args, func(m *runtime.Manager, c *runtime.Container) error {
				if err := m.Remove(context.Background(), c, force); err != nil {
					return err
				}
				detachContainer(g, c)
				if volumes {
					removeAnonymousVolumes(g, m, c)
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill and remove a running container")
	cmd.Flags().BoolVarP(&volumes, "volumes", "v", false, "also remove the container's anonymous volumes (named ones stay)")
	return cmd
}

func newWaitCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "wait CONTAINER...",
		Short: "Wait for containers to stop and print their exit codes",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := newManager(g)
			if err != nil {
				return err
			}
			return eachContainer(m, args, func(ref string, c *runtime.Container) error {
				st, err := m.Wait(context.Background(), c)
				if err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), st.ExitCode)
				return nil
			})
		},
	}
}
