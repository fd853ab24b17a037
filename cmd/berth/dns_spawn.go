package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/network"
)

// Until the engine exists, a container's DNS is served by a helper that
// `berth run` starts when none runs: `berth __dns`, detached in a session
// of its own, logging to RUN/helpers.log and noting its pid in RUN/dns.pid
// while it serves. It exits once no container has been attached for a
// while (BERTH_DNS_IDLE, 30s by default). The server lives in
// berth-registry, berth's second build, which links the DNS library
// berth itself leaves out for its start-up time (see network/doc.go).
//
//	berth run  -> DNSRunning? no: take dns-spawn.lock, look again
//	berth run  -> start the helper, stdout a pipe
//	helper     -> holds dns.lock, listeners open: "ready" on the pipe
//	berth run  -> release dns-spawn.lock, start the container
//
// So the container's first query finds the server up, and concurrent
// runs start one helper, not one each.

// Environment variables the helper reads, for tests and operators: the
// helper inherits the environment of the run that started it.
const (
	// envDNSUpstreams replaces the host's /etc/resolv.conf nameservers as
	// where unknown names are forwarded: "IP[:PORT],IP[:PORT]...".
	envDNSUpstreams = "BERTH_DNS_UPSTREAMS"
	// envDNSIdle is how long the helper stays without containers, as a
	// Go duration ("30s", "200ms").
	envDNSIdle = "BERTH_DNS_IDLE"
)

// defaultDNSIdle is how long the helper outlives the last container.
const defaultDNSIdle = 30 * time.Second

// dnsReadyTimeout bounds the wait for a new helper: past it the container
// starts anyway, and its first queries may go unanswered.
const dnsReadyTimeout = 5 * time.Second

// ensureDNS starts the DNS helper unless a server runs for this root,
// and waits until it answers on gateway: a server that runs already may
// not listen on a network made a moment ago yet.
func ensureDNS(ctx context.Context, g *globalOptions, nm *network.Manager, gateway netip.Addr) error {
	if !nm.DNSRunning() {
		if err := startDNS(g, nm); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithTimeout(ctx, dnsReadyTimeout)
	defer cancel()
	return nm.WaitDNS(ctx, gateway)
}

// startDNS starts the DNS helper, unless another run did meanwhile.
func startDNS(g *globalOptions, nm *network.Manager) error {
	lock, err := os.OpenFile(filepath.Join(g.runDir(), "dns-spawn.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("starting berth's DNS server: %w", err)
	}
	defer lock.Close()
	if err := flock(lock, unix.LOCK_EX); err != nil {
		return fmt.Errorf("starting berth's DNS server: %w", err)
	}
	if nm.DNSRunning() {
		return nil // another run started it while we waited
	}
	return spawnDNS(g)
}

// spawnDNS starts the helper and waits until it serves.
func spawnDNS(g *globalOptions) error {
	bin, err := dnsHelperBinary()
	if err != nil {
		return err
	}
	logf, err := os.OpenFile(helperLog(g), os.O_CREATE|os.O_WRONLY|os.O_APPEND|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("starting berth's DNS server: %w", err)
	}
	defer logf.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := []string{bin, "--root", g.root}
	if g.debug {
		args = append(args, "--debug")
	}
	cmd := &exec.Cmd{
		Path: bin, Args: append(args, dnsCommand), Dir: "/",
		Stdout: w, Stderr: logf,
		// A session of its own: the user's ^C and the terminal's hang-up
		// are not its business.
		SysProcAttr: &syscall.SysProcAttr{Setsid: true},
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		return fmt.Errorf("starting berth's DNS server %s: %w", bin, err)
	}
	ready := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		ready <- line
	}()
	select {
	case line := <-ready:
		if line != dnsReadyLine {
			// It ended without serving: another server took over, or it
			// failed, and said why in its log.
			_ = cmd.Wait()
			if cmd.ProcessState.Success() {
				return nil
			}
			return fmt.Errorf("berth's DNS server failed (%v); see %s", cmd.ProcessState, logf.Name())
		}
	case <-time.After(dnsReadyTimeout):
		fmt.Fprintf(os.Stderr, "warning: berth's DNS server (pid %d) is slow to start; see %s\n", cmd.Process.Pid, logf.Name())
	}
	// Reaped when it ends, should this process outlive it (the engine).
	go func() { _ = cmd.Wait() }()
	return nil
}

// dnsCommand is the helper's hidden command; it prints dnsReadyLine on
// stdout once it serves.
const (
	dnsCommand   = "__dns"
	dnsReadyLine = "ready\n"
)

// dnsPidFile is where the serving helper notes its pid.
func dnsPidFile(g *globalOptions) string { return filepath.Join(g.runDir(), "dns.pid") }

// setUpLock keeps network clean-ups (which take down sandboxes whose
// container is not running) away from runs that have attached a sandbox
// but not yet created its container: runs hold it shared from before
// Attach until the container exists, clean-ups exclusive.
type setUpLock struct {
	f *os.File
}

func lockSetUp(g *globalOptions, exclusive bool) (*setUpLock, error) {
	f, err := os.OpenFile(filepath.Join(g.runDir(), "netsetup.lock"), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the network set-up lock: %w", err)
	}
	l := &setUpLock{f: f}
	how := l.shared
	if exclusive {
		how = l.exclusive
	}
	if err := how(); err != nil {
		l.release()
		return nil, err
	}
	return l, nil
}

// exclusive turns the lock exclusive (not atomically: flock drops the
// shared lock first).
func (l *setUpLock) exclusive() error { return flock(l.f, unix.LOCK_EX) }

func (l *setUpLock) shared() error { return flock(l.f, unix.LOCK_SH) }

// release lets go of the lock; a nil lock, or one released before, is
// fine.
func (l *setUpLock) release() {
	if l != nil && l.f != nil {
		l.f.Close()
		l.f = nil
	}
}

func flock(f *os.File, how int) error {
	if f == nil {
		return errors.New("lock released already")
	}
	for {
		err := unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			if err != nil {
				return fmt.Errorf("locking %s: %w", f.Name(), err)
			}
			return nil
		}
	}
}
