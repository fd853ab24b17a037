package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime"
)

type logsOptions struct {
	follow     bool
	tail       string
	timestamps bool
}

func newLogsCmd(g *globalOptions) *cobra.Command {
	o := &logsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] CONTAINER",
		Short: "Show a container's output",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runLogs(cmd.Context(), g, o, args[0], cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "follow the output until the container stops")
	f.StringVarP(&o.tail, "tail", "n", "all", "number of lines to show from the end")
	f.BoolVarP(&o.timestamps, "timestamps", "t", false, "show timestamps")
	return cmd
}

func runLogs(ctx context.Context, g *globalOptions, o *logsOptions, ref string, stdout, stderr io.Writer) error {
	tail := -1
	if o.tail != "all" {
		if _, err := fmt.Sscan(o.tail, &tail); err != nil || tail < 0 {
			return &exitError{code: 2, err: fmt.Errorf("--tail %q: give a number of lines or \"all\"", o.tail)}
		}
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	c, err := m.Get(ref)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	return m.ReadLogs(ctx, c, runtime.LogOptions{Follow: o.follow, Tail: tail}, func(e runtime.LogEntry) {
		w := stdout
		if e.Stream == "stderr" {
			w = stderr
		}
		if o.timestamps {
			fmt.Fprint(w, e.Time.Format(time.RFC3339Nano)+" ")
		}
		fmt.Fprint(w, e.Log)
	})
}
