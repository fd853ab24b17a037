//go:build registry

package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/network/dnsserver"
	"github.com/berthproject/berth/runtime"
)

// dnsHelperBinary is the program that serves DNS: this one, which has
// the server built in.
func dnsHelperBinary() (string, error) { return os.Executable() }

func newDNSCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    dnsCommand,
		Short:  "Serve DNS to containers until none is left (started by berth run)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return serveDNS(g)
		},
	}
}

// serveDNS is the DNS helper (see dns_spawn.go): it serves until no
// container has been attached for a while, or until SIGTERM.
func serveDNS(g *globalOptions) error {
	// The run that started us may have stopped waiting for "ready" and
	// closed the pipe: writing it must not kill us (SIGPIPE on fd 1).
	signal.Ignore(unix.SIGPIPE)
	level := slog.LevelInfo
	if g.debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	o := dnsserver.Options{IdleExit: defaultDNSIdle, Log: log}
	if v := os.Getenv(envDNSIdle); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("%s=%q is not a duration such as 30s", envDNSIdle, v)
		}
		o.IdleExit = d
	}
	if v := os.Getenv(envDNSUpstreams); v != "" {
		o.Upstreams = strings.Split(v, ",")
	}
	nm, err := network.OpenWith(g.root, g.runDir(), network.Options{Log: log})
	if err != nil {
		return err
	}
	if nm.DNSRunning() {
		log.Info("another process serves DNS for this root already")
		return nil
	}
	m, err := newManager(g)
	if err != nil {
		return err
	}
	// A container answers while it runs and, if its health is checked,
	// once it is healthy: clients are not sent to a replica that is
	// still starting or has turned unhealthy, nor to one being stopped
	// (a rolling update drains it from DNS first).
	o.Alive = func(id string) bool {
		c, err := m.Get(id)
		return err == nil && c.State.Running && !c.State.StopRequested &&
			(c.State.Health == nil || c.State.Health.Status == runtime.HealthHealthy)
	}
	pidFile := dnsPidFile(g)
	pid := strconv.Itoa(os.Getpid())
	o.Ready = func() {
		if err := writeFileAtomic(pidFile, []byte(pid+"\n")); err != nil {
			log.Warn("writing the pid file", "err", err)
		}
		// The run that started us reads the line and goes: later writes
		// to the pipe would kill us with SIGPIPE.
		_, _ = os.Stdout.WriteString(dnsReadyLine)
		if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
			_ = unix.Dup2(int(null.Fd()), 1)
			null.Close()
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	defer stop()
	log.Info("serving DNS", "pid", os.Getpid(), "idle-exit", o.IdleExit, "upstreams", o.Upstreams)
	go trimPeriodically(ctx, nil)
	err = dnsserver.Serve(ctx, nm, o)
	if b, rerr := os.ReadFile(pidFile); rerr == nil && strings.TrimSpace(string(b)) == pid {
		os.Remove(pidFile)
	}
	log.Info("DNS server exits", "err", err)
	return err
}

// writeFileAtomic writes b to path through a temporary file and a rename.
func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp-" + strconv.Itoa(os.Getpid())
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}
