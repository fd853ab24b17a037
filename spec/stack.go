package spec

import (
	"net/netip"
	"sort"

	"github.com/compose-spec/compose-go/v2/types"
)

// Stack is a loaded, validated and normalised stack file: everything the
// engine needs to run it, and all that it ever sees of the file. Its JSON
// keys are Compose's, so a Stack reads like `docker compose config`.
type Stack struct {
	// Name is the project name: -p, COMPOSE_PROJECT_NAME, `name:` or the
	// project directory's base name, normalised as Compose does.
	Name string `json:"name"`
	// WorkingDir is the project directory, absolute: relative paths in the
	// files are relative to it.
	WorkingDir string `json:"working_dir"`
	// Files are the stack files, absolute, in merge order (what -f,
	// COMPOSE_FILE or discovery chose; not the included ones).
	Files []string `json:"files"`
	// Sources are every file the load read, absolute: the stack files,
	// the files they include or extend, the .env or --env-file files and
	// the services' env_file files. A change to one may change the stack
	// (berth watch reloads on it).
	Sources []string `json:"sources,omitempty"`
	// Profiles are the active profiles.
	Profiles []string `json:"profiles,omitempty"`

	Services map[string]*Service    `json:"services"`
	Networks map[string]*Network    `json:"networks,omitempty"`
	Volumes  map[string]*Volume     `json:"volumes,omitempty"`
	Configs  map[string]*FileObject `json:"configs,omitempty"`
	Secrets  map[string]*FileObject `json:"secrets,omitempty"`

	// project is what compose-go loaded, kept to print the stack exactly
	// as `docker compose config` does (MarshalCompose). A Stack decoded
	// from JSON has none.
	project *types.Project
}

// ServiceNames returns the names of the stack's services, sorted.
func (st *Stack) ServiceNames() []string {
	names := make([]string, 0, len(st.Services))
	for n := range st.Services {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// StartOrder returns the service names so that every service comes after
// the services it depends on; services that do not depend on each other
// come in name order. A loaded Stack has no depends_on cycle, so all its
// services are returned.
func (st *Stack) StartOrder() []string {
	var order []string
	done := map[string]bool{}
	var visit func(n string, seen map[string]bool)
	visit = func(n string, seen map[string]bool) {
		s, ok := st.Services[n]
		if !ok || done[n] || seen[n] {
			return
		}
		seen[n] = true
		deps := make([]string, 0, len(s.DependsOn))
		for d := range s.DependsOn {
			deps = append(deps, d)
		}
		sort.Strings(deps)
		for _, d := range deps {
			visit(d, seen)
		}
		done[n] = true
		order = append(order, n)
	}
	for _, n := range st.ServiceNames() {
		visit(n, map[string]bool{})
	}
	return order
}

// Network is a network of the stack (top-level `networks:`).
type Network struct {
	// Name is the network's name on the host: "<stack>_<key>" unless the
	// file sets `name:` or the network is external.
	Name       string            `json:"name"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	External   bool              `json:"external,omitempty"`
	Internal   bool              `json:"internal,omitempty"`
	EnableIPv6 bool              `json:"enable_ipv6,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	// Subnets are ipam.config entries; empty means the engine picks one.
	Subnets []Subnet `json:"subnets,omitempty"`
}

// Subnet is one ipam.config entry of a network.
type Subnet struct {
	Subnet  netip.Prefix `json:"subnet"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	IPRange netip.Prefix `json:"ip_range,omitzero"`
}

// Volume is a named volume of the stack (top-level `volumes:`).
type Volume struct {
	// Name is the volume's name on the host: "<stack>_<key>" unless the
	// file sets `name:` or the volume is external.
	Name       string            `json:"name"`
	Driver     string            `json:"driver,omitempty"`
	DriverOpts map[string]string `json:"driver_opts,omitempty"`
	External   bool              `json:"external,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
}

// FileObject is a top-level config or secret. Exactly one of File,
// Environment and Content is set, unless External.
type FileObject struct {
	Name string `json:"name"`
	// File is the absolute path of the file whose content it is.
	File string `json:"file,omitempty"`
	// Environment names the variable of the project environment whose
	// value is the content; Content holds that value (or inline
	// `content:`). A secret's Content is its value: a Stack encoded to
	// JSON is as sensitive as the environment it was loaded in.
	Environment string            `json:"environment,omitempty"`
	Content     string            `json:"content,omitempty"`
	External    bool              `json:"external,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
}

// AllProfiles returns every profile a service of the files names, enabled
// or not, sorted, as `docker compose config --profiles` lists them.
func (st *Stack) AllProfiles() []string {
	if st.project == nil {
		return nil
	}
	seen := map[string]bool{}
	for _, ss := range []types.Services{st.project.Services, st.project.DisabledServices} {
		for _, s := range ss {
			for _, p := range s.Profiles {
				seen[p] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// ImageName is the image the service runs: its image, or, for a service
// only built, "<stack>-<service>" as Docker Compose names it.
func (st *Stack) ImageName(service string) string {
	s := st.Services[service]
	if s == nil {
		return ""
	}
	if s.Image != "" {
		return s.Image
	}
	return st.Name + "-" + service
}
