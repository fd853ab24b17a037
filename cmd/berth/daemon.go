//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/scheduler"
	"github.com/berthproject/berth/scheduler/api"
)

// The engine: `berth daemon`, one per root, started by the first stack
// command that finds none (ensureEngine), serving the API on
// RUN/berth.sock and logging to ROOT/engine.log. RUN/engine.lock, held
// while it runs, makes it one; RUN/engine.pid names it.

// envEngineIdle, when set (a Go duration), makes the engine exit once it
// has had no stack for that long: for tests, which start one per root.
const envEngineIdle = "BERTH_ENGINE_IDLE"

func engineSocket(g *globalOptions) string { return filepath.Join(g.runDir(), "berth.sock") }

func newDaemonCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "daemon",
		Short: "Run the engine that keeps stacks up (started by berth up when none runs)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDaemon(cmd.Context(), g)
		},
	}
}

func runDaemon(ctx context.Context, g *globalOptions) error {
	if os.Geteuid() != 0 {
		return errors.New("berth daemon must run as root: it creates namespaces, cgroups and networks")
	}
	if err := os.MkdirAll(g.runDir(), 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(g.runDir(), "engine.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		return fmt.Errorf("an engine runs for %s already (RUN/engine.lock is held)", g.root)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	sock := engineSocket(g)
	_ = os.Remove(sock) // a dead engine's; we hold the lock
	l, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", sock, err)
	}
	if err := os.Chmod(sock, 0o600); err != nil {
		return err
	}
	pidFile := filepath.Join(g.runDir(), "engine.pid")
	if err := writeFileAtomic(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n")); err != nil {
		return err
	}
	defer os.Remove(pidFile)
	defer os.Remove(sock)

	h, err := newStackHost(g, os.Stderr)
	if err != nil {
		return err
	}
	h.detachLater = true
	defer h.WaitDetached(10 * time.Second)
	// The engine before this one may have been killed mid-work: what it
	// left of half-made containers and networks goes now.
	if n, err := h.m.CleanDebris(); err != nil {
		log.Warn("cleaning up containers", "err", err)
	} else if n > 0 {
		log.Info("removed what a killed create or remove left", "containers", n)
	}
	if nm, err := newNetworkManager(g); err == nil {
		if err := cleanUpNetworks(g, nm, h.m); err != nil {
			log.Warn("cleaning up networks", "err", err)
		}
	}
	store, err := scheduler.OpenStackStore(filepath.Join(g.root, "stacks"))
	if err != nil {
		return err
	}
	e := scheduler.NewEngine(h, store, log)
	ctx, stop := signal.NotifyContext(ctx, unix.SIGTERM, unix.SIGINT)
	defer stop()
	if v := os.Getenv(envEngineIdle); v != "" {
		idle, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%s=%q is not a duration such as 30s", envEngineIdle, v)
		}
		ctx = exitWhenIdle(ctx, e, store, idle)
	}
	srv := &http.Server{Handler: e.Handler()}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	log.Info("engine serving", "pid", os.Getpid(), "socket", sock)
	go trimPeriodically(ctx, e.Busy)
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return <-errc
}

// exitWhenIdle returns a context that ends once store has had no stack,
// and e no request, for idle.
func exitWhenIdle(ctx context.Context, e *scheduler.Engine, store *scheduler.StackStore, idle time.Duration) context.Context {
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		since := time.Now()
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(idle / 4):
			}
			if names, err := store.List(); err != nil || len(names) > 0 || e.Busy() {
				since = time.Now()
			} else if time.Since(since) >= idle {
				cancel()
				return
			}
		}
	}()
	return ctx
}

// ensureEngine returns a client of the root's engine, starting one when
// none answers.
func ensureEngine(ctx context.Context, g *globalOptions) (*api.Client, error) {
	c := api.NewClient(engineSocket(g))
	if _, err := c.Ping(ctx); err == nil {
		return c, nil
	}
	if err := os.MkdirAll(g.runDir(), 0o700); err != nil {
		return nil, err
	}
	// One starter at a time: concurrent ups start one engine.
	spawn, err := os.OpenFile(filepath.Join(g.runDir(), "engine-spawn.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, err
	}
	defer spawn.Close()
	if err := flock(spawn, unix.LOCK_EX); err != nil {
		return nil, err
	}
	if _, err := c.Ping(ctx); err == nil {
		return c, nil
	}
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(g.root, "engine.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("starting berth's engine: %w", err)
	}
	defer logf.Close()
	cmd := exec.Command(self, "--root", g.root, "daemon")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting berth's engine: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, err := c.Ping(ctx); err == nil {
			return c, nil
		}
		select {
		case err := <-exited:
			return nil, fmt.Errorf("berth's engine exited at start (%v); see %s", err, logPath)
		default:
		}
	}
	return nil, fmt.Errorf("berth's engine did not answer on %s within 10 s; see %s", engineSocket(g), logPath)
}
