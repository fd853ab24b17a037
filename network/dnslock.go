package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"
)

// One process per root serves DNS (package dnsserver), holding the DNS
// lock. What follows is what that server, and whoever starts it, needs of
// the state. The DNS protocol itself lives in dnsserver, so that a program
// that only attaches and detaches (berth's CLI) links no DNS library:
// miekg/dns and the crypto it brings cost every berth process 3-4 ms of
// start-up.

// dnsLockFile is held by the process serving DNS for a root.
const dnsLockFile = "dns.lock"

// DNSRunning reports whether some process serves DNS for this root.
func (m *Manager) DNSRunning() bool {
	f, err := os.OpenFile(filepath.Join(m.dir, dnsLockFile), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// DNSLock is the right to serve DNS for a root.
type DNSLock struct {
	m *Manager
	f *os.File
}

// LockDNS takes the DNS lock, waiting while another process holds it;
// once ctx is done it gives up with ErrDNSRunning.
func (m *Manager) LockDNS(ctx context.Context) (*DNSLock, error) {
	f, err := os.OpenFile(filepath.Join(m.dir, dnsLockFile), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening DNS lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return &DNSLock{m: m, f: f}, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("locking DNS lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ErrDNSRunning
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Idle reports whether no sandbox is attached, or on its way: a hint for
// when to call ReleaseIfIdle, which decides.
func (l *DNSLock) Idle() bool {
	sbs, _ := l.m.readSandboxes()
	return len(sbs) == 0
}

// ReleaseIfIdle lets go of the DNS lock if, under the state lock, no
// sandbox exists. An Attach either ran before (and the server saw it) or
// runs after, and then finds the DNS lock free (DNSRunning is false), so
// its caller starts a new server: no sandbox is ever left without one.
func (l *DNSLock) ReleaseIfIdle() bool {
	unlock, err := l.m.lock()
	if err != nil {
		return false
	}
	defer unlock()
	if sbs, err := l.m.readSandboxes(); err != nil || len(sbs) > 0 {
		return false
	}
	l.Release()
	return true
}

// WaitDNS waits until a DNS server listens on gateway's port 53 (a TCP
// connection is accepted), or ctx ends. A server opens a new network's
// listeners when it learns of the network (dnsserver.Serve: at once, or
// within a quarter of a second without inotify): a container started
// before that would find nobody answering.
func (m *Manager) WaitDNS(ctx context.Context, gateway netip.Addr) error {
	addr := netip.AddrPortFrom(gateway, 53).String()
	for {
		c, err := m.host.dial(ctx, "tcp4", addr)
		if err == nil {
			return c.Close()
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for DNS on %s: %w", addr, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// Release lets go of the DNS lock. Releasing twice is harmless.
func (l *DNSLock) Release() {
	if l.f != nil {
		l.f.Close()
		l.f = nil
	}
}
