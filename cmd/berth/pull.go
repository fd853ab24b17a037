//go:build registry

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berthproject/berth/image"
)

func newPullCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "pull [OPTIONS] NAME[:TAG|@DIGEST]",
		Short: "Download an image from a registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			progress, pp := newProgress(out, quiet)
			img, err := s.Pull(cmd.Context(), args[0], progress)
			pp.done()
			if err != nil {
				return err
			}
			if quiet {
				fmt.Fprintln(out, img.ID)
				return nil
			}
			fmt.Fprintln(out, "Digest: "+img.Digest)
			fmt.Fprintln(out, "Status: Downloaded image for "+args[0])
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print only the image id")
	return cmd
}

func newPushCmd(g *globalOptions) *cobra.Command {
	var quiet bool
	cmd := &cobra.Command{
		Use:   "push [OPTIONS] NAME[:TAG]",
		Short: "Upload an image to its registry",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			progress, pp := newProgress(out, quiet)
			err = s.Push(cmd.Context(), args[0], progress)
			pp.done()
			if err != nil {
				return err
			}
			img, err := s.Get(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(out, "%s: digest: %s\n", args[0], img.Digest)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "show no progress")
	return cmd
}

// newProgress is the progress display of a pull or push: nil with quiet.
func newProgress(out io.Writer, quiet bool) (image.Progress, *progressPrinter) {
	pp := newProgressPrinter(out, term.IsTerminal(int(os.Stdout.Fd())))
	if quiet {
		return nil, pp
	}
	return pp.event, pp
}
