package network

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Records is what a DNS server answers from. Names are lowercase,
// without a trailing dot.
type Records interface {
	// LookupName returns the addresses of the running sandboxes that
	// answer to name on network. When none does and from (the asker's
	// address on network) is a sandbox's, its other networks are asked
	// in turn, as a container on several networks resolves the names of
	// all of them.
	LookupName(network string, from netip.Addr, name string) []netip.Addr
	// LookupAddr returns the names of the running sandbox at ip on network.
	LookupAddr(network string, ip netip.Addr) []string
	// Owns reports whether ip is in one of berth's subnets: reverse
	// lookups of those never leave the host.
	Owns(ip netip.Addr) bool
}

// Records answers from the records on disk: the names and aliases of
// every attached sandbox that alive says runs (nil: every one). It reads
// the records again whenever they change, so a new container answers at
// once, and asks alive about each sandbox at most once a second.
func (m *Manager) Records(alive func(id string) bool) Records {
	return newStoreRecords(m, alive)
}

// storeRecords answers DNS from the records on disk. It reads them again
// when the networks or sandboxes directory changed (every write renames
// a file into one of them), so a new container answers at once, and asks
// the caller's Alive about each sandbox at most once a second.
type storeRecords struct {
	m     *Manager
	alive func(id string) bool

	mu      sync.Mutex
	stamp   [2]time.Time
	checked time.Time // when stamp was last compared with the directories
	snap    snapshot
	health  map[string]aliveAt
}

// recheck is how long a snapshot is used without looking at the
// directories again: two stat calls per query were a fifth of the
// server's time at 10k queries/s, and a container's record is written
// (at Attach) far longer than this before anyone can ask for its name.
const recheck = 5 * time.Millisecond

type aliveAt struct {
	alive      bool
	at         time.Time
	refreshing bool // a refresh runs in the background
}

type nameEntry struct {
	sandbox string
	ip      netip.Addr
}

type snapshot struct {
	names    map[string]map[string][]nameEntry // network -> name -> holders
	addrs    map[string]map[netip.Addr]addrEntry
	networks map[string][]string // sandbox -> its networks, in order
	subnets  []netip.Prefix
}

type addrEntry struct {
	sandbox string
	names   []string
}

func newStoreRecords(m *Manager, alive func(string) bool) *storeRecords {
	return &storeRecords{m: m, alive: alive, health: map[string]aliveAt{}}
}

// current returns the snapshot, rebuilt when the records changed.
//
// Preconditions: r.mu held.
func (r *storeRecords) current() snapshot {
	now := time.Now()
	if now.Sub(r.checked) < recheck && r.snap.names != nil {
		return r.snap
	}
	r.checked = now
	var stamp [2]time.Time
	for i, d := range []string{r.m.dir, filepath.Join(r.m.dir, "sandboxes")} {
		if st, err := os.Stat(d); err == nil {
			stamp[i] = st.ModTime()
		}
	}
	if stamp == r.stamp && r.snap.names != nil {
		return r.snap
	}
	nets, err1 := r.m.readNetworks()
	sbs, err2 := r.m.readSandboxes()
	if err1 != nil || err2 != nil {
		return r.snap // a file read half-way; try again next query
	}
	s := snapshot{names: map[string]map[string][]nameEntry{}, addrs: map[string]map[netip.Addr]addrEntry{}, networks: map[string][]string{}}
	for _, n := range nets {
		s.subnets = append(s.subnets, n.Subnet)
		s.names[n.Name] = map[string][]nameEntry{}
		s.addrs[n.Name] = map[netip.Addr]addrEntry{}
	}
	for _, sb := range sbs {
		if sb.State != stateAttached {
			continue
		}
		for _, e := range sb.Endpoints {
			names, ok := s.names[e.Network]
			if !ok {
				continue
			}
			all := append(append([]string{}, e.Names...), e.Aliases...)
			for _, n := range all {
				n = strings.ToLower(strings.TrimSuffix(n, "."))
				names[n] = append(names[n], nameEntry{sb.ID, e.IP})
			}
			s.addrs[e.Network][e.IP] = addrEntry{sb.ID, all}
			s.networks[sb.ID] = append(s.networks[sb.ID], e.Network)
		}
	}
	r.stamp, r.snap = stamp, s
	return s
}

// How long an answer of alive is kept: a second for a container that is
// alive, a tenth for one that is not, which is mostly one starting or
// waiting for its first passing health check. That one should answer as
// soon as it is ready: a rolling update or a reload waits on it.
const (
	aliveFresh    = time.Second
	notAliveFresh = 100 * time.Millisecond
)

// isAlive asks the caller, through a cache (aliveFresh, notAliveFresh).
//
// Preconditions: r.mu held.
func (r *storeRecords) isAlive(id string) bool {
	if r.alive == nil {
		return true
	}
	a, ok := r.health[id]
	fresh := aliveFresh
	if !a.alive {
		fresh = notAliveFresh
	}
	if ok && time.Since(a.at) < fresh {
		return a.alive
	}
	if ok {
		// Stale: answer from what we knew and ask again in the
		// background. Asking reads the container's state from disk, and
		// doing that under r.mu held every query up behind it: it was the
		// server's p99 (14 ms at 10k queries/s).
		if !a.refreshing {
			a.refreshing = true
			r.health[id] = a
			go r.refresh(id)
		}
		return a.alive
	}
	if len(r.health) > 4096 {
		r.health = map[string]aliveAt{}
	}
	alive := r.alive(id)
	r.health[id] = aliveAt{alive: alive, at: time.Now()}
	return alive
}

// refresh asks alive about id without the lock, then records the answer.
func (r *storeRecords) refresh(id string) {
	alive := r.alive(id)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.health[id] = aliveAt{alive: alive, at: time.Now()}
}

func (r *storeRecords) LookupName(network string, from netip.Addr, name string) []netip.Addr {
	r.mu.Lock()
	defer r.mu.Unlock()
	snap := r.current()
	// The network the query came by first, then the asker's others.
	nets := []string{network}
	if asker, ok := snap.addrs[network][from]; ok {
		for _, n := range snap.networks[asker.sandbox] {
			if n != network {
				nets = append(nets, n)
			}
		}
	}
	for _, n := range nets {
		var out []netip.Addr
		for _, e := range snap.names[n][name] {
			if r.isAlive(e.sandbox) {
				out = append(out, e.ip)
			}
		}
		if len(out) > 0 {
			return out
		}
	}
	return nil
}

func (r *storeRecords) LookupAddr(network string, ip netip.Addr) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	e, ok := r.current().addrs[network][ip]
	if !ok || len(e.names) == 0 || !r.isAlive(e.sandbox) {
		return nil
	}
	return e.names[:1]
}

func (r *storeRecords) Owns(ip netip.Addr) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range r.current().subnets {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}
