package scheduler

import (
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/berthproject/berth/spec"
)

func TestContainerSpec(t *testing.T) {
	web := svc("web", "nginx", replicas(3), func(s *spec.Service) {
		s.Environment = map[string]string{"B": "2", "A": "1"}
		s.Networks = map[string]spec.ServiceNetwork{
			"back":    {Aliases: []string{"api"}},
			"default": {Priority: 10},
		}
		s.Ports = []spec.PortBinding{
			{HostIP: netip.MustParseAddr("127.0.0.1"), HostPort: 8000, HostPortEnd: 8002, ContainerPort: 80, Protocol: "tcp"},
			{HostPort: 53, ContainerPort: 53, Protocol: "udp"},
			{ContainerPort: 9000, Protocol: "tcp"},
		}
		s.Mounts = []spec.Mount{
			{Type: spec.MountVolume, Source: "data", Target: "/data"},
			{Type: spec.MountVolume, Target: "/cache"},
			{Type: spec.MountBind, Source: "/srv/www", Target: "/www", ReadOnly: true},
			{Type: spec.MountTmpfs, Target: "/tmp", TmpfsSize: 1 << 20, TmpfsMode: 0o1777},
		}
	})
	st := stack(web)
	st.Networks["back"] = &spec.Network{Name: "app_back"}
	st.Volumes = map[string]*spec.Volume{"data": {Name: "app_data"}}

	c, err := containerSpec(st, web, 2, "sha256:img", RestartState{Count: 3, Backoff: 1})
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "app-web-2" || !slices.Equal(c.Env, []string{"A=1", "B=2"}) {
		t.Errorf("name %q env %q", c.Name, c.Env)
	}
	// Highest priority first: it carries the default route.
	if len(c.Networks) != 2 || c.Networks[0].Network != "app_default" || c.Networks[1].Network != "app_back" {
		t.Fatalf("networks %+v", c.Networks)
	}
	if !slices.Equal(c.Networks[1].Aliases, []string{"web", "web-2", "api"}) {
		t.Errorf("aliases %q", c.Networks[1].Aliases)
	}
	// The second replica takes the second port of the range.
	if want := []string{"127.0.0.1:8001:80/tcp", "53:53/udp", "9000/tcp"}; !slices.Equal(c.Ports, want) {
		t.Errorf("ports %q, want %q", c.Ports, want)
	}
	wantMounts := []MountSpec{
		{Type: spec.MountVolume, Source: "app_data", Target: "/data"},
		{Type: spec.MountVolume, Target: "/cache"},
		{Type: spec.MountBind, Source: "/srv/www", Target: "/www", ReadOnly: true},
		{Type: spec.MountTmpfs, Target: "/tmp", TmpfsOptions: "size=1048576,mode=1777"},
	}
	if !slices.Equal(c.Mounts, wantMounts) {
		t.Errorf("mounts %+v", c.Mounts)
	}
	for k, v := range map[string]string{LabelProject: "app", LabelService: "web", LabelNumber: "2", LabelImage: "sha256:img",
		LabelRestarts: "3", LabelBackoff: "1", LabelConfigHash: web.ConfigHash(), LabelOneoff: "False"} {
		if c.Labels[k] != v {
			t.Errorf("label %s = %q, want %q", k, c.Labels[k], v)
		}
	}

	// A range too small for the replicas is an error that says so.
	if _, err := containerSpec(st, web, 4, "", RestartState{}); err == nil || !strings.Contains(err.Error(), "no host port left in 8000-8002") {
		t.Errorf("replica 4 of a 3-port range: %v", err)
	}
}
