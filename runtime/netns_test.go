package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/internal/testutil"
)

// newTestNetNS is testutil.NetNS and the namespace's inode, which
// /proc/PID/ns/net names.
func newTestNetNS(t *testing.T) (path string, ino uint64) {
	t.Helper()
	path = testutil.NetNS(t)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return path, st.Ino
}

func TestRun_JoinsNetNS(t *testing.T) {
	m := testManager(t)
	path, ino := newTestNetNS(t)
	cfg := baseConfig(t, "sh", "-c", "readlink /proc/self/ns/net; ls /sys/class/net | tr '\\n' ' '")
	cfg.NetNS = path
	out, st := run(t, m, cfg)
	if st.ExitCode != 0 {
		t.Fatalf("exit %d: %s", st.ExitCode, out)
	}
	want := fmt.Sprintf("net:[%d]", ino)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || lines[0] != want {
		t.Fatalf("the workload should be in %s, got:\n%s", want, out)
	}
	// /sys is mounted from inside the joined namespace: it lists that
	// namespace's links (only lo here), not another one's.
	if strings.TrimSpace(lines[1]) != "lo" {
		t.Errorf("/sys/class/net inside = %q, want just lo", lines[1])
	}

	// The init itself (which forks exec'd processes too) is there.
	cfg = baseConfig(t, "sleep", "60")
	cfg.NetNS = path
	c := startDetached(t, m, cfg)
	if got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", c.State.Pid)); err != nil || got != want {
		t.Errorf("init's network namespace = %q (%v), want %s", got, err, want)
	}

	// Without NetNS the container still gets a namespace of its own.
	out, _ = run(t, m, baseConfig(t, "readlink", "/proc/self/ns/net"))
	if strings.TrimSpace(out) == want {
		t.Errorf("a container without NetNS joined the other one's namespace")
	}
}

func TestCreate_RefusesWhatIsNotANetNS(t *testing.T) {
	m := testManager(t)
	cfg := baseConfig(t, "true")
	cfg.NetNS = filepath.Join(t.TempDir(), "plain-file")
	if err := os.WriteFile(cfg.NetNS, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Create(cfg); err == nil || !strings.Contains(err.Error(), "not a namespace") {
		t.Fatalf("Create with a plain file as NetNS: %v, want an error saying it is not a namespace", err)
	}
}

func TestResolvConfAndHosts(t *testing.T) {
	host := filepath.Join(t.TempDir(), "resolv.conf")
	if err := os.WriteFile(host, []byte("nameserver 127.0.0.53\nnameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                  string
		servers, search, opts []string
		want                  string
	}{
		{"host copy without loopback", nil, nil, nil, "nameserver 192.0.2.53\nsearch corp.example\noptions edns0\n"},
		{"own nameserver keeps host search", []string{"10.89.0.1"}, nil, nil, "nameserver 10.89.0.1\nsearch corp.example\noptions edns0\n"},
		{"everything given", []string{"10.89.0.1"}, []string{"a.example", "b.example"}, []string{"ndots:2"},
			"nameserver 10.89.0.1\nsearch a.example b.example\noptions ndots:2\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := resolvConf(host, tc.servers, tc.search, tc.opts); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
	h := hostsFile([]string{"db:10.89.0.7", "web web.local=10.89.0.8", "v6:fd00::1"})
	for _, line := range []string{"10.89.0.7\tdb\n", "10.89.0.8\tweb web.local\n", "fd00::1\tv6\n"} {
		if !strings.Contains(h, line) {
			t.Errorf("hosts file lacks %q:\n%s", line, h)
		}
	}
}
