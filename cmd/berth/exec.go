package main

import (
	"context"
	"os"
	"os/signal"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
	"golang.org/x/term"

	"github.com/berthproject/berth/runtime"
)

type execOptions struct {
	detach      bool
	interactive bool
	tty         bool
	user        string
	workdir     string
	env         []string
	envFiles    []string
}

func newExecCmd(g *globalOptions) *cobra.Command {
	o := &execOptions{}
	cmd := &cobra.Command{
		Use:   "exec [OPTIONS] CONTAINER COMMAND [ARG...]",
		Short: "Run a command in a running container",
		Args:  cobra.MinimumNArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runExec(cmd.Context(), g, o, args[0], args[1:])
		},
	}
	f := cmd.Flags()
	// Everything after the command belongs to the command.
	f.SetInterspersed(false)
	f.BoolVarP(&o.detach, "detach", "d", false, "run the command in the background")
	f.BoolVarP(&o.interactive, "interactive", "i", false, "keep stdin open")
	f.BoolVarP(&o.tty, "tty", "t", false, "allocate a pseudo-terminal")
	f.StringVarP(&o.user, "user", "u", "", "user to run as: name|uid[:group|gid] (default: the container's)")
	f.StringVarP(&o.workdir, "workdir", "w", "", "working directory inside the container (default: the container's)")
	f.StringArrayVarP(&o.env, "env", "e", nil, "set an environment variable (KEY=VALUE, or KEY to copy it from here)")
	f.StringArrayVar(&o.envFiles, "env-file", nil, "read environment variables from a file")
	return cmd
}

// runExec runs the command and exits with its exit code, as docker exec:
// 125 when berth fails, 126 or 127 when the command cannot run.
func runExec(ctx context.Context, g *globalOptions, o *execOptions, ref string, args []string) error {
	if os.Geteuid() != 0 {
		return &exitError{code: 125, err: runtime.ErrNotRoot}
	}
	env, err := (&runOptions{env: o.env, envFiles: o.envFiles}).environment()
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	m, err := newManager(g)
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	c, err := m.Get(ref)
	if err != nil {
		return &exitError{code: 125, err: err}
	}
	cfg := runtime.ExecConfig{Args: args, Env: env, User: o.user, WorkingDir: o.workdir, TTY: o.tty, Detach: o.detach}
	var stdio *runtime.Stdio
	if !o.detach {
		stdio = &runtime.Stdio{Out: os.Stdout, Err: os.Stderr}
		if o.interactive {
			stdio.In = os.Stdin
		}
		stop := o.attachTerminal(&cfg)
		defer stop()
	}
	code, err := m.Exec(ctx, c, cfg, stdio)
	if err != nil {
		if code == 0 {
			code = 125
		}
		return &exitError{code: code, err: err}
	}
	if code == 0 {
		return nil
	}
	return &exitError{code: code}
}

// attachTerminal makes the user's terminal raw for -it, so keys (^C
// included) go to the process's pty, and passes window size changes and
// the signals berth gets on to the process. stop undoes it.
func (o *execOptions) attachTerminal(cfg *runtime.ExecConfig) (stop func()) {
	var restore func()
	in := int(os.Stdin.Fd())
	if o.tty && o.interactive && term.IsTerminal(in) {
		if old, err := term.MakeRaw(in); err == nil {
			restore = func() { _ = term.Restore(in, old) }
		}
	}
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, unix.SIGINT, unix.SIGTERM, unix.SIGHUP, unix.SIGQUIT, unix.SIGUSR1, unix.SIGUSR2, unix.SIGWINCH)
	forward := make(chan os.Signal, 16)
	resize := make(chan runtime.WindowSize, 1)
	cfg.Signals, cfg.Resize = forward, resize
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case s := <-sigs:
				if s != unix.SIGWINCH {
					select {
					case forward <- s:
					case <-done:
						return
					}
					continue
				}
				if w, h, err := term.GetSize(int(os.Stdout.Fd())); err == nil {
					select {
					case resize <- runtime.WindowSize{Rows: uint16(h), Cols: uint16(w)}:
					case <-done:
						return
					}
				}
			}
		}
	}()
	return func() {
		signal.Stop(sigs)
		close(done)
		if restore != nil {
			restore()
		}
	}
}
