//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/scheduler/api"
)

// berth watch hands the watch to the engine, which does the file
// watching and the actions (scheduler.Engine.Watch), and prints what it
// reports until Ctrl-C; the engine stops watching when this client goes.

type watchOptions struct {
	stack stackOptions
	noUp  bool
	quiet bool
}

func newWatchCmd(g *globalOptions) *cobra.Command {
	o := &watchOptions{}
	cmd := &cobra.Command{
		Use:   "watch [OPTIONS] [SERVICE...]",
		Short: "Follow develop.watch rules and the stack file: sync, restart, rebuild (docker compose watch)",
		Long: `Watch brings the stack up (unless --no-up) and then follows its services'
develop.watch rules: a changed file is copied into every running replica
(sync), then the replicas are restarted (sync+restart) or a command runs in
them (sync+exec); restart recreates the replicas; rebuild builds the image
again and recreates them, rolling as deploy.update_config says. An edit of
the stack file, its .env or env_file files is applied at once, recreating
only the services it changed; an edit that does not load is reported with
its file and line, and the stack runs on as it was. Ctrl-C stops watching
and leaves the stack up.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runWatch(cmd.Context(), g, o, args, cmd.ErrOrStderr())
		},
	}
	o.stack.register(cmd)
	f := cmd.Flags()
	f.BoolVar(&o.noUp, "no-up", false, "do not bring the stack up first: watch the stack as it runs")
	f.BoolVar(&o.quiet, "quiet", false, "print only what the watch does, not each container's progress")
	return cmd
}

func runWatch(ctx context.Context, g *globalOptions, o *watchOptions, services []string, errOut io.Writer) error {
	st, err := o.stack.load(ctx, errOut)
	if err != nil {
		return err
	}
	if err := checkServices(st, services); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return &exitError{code: 1, err: runtime.ErrNotRoot}
	}
	req := api.WatchRequest{Stack: st, Load: o.stack.specOptions(), Services: services}
	if !o.noUp {
		req.Up = &api.UpRequest{Stack: st}
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	return watchStack(ctx, g, req, o.quiet, errOut)
}

// watchStack runs a watch until ctx ends, printing its events to errOut;
// quiet prints only the watch's own lines.
//
// The watch lives in the engine: should the engine die (kill -9, a
// crash), a new one is started, which takes the stack over as after any
// engine's death, and the watch goes on there, without the up. Changes
// made while no engine ran are seen only by rules with initial_sync.
func watchStack(ctx context.Context, g *globalOptions, req api.WatchRequest, quiet bool, errOut io.Writer) error {
	progress := apiProgress(errOut)
	var deaths []time.Time
	for {
		engine, err := ensureEngine(ctx, g)
		if err != nil {
			return err
		}
		_, err = engine.Watch(ctx, req, func(e api.Event) {
			if e.Kind != scheduler.WatchKind {
				if !quiet {
					progress(e)
				}
				return
			}
			printWatchEvent(errOut, e)
		})
		if ctx.Err() != nil {
			return nil // Ctrl-C: the watch is over, the stack stays up
		}
		if !errors.Is(err, api.ErrEngineGone) {
			return err
		}
		deaths = append(deaths, time.Now())
		if len(deaths) > maxEngineDeaths && time.Since(deaths[len(deaths)-1-maxEngineDeaths]) < engineDeathWindow {
			return fmt.Errorf("berth's engine died %d times within %v during the watch (see ROOT/engine.log): %w", maxEngineDeaths+1, engineDeathWindow, err)
		}
		fmt.Fprintln(errOut, "watch: berth's engine went away; starting it again, the watch goes on")
		req.Up = nil // the stack is up: the new engine keeps it so
	}
}

// An engine that dies over and over during a watch ends it: more than
// maxEngineDeaths deaths within engineDeathWindow.
const (
	maxEngineDeaths   = 3
	engineDeathWindow = time.Minute
)

// printWatchEvent prints a watch action as "web: synced 3 files into 2
// replicas"; an error's lines follow, indented.
func printWatchEvent(w io.Writer, e api.Event) {
	if e.Error == "" {
		fmt.Fprintf(w, "%s: %s\n", e.Name, e.Status)
		return
	}
	fmt.Fprintf(w, "%s: %s:\n", e.Name, e.Status)
	for _, line := range strings.Split(strings.TrimRight(e.Error, "\n"), "\n") {
		fmt.Fprintf(w, "  error: %s\n", line)
	}
}

var errWatchDetached = errors.New("--watch follows the stack in the foreground: it cannot be combined with -d or --wait")
