package main

import (
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/network"
)

func newNetworkCmd(g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{Use: "network", Short: "Manage networks"}
	cmd.AddCommand(newNetworkCreateCmd(g), newNetworkLsCmd(g), newNetworkInspectCmd(g), newNetworkRmCmd(g), newNetworkPruneCmd(g))
	return cmd
}

type networkCreateOptions struct {
	subnet, gateway, driver string
	internal                bool
	labels                  []string
}

func newNetworkCreateCmd(g *globalOptions) *cobra.Command {
	o := &networkCreateOptions{}
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network: a bridge with a subnet (from 10.89.0.0/16 unless --subnet)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := o.config(args[0])
			if err != nil {
				return &exitError{code: 2, err: err}
			}
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			n, err := nm.Create(cfg)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.subnet, "subnet", "", "subnet in CIDR form (e.g. 10.90.0.0/24); default: the next free one of the pool")
	f.StringVar(&o.gateway, "gateway", "", "gateway address (default: the subnet's first address)")
	f.BoolVar(&o.internal, "internal", false, "no traffic in or out of the network but among its containers")
	f.StringArrayVarP(&o.labels, "label", "l", nil, "set a label KEY=VALUE")
	f.StringVarP(&o.driver, "driver", "d", "bridge", "network driver (only bridge)")
	return cmd
}

func (o *networkCreateOptions) config(name string) (network.NetworkConfig, error) {
	cfg := network.NetworkConfig{Name: name, Internal: o.internal, Labels: parseLabels(o.labels)}
	if o.driver != "bridge" {
		return cfg, fmt.Errorf("--driver %q: only bridge is supported", o.driver)
	}
	if o.subnet != "" {
		p, err := netip.ParsePrefix(o.subnet)
		if err != nil {
			return cfg, fmt.Errorf("--subnet %q is not an address range in CIDR form (e.g. 10.90.0.0/24)", o.subnet)
		}
		cfg.Subnet = p
	}
	if o.gateway != "" {
		if o.subnet == "" {
			return cfg, errors.New("--gateway needs --subnet as well")
		}
		ip, err := netip.ParseAddr(o.gateway)
		if err != nil {
			return cfg, fmt.Errorf("--gateway %q is not an IP address", o.gateway)
		}
		cfg.Gateway = ip
	}
	return cfg, nil
}

// networkRow is one line of `network ls --format json`, with Docker's
// keys and its string values.
type networkRow struct {
	CreatedAt string `json:"CreatedAt"`
	Driver    string `json:"Driver"`
	ID        string `json:"ID"`
	IPv6      string `json:"IPv6"`
	Internal  string `json:"Internal"`
	Labels    string `json:"Labels"`
	Name      string `json:"Name"`
	Scope     string `json:"Scope"`
}

func newNetworkLsCmd(g *globalOptions) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks (bridge appears once a container has used it)",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkListFormat(format); err != nil {
				return err
			}
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			nets, err := nm.Networks()
			if err != nil {
				return err
			}
			return printNetworks(cmd.OutOrStdout(), nets, quiet, noTrunc, format)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "only show network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "show full network IDs")
	cmd.Flags().StringVar(&format, "format", "table", "output format: table or json")
	return cmd
}

func printNetworks(w io.Writer, nets []*network.Network, quiet, noTrunc bool, format string) error {
	id := func(n *network.Network) string {
		if noTrunc {
			return n.ID
		}
		return n.ID[:12]
	}
	switch {
	case quiet:
		for _, n := range nets {
			fmt.Fprintln(w, id(n))
		}
	case format == "json":
		rows := make([]networkRow, 0, len(nets))
		for _, n := range nets {
			rows = append(rows, networkRow{
				CreatedAt: n.Created.Local().Format("2006-01-02 15:04:05.999999999 -0700 MST"),
				Driver:    "bridge", ID: id(n), IPv6: "false", Internal: fmt.Sprint(n.Internal),
				Labels: joinLabels(n.Labels), Name: n.Name, Scope: "local",
			})
		}
		return writeJSONLines(w, rows)
	default:
		tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
		fmt.Fprintln(tw, "NETWORK ID\tNAME\tDRIVER\tSCOPE")
		for _, n := range nets {
			fmt.Fprintf(tw, "%s\t%s\tbridge\tlocal\n", id(n), n.Name)
		}
		return tw.Flush()
	}
	return nil
}

func joinLabels(labels map[string]string) string {
	var out []string
	for k, v := range labels {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// networkView is `docker network inspect`'s shape.
type networkView struct {
	Name       string                          `json:"Name"`
	ID         string                          `json:"Id"`
	Created    string                          `json:"Created"`
	Scope      string                          `json:"Scope"`
	Driver     string                          `json:"Driver"`
	EnableIPv6 bool                            `json:"EnableIPv6"`
	IPAM       ipamView                        `json:"IPAM"`
	Internal   bool                            `json:"Internal"`
	Attachable bool                            `json:"Attachable"`
	Ingress    bool                            `json:"Ingress"`
	Containers map[string]networkContainerView `json:"Containers"`
	Options    map[string]string               `json:"Options"`
	Labels     map[string]string               `json:"Labels"`
}

type ipamView struct {
	Driver  string            `json:"Driver"`
	Options map[string]string `json:"Options"`
	Config  []ipamConfigView  `json:"Config"`
}

type ipamConfigView struct {
	Subnet  string `json:"Subnet"`
	Gateway string `json:"Gateway"`
}

type networkContainerView struct {
	Name        string `json:"Name"`
	EndpointID  string `json:"EndpointID"`
	MacAddress  string `json:"MacAddress"`
	IPv4Address string `json:"IPv4Address"`
	IPv6Address string `json:"IPv6Address"`
}

func newNetworkView(n *network.Network, names func(id string) string) networkView {
	v := networkView{
		Name: n.Name, ID: n.ID, Created: dockerTime(n.Created), Scope: "local", Driver: "bridge",
		IPAM: ipamView{Driver: "default", Options: map[string]string{}, Config: []ipamConfigView{
			{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()},
		}},
		Internal: n.Internal, Containers: map[string]networkContainerView{},
		Options: map[string]string{"com.docker.network.bridge.name": n.Bridge},
		Labels:  n.Labels,
	}
	if v.Labels == nil {
		v.Labels = map[string]string{}
	}
	for _, e := range n.Endpoints {
		name := names(e.Sandbox)
		if name == "" && len(e.Names) > 0 {
			name = e.Names[0]
		}
		v.Containers[e.Sandbox] = networkContainerView{
			Name: name, MacAddress: e.MAC,
			IPv4Address: netip.PrefixFrom(e.IP, n.Subnet.Bits()).String(),
		}
	}
	return v
}

// containerNames names containers by id, reading them once.
func containerNames(g *globalOptions) func(id string) string {
	var byID map[string]string
	return func(id string) string {
		if byID == nil {
			byID = map[string]string{}
			if m, err := newManager(g); err == nil {
				if cs, err := m.List(); err == nil {
					for _, c := range cs {
						byID[c.ID] = c.Name()
					}
				}
			}
		}
		return byID[id]
	}
}

func newNetworkInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK...",
		Short: "Show networks in detail, as JSON shaped like docker network inspect",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			names := containerNames(g)
			var out []networkView
			err = eachNetwork(args, func(name string) error {
				n, err := nm.Get(name)
				if err != nil {
					return err
				}
				out = append(out, newNetworkView(n, names))
				return nil
			})
			if perr := printInspect(cmd.OutOrStdout(), out, format); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each network, e.g. '{{range .IPAM.Config}}{{.Subnet}}{{end}}'")
	return cmd
}

func newNetworkRmCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK...",
		Aliases: []string{"remove"},
		Short:   "Remove networks; one a running container uses stays",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			// Containers that no longer run hold no network, as in Docker.
			if err := cleanUpNetworks(g, nm, m); err != nil {
				return err
			}
			names := containerNames(g)
			return eachNetwork(args, func(name string) error {
				err := removeNetwork(nm, name, names)
				if force && errors.Is(err, network.ErrNotFound) {
					return nil
				}
				if err == nil {
					fmt.Fprintln(cmd.OutOrStdout(), name)
				}
				return err
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not complain about networks that do not exist")
	return cmd
}

// errPredefined: the default network cannot be removed, as in Docker.
var errPredefined = errors.New("is a pre-defined network and cannot be removed")

func removeNetwork(nm *network.Manager, name string, names func(string) string) error {
	if name == network.DefaultNetwork || name == "none" || name == "host" {
		return fmt.Errorf("%s %w", name, errPredefined)
	}
	err := nm.Remove(name)
	var iu *network.InUseError
	if errors.As(err, &iu) {
		var users []string
		for _, id := range iu.Sandboxes {
			if n := names(id); n != "" {
				users = append(users, n)
			} else {
				users = append(users, id[:min(12, len(id))])
			}
		}
		return &networkInUseError{Network: name, Containers: users}
	}
	return err
}

// networkInUseError names the containers, running ones, that keep a
// network from going.
type networkInUseError struct {
	Network    string
	Containers []string
}

func (e *networkInUseError) Error() string {
	return fmt.Sprintf("network %q is used by %s: %v", e.Network, strings.Join(e.Containers, ", "), network.ErrInUse)
}

func (e *networkInUseError) Unwrap() error { return network.ErrInUse }

// eachNetwork runs fn for every name, printing each failure and going on
// with the rest; the error says how many failed.
func eachNetwork(names []string, fn func(name string) error) error {
	failed := 0
	var last error
	for _, n := range names {
		if err := fn(n); err != nil {
			failed++
			last = err
			if len(names) > 1 {
				printError(os.Stderr, err)
			}
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(names) == 1:
		return last
	}
	return fmt.Errorf("%d of %d networks failed", failed, len(names))
}

func newNetworkPruneCmd(g *globalOptions) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove networks no running container uses (bridge stays), and what crashed runs left",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			w := cmd.OutOrStdout()
			if !force && !confirm(w, os.Stdin, "WARNING! This will remove all custom networks not used by at least one container.") {
				return errors.New("network prune cancelled")
			}
			nm, err := newNetworkManager(g)
			if err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			if err := cleanUpNetworks(g, nm, m); err != nil {
				return err
			}
			removed, err := nm.Prune()
			if len(removed) > 0 {
				fmt.Fprintln(w, "Deleted Networks:")
				for _, n := range removed {
					fmt.Fprintln(w, n)
				}
			}
			return err
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "do not ask for confirmation")
	return cmd
}
