package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// defaultRoot and defaultRun are where berth keeps its state unless --root
// or BERTH_ROOT moves it; a moved root keeps its runtime files in root/run.
const (
	defaultRoot = "/var/lib/berth"
	defaultRun  = "/run/berth"
)

type globalOptions struct {
	root  string
	debug bool
}

// runDir is where runtime files go for this root.
func (g *globalOptions) runDir() string {
	if filepath.Clean(g.root) == defaultRoot {
		return defaultRun
	}
	return filepath.Join(g.root, "run")
}

// exitError carries the exit code a command wants, with or without a
// message (a container's own exit code needs none).
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

func newRootCmd() *cobra.Command {
	g := &globalOptions{}
	root := &cobra.Command{
		Use:           "berth",
		Short:         "Run containers and Compose stacks with berth's own runtime",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	envRoot := os.Getenv("BERTH_ROOT")
	if envRoot == "" {
		envRoot = defaultRoot
	}
	root.PersistentFlags().StringVar(&g.root, "root", envRoot, "directory for all of berth's state (env BERTH_ROOT)")
	root.PersistentFlags().BoolVar(&g.debug, "debug", false, "log what berth does to stderr")
	root.AddCommand(
		newRunCmd(g), newPsCmd(g), newLogsCmd(g), newStopCmd(g), newKillCmd(g),
		newExecCmd(g), newPauseCmd(g), newUnpauseCmd(g),
		newCpCmd(g),
		newRmCmd(g), newInspectCmd(g), newWaitCmd(g), newReapCmd(g),
		newImageCmd(g), newImagesCmd(g, "images"), newRmiCmd(g, "rmi"), newTagCmd(g),
		newLoadCmd(g), newSaveCmd(g), newCommitCmd(g), newHistoryCmd(g),
		newPullCmd(g), newPushCmd(g), newLoginCmd(g), newLogoutCmd(g), newSystemCmd(g), newBuilderCmd(g), newUpCmd(g), newDownCmd(g), newWatchCmd(g), newDaemonCmd(g),
		newVolumeCmd(g), newNetworkCmd(g), newPortCmd(g), newDNSCmd(g), newDetachCmd(g),
		newConfigCmd(g), newBuildCmd(g), newComposeCmd(g),
	)
	return root
}

// execute runs the command line and returns the process exit code: 0 ok,
// 1 failure, 2 bad command line, or what the command asked for.
func execute(args []string) int {
	root := newRootCmd()
	root.SetArgs(args)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: 2, err: fmt.Errorf("%w\nSee '%s --help'", err, c.CommandPath())}
	})
	err := root.Execute()
	if err == nil {
		return 0
	}
	code := 1
	var ee *exitError
	if errors.As(err, &ee) {
		code = ee.code
		if ee.err == nil {
			return code
		}
	}
	printError(os.Stderr, err)
	return code
}
