//go:build !registry

package main

import "github.com/spf13/cobra"

// Stack commands load the stack file with compose-go (~30 ms of start-up):
// berth-registry carries them out.

func newUpCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("up [OPTIONS] [SERVICE...]", "Create and start the stack's containers (docker compose up)")
}

func newDownCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("down [OPTIONS]", "Stop and remove the stack's containers and networks (docker compose down)")
}

func newWatchCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("watch [OPTIONS] [SERVICE...]", "Follow develop.watch rules and the stack file: sync, restart, rebuild (docker compose watch)")
}

func newDaemonCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("daemon", "Run the engine that keeps stacks up (started by berth up when none runs)")
}
