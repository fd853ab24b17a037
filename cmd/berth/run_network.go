package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/runtime"
)

// How `berth run` gives a container its network, as Docker does:
//
//   - no --network: the default network, "bridge" (made on first use);
//     --network NAME (repeatable) joins those networks, the first one
//     carrying the default route; --network none keeps loopback only, and
//     --network host leaves the container in berth's own namespace.
//   - The container's id is chosen first (runtime.NewID) and is the
//     network sandbox's id too, and a name is generated when none is
//     given, so DNS answers to both (name, --network-alias, short id)
//     from the moment the container runs.
//   - The order is Attach, Publish, DNS server up, then the container's
//     start; a failure at any step detaches what was attached.
//   - Its network goes when the container does (rm, the --rm paths) and
//     when it is stopped (berth stop): Docker releases addresses and ports
//     of a stopped container too, and berth cannot start one again. A -d
//     container that exits by itself keeps them until rm, or until a
//     network command or a run short of addresses or ports reclaims them
//     (cleanUpNetworks).

// netPlan is what run's network flags ask for, checked before anything
// is made.
type netPlan struct {
	mode     string // "none", "host" or "bridge" (berth's networks)
	reqs     []network.AttachRequest
	ports    []network.PortMapping
	dns      []string
	search   []string
	options  []string
	addHosts []string
}

// networkPlan reads --network, --ip, --network-alias, -p, --dns,
// --dns-search, --dns-option and --add-host.
func (o *runOptions) networkPlan() (*netPlan, error) {
	p := &netPlan{dns: o.dns, search: o.dnsSearch, options: o.dnsOptions}
	nets := o.networks
	if len(nets) == 0 {
		nets = []string{network.DefaultNetwork}
	}
	for _, n := range nets {
		req, err := parseNetworkFlag(n)
		if err != nil {
			return nil, err
		}
		switch req.Network {
		case "none", "host":
			if len(nets) > 1 {
				return nil, fmt.Errorf("--network %s cannot be combined with other networks", req.Network)
			}
			if req.IP.IsValid() || len(req.Aliases) > 0 {
				return nil, fmt.Errorf("--network %s: addresses and aliases need a network of berth's", req.Network)
			}
			p.mode = req.Network
		case "default":
			req.Network = network.DefaultNetwork
			fallthrough
		default:
			if strings.HasPrefix(req.Network, "container:") {
				return nil, fmt.Errorf("--network %s: sharing another container's network is not supported yet", req.Network)
			}
			if slices.ContainsFunc(p.reqs, func(r network.AttachRequest) bool { return r.Network == req.Network }) {
				return nil, fmt.Errorf("--network %s is given twice", req.Network)
			}
			p.mode = "bridge"
			p.reqs = append(p.reqs, req)
		}
	}
	if o.ip != "" || len(o.aliases) > 0 {
		if p.mode != "bridge" {
			return nil, fmt.Errorf("--ip and --network-alias need a network of berth's, not --network %s", p.mode)
		}
		// As in Docker, they apply to the first network; the others take
		// them as --network name=NET,ip=IP,alias=NAME.
		if o.ip != "" {
			ip, err := netip.ParseAddr(o.ip)
			if err != nil || !ip.Is4() {
				return nil, fmt.Errorf("--ip %q is not an IPv4 address", o.ip)
			}
			p.reqs[0].IP = ip
		}
		p.reqs[0].Aliases = append(p.reqs[0].Aliases, o.aliases...)
	}
	for _, spec := range o.publish {
		pm, err := network.ParsePortMapping(spec)
		if err != nil {
			return nil, fmt.Errorf("-p: %w", err)
		}
		p.ports = append(p.ports, pm)
	}
	switch {
	case len(p.ports) > 0 && p.mode == "none":
		return nil, errors.New("-p: a container with --network none has no ports to publish")
	case len(p.ports) > 0 && p.mode == "host":
		// Docker's behaviour: the container uses the host's ports as they are.
		fmt.Fprintln(os.Stderr, "warning: published ports are discarded with --network host: the container uses the host's ports directly")
		p.ports = nil
	}
	for _, h := range o.addHosts {
		name, ip, ok := splitHost(h)
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--add-host %q is not NAME:IP", h)
		}
		if ip == hostGateway {
			if p.mode != "bridge" {
				return nil, fmt.Errorf("--add-host %s: %s needs a network of berth's", h, hostGateway)
			}
		} else if _, err := netip.ParseAddr(ip); err != nil {
			return nil, fmt.Errorf("--add-host %q: %q is not an IP address", h, ip)
		}
		p.addHosts = append(p.addHosts, h)
	}
	for _, d := range o.dns {
		if _, err := netip.ParseAddr(d); err != nil {
			return nil, fmt.Errorf("--dns %q is not an IP address", d)
		}
	}
	return p, nil
}

// splitHost splits --add-host's NAME:IP, or NAME=IP, at the first
// separator, so an IPv6 address keeps its colons (as the runtime reads it).
func splitHost(h string) (name, ip string, ok bool) {
	if name, ip, ok = strings.Cut(h, "="); ok {
		return name, ip, true
	}
	return strings.Cut(h, ":")
}

// hostGateway in --add-host NAME:host-gateway stands for the address of
// the host on the container's first network (its gateway), as in Docker.
const hostGateway = "host-gateway"

// parseNetworkFlag reads --network NAME, or Docker's long form
// --network name=NAME[,alias=A...][,ip=IP].
func parseNetworkFlag(v string) (network.AttachRequest, error) {
	var r network.AttachRequest
	if !strings.Contains(v, "=") {
		r.Network = v
		return r, nil
	}
	for _, field := range strings.Split(v, ",") {
		k, val, _ := strings.Cut(field, "=")
		switch k {
		case "name":
			r.Network = val
		case "alias":
			r.Aliases = append(r.Aliases, val)
		case "ip":
			ip, err := netip.ParseAddr(val)
			if err != nil || !ip.Is4() {
				return r, fmt.Errorf("--network %s: %q is not an IPv4 address", v, val)
			}
			r.IP = ip
		default:
			return r, fmt.Errorf("--network %s: unknown option %q (name, alias and ip are known)", v, k)
		}
	}
	if r.Network == "" {
		return r, fmt.Errorf("--network %s: no name=NETWORK", v)
	}
	return r, nil
}

// networkNames is cfg.Network for a plan: "none", "host", or the
// networks' names, comma-separated (names cannot hold a comma).
func (p *netPlan) networkNames() string {
	if p.mode != "bridge" {
		return p.mode
	}
	names := make([]string, len(p.reqs))
	for i, r := range p.reqs {
		names[i] = r.Network
	}
	return strings.Join(names, ",")
}

// runNet is a new container's network: its sandbox, from Attach until
// the container is gone. A nil *runNet (network none or host) does
// nothing.
type runNet struct {
	nm *network.Manager
	id string
	// lock keeps cleanUpNetworks away while the sandbox has no container
	// yet (see setUpLock).
	lock *setUpLock
}

// setUp prepares cfg's network as p says and fills in cfg's ID (for a
// network of berth's), NetNS, DNS and hosts lines. cfg.Name must be set
// already for berth's networks: DNS answers to it.
func (p *netPlan) setUp(ctx context.Context, g *globalOptions, m *runtime.Manager, cfg *runtime.Config) (*runNet, error) {
	cfg.Network = p.networkNames()
	cfg.DNS, cfg.DNSSearch, cfg.DNSOptions = p.dns, p.search, p.options
	cfg.ExtraHosts = slices.Clone(p.addHosts)
	switch p.mode {
	case "none":
		return nil, nil
	case "host":
		return nil, hostNetwork(cfg)
	}
	nm, err := newNetworkManager(g)
	if err != nil {
		return nil, err
	}
	lock, err := lockSetUp(g, false)
	if err != nil {
		return nil, err
	}
	n := &runNet{nm: nm, lock: lock}
	if n.id, err = runtime.NewID(); err != nil {
		n.lock.release()
		return nil, err
	}
	sb, err := n.attach(ctx, m, p, cfg.Name)
	if err != nil {
		n.lock.release()
		return nil, err
	}
	first := sb.Endpoints[0]
	if err := ensureDNS(ctx, g, nm, first.Gateway); err != nil {
		fmt.Fprintf(os.Stderr, "warning: %v; container names will not resolve\n", err)
	}
	cfg.ID, cfg.NetNS = n.id, sb.NetNS
	if len(cfg.DNS) == 0 {
		cfg.DNS = sb.Nameservers
	}
	for i, h := range cfg.ExtraHosts {
		if name, ip, _ := splitHost(h); ip == hostGateway {
			cfg.ExtraHosts[i] = name + ":" + first.Gateway.String()
		}
	}
	hostname := cfg.Hostname
	if hostname == "" {
		hostname = n.id[:12] // what runtime.Create will name it
	}
	cfg.ExtraHosts = append(cfg.ExtraHosts, hostname+":"+first.IP.String())
	return n, nil
}

// attach attaches the sandbox to p's networks and publishes p's ports.
// An address or port held by a container that is no longer running is
// reclaimed (cleanUpNetworks) and the step tried again, once.
func (n *runNet) attach(ctx context.Context, m *runtime.Manager, p *netPlan, name string) (*network.Sandbox, error) {
	reqs := make([]network.AttachRequest, len(p.reqs))
	for i, r := range p.reqs {
		r.Names = []string{name, n.id[:12]}
		reqs[i] = r
	}
	sb, err := n.nm.Attach(ctx, n.id, reqs)
	// The default network is made on first use; asking for it before
	// every Attach would cost each run a few ms.
	if errors.Is(err, network.ErrNotFound) && slices.ContainsFunc(reqs, func(r network.AttachRequest) bool { return r.Network == network.DefaultNetwork }) {
		if _, err = n.nm.EnsureDefault(); err == nil {
			sb, err = n.nm.Attach(ctx, n.id, reqs)
		}
	}
	if errors.Is(err, network.ErrSubnetFull) || errors.Is(err, network.ErrAddressInUse) {
		if n.reclaim(m) {
			sb, err = n.nm.Attach(ctx, n.id, reqs)
		}
	}
	if err != nil {
		return nil, err
	}
	if len(p.ports) == 0 {
		return sb, nil
	}
	sb.Ports, err = n.nm.Publish(n.id, p.ports)
	var pc *network.PortConflictError
	if errors.As(err, &pc) && strings.HasPrefix(pc.Holder, "container ") && n.reclaim(m) {
		sb.Ports, err = n.nm.Publish(n.id, p.ports)
	}
	if err != nil {
		n.detach()
		return nil, err
	}
	return sb, nil
}

// reclaim takes back the addresses and ports of containers that no
// longer run. It reports whether it ran.
func (n *runNet) reclaim(m *runtime.Manager) bool {
	if err := n.lock.exclusive(); err != nil {
		return false
	}
	err := n.nm.Cleanup(keepSandbox(m, n.id))
	if lerr := n.lock.shared(); err == nil {
		err = lerr
	}
	return err == nil
}

// created says the container exists (or never will): from now on it
// speaks for its sandbox.
func (n *runNet) created() {
	if n != nil {
		n.lock.release()
	}
}

// detach takes the container's network down; a failure is a warning, the
// next clean-up finishes the job.
func (n *runNet) detach() {
	if n == nil {
		return
	}
	n.lock.release()
	if err := n.nm.Detach(n.id); err != nil {
		fmt.Fprintf(os.Stderr, "warning: taking down the network of %s: %v\n", n.id[:12], err)
	}
}

// detachLater hands the detach to a detached `berth __detach ID`, so the
// run that waited for its container exits at once: deleting a veth pair
// waits for the kernel's RCU grace period, 20-30 ms of the ~30 a detach
// takes. If the helper cannot start, the detach happens here.
func (n *runNet) detachLater(g *globalOptions) {
	if n == nil {
		return
	}
	n.lock.release()
	if err := spawnHelper(g, detachCommand, n.id); err != nil {
		n.detach()
	}
}

// detachCommand is the hidden command that takes a sandbox down.
const detachCommand = "__detach"

func newDetachCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:    detachCommand + " ID",
		Short:  "Take down a container's network (started by berth run)",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			return nm.Detach(args[0])
		},
	}
}

// detachContainer takes down c's network, if it has one of berth's.
func detachContainer(g *globalOptions, c *runtime.Container) {
	if !hasSandbox(c) {
		return
	}
	nm, err := newNetworkManager(g)
	if err == nil {
		err = nm.Detach(c.ID)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "warning: taking down the network of %s: %v\n", c.Name(), err)
	}
}

// hasSandbox reports whether c was attached to networks of berth's.
func hasSandbox(c *runtime.Container) bool {
	return c.Config.NetNS != "" && c.Config.Network != "host" && c.Config.Network != "none"
}

// keepSandbox tells Cleanup which sandboxes still have a running
// container, or a created one that will run (the engine creates, then
// starts), or, for except, one about to run. When in doubt it keeps.
func keepSandbox(m *runtime.Manager, except string) func(id string) bool {
	return func(id string) bool {
		if id == except {
			return true
		}
		c, err := m.Get(id)
		if err != nil {
			return !errors.Is(err, runtime.ErrNotFound)
		}
		return c.State.Running || c.State.Status == runtime.StatusCreated
	}
}

// cleanUpNetworks takes down the sandboxes of containers that are gone or
// no longer run, and whatever crashed set-ups left, while no run is
// between its Attach and its container.
func cleanUpNetworks(g *globalOptions, nm *network.Manager, m *runtime.Manager) error {
	lock, err := lockSetUp(g, true)
	if err != nil {
		return err
	}
	defer lock.release()
	return nm.Cleanup(keepSandbox(m, ""))
}

// hostNetwork leaves the container in berth's own network namespace, with
// the host's name and nameservers (loopback ones too: they are reachable
// from there), as docker run --network host does.
func hostNetwork(cfg *runtime.Config) error {
	// The runtime opens the path in this process, so it names our own
	// namespace; inspect shows "host" from cfg.Network.
	cfg.NetNS = "/proc/self/ns/net"
	if cfg.Hostname == "" {
		h, err := os.Hostname()
		if err != nil {
			return fmt.Errorf("reading the host's name: %w", err)
		}
		cfg.Hostname = h
	}
	if len(cfg.DNS) == 0 {
		cfg.DNS = hostNameservers("/etc/resolv.conf")
	}
	return nil
}

// hostNameservers lists the nameserver lines of a resolv.conf.
func hostNameservers(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if fs := strings.Fields(sc.Text()); len(fs) >= 2 && fs[0] == "nameserver" {
			if _, err := netip.ParseAddr(fs[1]); err == nil {
				out = append(out, fs[1])
			}
		}
	}
	return out
}
