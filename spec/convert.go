package spec

import (
	"maps"
	"net/netip"
	"slices"
	"sort"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
)

// build turns what compose-go loaded into a Stack and checks it. Every
// mistake found is returned, not only the first.
func (l *loading) build(p *types.Project) (*Stack, []error) {
	c := &converter{l: l}
	st := &Stack{
		Name:       p.Name,
		WorkingDir: p.WorkingDir,
		Files:      slices.Clone(l.r.files),
		Sources:    l.sources(p),
		Profiles:   slices.Clone(l.r.profiles),
		Services:   map[string]*Service{},
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		st.Services[name] = c.service(p.Services[name])
	}
	// Only what the services use, as docker compose does
	// (WithoutUnnecessaryResources): a declared but unused network is not
	// created. Validation below sees all that was declared.
	used := p.WithoutUnnecessaryResources()
	for name, svc := range used.Services {
		svc.EnvFiles = nil // folded into environment, as docker compose config prints it
		used.Services[name] = svc
	}
	st.Networks = c.networks(used.Networks)
	st.Volumes = c.volumes(used.Volumes)
	st.Configs = convertMap(used.Configs, func(v types.ConfigObjConfig) *FileObject { return fileObject(types.FileObjectConfig(v)) })
	st.Secrets = convertMap(used.Secrets, func(v types.SecretConfig) *FileObject { return fileObject(types.FileObjectConfig(v)) })
	st.project = used

	c.validate(st, p)
	l.sortErrors(c.errs)
	return st, c.errs
}

// converter collects the mistakes found while converting.
type converter struct {
	l    *loading
	errs []error
}

func (c *converter) fail(path []string, hint, format string, args ...any) {
	c.errs = append(c.errs, c.l.fail(path, hint, format, args...))
}

func (c *converter) service(s types.ServiceConfig) *Service {
	at := func(keys ...string) []string { return append([]string{"services", s.Name}, keys...) }
	svc := &Service{
		Name:          s.Name,
		ContainerName: s.ContainerName,
		Image:         s.Image,
		Build:         c.build(s.Build),
		Command:       cloneNil(s.Command),
		Entrypoint:    cloneNil(s.Entrypoint),
		Environment:   resolvedEnv(s.Environment),
		User:          s.User,
		WorkingDir:    s.WorkingDir,
		Hostname:      s.Hostname,
		Domainname:    s.DomainName,
		Labels:        mapOrNil(s.Labels),
		Ports:         c.ports(s, at("ports")),
		Expose:        c.expose(s.Expose, at("expose")),
		Networks:      c.serviceNetworks(s, at("networks")),
		ExtraHosts:    extraHosts(s.ExtraHosts),
		DNS:           cloneNil([]string(s.DNS)),
		Mounts:        c.mounts(s, at()),
		Configs:       fileMounts(s.Configs, func(v types.ServiceConfigObjConfig) types.FileReferenceConfig { return types.FileReferenceConfig(v) }, "/"),
		Secrets:       fileMounts(s.Secrets, func(v types.ServiceSecretConfig) types.FileReferenceConfig { return types.FileReferenceConfig(v) }, "/run/secrets/"),
		DependsOn:     dependencies(s.DependsOn),
		Healthcheck:   c.healthcheck(s.HealthCheck, at("healthcheck")),
		Restart:       c.restart(s, at()),
		Replicas:      s.GetScale(),
		CapAdd:        sortedSet(s.CapAdd),
		CapDrop:       sortedSet(s.CapDrop),
		Privileged:    s.Privileged,
		ReadOnly:      s.ReadOnly,
		Sysctls:       mapOrNil(s.Sysctls),
		Ulimits:       ulimits(s.Ulimits),
		Init:          s.Init,
		StopSignal:    s.StopSignal,
		Logging:       c.logging(s, at("logging")),
		Develop:       c.develop(s.Develop, at("develop", "watch")),
	}
	svc.UpdateConfig = c.updateConfig(s.Deploy, at("deploy", "update_config"))
	svc.Resources = resources(s)
	svc.StopGracePeriod = DefaultStopGracePeriod
	if s.StopGracePeriod != nil {
		svc.StopGracePeriod = c.duration(*s.StopGracePeriod, at("stop_grace_period"))
	}
	return svc
}

func (c *converter) build(b *types.BuildConfig) *Build {
	if b == nil {
		return nil
	}
	return &Build{
		Context:          b.Context,
		Dockerfile:       b.Dockerfile,
		DockerfileInline: b.DockerfileInline,
		Args:             resolvedEnv(b.Args),
		Target:           b.Target,
		Network:          b.Network,
		Labels:           mapOrNil(b.Labels),
	}
}

// resolvedEnv drops the variables compose-go found no value for: Docker
// Compose leaves them out of the container's environment.
func resolvedEnv(m types.MappingWithEquals) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		if v != nil {
			out[k] = *v
		}
	}
	return mapOrNil(out)
}

func (c *converter) serviceNetworks(s types.ServiceConfig, at []string) map[string]ServiceNetwork {
	if len(s.Networks) == 0 {
		return nil
	}
	out := make(map[string]ServiceNetwork, len(s.Networks))
	for name, n := range s.Networks {
		var sn ServiceNetwork
		if n != nil {
			sn.Aliases = sortedSet(n.Aliases)
			sn.Priority = n.Priority
			sn.IPv4Address = c.addr(n.Ipv4Address, append(at, name, "ipv4_address"), false)
			sn.IPv6Address = c.addr(n.Ipv6Address, append(at, name, "ipv6_address"), true)
		}
		out[name] = sn
	}
	return out
}

func (c *converter) addr(s string, path []string, v6 bool) netip.Addr {
	if s == "" {
		return netip.Addr{}
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Is6() != v6 {
		want := "an IPv4 address, as 172.20.0.5"
		if v6 {
			want = "an IPv6 address, as fd00::5"
		}
		c.fail(path, "write "+want, "%q is not %s", s, want)
		return netip.Addr{}
	}
	return a
}

func extraHosts(h types.HostsList) []ExtraHost {
	var out []ExtraHost
	for host, ips := range h {
		for _, ip := range ips {
			out = append(out, ExtraHost{Host: host, IP: ip})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Host != out[j].Host {
			return out[i].Host < out[j].Host
		}
		return out[i].IP < out[j].IP
	})
	return out
}

func dependencies(d types.DependsOnConfig) map[string]Dependency {
	if len(d) == 0 {
		return nil
	}
	out := make(map[string]Dependency, len(d))
	for name, dep := range d {
		cond := dep.Condition
		if cond == "" {
			cond = ConditionStarted
		}
		out[name] = Dependency{Condition: cond, Restart: dep.Restart, Required: dep.Required}
	}
	return out
}

func ulimits(u map[string]*types.UlimitsConfig) map[string]Ulimit {
	if len(u) == 0 {
		return nil
	}
	out := make(map[string]Ulimit, len(u))
	for name, l := range u {
		if l == nil {
			continue
		}
		if l.Single != 0 {
			out[name] = Ulimit{Soft: int64(l.Single), Hard: int64(l.Single)}
		} else {
			out[name] = Ulimit{Soft: int64(l.Soft), Hard: int64(l.Hard)}
		}
	}
	return out
}

func (c *converter) develop(d *types.DevelopConfig, at []string) *Develop {
	if d == nil || len(d.Watch) == 0 {
		return nil
	}
	out := &Develop{}
	for i, w := range d.Watch {
		switch a := string(w.Action); a {
		case WatchSync, WatchRebuild, WatchSyncRestart, WatchSyncExec, WatchRestart:
		default:
			c.fail(append(at, strconv.Itoa(i), "action"),
				"use sync, sync+restart, sync+exec, restart or rebuild",
				"watch action %q is not supported by berth", a)
		}
		if w.Exec.Privileged {
			c.fail(append(at, strconv.Itoa(i), "exec", "privileged"), "remove privileged: the command runs with the container's own privileges",
				"berth does not run watch commands privileged")
		}
		var exec *WatchExec
		if len(w.Exec.Command) > 0 {
			exec = &WatchExec{
				Command:     slices.Clone([]string(w.Exec.Command)),
				User:        w.Exec.User,
				Privileged:  w.Exec.Privileged,
				WorkingDir:  w.Exec.WorkingDir,
				Environment: resolvedEnv(w.Exec.Environment),
			}
		}
		out.Watch = append(out.Watch, WatchRule{
			Exec:        exec,
			Path:        w.Path,
			Action:      string(w.Action),
			Target:      w.Target,
			Ignore:      cloneNil(w.Ignore),
			Include:     cloneNil(w.Include),
			InitialSync: w.InitialSync,
		})
	}
	return out
}

func (c *converter) networks(ns types.Networks) map[string]*Network {
	if len(ns) == 0 {
		return nil
	}
	out := make(map[string]*Network, len(ns))
	for key, n := range ns {
		at := []string{"networks", key}
		nw := &Network{
			Name:       n.Name,
			Driver:     n.Driver,
			DriverOpts: mapOrNil(n.DriverOpts),
			External:   bool(n.External),
			Internal:   n.Internal,
			EnableIPv6: n.EnableIPv6 != nil && *n.EnableIPv6,
			Labels:     mapOrNil(n.Labels),
		}
		for i, pool := range n.Ipam.Config {
			if pool == nil {
				continue
			}
			pat := append(at, "ipam", "config", strconv.Itoa(i))
			var sub Subnet
			sub.Subnet = c.prefix(pool.Subnet, append(pat, "subnet"))
			if pool.IPRange != "" {
				sub.IPRange = c.prefix(pool.IPRange, append(pat, "ip_range"))
			}
			if pool.Gateway != "" {
				sub.Gateway = c.addr(pool.Gateway, append(pat, "gateway"), sub.Subnet.Addr().Is6())
			}
			nw.Subnets = append(nw.Subnets, sub)
		}
		out[key] = nw
	}
	return out
}

func (c *converter) prefix(s string, path []string) netip.Prefix {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		c.fail(path, "write a subnet in CIDR notation, as 172.28.0.0/16", "%q is not a subnet", s)
		return netip.Prefix{}
	}
	return p.Masked()
}

func (c *converter) volumes(vs types.Volumes) map[string]*Volume {
	if len(vs) == 0 {
		return nil
	}
	out := make(map[string]*Volume, len(vs))
	for key, v := range vs {
		out[key] = &Volume{
			Name:       v.Name,
			Driver:     v.Driver,
			DriverOpts: mapOrNil(v.DriverOpts),
			External:   bool(v.External),
			Labels:     mapOrNil(v.Labels),
		}
	}
	return out
}

func fileObject(f types.FileObjectConfig) *FileObject {
	return &FileObject{
		Name:        f.Name,
		File:        f.File,
		Environment: f.Environment,
		Content:     f.Content,
		External:    bool(f.External),
		Labels:      mapOrNil(f.Labels),
	}
}

// convertMap converts every value of m, and returns nil for an empty m.
func convertMap[M ~map[string]V, V, W any](m M, f func(V) W) map[string]W {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]W, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}

func fileMounts[T any](in []T, conv func(T) types.FileReferenceConfig, dir string) []FileMount {
	if len(in) == 0 {
		return nil
	}
	out := make([]FileMount, 0, len(in))
	for _, v := range in {
		f := conv(v)
		m := FileMount{Source: f.Source, Target: f.Target, UID: f.UID, GID: f.GID}
		if m.Target == "" {
			m.Target = f.Source
		}
		if m.Target[0] != '/' {
			m.Target = dir + m.Target
		}
		if f.Mode != nil {
			mode := uint32(*f.Mode)
			m.Mode = &mode
		}
		out = append(out, m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target < out[j].Target })
	return out
}

func cloneNil[T any](s []T) []T {
	if s == nil {
		return nil
	}
	return append(make([]T, 0, len(s)), s...)
}

func mapOrNil[M ~map[string]string](m M) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return maps.Clone(map[string]string(m))
}

// sortedSet returns s sorted and without duplicates: lists whose order
// means nothing (capabilities, aliases) compare and hash the same whatever
// order they were written in.
func sortedSet(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	out := slices.Clone(s)
	slices.Sort(out)
	return slices.Compact(out)
}

// sources are the files the stack was read from, each once: the stack
// files and those they include or extend, the env files of interpolation
// and the services' env_file files (Stack.Sources).
func (l *loading) sources(p *types.Project) []string {
	seen := map[string]bool{}
	var out []string
	add := func(f string) {
		if f != "" && !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, f := range l.order {
		add(f)
	}
	for _, f := range l.r.dotEnvFiles {
		add(f)
	}
	for _, name := range slices.Sorted(maps.Keys(p.Services)) {
		for _, ef := range p.Services[name].EnvFiles {
			add(ef.Path) // absolute: compose-go resolved it
		}
	}
	return out
}
