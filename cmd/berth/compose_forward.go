//go:build !registry

package main

import "github.com/spf13/cobra"

// The stack commands load the stack file with compose-go (~30 ms of
// start-up): berth-registry carries out the whole group.
func newComposeCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("compose [-f FILE] [-p NAME] COMMAND", "Run and inspect Compose stacks (docker compose: up, down, ps, logs, ls, ...)")
}
