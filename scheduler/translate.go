package scheduler

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"time"

	"github.com/berthproject/berth/spec"
)

// ContainerSpec is one replica as the host creates it: plain values, in
// the terms of `berth run`'s flags, worked out from the stack here so
// that the host needs to know nothing of stacks.
type ContainerSpec struct {
	Name  string
	Image string
	// Entrypoint and Command replace the image's when not nil (an empty,
	// non-nil list clears it).
	Entrypoint []string
	Command    []string
	Env        []string // KEY=VALUE, sorted
	User       string
	WorkingDir string
	Hostname   string
	Domainname string
	Labels     map[string]string
	ReadOnly   bool
	// Networks are the host networks to join, the first carrying the
	// default route (Compose's priority order, then name).
	Networks   []NetworkAttachment
	Ports      []string // -p's syntax: [IP:]HOST[-END]:CTR/proto
	DNS        []string
	ExtraHosts []string // NAME:IP
	Mounts     []MountSpec
	Resources  ResourceSpec
	StopSignal string
	StopGrace  time.Duration
	// Healthcheck is the service's, nil when it has none (or the image's
	// applies).
	Healthcheck *spec.Healthcheck
}

// NetworkAttachment is one network a replica joins.
type NetworkAttachment struct {
	Network string // the host network's name
	Aliases []string
	IP      netip.Addr
}

// MountSpec is a bind, a volume or a tmpfs, as run's -v and --tmpfs say.
type MountSpec struct {
	Type     string // spec.MountBind, spec.MountVolume, spec.MountTmpfs
	Source   string // host path, volume name on the host ("" anonymous)
	Target   string
	ReadOnly bool
	// Tmpfs options, as --tmpfs takes them ("size=64m,mode=1777").
	TmpfsOptions string
}

// ResourceSpec are the replica's limits.
type ResourceSpec struct {
	Memory     int64
	MemorySwap int64
	NanoCPUs   int64
	CPUShares  int64
	Pids       int64
}

// containerSpec translates replica n of svc.
func containerSpec(st *spec.Stack, svc *spec.Service, n int, imageID string, restart RestartState) (ContainerSpec, error) {
	c := ContainerSpec{
		Name: ReplicaName(st, svc, n), Image: ImageName(st, svc),
		Entrypoint: svc.Entrypoint, Command: svc.Command,
		User: svc.User, WorkingDir: svc.WorkingDir, Hostname: svc.Hostname, Domainname: svc.Domainname,
		ReadOnly: svc.ReadOnly, DNS: svc.DNS, StopSignal: svc.StopSignal, StopGrace: svc.StopGracePeriod,
		Labels: map[string]string{},
	}
	if svc.Healthcheck != nil && !svc.Healthcheck.Disable {
		hc := *svc.Healthcheck
		c.Healthcheck = &hc
	}
	for _, k := range sortedKeys(svc.Environment) {
		c.Env = append(c.Env, k+"="+svc.Environment[k])
	}
	maps.Copy(c.Labels, svc.Labels)
	c.Labels[LabelProject] = st.Name
	c.Labels[LabelService] = svc.Name
	c.Labels[LabelNumber] = strconv.Itoa(n)
	c.Labels[LabelConfigHash] = svc.ConfigHash()
	c.Labels[LabelOneoff] = "False"
	// Where the stack came from, under Compose's label names, so that
	// `compose ls` can show a stack's files with no file at hand.
	files := ""
	for i, f := range st.Files {
		if i > 0 {
			files += ","
		}
		files += f
	}
	c.Labels["com.docker.compose.project.config_files"] = files
	c.Labels["com.docker.compose.project.working_dir"] = st.WorkingDir
	if imageID != "" {
		c.Labels[LabelImage] = imageID
	}
	if restart.Count > 0 {
		c.Labels[LabelRestarts] = strconv.Itoa(restart.Count)
		c.Labels[LabelBackoff] = strconv.Itoa(restart.Backoff)
	}

	keys := sortedKeys(svc.Networks)
	slices.SortStableFunc(keys, func(a, b string) int { return svc.Networks[b].Priority - svc.Networks[a].Priority })
	for _, key := range keys {
		nw, ok := st.Networks[key]
		if !ok {
			return c, fmt.Errorf("service %q: network %q is not in the stack's networks", svc.Name, key)
		}
		sn := svc.Networks[key]
		// The service's name answers for every replica, as in Compose;
		// "<service>-<n>" for this one (its container name,
		// "<stack>-<service>-<n>", answers too).
		aliases := append([]string{svc.Name, svc.Name + "-" + strconv.Itoa(n)}, sn.Aliases...)
		c.Networks = append(c.Networks, NetworkAttachment{Network: nw.Name, Aliases: aliases, IP: sn.IPv4Address})
	}
	for _, p := range svc.Ports {
		ps, err := portFor(p, n)
		if err != nil {
			return c, fmt.Errorf("service %q: %w", svc.Name, err)
		}
		c.Ports = append(c.Ports, ps)
	}
	for _, h := range svc.ExtraHosts {
		c.ExtraHosts = append(c.ExtraHosts, h.Host+":"+h.IP)
	}
	for _, m := range svc.Mounts {
		ms := MountSpec{Type: m.Type, Source: m.Source, Target: m.Target, ReadOnly: m.ReadOnly}
		switch m.Type {
		case spec.MountVolume:
			if m.Source != "" {
				v, ok := st.Volumes[m.Source]
				if !ok {
					return c, fmt.Errorf("service %q: volume %q is not in the stack's volumes", svc.Name, m.Source)
				}
				ms.Source = v.Name
			}
		case spec.MountTmpfs:
			var opts []string
			if m.TmpfsSize > 0 {
				opts = append(opts, "size="+strconv.FormatInt(m.TmpfsSize, 10))
			}
			if m.TmpfsMode != 0 {
				opts = append(opts, "mode="+strconv.FormatUint(uint64(m.TmpfsMode), 8))
			}
			opts = append(opts, m.TmpfsOptions...)
			for i, o := range opts {
				if i > 0 {
					ms.TmpfsOptions += ","
				}
				ms.TmpfsOptions += o
			}
		}
		c.Mounts = append(c.Mounts, ms)
	}
	r := svc.Resources
	c.Resources = ResourceSpec{
		Memory: r.Limits.Memory, MemorySwap: r.Limits.MemorySwap,
		NanoCPUs: int64(r.Limits.CPUs * 1e9), CPUShares: r.CPUShares, Pids: r.Limits.Pids,
	}
	return c, nil
}

// portFor is p in -p's syntax for replica n: a host port range gives each
// replica its own port, the n-th of the range, as Compose does.
func portFor(p spec.PortBinding, n int) (string, error) {
	host := ""
	if p.HostIP.IsValid() {
		host = p.HostIP.String() + ":"
		if p.HostIP.Is6() {
			host = "[" + p.HostIP.String() + "]:"
		}
	}
	switch {
	case p.HostPortEnd != 0:
		port := int(p.HostPort) + n - 1
		if port > int(p.HostPortEnd) {
			return "", fmt.Errorf("replica %d has no host port left in %d-%d for port %d; widen the range or lower the replicas", n, p.HostPort, p.HostPortEnd, p.ContainerPort)
		}
		host += strconv.Itoa(port) + ":"
	case p.HostPort != 0:
		host += strconv.Itoa(int(p.HostPort)) + ":"
	default:
		host += ":" // an ephemeral host port
		if !p.HostIP.IsValid() {
			host = ""
		}
	}
	return host + strconv.Itoa(int(p.ContainerPort)) + "/" + p.Protocol, nil
}

// OneOffSpec translates a one-off container of svc (`compose run`), named
// name: the service's image, command, env, mounts and networks, labelled
// oneoff so that plans leave it be (no restart, no removal as an orphan).
// It answers in DNS by its own name only: the service's aliases would
// send the service's traffic to it. Ports are replica 1's; `compose run`
// keeps them only with --service-ports.
func OneOffSpec(st *spec.Stack, svc *spec.Service, name string, imageID string) (ContainerSpec, error) {
	c, err := containerSpec(st, svc, 1, imageID, RestartState{})
	if err != nil {
		return c, err
	}
	c.Name = name
	c.Labels[LabelOneoff] = "True"
	for i := range c.Networks {
		// A fixed address is the replica's; the one-off takes a free one.
		c.Networks[i].Aliases, c.Networks[i].IP = nil, netip.Addr{}
	}
	return c, nil
}
