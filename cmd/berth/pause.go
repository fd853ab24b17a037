package main

import (
	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
)

// newPauseCmd is docker pause: the container's processes are frozen (the
// cgroup freezer) until berth unpause; see runtime/pause.go for what a
// paused container still does.
func newPauseCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "pause CONTAINER...",
		Short: "Freeze all processes of containers (berth unpause resumes them)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return actOn(g, cmd.OutOrStdout(), args, func(m *runtime.Manager, c *runtime.Container) error {
				return m.Pause(c)
			})
		},
	}
}

// newUnpauseCmd is docker unpause.
func newUnpauseCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "unpause CONTAINER...",
		Short: "Let the processes of paused containers run again",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return actOn(g, cmd.OutOrStdout(), args, func(m *runtime.Manager, c *runtime.Container) error {
				return m.Unpause(c)
			})
		},
	}
}
