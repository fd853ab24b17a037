package spec

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The hashes of the sample services are pinned: a berth upgrade that
// changes one would recreate every user's containers.
func TestConfigHash_Golden(t *testing.T) {
	st, _ := load(t, Options{WorkingDir: "testdata/hash"})
	var b strings.Builder
	for _, name := range st.ServiceNames() {
		fmt.Fprintf(&b, "%s %s\n", name, st.Services[name].ConfigHash())
	}
	golden(t, "hashes.txt", []byte(b.String()))
}

// Key order, comments, quoting, flow or block style, short or long syntax,
// units, and the fields that need no new container leave the hash alone.
func TestConfigHash_SameStackWrittenDifferently(t *testing.T) {
	a, _ := load(t, Options{WorkingDir: "testdata/hash"})
	b, _ := load(t, Options{WorkingDir: "testdata/hash", ConfigFiles: []string{"reformatted.yaml"}})
	for _, name := range a.ServiceNames() {
		if ha, hb := a.Services[name].ConfigHash(), b.Services[name].ConfigHash(); ha != hb {
			t.Errorf("service %s: %s in compose.yaml, %s in reformatted.yaml", name, ha, hb)
		}
	}
}

func TestConfigHash_Changes(t *testing.T) {
	base := func() *Service {
		st, _ := load(t, Options{WorkingDir: "testdata/hash"})
		return st.Services["web"]
	}
	want := base().ConfigHash()
	tests := []struct {
		name    string
		change  func(s *Service)
		changes bool
	}{
		{"image", func(s *Service) { s.Image = "nginx:1.28" }, true},
		{"environment value", func(s *Service) { s.Environment["MODE"] = "debug" }, true},
		{"environment added", func(s *Service) { s.Environment["NEW"] = "" }, true},
		{"published port", func(s *Service) { s.Ports[0].HostPort = 9090 }, true},
		{"command", func(s *Service) { s.Command = append(s.Command, "-v") }, true},
		{"command cleared", func(s *Service) { s.Command = []string{} }, true},
		{"entrypoint set to nothing", func(s *Service) { s.Entrypoint = []string{} }, true},
		{"mount read-only", func(s *Service) { s.Mounts[0].ReadOnly = !s.Mounts[0].ReadOnly }, true},
		{"memory limit", func(s *Service) { s.Resources.Limits.Memory *= 2 }, true},
		{"network alias", func(s *Service) { s.Networks["front"] = ServiceNetwork{Aliases: []string{"w"}} }, true},
		{"stop grace period", func(s *Service) { s.StopGracePeriod = time.Second }, true},
		{"log rotation", func(s *Service) { s.Logging.MaxFile = 9 }, true},
		{"replicas", func(s *Service) { s.Replicas = 7 }, false},
		{"depends_on", func(s *Service) { s.DependsOn = nil }, false},
		{"build", func(s *Service) { s.Build = &Build{Context: "/src"} }, false},
		{"develop.watch", func(s *Service) { s.Develop = &Develop{Watch: []WatchRule{{Path: "/src", Action: WatchRebuild}}} }, false},
		{"update_config", func(s *Service) { s.UpdateConfig.Order = "start-first" }, false},
		{"restart", func(s *Service) { s.Restart = RestartPolicy{Name: RestartOnFailure, MaxRetries: 3} }, false},
		{"healthcheck", func(s *Service) { s.Healthcheck = nil }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := base()
			tt.change(s)
			if got := s.ConfigHash(); (got != want) != tt.changes {
				t.Errorf("hash changed: %v, want %v", got != want, tt.changes)
			}
		})
	}
}

// A hash is of the configuration, not of where the stack file is: only
// absolute paths written in it (or resolved from relative ones) count.
func TestConfigHash_SameInAnotherDirectory(t *testing.T) {
	files := map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    volumes: [data:/data]\nvolumes: {data: {}}\n"}
	a, _ := load(t, Options{WorkingDir: writeStack(t, files), ProjectName: "p"})
	b, _ := load(t, Options{WorkingDir: filepath.Join(writeStack(t, map[string]string{"sub/compose.yaml": files["compose.yaml"]}), "sub"), ProjectName: "p"})
	if a.Services["web"].ConfigHash() != b.Services["web"].ConfigHash() {
		t.Error("the hash depends on the project directory")
	}
}
