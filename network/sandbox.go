package network

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// AttachRequest asks for a place on one network.
type AttachRequest struct {
	Network string
	IP      netip.Addr // zero: the next free address
	// Names and Aliases answer in DNS on this network with this
	// sandbox's address (the container's name; --network-alias values).
	Names   []string
	Aliases []string
}

// Endpoint is a sandbox's place on one network.
type Endpoint struct {
	Network   string       `json:"network"`
	NetworkID string       `json:"networkId"`
	Interface string       `json:"interface"` // inside: eth0, eth1, ...
	HostVeth  string       `json:"hostVeth"`  // the host's end, on the bridge
	IP        netip.Addr   `json:"ip"`
	Subnet    netip.Prefix `json:"subnet"`
	Gateway   netip.Addr   `json:"gateway"`
	MAC       string       `json:"mac"`
	Names     []string     `json:"names,omitempty"`
	Aliases   []string     `json:"aliases,omitempty"`
}

// Sandbox is one container's network set-up.
type Sandbox struct {
	ID string
	// NetNS is the namespace's path: the runtime's Config.NetNS.
	NetNS     string
	Endpoints []Endpoint
	Ports     []PortBinding
	// Nameservers is what the container's resolv.conf should list: the
	// first network's gateway, where berth's DNS server answers.
	Nameservers []string
}

// NetNSPath is where the namespace of sandbox id is bound.
func (m *Manager) NetNSPath(id string) string { return filepath.Join(m.netnsDir, id) }

func validSandboxID(id string) bool {
	return id != "" && len(id) <= 128 && namePattern.MatchString(id)
}

// hostVethName is the host end of sandbox id's veth on network netID:
// "bth" and 11 hex digits of a hash of both, so a crashed set-up's links
// are found again from its record.
func hostVethName(id, netID string) string {
	sum := sha256.Sum256([]byte(id + "\x00" + netID))
	return "bth" + hex.EncodeToString(sum[:])[:11]
}

// Attach gives sandbox id (a container's id, or any unique key the caller
// chooses) a network namespace bound at NetNSPath(id), with loopback up
// and, for each request, a veth pair whose host end is on the network's
// bridge and whose other end is eth0, eth1, ... inside, an address, and a
// default route through the first network's gateway.
//
// Attach is idempotent: attaching an attached sandbox to the same
// networks returns it as it is. What a crashed Attach left (its record
// says "attaching" and its process is gone) is torn down first, by this
// or any later Attach, Detach or Cleanup.
func (m *Manager) Attach(ctx context.Context, id string, reqs []AttachRequest) (*Sandbox, error) {
	if !validSandboxID(id) {
		return nil, invalid("sandbox id %q", id)
	}
	if len(reqs) == 0 {
		return nil, invalid("sandbox %s: no network to attach to", shortID(id))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		if seen[r.Network] {
			return nil, invalid("network %q is named twice", r.Network)
		}
		seen[r.Network] = true
	}
	rec, done, err := m.reserveWaiting(id, reqs)
	if err != nil || done {
		return m.sandboxView(rec), err
	}
	if err := m.plumb(ctx, rec); err != nil {
		if uerr := m.undo(rec); uerr != nil {
			m.log.Warn("undoing a failed attach", "container", id, "err", uerr)
		}
		return nil, fmt.Errorf("attaching %s: %w", shortID(id), err)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	rec.State = stateAttached
	rec.Owner = owner{}
	if err := m.writeSandbox(&rec); err != nil {
		return nil, err
	}
	m.log.Debug("attached", "container", id, "endpoints", len(rec.Endpoints))
	return m.sandboxView(rec), nil
}

// errReleasing is a static address asked for that a sandbox being
// detached (DetachStart) still holds: it is free within milliseconds.
var errReleasing = errors.New("the address is being released")

// reserveWaiting is reserve, waiting (as long as beginDetach waits for a
// detach in flight) while a static address asked for is being released:
// a replaced replica's successor asks for its predecessor's address.
func (m *Manager) reserveWaiting(id string, reqs []AttachRequest) (rec sandboxRecord, done bool, err error) {
	deadline := time.Now().Add(detachWait)
	for {
		rec, done, err = m.reserve(id, reqs)
		if !errors.Is(err, errReleasing) || time.Now().After(deadline) {
			return rec, done, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// reserve allocates the sandbox's addresses and writes its record, in
// state "attaching", before anything is made. done is true when the
// sandbox was attached as asked already.
func (m *Manager) reserve(id string, reqs []AttachRequest) (rec sandboxRecord, done bool, err error) {
	unlock, err := m.lock()
	if err != nil {
		return rec, false, err
	}
	defer unlock()
	if err := m.reapDead(); err != nil {
		return rec, false, err
	}
	old, ok, err := m.readSandbox(id)
	if err != nil {
		return rec, false, err
	}
	if ok {
		if old.State == stateAttached {
			if sameNetworks(old, reqs) {
				return old, true, nil
			}
			return rec, false, fmt.Errorf("sandbox %s is attached to other networks already; detach it first", shortID(id))
		}
		return rec, false, fmt.Errorf("sandbox %s: %w", shortID(id), ErrBusy)
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return rec, false, err
	}
	rec = sandboxRecord{ID: id, NetNS: m.NetNSPath(id), State: stateAttaching, Owner: self(), Boot: bootID()}
	for i, r := range reqs {
		n, err := m.readNetwork(r.Network)
		if err != nil {
			return rec, false, err
		}
		if err := m.ensureBridge(n); err != nil {
			return rec, false, err
		}
		used := map[netip.Addr]bool{}
		releasing := map[netip.Addr]bool{}
		for _, s := range sbs {
			for _, e := range s.Endpoints {
				if e.NetworkID == n.ID {
					used[e.IP] = true
					releasing[e.IP] = s.inFlight()
				}
			}
		}
		want := r.IP
		if want.IsValid() {
			want = want.Unmap()
			if releasing[want] {
				return rec, false, fmt.Errorf("network %q: %s: %w", n.Name, want, errReleasing)
			}
		}
		ip, err := allocIP(n.Subnet, n.Gateway, used, want)
		if err != nil {
			return rec, false, fmt.Errorf("network %q: %w", n.Name, err)
		}
		rec.Endpoints = append(rec.Endpoints, Endpoint{
			Network: n.Name, NetworkID: n.ID, Interface: fmt.Sprintf("eth%d", i),
			HostVeth: hostVethName(id, n.ID), IP: ip, Subnet: n.Subnet, Gateway: n.Gateway,
			MAC: macFor(ip).String(), Names: r.Names, Aliases: r.Aliases,
		})
	}
	return rec, false, m.writeSandbox(&rec)
}

func sameNetworks(s sandboxRecord, reqs []AttachRequest) bool {
	if len(s.Endpoints) != len(reqs) {
		return false
	}
	for i, r := range reqs {
		e := s.Endpoints[i]
		if e.Network != r.Network || r.IP.IsValid() && r.IP.Unmap() != e.IP ||
			!slices.Equal(e.Names, r.Names) || !slices.Equal(e.Aliases, r.Aliases) {
			return false
		}
	}
	return true
}

// plumb makes the namespace, links, addresses and routes rec describes.
func (m *Manager) plumb(ctx context.Context, rec sandboxRecord) error {
	if err := createNetNS(rec.NetNS); err != nil {
		return err
	}
	ns, err := netns.GetFromPath(rec.NetNS)
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer ns.Close()
	in, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer in.Close()
	h, err := m.host.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	lo, err := in.LinkByName("lo")
	if err == nil {
		err = in.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("bringing loopback up: %w", err)
	}
	for i, e := range rec.Endpoints {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := m.plumbEndpoint(h, in, int(ns), e, i == 0); err != nil {
			return fmt.Errorf("network %q: %w", e.Network, err)
		}
	}
	return nil
}

func (m *Manager) plumbEndpoint(h, in *netlink.Handle, nsFd int, e Endpoint, defaultRoute bool) error {
	n, err := m.readNetwork(e.Network)
	if err != nil {
		return err
	}
	br, err := h.LinkByName(n.Bridge)
	if err != nil {
		return fmt.Errorf("finding bridge %s: %w", n.Bridge, err)
	}
	mac, _ := net.ParseMAC(e.MAC)
	veth := &netlink.Veth{
		LinkAttrs: netlink.LinkAttrs{
			Name: e.HostVeth, MasterIndex: br.Attrs().Index, MTU: br.Attrs().MTU,
		},
		PeerName: e.Interface, PeerHardwareAddr: mac, PeerNamespace: netlink.NsFd(nsFd),
	}
	if err := h.LinkAdd(veth); err != nil {
		return fmt.Errorf("creating veth pair %s-%s: %w", e.HostVeth, e.Interface, err)
	}
	host, err := h.LinkByName(e.HostVeth)
	if err != nil {
		return fmt.Errorf("finding %s: %w", e.HostVeth, err)
	}
	if err := m.host.do(func() error { return disableIPv6(e.HostVeth) }); err != nil {
		return err
	}
	if err := h.LinkSetAlias(host, linkAlias); err != nil {
		return fmt.Errorf("marking %s: %w", e.HostVeth, err)
	}
	if err := h.LinkSetUp(host); err != nil {
		return fmt.Errorf("bringing %s up: %w", e.HostVeth, err)
	}
	link, err := in.LinkByName(e.Interface)
	if err != nil {
		return fmt.Errorf("finding %s inside: %w", e.Interface, err)
	}
	addr := &netlink.Addr{IPNet: &net.IPNet{IP: e.IP.AsSlice(), Mask: net.CIDRMask(e.Subnet.Bits(), 32)}}
	if err := in.AddrAdd(link, addr); err != nil {
		return fmt.Errorf("adding address %s to %s: %w", e.IP, e.Interface, err)
	}
	if err := in.LinkSetUp(link); err != nil {
		return fmt.Errorf("bringing %s up: %w", e.Interface, err)
	}
	if defaultRoute {
		r := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: e.Gateway.AsSlice()}
		if err := in.RouteAdd(r); err != nil {
			return fmt.Errorf("adding default route via %s: %w", e.Gateway, err)
		}
	}
	return nil
}

// undo tears down what a failed Attach made and drops its record.
func (m *Manager) undo(rec sandboxRecord) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	return m.destroy(rec)
}

// Detach undoes Attach: its published ports, links, namespace and
// addresses. Detaching a sandbox that is not attached does nothing; one
// that another call is detaching right now is waited for.
//
// Only the bookkeeping holds the state lock, not the teardown: deleting
// a veth pair waits for the kernel's RCU grace period (20-40 ms), and
// under the lock the detaches of a stack's ten containers waited for ten
// of them one after another. While the links go, the record says
// "detaching", names this call as its owner and keeps its addresses
// allocated; should the process die half-way, the next Attach, Detach
// or Cleanup finishes the job, as after a crashed Attach.
func (m *Manager) Detach(id string) error {
	finish, err := m.DetachStart(id)
	if err != nil || finish == nil {
		return err
	}
	return finish()
}

// DetachStart does the quick part of Detach and returns the slow one.
// When it returns, the sandbox is marked as being detached by this call
// and its published ports are out of the rules, free for another sandbox.
// finish then deletes its links and namespace and releases its addresses:
// tens of milliseconds, mostly waiting on the kernel, which a caller that
// needs only the ports back (a replica's replacement) may spend in the
// background. Until finish returns, a static address of the sandbox's is
// waited for by an Attach that asks for it (see reserve). finish is nil
// when there is nothing left to detach; it must be called once otherwise.
func (m *Manager) DetachStart(id string) (finish func() error, err error) {
	if !validSandboxID(id) {
		return nil, invalid("sandbox id %q", id)
	}
	if m.detached(id) {
		return nil, nil
	}
	rec, ok, err := m.beginDetach(id)
	if err != nil || !ok {
		return nil, err
	}
	return func() error { return m.finishDetach(rec) }, nil
}

// finishDetach tears down what beginDetach marked, then drops its record.
func (m *Manager) finishDetach(rec sandboxRecord) error {
	if err := m.teardown(rec); err != nil {
		m.abandon(rec)
		return fmt.Errorf("detaching %s: %w", shortID(rec.ID), err)
	}
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.removeSandboxRecord(rec.ID); err != nil {
		return err
	}
	m.log.Debug("detached", "container", rec.ID)
	return nil
}

// detached reports, without the lock, that sandbox id has neither a
// record nor a namespace: a container detached already, as when it is
// removed after its stop, costs no turn at the lock.
func (m *Manager) detached(id string) bool {
	_, err := os.Lstat(m.sandboxPath(id))
	if !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	_, err = os.Lstat(m.NetNSPath(id))
	return errors.Is(err, fs.ErrNotExist)
}

// detachWait bounds how long Detach waits for another call detaching the
// same sandbox: that takes milliseconds, unless its process hangs.
const detachWait = 10 * time.Second

// beginDetach marks sandbox id as detaching by a new operation of this
// process, after taking its published ports out of the rules. ok is
// false when there is nothing left to detach.
func (m *Manager) beginDetach(id string) (rec sandboxRecord, ok bool, err error) {
	deadline := time.Now().Add(detachWait)
	for {
		rec, ok, busy, err := m.tryBeginDetach(id)
		if err != nil || !busy {
			return rec, ok, err
		}
		if time.Now().After(deadline) {
			return rec, false, fmt.Errorf("sandbox %s: %w", shortID(id), ErrBusy)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// tryBeginDetach is one try of beginDetach; busy is true when another
// operation is detaching the sandbox now.
func (m *Manager) tryBeginDetach(id string) (rec sandboxRecord, ok, busy bool, err error) {
	unlock, err := m.lock()
	if err != nil {
		return rec, false, false, err
	}
	defer unlock()
	if err := m.reapDead(); err != nil {
		return rec, false, false, err
	}
	rec, found, err := m.readSandbox(id)
	if err != nil {
		return rec, false, false, fmt.Errorf("reading sandbox %s: %w", shortID(id), err)
	}
	if !found {
		return rec, false, false, removeNetNS(m.NetNSPath(id))
	}
	if rec.inFlight() {
		return rec, false, true, nil
	}
	if rec.State != stateAttached && rec.Owner.alive() && rec.Owner != self() {
		return rec, false, false, fmt.Errorf("sandbox %s: %w", shortID(id), ErrBusy)
	}
	// Rules first: no new connection may reach an address that is about
	// to be handed out again. (The mark is not synced, see writeSandbox:
	// under the lock it costs a small write, not a journal commit.)
	hadPorts := len(rec.Ports) > 0
	rec.State, rec.Owner, rec.Ports = stateDetaching, newOperation(), nil
	if err := m.writeSandbox(&rec); err != nil {
		return rec, false, false, err
	}
	if hadPorts {
		if err := m.syncRules(); err != nil {
			m.abandonLocked(rec)
			return rec, false, false, err
		}
	}
	return rec, true, false, nil
}

// abandon hands a detach that failed half-way back to this process as a
// whole: a later Detach here retries it, others leave it to this process
// while it runs (ErrBusy) and finish it once it has ended, as before the
// operation began.
func (m *Manager) abandon(rec sandboxRecord) {
	unlock, err := m.lock()
	if err != nil {
		return
	}
	defer unlock()
	m.abandonLocked(rec)
}

// Preconditions: state lock held.
func (m *Manager) abandonLocked(rec sandboxRecord) {
	rec.Owner = self()
	if err := m.writeSandbox(&rec); err != nil {
		m.log.Warn("marking a failed detach", "container", rec.ID, "err", err)
	}
}

// destroy removes rec's ports, links and namespace, then its record.
//
// Preconditions: state lock held.
func (m *Manager) destroy(rec sandboxRecord) error {
	if len(rec.Ports) > 0 {
		// Rules first: no new connection may reach an address that is
		// about to be handed out again.
		rec.State, rec.Owner, rec.Ports = stateDetaching, self(), nil
		if err := m.writeSandbox(&rec); err != nil {
			return err
		}
		if err := m.syncRules(); err != nil {
			return err
		}
	}
	if err := m.teardown(rec); err != nil {
		return err
	}
	return m.removeSandboxRecord(rec.ID)
}

// teardown deletes rec's links, its connection tracking entries and its
// namespace; rec's published ports must be out of the rules already. It
// needs no lock: while it runs, rec's record holds its addresses, and
// links and namespace are named after rec alone.
func (m *Manager) teardown(rec sandboxRecord) error {
	h, err := m.host.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	for _, e := range rec.Endpoints {
		if err := deleteLink(h, e.HostVeth); err != nil {
			return err
		}
		m.host.forgetConntrack(h, e.IP)
	}
	return removeNetNS(rec.NetNS)
}

// reapDead destroys the sandboxes whose attach or detach died half-way,
// and those of an earlier boot.
//
// Preconditions: state lock held.
func (m *Manager) reapDead() error {
	for _, d := range []string{m.dir, filepath.Join(m.dir, "sandboxes")} {
		removeDeadTemps(d)
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return err
	}
	boot := bootID()
	for _, s := range sbs {
		if (s.State != stateAttached && !s.Owner.alive()) || s.Boot != boot {
			m.log.Info("cleaning up after a crashed set-up", "container", s.ID, "state", s.State)
			if err := m.destroy(s); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeDeadTemps removes the temporary files whose writer is gone (see
// tempName): a process killed mid-write.
func removeDeadTemps(dir string) {
	des, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, de := range des {
		if tempAbandoned(de.Name()) {
			_ = os.Remove(filepath.Join(dir, de.Name()))
		}
	}
}

// Cleanup tears down what crashed processes left: half-made sandboxes,
// those of an earlier boot, and, when keep is given, every sandbox keep
// says no to (its container is gone); then links and namespace files of
// berth's that no record names, and the bridges of networks that have
// no record. The rules are rewritten from the records.
func (m *Manager) Cleanup(keep func(id string) bool) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.reapDead(); err != nil {
		return err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return err
	}
	known := map[string]bool{}
	var kept []sandboxRecord
	for _, s := range sbs {
		// A sandbox being detached is its operation's to finish; its
		// links and namespace are known, so not strays either.
		if keep != nil && !keep(s.ID) && !s.inFlight() {
			if err := m.destroy(s); err != nil {
				return err
			}
			continue
		}
		kept = append(kept, s)
	}
	for _, s := range kept {
		known[filepath.Base(s.NetNS)] = true
		for _, e := range s.Endpoints {
			known[e.HostVeth] = true
		}
	}
	nets, err := m.readNetworks()
	if err != nil {
		return err
	}
	for _, n := range nets {
		known[n.Bridge] = true
	}
	if err := m.removeStrayLinks(known); err != nil {
		return err
	}
	if err := m.removeStrayNetNS(known); err != nil {
		return err
	}
	return m.syncRules()
}

// removeStrayLinks deletes links marked as berth's that no record names.
func (m *Manager) removeStrayLinks(known map[string]bool) error {
	h, err := m.host.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	links, err := dumped(h.LinkList)
	if err != nil {
		return fmt.Errorf("listing links: %w", err)
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Alias != linkAlias || known[a.Name] || !(strings.HasPrefix(a.Name, "br-") || strings.HasPrefix(a.Name, "bth")) {
			continue
		}
		m.log.Info("removing a stray link", "link", a.Name)
		if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("deleting link %s: %w", a.Name, err)
		}
	}
	return nil
}

func (m *Manager) removeStrayNetNS(known map[string]bool) error {
	ents, err := os.ReadDir(m.netnsDir)
	if err != nil {
		return fmt.Errorf("listing network namespaces: %w", err)
	}
	for _, e := range ents {
		if !known[e.Name()] {
			if err := removeNetNS(filepath.Join(m.netnsDir, e.Name())); err != nil {
				return err
			}
		}
	}
	return nil
}

// Inspect returns sandbox id as attached, or nil when it is not.
func (m *Manager) Inspect(id string) (*Sandbox, error) {
	rec, ok, err := m.readSandbox(id)
	if err != nil || !ok || rec.State != stateAttached {
		return nil, err
	}
	return m.sandboxView(rec), nil
}

func (m *Manager) sandboxView(rec sandboxRecord) *Sandbox {
	if rec.ID == "" {
		return nil
	}
	sb := &Sandbox{ID: rec.ID, NetNS: rec.NetNS, Endpoints: rec.Endpoints, Ports: rec.Ports}
	if len(rec.Endpoints) > 0 {
		sb.Nameservers = []string{rec.Endpoints[0].Gateway.String()}
	}
	return sb
}
