package network

import (
	"fmt"
	"net/netip"
	"regexp"
	"sort"
	"time"
)

// DefaultNetwork is the network containers join when they name none, as
// Docker's "bridge". Unlike Docker's, its containers find each other by
// name.
const DefaultNetwork = "bridge"

// Domain is berth's own DNS domain: NAME.berth.internal answers as NAME
// does, and unknown names under it are NXDOMAIN, never forwarded.
const Domain = "berth.internal"

// NetworkConfig is what a network is created from. Zero Subnet and
// Gateway mean "pick one".
type NetworkConfig struct {
	Name     string
	Subnet   netip.Prefix
	Gateway  netip.Addr
	Internal bool // no traffic in or out but among its containers; no forwarded DNS
	Labels   map[string]string
}

// Network is a network as it is recorded.
type Network struct {
	ID       string            `json:"id"`
	Name     string            `json:"name"`
	Bridge   string            `json:"bridge"`
	Subnet   netip.Prefix      `json:"subnet"`
	Gateway  netip.Addr        `json:"gateway"`
	Internal bool              `json:"internal"`
	Labels   map[string]string `json:"labels,omitempty"`
	Created  time.Time         `json:"created"`
	// Endpoints are the sandboxes attached to the network now, by id.
	Endpoints []NetworkEndpoint `json:"endpoints"`
}

// NetworkEndpoint is one sandbox's place on a network, for inspect.
type NetworkEndpoint struct {
	Sandbox string     `json:"sandbox"`
	IP      netip.Addr `json:"ip"`
	MAC     string     `json:"mac"`
	Names   []string   `json:"names,omitempty"`
}

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

func validName(name string) bool {
	return len(name) <= 128 && namePattern.MatchString(name)
}

// Create records a network and makes its bridge.
func (m *Manager) Create(cfg NetworkConfig) (*Network, error) {
	if !validName(cfg.Name) {
		return nil, invalid("network name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", cfg.Name)
	}
	if cfg.Name == "none" || cfg.Name == "host" {
		return nil, invalid("%q is a network mode, not a network name", cfg.Name)
	}
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	return m.create(cfg)
}

// create is Create under the lock.
func (m *Manager) create(cfg NetworkConfig) (*Network, error) {
	if _, err := m.readNetwork(cfg.Name); err == nil {
		return nil, fmt.Errorf("network %q: %w", cfg.Name, ErrExists)
	}
	nets, err := m.readNetworks()
	if err != nil {
		return nil, err
	}
	var taken []netip.Prefix
	for _, n := range nets {
		taken = append(taken, n.Subnet)
	}
	subnet := cfg.Subnet
	switch {
	case subnet.IsValid():
		if !subnet.Addr().Is4() || subnet.Bits() > 30 {
			return nil, invalid("subnet %s: an IPv4 subnet of /30 or wider is needed", subnet)
		}
		subnet = subnet.Masked()
		for _, n := range nets {
			if n.Subnet.Overlaps(subnet) {
				return nil, fmt.Errorf("subnet %s: %w %q (%s)", subnet, ErrSubnetOverlap, n.Name, n.Subnet)
			}
		}
	default:
		routes, err := m.hostRoutes()
		if err != nil {
			return nil, err
		}
		if subnet, err = allocSubnet(m.pool, m.poolSize, append(taken, routes...)); err != nil {
			return nil, err
		}
	}
	gw := cfg.Gateway
	if gw.IsValid() {
		first, last := hostRange(subnet)
		if !gw.Is4() || !subnet.Contains(gw) || v4(gw) < first || v4(gw) > last {
			return nil, invalid("gateway %s is not a host address of subnet %s", gw, subnet)
		}
	} else {
		gw = defaultGateway(subnet)
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	n := networkRecord{
		ID: id, Name: cfg.Name, Bridge: bridgeName(id), Subnet: subnet, Gateway: gw,
		Internal: cfg.Internal, Labels: cfg.Labels, Created: time.Now().UTC(),
	}
	// The record goes first: a crash before the bridge is made leaves a
	// network whose bridge the next Attach (ensureBridge) makes.
	if err := writeJSONAtomic(m.networkPath(n.Name), &n); err != nil {
		return nil, err
	}
	if err := m.ensureBridge(n); err != nil {
		m.removeNetwork(n)
		return nil, err
	}
	if err := m.syncRules(); err != nil {
		m.removeNetwork(n)
		_ = m.syncRules()
		return nil, err
	}
	m.log.Debug("network created", "network", n.Name, "subnet", n.Subnet, "bridge", n.Bridge)
	return m.view(n, nil), nil
}

// EnsureDefault returns the default network, creating it on first use.
func (m *Manager) EnsureDefault() (*Network, error) {
	unlock, err := m.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if n, err := m.readNetwork(DefaultNetwork); err == nil {
		if err := m.ensureBridge(n); err != nil {
			return nil, err
		}
		sbs, err := m.readSandboxes()
		if err != nil {
			return nil, err
		}
		return m.view(n, sbs), nil
	}
	return m.create(NetworkConfig{Name: DefaultNetwork})
}

// Get returns the network named name.
func (m *Manager) Get(name string) (*Network, error) {
	n, err := m.readNetwork(name)
	if err != nil {
		return nil, err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return nil, err
	}
	return m.view(n, sbs), nil
}

// List returns every network, by name.
func (m *Manager) List() ([]*Network, error) {
	nets, err := m.readNetworks()
	if err != nil {
		return nil, err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return nil, err
	}
	out := make([]*Network, len(nets))
	for i, n := range nets {
		out[i] = m.view(n, sbs)
	}
	return out, nil
}

// Networks returns every network, by name, without its endpoints:
// cheaper than List, which reads every sandbox's record as well.
func (m *Manager) Networks() ([]*Network, error) {
	nets, err := m.readNetworks()
	if err != nil {
		return nil, err
	}
	out := make([]*Network, len(nets))
	for i, n := range nets {
		out[i] = m.view(n, nil)
	}
	return out, nil
}

// Remove deletes a network and its bridge. It refuses (InUseError) while
// any sandbox is attached, or being attached, to it. The default network
// can be removed too: the CLI is the one that refuses it, as Docker does.
func (m *Manager) Remove(name string) error {
	unlock, err := m.lock()
	if err != nil {
		return err
	}
	defer unlock()
	n, err := m.readNetwork(name)
	if err != nil {
		return err
	}
	sbs, err := m.readSandboxes()
	if err != nil {
		return err
	}
	if users := usersOf(n, sbs); len(users) > 0 {
		return &InUseError{Network: name, Sandboxes: users}
	}
	if err := m.removeNetwork(n); err != nil {
		return err
	}
	m.log.Debug("network removed", "network", n.Name)
	return m.syncRules()
}

// Prune removes every network without endpoints, except the default one,
// and returns their names.
func (m *Manager) Prune() ([]string, error) {
	nets, err := m.readNetworks()
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, n := range nets {
		if n.Name == DefaultNetwork {
			continue
		}
		err := m.Remove(n.Name)
		if err == nil {
			removed = append(removed, n.Name)
		} else if !isInUse(err) && !isNotFound(err) {
			return removed, err
		}
	}
	return removed, nil
}

// removeNetwork deletes the bridge, then the record.
//
// Preconditions: state lock held, no sandbox uses n.
func (m *Manager) removeNetwork(n networkRecord) error {
	h, err := m.host.handle()
	if err != nil {
		return err
	}
	defer h.Close()
	if err := deleteLink(h, n.Bridge); err != nil {
		return fmt.Errorf("network %q: %w", n.Name, err)
	}
	return removeFile(m.networkPath(n.Name))
}

func usersOf(n networkRecord, sbs []sandboxRecord) []string {
	var ids []string
	for _, s := range sbs {
		for _, e := range s.Endpoints {
			if e.NetworkID == n.ID {
				ids = append(ids, s.ID)
				break
			}
		}
	}
	return ids
}

// view is n as callers see it, with its endpoints.
func (m *Manager) view(n networkRecord, sbs []sandboxRecord) *Network {
	out := &Network{
		ID: n.ID, Name: n.Name, Bridge: n.Bridge, Subnet: n.Subnet, Gateway: n.Gateway,
		Internal: n.Internal, Labels: n.Labels, Created: n.Created, Endpoints: []NetworkEndpoint{},
	}
	for _, s := range sbs {
		if s.State != stateAttached {
			continue
		}
		for _, e := range s.Endpoints {
			if e.NetworkID == n.ID {
				out.Endpoints = append(out.Endpoints, NetworkEndpoint{
					Sandbox: s.ID, IP: e.IP, MAC: e.MAC, Names: append(append([]string{}, e.Names...), e.Aliases...),
				})
			}
		}
	}
	sort.Slice(out.Endpoints, func(i, j int) bool { return out.Endpoints[i].IP.Less(out.Endpoints[j].IP) })
	return out
}
