//go:build registry

package image

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/berthproject/berth/internal/testutil"
)

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRegistryConfig_Insecure(t *testing.T) {
	cfg, err := readRegistryConfig(writeConfig(t, `{
  "debug": true,
  "insecure-registries": ["registry.lan:5000", "Other.LAN", "http://plain.lan:80", "10.1.2.0/24", "[fd00::1]:5000", "fd01::/64"]
}`))
	if err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]bool{
		"registry.lan:5000": true,
		"registry.lan":      false, // host:port entries match exactly, as in Docker
		"registry.lan:5001": false,
		"other.lan":         true,
		"other.lan:5000":    false,
		"plain.lan:80":      true,
		"10.1.2.3:5000":     true, // CIDRs match any port
		"10.1.2.3":          true,
		"10.1.3.1:5000":     false,
		"[fd00::1]:5000":    true,
		"[fd01::7]:443":     true,
		"[fd02::7]:443":     false,
		"docker.io":         false,
		"127.0.0.1:5000":    true, // loopback always, as Docker's default 127.0.0.0/8
		"localhost:5000":    true,
		"[::1]:5000":        true,
	} {
		if got := cfg.insecure(context.Background(), host); got != want {
			t.Errorf("insecure(%q) = %v, want %v", host, got, want)
		}
	}
	// A name is looked up for the CIDRs, as Docker does.
	lo, err := readRegistryConfig(writeConfig(t, `{"insecure-registries": ["127.0.0.0/8"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !lo.inCIDRs(context.Background(), "localhost:5000") {
		t.Error("localhost:5000 is not in 127.0.0.0/8")
	}

	var none *registryConfig
	if none.insecure(context.Background(), "registry.lan:5000") || !none.insecure(context.Background(), "127.0.0.1:1") {
		t.Error("a nil config must list loopback only")
	}
	missing, err := readRegistryConfig(filepath.Join(t.TempDir(), "nope.json"))
	if err != nil || missing.insecure(context.Background(), "registry.lan:5000") {
		t.Errorf("a missing file is an empty config: %v", err)
	}
}

func TestRegistryConfig_Errors(t *testing.T) {
	for _, tc := range []struct {
		name, content, want string
	}{
		{"syntax", "{\n  \"insecure-registries\": [\"a:5000\",]\n}\n", ":2:36: invalid character ']'"},
		{"type", "{\n\n  \"insecure-registries\": \"a:5000\"\n}", ":3:33: json: cannot unmarshal string"},
		{"bad entry", `{"insecure-registries": ["ok:5000", "not a host"]}`, `: insecure-registries[1]: "not a host" is neither host[:port] nor a CIDR`},
		{"bad port", `{"insecure-registries": ["reg:99999"]}`, `insecure-registries[0]: "reg:99999" is neither`},
		{"scheme", `{"insecure-registries": ["ftp://reg"]}`, `insecure-registries[0]: "ftp://reg": give host[:port] or a CIDR, without a URL scheme`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := writeConfig(t, tc.content)
			_, err := readRegistryConfig(p)
			t.Log(err)
			var ce *ConfigError
			if !errors.As(err, &ce) || !errors.Is(err, ErrConfig) || !strings.HasPrefix(err.Error(), p) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one naming %s and saying %q", err, p, tc.want)
			}
		})
	}
	t.Run("unreadable", func(t *testing.T) {
		t.Setenv("BERTH_CONFIG", t.TempDir()) // a directory
		_, err := loadRegistryConfig()
		if !errors.Is(err, ErrConfig) {
			t.Errorf("a directory as config file: %v", err)
		}
		s := openStore(t)
		if _, err := s.Pull(context.Background(), "127.0.0.1:1/x:1", nil); !errors.Is(err, ErrConfig) {
			t.Errorf("Pull with a broken config file: %v", err)
		}
	})
}

// netnsEnv marks the run of TestInsecureRegistries inside its own network
// namespace.
const netnsEnv = "BERTH_IMAGE_TEST_NETNS"

// tlsTestAddr is an address of no real network (TEST-NET-1), given to the
// namespace's loopback device: a registry there is not loopback by address.
const tlsTestAddr = "192.0.2.10"

// TestInsecureRegistries pulls from registries on an address that is not
// loopback, one behind TLS with a certificate nobody signed, one in plain
// HTTP: refused with a hint unless berth's config lists them in
// insecure-registries. It runs itself again in a new network namespace,
// so that it can give itself such an address without touching the host's.
func TestInsecureRegistries(t *testing.T) {
	testutil.RequireRoot(t)
	if os.Getenv(netnsEnv) == "" {
		self, err := os.Executable()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(self, "-test.run=^TestInsecureRegistries$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), netnsEnv+"=1")
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
		out, err := cmd.CombinedOutput()
		t.Logf("in a new network namespace:\n%s", out)
		if err != nil {
			t.Fatalf("in a new network namespace: %v", err)
		}
		if !bytes.Contains(out, []byte("--- PASS: TestInsecureRegistries")) {
			t.Fatal("the test did not run in the network namespace")
		}
		return
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", tlsTestAddr + "/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v: %s (needs iproute2)", strings.Join(args, " "), err, out)
		}
	}
	reg := startRegistry(t)
	ctx := context.Background()
	s := openStore(t)
	src := reg.host + "/test/tls:1"
	local, err := s.Import(ctx, bytes.NewReader(tarOf(t, file("etc/tls", "yes\n"))), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Push(ctx, src, nil); err != nil {
		t.Fatal(err)
	}
	tlsHost := serveProxy(t, reg.host, true)
	plainHost := serveProxy(t, reg.host, false)

	pull := func(host string) error {
		img, err := openStore(t).Pull(ctx, host+"/test/tls:1", nil)
		if err == nil && img.Digest != local.Digest {
			t.Errorf("pulled %s from %s, want %s", img.Digest, host, local.Digest)
		}
		return err
	}
	refused := func(host string, err error, cfgPath string) {
		t.Helper()
		t.Logf("%s: %v", host, err)
		if !errors.Is(err, ErrTLS) || !strings.Contains(err.Error(), `add "`+host+`" to "insecure-registries" in `+cfgPath) {
			t.Errorf("from %s: %v, want ErrTLS with a hint to list it in %s", host, err, cfgPath)
		}
	}

	t.Run("not listed", func(t *testing.T) {
		p := filepath.Join(t.TempDir(), "none.json")
		t.Setenv("BERTH_CONFIG", p)
		refused(tlsHost, pull(tlsHost), p)
		refused(plainHost, pull(plainHost), p)
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		refused(tlsHost, Login(ctx, tlsHost, "u", "p"), p)
	})
	t.Run("listed by host and port", func(t *testing.T) {
		p := writeConfig(t, `{"insecure-registries": ["`+tlsHost+`"]}`)
		t.Setenv("BERTH_CONFIG", p)
		if err := pull(tlsHost); err != nil {
			t.Errorf("from %s: %v", tlsHost, err)
		}
		refused(plainHost, pull(plainHost), p)
		pushed := tlsHost + "/test/tls-pushed:1"
		if err := s.Tag(src, pushed); err != nil {
			t.Fatal(err)
		}
		if err := s.Push(ctx, pushed, nil); err != nil {
			t.Errorf("push to %s: %v", tlsHost, err)
		}
		t.Setenv("DOCKER_CONFIG", t.TempDir())
		if err := Login(ctx, tlsHost, "u", "p"); err != nil {
			t.Errorf("login to %s: %v", tlsHost, err)
		}
	})
	t.Run("listed by CIDR", func(t *testing.T) {
		t.Setenv("BERTH_CONFIG", writeConfig(t, `{"insecure-registries": ["192.0.2.0/24"]}`))
		for _, host := range []string{tlsHost, plainHost} {
			if err := pull(host); err != nil {
				t.Errorf("from %s: %v", host, err)
			}
		}
	})
}

// serveProxy serves the registry at target on tlsTestAddr, in TLS with
// httptest's self-signed certificate or in plain HTTP, and returns its
// host:port.
func serveProxy(t *testing.T, target string, withTLS bool) string {
	t.Helper()
	u := &url.URL{Scheme: "http", Host: target}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Host = r.In.Host // the registry writes upload locations for it
		r.SetXForwarded()
	}}
	srv := httptest.NewUnstartedServer(proxy)
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point
	l, err := net.Listen("tcp", tlsTestAddr+":0")
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener.Close()
	srv.Listener = l
	if withTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return l.Addr().String()
}

// The transport speaks plain HTTP only to insecure registries and checks
// certificates of all others.
func TestRegistryTransport(t *testing.T) {
	cfg, err := readRegistryConfig(writeConfig(t, `{"insecure-registries": ["registry.lan:5000"]}`))
	if err != nil {
		t.Fatal(err)
	}
	var seen []string
	rt := newRegistryTransport(cfg).(*registryTransport)
	record := func(name string) http.RoundTripper {
		return roundTripFunc(func(req *http.Request) (*http.Response, error) {
			seen = append(seen, name+" "+req.URL.String())
			return &http.Response{StatusCode: 200, Body: http.NoBody, Request: req}, nil
		})
	}
	if tr, ok := rt.unverified.(*http.Transport); !ok || !tr.TLSClientConfig.InsecureSkipVerify {
		t.Fatal("the transport for insecure registries checks certificates")
	}
	if tr, ok := rt.verified.(*http.Transport); !ok || (tr.TLSClientConfig != nil && tr.TLSClientConfig.InsecureSkipVerify) {
		t.Fatal("the transport for other registries skips certificate checks")
	}
	rt.verified, rt.unverified = record("verified"), record("unverified")
	for _, u := range []string{
		"http://registry.lan:5000/v2/", "https://registry.lan:5000/v2/",
		"http://10.0.0.1:5000/v2/", "https://registry.lan/v2/",
		"http://127.0.0.1:5000/v2/",
	} {
		req, _ := http.NewRequest(http.MethodGet, u, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{
		"unverified http://registry.lan:5000/v2/", "unverified https://registry.lan:5000/v2/",
		"verified https://10.0.0.1:5000/v2/", "verified https://registry.lan/v2/",
		"unverified http://127.0.0.1:5000/v2/",
	}
	if strings.Join(seen, "\n") != strings.Join(want, "\n") {
		t.Errorf("requests went\n%s\nwant\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
