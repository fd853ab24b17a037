package spec

import (
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
)

// validate checks what compose-go does not, or does without saying where:
// names, references between services and resources, dependency cycles,
// mount targets and published ports. p is the project as loaded, with
// everything declared (st has only what its services use).
func (c *converter) validate(st *Stack, p *types.Project) {
	for _, name := range st.ServiceNames() {
		svc := st.Services[name]
		at := []string{"services", name}
		c.checkName(name)
		if svc.Image == "" && svc.Build == nil {
			c.fail(at, "add image: (as image: nginx:1.27) or build: (as build: ./web)",
				"service %q has neither image nor build", name)
		}
		c.checkReplicas(p.Services[name], at)
		if svc.ContainerName != "" && svc.Replicas > 1 {
			c.fail(append(at, "container_name"), "remove container_name, or run one replica",
				"%d replicas cannot all be named %q", svc.Replicas, svc.ContainerName)
		}
		c.checkDependsOn(st, p, svc, at)
		for _, n := range slices.Sorted(maps.Keys(svc.Networks)) {
			if _, ok := p.Networks[n]; !ok {
				c.failItem(append(at, "networks"), n, "declare it under the top-level networks: key, or remove it from the service",
					"network %q is not declared", n)
			}
		}
		c.checkMounts(p, p.Services[name], at)
		for _, f := range svc.Configs {
			if _, ok := p.Configs[f.Source]; !ok {
				c.fail(append(at, "configs"), "declare it under the top-level configs: key, with file: the path of its content",
					"config %q is not declared", f.Source)
			}
		}
		for _, f := range svc.Secrets {
			if _, ok := p.Secrets[f.Source]; !ok {
				c.fail(append(at, "secrets"), "declare it under the top-level secrets: key, with file: the path of its content",
					"secret %q is not declared", f.Source)
			}
		}
		if svc.Develop != nil {
			for i, w := range svc.Develop.Watch {
				if w.Target == "" && w.Syncs() {
					c.fail(c.l.item(append(at, "develop", "watch"), i), "add target: the path in the container to copy the files to",
						"watch action %s needs a target", w.Action)
				}
				if w.Action == WatchSyncExec && (w.Exec == nil || len(w.Exec.Command) == 0) {
					c.fail(c.l.item(append(at, "develop", "watch"), i), "add exec: with command: what to run in the container after syncing",
						"watch action sync+exec needs exec.command")
				}
			}
		}
	}
	c.checkCycles(st)
	c.checkPortConflicts(st)
	for _, name := range slices.Sorted(maps.Keys(p.Secrets)) {
		s := p.Secrets[name]
		if !s.External && s.File == "" && s.Environment == "" {
			c.fail([]string{"secrets", name}, "add file: (the path of its content) or environment: (a variable holding it)",
				"secret %q has neither file nor environment", name)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(p.Configs)) {
		s := p.Configs[name]
		if !s.External && s.File == "" && s.Environment == "" && s.Content == "" {
			c.fail([]string{"configs", name}, "add file: (the path of its content), environment: (a variable holding it) or content:",
				"config %q has neither file, environment nor content", name)
		}
	}
}

// checkName refuses service names that are not DNS labels: a service's
// name is the host name its replicas answer to on the stack's networks.
func (c *converter) checkName(name string) {
	if isDNSLabel(name) {
		return
	}
	c.fail([]string{"services", name}, fmt.Sprintf("rename it to letters, digits and '-', as %q", dnsLabelLike(name)),
		"service name %q is not a valid host name (letters, digits and '-', at most 63, not starting or ending with '-')", name)
}

func isDNSLabel(s string) bool {
	if len(s) == 0 || len(s) > 63 || s[0] == '-' || s[len(s)-1] == '-' {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// dnsLabelLike suggests a valid name close to s.
func dnsLabelLike(s string) string {
	b := []byte(strings.ToLower(s))
	for i, r := range b {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9') {
			b[i] = '-'
		}
	}
	out := strings.Trim(string(b), "-")
	if len(out) > 63 {
		out = strings.TrimRight(out[:63], "-")
	}
	if out == "" {
		out = "web"
	}
	return out
}

func (c *converter) checkReplicas(s types.ServiceConfig, at []string) {
	if s.Scale != nil && *s.Scale < 0 {
		c.fail(append(at, "scale"), "use 0 or more", "scale %d is negative", *s.Scale)
	}
	if s.Deploy != nil && s.Deploy.Replicas != nil && *s.Deploy.Replicas < 0 {
		c.fail(append(at, "deploy", "replicas"), "use 0 or more", "replicas %d is negative", *s.Deploy.Replicas)
	}
	if s.Scale != nil && s.Deploy != nil && s.Deploy.Replicas != nil && *s.Scale != *s.Deploy.Replicas {
		c.fail(append(at, "scale"), "keep one of scale and deploy.replicas",
			"scale %d and deploy.replicas %d differ", *s.Scale, *s.Deploy.Replicas)
	}
}

// checkDependsOn checks that every dependency is a service of the stack.
// A dependency that is in a profile not enabled is dropped when it is not
// required, as Compose does.
func (c *converter) checkDependsOn(st *Stack, p *types.Project, svc *Service, at []string) {
	for _, dep := range slices.Sorted(maps.Keys(svc.DependsOn)) {
		if _, ok := st.Services[dep]; ok {
			continue
		}
		path := append(slices.Clone(at), "depends_on")
		if d, ok := p.DisabledServices[dep]; ok {
			if !svc.DependsOn[dep].Required {
				delete(svc.DependsOn, dep)
				continue
			}
			c.failItem(path, dep, fmt.Sprintf("enable it with --profile %s, or set required: false on the dependency", d.Profiles[0]),
				"depends on service %q, which is only in profile %s, not enabled", dep, strings.Join(d.Profiles, ", "))
			continue
		}
		c.failItem(path, dep, "define it under services:, or fix the name; the services are "+strings.Join(st.ServiceNames(), ", "),
			"depends on service %q, which is not defined", dep)
	}
	if len(svc.DependsOn) == 0 {
		svc.DependsOn = nil
	}
}

// checkCycles reports each depends_on cycle once, as "a -> b -> a", at the
// first edge of the cycle.
func (c *converter) checkCycles(st *Stack) {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	var stack []string
	var visit func(n string)
	visit = func(n string) {
		state[n] = active
		stack = append(stack, n)
		svc := st.Services[n]
		for _, d := range slices.Sorted(maps.Keys(svc.DependsOn)) {
			if _, ok := st.Services[d]; !ok {
				continue
			}
			switch state[d] {
			case unseen:
				visit(d)
			case active:
				i := slices.Index(stack, d)
				cycle := append(slices.Clone(stack[i:]), d)
				c.failItem([]string{"services", cycle[0], "depends_on"}, cycle[1],
					"remove one of these dependencies: services cannot wait for each other",
					"depends_on cycle: %s", strings.Join(cycle, " -> "))
			}
		}
		stack = stack[:len(stack)-1]
		state[n] = done
	}
	for _, n := range st.ServiceNames() {
		if state[n] == unseen {
			visit(n)
		}
	}
}

// checkMounts checks that named volumes are declared and that no two
// mounts share a target.
func (c *converter) checkMounts(p *types.Project, s types.ServiceConfig, at []string) {
	targets := map[string]bool{}
	dup := func(at []string, target string) {
		if !strings.HasPrefix(target, "/") {
			c.fail(at, "write the path in the container as an absolute path, as /data",
				"mount target %q is not an absolute path", target)
		}
		t := path.Clean(target)
		if targets[t] {
			c.fail(at, "mount one thing per path", "%s is mounted twice", t)
		}
		targets[t] = true
	}
	for i, v := range s.Volumes {
		vp := c.l.item(append(slices.Clone(at), "volumes"), i)
		if v.Type == types.VolumeTypeVolume && v.Source != "" {
			if _, ok := p.Volumes[v.Source]; !ok {
				c.fail(vp, fmt.Sprintf("declare it under the top-level volumes: key, or write ./%s for a directory beside the stack file", v.Source),
					"volume %q is not declared", v.Source)
			}
		}
		dup(vp, v.Target)
	}
	for i, t := range s.Tmpfs {
		target, _, _ := strings.Cut(t, ":")
		dup(c.l.item(append(slices.Clone(at), "tmpfs"), i), target)
	}
}
