package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

// newBuilderCmd is `berth builder`: the build cache, as docker builder
// manages BuildKit's.
func newBuilderCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "builder", Short: "Manage the build cache"}
	prune := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove the build cache: every cached build step, and layers no image uses",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			freed, err := s.PruneBuildCache()
			if err != nil {
				return fmt.Errorf("pruning the build cache: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Total reclaimed space: %s\n", humanSize(freed))
			return nil
		},
	}
	// Docker asks before pruning unless -f; berth's cache is only ever a
	// cache (images keep their layers), so there is nothing to confirm.
	// The flags are taken so scripts written for docker work.
	prune.Flags().BoolP("force", "f", false, "do not ask for confirmation (berth never asks)")
	prune.Flags().BoolP("all", "a", false, "remove all build cache (berth always does)")
	cmd.AddCommand(prune)
	return cmd
}
