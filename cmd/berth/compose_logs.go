//go:build registry

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthproject/berth/runtime"
)

type composeLogsOptions struct {
	stack        stackOptions
	follow       bool
	tail         string
	since, until string
	timestamps   bool
	noColor      bool
	noLogPrefix  bool
}

func newComposeLogsCmd(g *globalOptions) *cobra.Command {
	o := &composeLogsOptions{}
	cmd := &cobra.Command{
		Use:   "logs [OPTIONS] [SERVICE...]",
		Short: "Show the output of the stack's containers, each line prefixed with its replica",
		RunE: func(cmd *cobra.Command, args []string) error {
			return runComposeLogs(cmd.Context(), g, o, args, cmd.OutOrStdout(), cmd.ErrOrStderr())
		},
	}
	registerStackFlags(cmd, &o.stack, false)
	f := cmd.Flags()
	f.BoolVarP(&o.follow, "follow", "f", false, "keep following: new output, restarted and added replicas, until Ctrl-C")
	f.StringVarP(&o.tail, "tail", "n", "all", "number of lines to show from the end of each container's log")
	f.StringVar(&o.since, "since", "", "only lines since this time: RFC 3339 (2013-01-02T13:23:37Z), Unix seconds, or a duration back (42m)")
	f.StringVar(&o.until, "until", "", "only lines before this time (same forms as --since)")
	f.BoolVarP(&o.timestamps, "timestamps", "t", false, "show timestamps")
	f.BoolVar(&o.noColor, "no-color", false, "print the prefixes without colours")
	f.BoolVar(&o.noLogPrefix, "no-log-prefix", false, "print the lines without the replica's prefix")
	return cmd
}

// followPoll is how often logs -f looks for new containers of the stack.
const followPoll = 200 * time.Millisecond

func runComposeLogs(ctx context.Context, g *globalOptions, o *composeLogsOptions, services []string, stdout, stderr io.Writer) error {
	tail := -1
	if o.tail != "all" && o.tail != "-1" {
		n, err := strconv.Atoi(o.tail)
		if err != nil || n < 0 {
			return &exitError{code: 2, err: fmt.Errorf("--tail %q: give a number of lines or \"all\"", o.tail)}
		}
		tail = n
	}
	now := time.Now()
	since, err := parseLogTime("--since", o.since, now)
	if err != nil {
		return err
	}
	until, err := parseLogTime("--until", o.until, now)
	if err != nil {
		return err
	}
	p, m, cs, err := openStack(ctx, g, &o.stack, services, stderr)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()

	lp := &logPrinter{
		stdout: stdout, stderr: stderr, timestamps: o.timestamps, noPrefix: o.noLogPrefix,
		color: !o.noColor && isTerminal(stdout), since: since, until: until, colors: map[string]string{},
	}
	for _, c := range cs {
		lp.widen(replicaName(c))
	}
	if !o.follow {
		// One container after the other: the output reads the same on
		// every run.
		for _, c := range cs {
			if err := m.ReadLogs(ctx, c, runtime.LogOptions{Tail: tail}, lp.printer(c)); err != nil {
				return err
			}
		}
		return nil
	}
	return followStack(ctx, m, p, services, cs, tail, lp)
}

// followStack follows every container of the stack until ctx ends: the
// ones in cs from their last tail lines, and each container that appears
// later (a replica added, or one replaced after it exited: a new id with
// the old name) from its first line.
func followStack(ctx context.Context, m *runtime.Manager, p *composeProject, services []string, cs []*runtime.Container, tail int, lp *logPrinter) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	seen := map[string]bool{}
	follow := func(c *runtime.Container, tail int) {
		if c.State.Status == runtime.StatusCreated {
			return // no log yet: it is followed once it has started
		}
		seen[c.ID] = true
		lp.widen(replicaName(c))
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.ReadLogs(ctx, c, runtime.LogOptions{Follow: true, Tail: tail}, lp.printer(c)); err != nil && ctx.Err() == nil {
				fmt.Fprintf(lp.stderr, "warning: following %s: %v\n", c.Name(), err)
			}
		}()
	}
	for _, c := range cs {
		follow(c, tail)
	}
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		now, err := p.containers(m, services)
		if err != nil {
			continue // a container removed while listed: look again next tick
		}
		for _, c := range now {
			if !seen[c.ID] {
				follow(c, -1)
			}
		}
	}
}

// logPrinter writes log lines with "web-1  | " prefixes, one whole line
// at a time whichever goroutine reads it.
type logPrinter struct {
	stdout, stderr   io.Writer
	timestamps       bool
	noPrefix, color  bool
	since, until     time.Time
	colors           map[string]string // by service
	mu               sync.Mutex
	width, nextColor int
}

// widen makes room for name in the prefixes' column.
func (lp *logPrinter) widen(name string) {
	lp.mu.Lock()
	defer lp.mu.Unlock()
	lp.width = max(lp.width, len(name))
}

// composeRainbow is docker compose's palette for log prefixes, in the
// order it hands the colours out: cyan, yellow, green, magenta, blue,
// then the same in bold.
var composeRainbow = []string{"36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"}

// printer prints the entries of c.
func (lp *logPrinter) printer(c *runtime.Container) func(runtime.LogEntry) {
	name, service := replicaName(c), serviceOf(c)
	return func(e runtime.LogEntry) {
		if !lp.since.IsZero() && e.Time.Before(lp.since) || !lp.until.IsZero() && !e.Time.Before(lp.until) {
			return
		}
		lp.mu.Lock()
		defer lp.mu.Unlock()
		var b strings.Builder
		if !lp.noPrefix {
			prefix := fmt.Sprintf("%-*s | ", lp.width, name)
			if lp.color {
				code, ok := lp.colors[service]
				if !ok {
					code = composeRainbow[lp.nextColor%len(composeRainbow)]
					lp.nextColor++
					lp.colors[service] = code
				}
				prefix = "\033[" + code + "m" + prefix + "\033[0m"
			}
			b.WriteString(prefix)
		}
		if lp.timestamps {
			b.WriteString(e.Time.UTC().Format(time.RFC3339Nano) + " ")
		}
		b.WriteString(e.Log)
		if !strings.HasSuffix(e.Log, "\n") {
			b.WriteString("\n")
		}
		w := lp.stdout
		if e.Stream == "stderr" {
			w = lp.stderr
		}
		io.WriteString(w, b.String())
	}
}

// parseLogTime reads --since and --until as docker does: RFC 3339 (with
// or without a zone, date only), Unix seconds, or a duration before now.
func parseLogTime(flag, s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if d, err := time.ParseDuration(s); err == nil {
		return now.Add(-d), nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		return time.Unix(0, int64(secs*1e9)), nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, &exitError{code: 2, err: fmt.Errorf("%s %q: give a time (2013-01-02T13:23:37Z), Unix seconds, or a duration back (42m)", flag, s)}
}

// isTerminal says whether w is a terminal: prefixes get colours there.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
