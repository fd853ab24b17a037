package testutil

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

const registryBin = "/usr/bin/docker-registry"

// Registry is a docker-registry process on 127.0.0.1 with its own storage
// directory, for tests of pull and push.
type Registry struct {
	Host    string // 127.0.0.1:PORT
	Storage string // its filesystem rootdirectory
}

// StartRegistry starts Debian's docker-registry on a free port, installing
// the package when it is missing, and stops it when t ends.
func StartRegistry(t *testing.T) *Registry {
	return startRegistry(t, "")
}

// StartRegistryWithAuth starts a registry that wants user and password
// (htpasswd, basic auth).
func StartRegistryWithAuth(t *testing.T, user, password string) *Registry {
	t.Helper()
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "htpasswd")
	if err := os.WriteFile(file, []byte(user+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return startRegistry(t, fmt.Sprintf("auth:\n  htpasswd:\n    realm: berth-test\n    path: %s\n", file))
}

// StartRegistryWithConfig starts a registry whose configuration file has
// extraConfig (YAML, top-level keys) appended, e.g. a validation section.
func StartRegistryWithConfig(t *testing.T, extraConfig string) *Registry {
	return startRegistry(t, extraConfig)
}

func startRegistry(t *testing.T, extraConfig string) *Registry {
	t.Helper()
	installRegistry(t)
	dir := t.TempDir()
	reg := &Registry{Storage: filepath.Join(dir, "storage")}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	reg.Host = l.Addr().String()
	l.Close() // a small race with other listeners; the wait below says if we lost it
	cfg := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
  delete:
    enabled: true
http:
  addr: %s
`, reg.Storage, reg.Host) + extraConfig
	cfgPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(registryBin, "serve", cfgPath)
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", registryBin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-exited
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get("http://" + reg.Host + "/v2/")
		if err == nil {
			resp.Body.Close()
			// 401: up, and asking for the credentials it was set up with.
			if resp.StatusCode == http.StatusOK || (extraConfig != "" && resp.StatusCode == http.StatusUnauthorized) {
				return reg
			}
		}
		select {
		case err := <-exited:
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry exited: %v\n%s", err, b)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("docker-registry at %s did not answer GET /v2/ in 15s: %v\n%s", reg.Host, err, b)
		}
	}
}

// installRegistry installs the docker-registry package when its binary is
// missing. That needs root; a normal user is told what to run, and under
// CI=true the test fails rather than skips.
func installRegistry(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(registryBin); err == nil {
		return
	}
	if os.Geteuid() != 0 {
		msg := "needs " + registryBin + "; install it: sudo apt-get install docker-registry"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg + " (CI=true forbids skipping)")
		}
		t.Skip(msg)
	}
	install := func() error {
		cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "docker-registry")
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, lastLines(string(out), 5))
		}
		return nil
	}
	if err := install(); err != nil {
		if out, err := exec.Command("apt-get", "update").CombinedOutput(); err != nil {
			t.Fatalf("apt-get update: %v: %s", err, lastLines(string(out), 5))
		}
		if err := install(); err != nil {
			t.Fatalf("installing docker-registry: %v", err)
		}
	}
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// blobFile is where the registry keeps the blob with that hex digest.
