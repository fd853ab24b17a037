package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/volume"
)

func newInspectCmd(g *globalOptions) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] CONTAINER...",
		Short: "Show containers in detail, as JSON shaped like docker inspect",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m, err := newManager(g)
			if err != nil {
				return err
			}
			var out []inspectView
			vols := volumeKinds(g)
			sbs := &sandboxes{g: g}
			err = eachContainer(m, args, func(_ string, c *runtime.Container) error {
				v := newInspectView(c, vols)
				v.NetworkSettings = newNetworkSettings(c, sbs.of(c))
				out = append(out, v)
				return nil
			})
			if perr := printInspect(cmd.OutOrStdout(), out, format); perr != nil {
				return perr
			}
			return err
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Go template applied to each container, e.g. '{{.State.Pid}}'")
	return cmd
}

// inspectView is `docker inspect`'s shape, for the fields berth has.
type inspectView struct {
	ID         string       `json:"Id"`
	Created    time.Time    `json:"Created"`
	Path       string       `json:"Path"`
	Args       []string     `json:"Args"`
	State      inspectState `json:"State"`
	Name       string       `json:"Name"`
	LogPath    string       `json:"LogPath"`
	HostConfig hostConfig   `json:"HostConfig"`
	Config     ctrConfig    `json:"Config"`
	Mounts     []mountView  `json:"Mounts"`
	// NetworkSettings is filled from the container's sandbox while it
	// runs; a container that does not run has no address or port.
	NetworkSettings networkSettings `json:"NetworkSettings"`
}

type networkSettings struct {
	SandboxID  string                 `json:"SandboxID"`
	SandboxKey string                 `json:"SandboxKey"`
	Ports      map[string][]portView  `json:"Ports"`
	Networks   map[string]netEndpoint `json:"Networks"`
	// The first network's address, as Docker's deprecated top-level
	// fields, which scripts still read.
	Gateway     string `json:"Gateway"`
	IPAddress   string `json:"IPAddress"`
	IPPrefixLen int    `json:"IPPrefixLen"`
	MacAddress  string `json:"MacAddress"`
}

type portView struct {
	HostIP   string `json:"HostIp"`
	HostPort string `json:"HostPort"`
}

type netEndpoint struct {
	Aliases     []string `json:"Aliases"`
	MacAddress  string   `json:"MacAddress"`
	NetworkID   string   `json:"NetworkID"`
	Gateway     string   `json:"Gateway"`
	IPAddress   string   `json:"IPAddress"`
	IPPrefixLen int      `json:"IPPrefixLen"`
	// DNSNames are every name the container answers to on the network:
	// its name, its aliases and its short id, as Docker lists them.
	DNSNames []string `json:"DNSNames"`
}

// newNetworkSettings shows c's networks: from its sandbox (sb) while it
// runs, as bare names otherwise.
func newNetworkSettings(c *runtime.Container, sb *sandboxView) networkSettings {
	ns := networkSettings{Ports: map[string][]portView{}, Networks: map[string]netEndpoint{}}
	if sb == nil {
		for _, n := range strings.Split(c.Config.Network, ",") {
			if n != "" {
				ns.Networks[n] = netEndpoint{}
			}
		}
		return ns
	}
	ns.SandboxID, ns.SandboxKey = sb.ID, sb.NetNS
	for i, e := range sb.Endpoints {
		ep := netEndpoint{
			Aliases: e.Aliases, MacAddress: e.MAC, NetworkID: e.NetworkID, Gateway: e.Gateway.String(),
			IPAddress: e.IP.String(), IPPrefixLen: e.Subnet.Bits(),
		}
		if len(e.Names) > 0 {
			ep.DNSNames = append(append([]string{e.Names[0]}, e.Aliases...), e.Names[1:]...)
		}
		ns.Networks[e.Network] = ep
		if i == 0 {
			ns.Gateway, ns.IPAddress, ns.IPPrefixLen, ns.MacAddress = ep.Gateway, ep.IPAddress, ep.IPPrefixLen, ep.MacAddress
		}
	}
	for _, b := range sb.ports() {
		key := fmt.Sprintf("%d/%s", b.ContainerPort, b.Protocol)
		ns.Ports[key] = append(ns.Ports[key], portView{HostIP: b.HostIP.String(), HostPort: fmt.Sprint(b.HostPort)})
	}
	return ns
}

type inspectState struct {
	Status     string `json:"Status"`
	Running    bool   `json:"Running"`
	Paused     bool   `json:"Paused"`
	Restarting bool   `json:"Restarting"`
	OOMKilled  bool   `json:"OOMKilled"`
	Dead       bool   `json:"Dead"`
	Pid        int    `json:"Pid"`
	ExitCode   int    `json:"ExitCode"`
	Error      string `json:"Error"`
	StartedAt  string `json:"StartedAt"`
	FinishedAt string `json:"FinishedAt"`
	// Health is there only for a running container whose health is
	// checked, as in docker inspect.
	Health *runtime.Health `json:"Health,omitempty"`
}

type hostConfig struct {
	Memory         int64             `json:"Memory"`
	MemorySwap     int64             `json:"MemorySwap"`
	NanoCpus       int64             `json:"NanoCpus"`
	CPUShares      uint64            `json:"CpuShares"`
	PidsLimit      int64             `json:"PidsLimit"`
	ReadonlyRootfs bool              `json:"ReadonlyRootfs"`
	AutoRemove     bool              `json:"AutoRemove"`
	NetworkMode    string            `json:"NetworkMode"`
	Binds          []string          `json:"Binds"`
	Tmpfs          map[string]string `json:"Tmpfs"`
}

type ctrConfig struct {
	Hostname    string            `json:"Hostname"`
	Domainname  string            `json:"Domainname"`
	User        string            `json:"User"`
	Tty         bool              `json:"Tty"`
	OpenStdin   bool              `json:"OpenStdin"`
	Env         []string          `json:"Env"`
	Cmd         []string          `json:"Cmd"`
	Image       string            `json:"Image"`
	WorkingDir  string            `json:"WorkingDir"`
	Labels      map[string]string `json:"Labels"`
	StopSignal  string            `json:"StopSignal,omitempty"`
	StopTimeout *int              `json:"StopTimeout,omitempty"`
	// Volumes are the destinations of anonymous volumes, as Docker lists
	// them (the image's VOLUME and -v /path).
	Volumes map[string]struct{} `json:"Volumes"`
}

type mountView struct {
	Type        string `json:"Type"`
	Name        string `json:"Name,omitempty"`
	Source      string `json:"Source"`
	Destination string `json:"Destination"`
	Driver      string `json:"Driver,omitempty"`
	RW          bool   `json:"RW"`
}

// networkMode is Docker's HostConfig.NetworkMode: the first network.
func networkMode(networks string) string {
	first, _, _ := strings.Cut(networks, ",")
	return first
}

// dockerTime prints times as Docker does, with the zero time for "never".
func dockerTime(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// volumeKind answers, for a bind mount's source, which volume it is and
// whether that volume is anonymous; ok is false for a host directory.
type volumeKind func(source string) (name string, anonymous, ok bool)

// volumeKinds reads the volume store only for containers that mount a
// volume, and only once.
func volumeKinds(g *globalOptions) volumeKind {
	var s *volume.Store
	return func(source string) (string, bool, bool) {
		name, ok := volume.NameOf(g.root, source)
		if !ok {
			return "", false, false
		}
		if s == nil {
			var err error
			if s, err = newVolumeStore(g); err != nil {
				return name, false, true
			}
		}
		v, err := s.Get(name)
		return name, err == nil && v.Anonymous, true
	}
}

func newInspectView(c *runtime.Container, vols volumeKind) inspectView {
	cfg := c.Config
	v := inspectView{
		ID: c.ID, Created: c.Created, Path: cfg.Args[0], Args: cfg.Args[1:],
		Name: "/" + c.Name(), LogPath: c.LogPath(),
		State: inspectState{
			Status: c.State.Status, Running: c.State.Running, Paused: c.State.Paused, OOMKilled: c.State.OOMKilled,
			Pid: c.State.Pid, ExitCode: c.State.ExitCode, Error: c.State.Error,
			StartedAt: dockerTime(c.State.StartedAt), FinishedAt: dockerTime(c.State.FinishedAt),
			Health: c.State.Health,
		},
		HostConfig: hostConfig{
			Memory: cfg.Resources.Memory, MemorySwap: cfg.Resources.MemorySwap,
			NanoCpus: cfg.Resources.NanoCPUs, CPUShares: cfg.Resources.CPUShares,
			PidsLimit: cfg.Resources.PidsLimit, ReadonlyRootfs: cfg.ReadOnly,
			AutoRemove: cfg.AutoRemove, NetworkMode: networkMode(cfg.Network),
		},
		Config: ctrConfig{
			Hostname: cfg.Hostname, Domainname: cfg.Domainname, User: cfg.User,
			Tty: cfg.TTY, OpenStdin: cfg.OpenStdin, Env: cfg.Env, Cmd: cfg.Args,
			Image: cfg.Image, WorkingDir: cfg.WorkingDir, Labels: cfg.Labels,
			StopSignal: cfg.StopSignal,
		},
		Mounts: []mountView{},
	}
	if cfg.StopTimeout > 0 {
		s := int(cfg.StopTimeout / time.Second)
		v.Config.StopTimeout = &s
	}
	for _, m := range cfg.Mounts {
		mv := mountView{Type: m.Type, Source: m.Source, Destination: m.Destination, RW: !m.ReadOnly}
		name, anonymous, isVolume := "", false, false
		if m.Type == "bind" {
			name, anonymous, isVolume = vols(m.Source)
		}
		if isVolume {
			mv.Type, mv.Name, mv.Driver = "volume", name, volume.Driver
		}
		v.Mounts = append(v.Mounts, mv)
		switch {
		case anonymous:
			if v.Config.Volumes == nil {
				v.Config.Volumes = map[string]struct{}{}
			}
			v.Config.Volumes[m.Destination] = struct{}{}
		case m.Type == "bind":
			// Docker's Binds name a volume by its name, a host path by itself.
			b := m.Source + ":" + m.Destination
			if isVolume {
				b = name + ":" + m.Destination
			}
			if m.ReadOnly {
				b += ":ro"
			}
			v.HostConfig.Binds = append(v.HostConfig.Binds, b)
		case m.Type == "tmpfs":
			if v.HostConfig.Tmpfs == nil {
				v.HostConfig.Tmpfs = map[string]string{}
			}
			v.HostConfig.Tmpfs[m.Destination] = strings.Join(m.Options, ",")
		}
	}
	return v
}

// printInspect prints views as a JSON array, or each through the Go
// template format, as docker inspect does.
func printInspect[V any](w io.Writer, views []V, format string) error {
	if format == "" {
		if views == nil {
			views = []V{}
		}
		b, err := json.MarshalIndent(views, "", "    ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(w, string(b))
		return err
	}
	tmpl, err := template.New("format").Funcs(template.FuncMap{
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			return string(b), err
		},
	}).Parse(format)
	if err != nil {
		return &exitError{code: 2, err: fmt.Errorf("--format: %w", err)}
	}
	for _, v := range views {
		var buf bytes.Buffer
		if err := tmpl.Execute(&buf, v); err != nil {
			// As docker's CLI does, try again on the JSON as a map, so
			// that the JSON's keys work too: {{.Id}} as well as {{.ID}}.
			raw, merr := jsonMap(v)
			buf.Reset()
			if merr != nil || tmpl.Execute(&buf, raw) != nil {
				return fmt.Errorf("--format: %w", err)
			}
		}
		buf.WriteByte('\n')
		if _, err := w.Write(buf.Bytes()); err != nil {
			return err
		}
	}
	return nil
}

// jsonMap is v as its JSON decodes into maps.
func jsonMap(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var m any
	err = json.Unmarshal(b, &m)
	return m, err
}
