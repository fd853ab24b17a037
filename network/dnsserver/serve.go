package dnsserver

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/miekg/dns"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/network"
)

// Options tune Serve.
type Options struct {
	// Alive says whether a sandbox's container runs (and is healthy):
	// only those answer. nil: every attached sandbox answers. Answers are
	// cached for a second.
	Alive func(id string) bool
	// Upstreams override the host's /etc/resolv.conf; "IP" or "IP:PORT".
	Upstreams []string
	// IdleExit, when set, ends Serve once no sandbox has been attached
	// for that long: the mode of the helper `berth run` starts.
	IdleExit time.Duration
	// Ready, when set, is called once the lock is held and the first
	// listeners are open, so a starter can wait until queries are answered.
	Ready func()
	Log   *slog.Logger
}

// Serve serves DNS for m's networks on each one's gateway, port 53, UDP
// and TCP, starting and stopping listeners as networks come and go, until
// ctx is done (or, with IdleExit, until no sandbox is left). One process
// per root serves: a second one waits for the first to end, and returns
// network.ErrDNSRunning if ctx ends first.
func Serve(ctx context.Context, m *network.Manager, o Options) error {
	lock, err := m.LockDNS(ctx)
	if err != nil {
		return err
	}
	defer lock.Release()
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	srv := New(m.Records(o.Alive), o.Upstreams)
	srv.Dial = m.DialHost
	ls := &listeners{m: m, log: log, srv: srv, by: map[string]*netListener{}}
	defer ls.closeAll()
	// A new network's listener opens as soon as its record is written:
	// containers wait for it before they start. The tick stays, for the
	// idle exit and as a fallback should the watch fail.
	changes, err := m.NetworkChanges(ctx)
	if err != nil {
		log.Warn("watching networks; polling them only", "err", err)
	}
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	idleSince := time.Now()
	for ready := o.Ready; ; {
		nets, err := m.Networks()
		if err != nil {
			return err
		}
		ls.sync(nets)
		if ready != nil {
			ready()
			ready = nil
		}
		if o.IdleExit > 0 {
			if !lock.Idle() {
				idleSince = time.Now()
			} else if time.Since(idleSince) >= o.IdleExit && lock.ReleaseIfIdle() {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case _, ok := <-changes:
			if !ok {
				changes = nil // the watch failed: polling goes on
			}
		}
	}
}

// listeners are the running servers, by network id.
type listeners struct {
	m      *network.Manager
	log    *slog.Logger
	srv    *Server
	by     map[string]*netListener
	failed map[string]string // network id -> last error logged
}

type netListener struct {
	gw  netip.Addr
	udp *net.UDPConn
	tcp *dns.Server
	wg  sync.WaitGroup
}

func (ls *listeners) sync(nets []*network.Network) {
	want := map[string]*network.Network{}
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
				ls.log.Warn("serving DNS", "network", n.Name, "err", err)
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
func (ls *listeners) listen(n *network.Network) (*netListener, error) {
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
	err := ls.m.InHost(func() error {
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
	l := &netListener{gw: n.Gateway, udp: pc.(*net.UDPConn),
		tcp: &dns.Server{Listener: tl, Handler: ls.srv.Handler(n.Name, n.Internal), ReadTimeout: 5 * time.Second}}
	l.wg.Add(2)
	go func() {
		defer l.wg.Done()
		_ = ls.srv.ServeUDP(l.udp, n.Name, n.Internal)
	}()
	go func() {
		defer l.wg.Done()
		_ = l.tcp.ActivateAndServe()
	}()
	return l, nil
}

func (l *netListener) close() {
	l.udp.Close()
	// Shutdown fails for a server that has not started yet; closing its
	// socket ends it either way.
	if err := l.tcp.Shutdown(); err != nil {
		l.tcp.Listener.Close()
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
