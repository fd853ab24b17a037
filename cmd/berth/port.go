package main

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/runtime"
)

func newPortCmd(g *globalOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "port CONTAINER [PRIVATE_PORT[/PROTO]]",
		Short: "List a container's published ports, or the host address of one",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := newManager(g)
			if err != nil {
				return err
			}
			c, err := m.Get(args[0])
			if err != nil {
				return err
			}
			ports := (&sandboxes{g: g}).of(c).ports()
			w := cmd.OutOrStdout()
			if len(args) == 1 {
				for _, b := range ports {
					fmt.Fprintln(w, b)
				}
				return nil
			}
			port, proto, err := parsePrivatePort(args[1])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			found := false
			for _, b := range ports {
				if b.ContainerPort == port && b.Protocol == proto {
					fmt.Fprintln(w, netip.AddrPortFrom(b.HostIP, b.HostPort))
					found = true
				}
			}
			if !found {
				return fmt.Errorf("no public port %d/%s published for %s", port, proto, c.Name())
			}
			return nil
		},
	}
}

// parsePrivatePort reads PORT or PORT/PROTO (tcp by default).
func parsePrivatePort(s string) (uint16, string, error) {
	p, proto, ok := strings.Cut(s, "/")
	if !ok {
		proto = "tcp"
	}
	n, err := strconv.ParseUint(p, 10, 16)
	if err != nil || n == 0 || (proto != "tcp" && proto != "udp") {
		return 0, "", fmt.Errorf("%q is not PORT[/tcp|udp]", s)
	}
	return uint16(n), proto, nil
}

// sandboxes reads running containers' network set-ups for ps, port and
// inspect, opening the network state only once a container has one.
type sandboxes struct {
	g  *globalOptions
	nm *network.Manager
}

// of is c's sandbox while it runs, or nil.
func (s *sandboxes) of(c *runtime.Container) *sandboxView {
	if !hasSandbox(c) || !c.State.Running {
		return nil
	}
	if s.nm == nil {
		nm, err := newNetworkManager(s.g)
		if err != nil {
			return nil
		}
		s.nm = nm
	}
	sb, err := s.nm.Inspect(c.ID)
	if err != nil || sb == nil {
		return nil
	}
	return (*sandboxView)(sb)
}

// sandboxView is a sandbox as the CLI shows it.
type sandboxView network.Sandbox

// ports are the published ports, by container port, then host address.
func (sb *sandboxView) ports() []network.PortBinding {
	if sb == nil {
		return nil
	}
	out := append([]network.PortBinding{}, sb.Ports...)
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.ContainerPort != b.ContainerPort {
			return a.ContainerPort < b.ContainerPort
		}
		if a.Protocol != b.Protocol {
			return a.Protocol < b.Protocol
		}
		return netip.AddrPortFrom(a.HostIP, a.HostPort).String() < netip.AddrPortFrom(b.HostIP, b.HostPort).String()
	})
	return out
}

// portsColumn reads as docker ps's PORTS: 0.0.0.0:8080->80/tcp, ...
func (sb *sandboxView) portsColumn() string {
	var out []string
	for _, b := range sb.ports() {
		out = append(out, fmt.Sprintf("%s->%d/%s", netip.AddrPortFrom(b.HostIP, b.HostPort), b.ContainerPort, b.Protocol))
	}
	return strings.Join(out, ", ")
}
