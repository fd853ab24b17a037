package network

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"
)

// DNSOptions tune ServeDNS.
type DNSOptions struct {
	// Alive says whether a sandbox's container runs (and is healthy):
	// only those answer. nil: every attached sandbox answers. Answers are
	// cached for a second.
	Alive func(id string) bool
	// Upstreams override the host's /etc/resolv.conf; "IP" or "IP:PORT".
	Upstreams []string
	// IdleExit, when set, ends ServeDNS once no sandbox has been attached
	// for that long: the mode of the helper `berth run` starts.
	IdleExit time.Duration
}

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

// ServeDNS serves DNS on every network's gateway, port 53, UDP and TCP,
// starting and stopping listeners as networks come and go, until ctx is
// done (or, with IdleExit, until no sandbox is left). One process per
// root serves: a second one waits for the first to end.
func (m *Manager) ServeDNS(ctx context.Context, o DNSOptions) error {
	lock, err := m.waitDNSLock(ctx)
	if err != nil {
		return err
	}
	defer func() {
		if lock != nil {
			lock.Close()
		}
	}()
	srv := NewDNSServer(newStoreRecords(m, o.Alive), o.Upstreams)
	srv.Dial = m.host.dial
	ls := &listeners{m: m, srv: srv, by: map[string]*netListener{}}
	defer ls.closeAll()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	idleSince := time.Now()
	for {
		nets, err := m.readNetworks()
		if err != nil {
			return err
		}
		ls.sync(nets)
		if o.IdleExit > 0 {
			sbs, _ := m.readSandboxes()
			if len(sbs) > 0 {
				idleSince = time.Now()
			} else if time.Since(idleSince) >= o.IdleExit && m.releaseIfIdle(lock) {
				lock = nil
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// releaseIfIdle lets go of the DNS lock if, under the state lock, no
// sandbox exists. An Attach either ran before (and we saw it) or runs
// after, and then finds the DNS lock free (DNSRunning is false), so its
// caller starts a new server: no sandbox is ever left without one.
func (m *Manager) releaseIfIdle(lock *os.File) bool {
	unlock, err := m.lock()
	if err != nil {
		return false
	}
	defer unlock()
	if sbs, err := m.readSandboxes(); err != nil || len(sbs) > 0 {
		return false
	}
	lock.Close()
	return true
}

func (m *Manager) waitDNSLock(ctx context.Context) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(m.dir, dnsLockFile), os.O_CREATE|os.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening DNS lock: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return f, nil
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

// listeners are the running servers, by network id.
type listeners struct {
	m      *Manager
	srv    *DNSServer
	by     map[string]*netListener
	failed map[string]string // network id -> last error logged
}

type netListener struct {
	gw      netip.Addr
	servers []*dns.Server
	wg      sync.WaitGroup
}

func (ls *listeners) sync(nets []networkRecord) {
	want := map[string]networkRecord{}
	for _, n := range nets {
		want[n.ID] = n
	}
	for id, l := range ls.by {
		if n, ok := want[id]; !ok || n.Gateway != l.gw {
			l.close()
			delete(ls.by, id)
		}
	}
	for id, n := range want {
		if ls.by[id] != nil {
			continue
		}
		l, err := ls.listen(n)
		if err != nil {
			if ls.failed == nil {
				ls.failed = map[string]string{}
			}
			if ls.failed[id] != err.Error() {
				ls.m.log.Warn("serving DNS", "network", n.Name, "err", err)
				ls.failed[id] = err.Error()
			}
			continue
		}
		delete(ls.failed, id)
		ls.by[id] = l
	}
}

// listen opens n's UDP and TCP sockets in the host namespace. They are
// bound with IP_FREEBIND, so they work before the bridge has its address.
func (ls *listeners) listen(n networkRecord) (*netListener, error) {
	addr := netip.AddrPortFrom(n.Gateway, 53).String()
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_FREEBIND, 1)
		})
		return errors.Join(err, serr)
	}}
	var pc net.PacketConn
	var tl net.Listener
	err := ls.m.host.do(func() error {
		var err error
		if pc, err = lc.ListenPacket(context.Background(), "udp4", addr); err != nil {
			return err
		}
		if tl, err = lc.Listen(context.Background(), "tcp4", addr); err != nil {
			pc.Close()
		}
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	h := ls.srv.Handler(n.Name, n.Internal)
	l := &netListener{gw: n.Gateway, servers: []*dns.Server{
		{PacketConn: pc, Handler: h, UDPSize: dns.MaxMsgSize},
		{Listener: tl, Handler: h, ReadTimeout: 5 * time.Second},
	}}
	for _, s := range l.servers {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			_ = s.ActivateAndServe()
		}()
	}
	return l, nil
}

func (l *netListener) close() {
	for _, s := range l.servers {
		// Shutdown fails for a server that has not started yet; closing
		// its socket ends it either way.
		if err := s.Shutdown(); err != nil {
			if s.PacketConn != nil {
				s.PacketConn.Close()
			}
			if s.Listener != nil {
				s.Listener.Close()
			}
		}
	}
	l.wg.Wait()
}

func (ls *listeners) closeAll() {
	for id, l := range ls.by {
		l.close()
		delete(ls.by, id)
	}
}

// resolvConfWatch reads nameservers from a resolv.conf, again whenever
// the file changes.
type resolvConfWatch struct {
	path string

	mu      sync.Mutex
	stamp   time.Time
	checked time.Time
	list    []string
}

func (w *resolvConfWatch) servers() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	if time.Since(w.checked) < time.Second && w.list != nil {
		return w.list
	}
	w.checked = time.Now()
	st, err := os.Stat(w.path)
	if err != nil {
		return w.list
	}
	if st.ModTime().Equal(w.stamp) && w.list != nil {
		return w.list
	}
	w.stamp = st.ModTime()
	w.list = readNameservers(w.path)
	return w.list
}

// readNameservers returns the nameserver lines of a resolv.conf, as
// IP:53 (IPv6 in brackets).
func readNameservers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return []string{}
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 2 && fs[0] == "nameserver" {
			out = append(out, fs[1])
		}
	}
	return normalizeUpstreams(out)
}

// normalizeUpstreams turns "IP" and "IP:PORT" into "IP:PORT", dropping
// what is neither.
func normalizeUpstreams(in []string) []string {
	out := []string{}
	for _, s := range in {
		if ap, err := netip.ParseAddrPort(s); err == nil {
			out = append(out, ap.String())
			continue
		}
		// An IPv6 address with a zone ("fe80::1%eth0") is kept as it is.
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, net.JoinHostPort(ip.String(), "53"))
		}
	}
	return out
}
