package network

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
)

// The second process of TestAttach_ConcurrentIPAM: the test binary run
// again with these variables set attaches sandboxes and exits.
const (
	envChild   = "BERTH_NETWORK_TEST_CHILD" // root dir
	envRun     = "BERTH_NETWORK_TEST_RUN"
	envHost    = "BERTH_NETWORK_TEST_HOST"
	envNetwork = "BERTH_NETWORK_TEST_NETWORK"
	childCount = 8
)

func TestMain(m *testing.M) {
	if root := os.Getenv(envChild); root != "" {
		os.Exit(childAttach(root))
	}
	os.Exit(m.Run())
}

func childAttach(root string) int {
	m, err := OpenWith(root, os.Getenv(envRun), Options{HostNetNS: os.Getenv(envHost)})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for i := range childCount {
		id := fmt.Sprintf("child-%d", i)
		if _, err := m.Attach(context.Background(), id, []AttachRequest{{Network: os.Getenv(envNetwork)}}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
	}
	return 0
}

func TestAttach_ConcurrentIPAM(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "busy", Subnet: netip.MustParsePrefix("10.66.0.0/27")})
	root := filepath.Dir(m.dir)
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), envChild+"="+root, envRun+"="+filepath.Dir(m.netnsDir),
		envHost+"="+m.host.path, envNetwork+"=busy")
	var out strings.Builder
	child.Stdout, child.Stderr = &out, &out
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2 {
				id := fmt.Sprintf("g%d-%d", g, i)
				if _, err := m.Attach(context.Background(), id, []AttachRequest{{Network: "busy"}}); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	childErr := child.Wait()
	close(errs)
	sbs, _ := m.readSandboxes()
	t.Cleanup(func() {
		for _, s := range sbs {
			if err := m.Detach(s.ID); err != nil {
				t.Errorf("detaching %s: %v", s.ID, err)
			}
		}
	})
	if childErr != nil {
		t.Fatalf("second process: %v: %s", childErr, out.String())
	}
	for err := range errs {
		t.Error(err)
	}
	seen := map[netip.Addr]string{}
	for _, s := range sbs {
		ip := s.Endpoints[0].IP
		if other, dup := seen[ip]; dup {
			t.Errorf("%s handed out twice: %s and %s", ip, other, s.ID)
		}
		seen[ip] = s.ID
	}
	if len(sbs) != 16+childCount {
		t.Errorf("%d sandboxes attached, want %d", len(sbs), 16+childCount)
	}
	// And the kernel agrees: every host end exists, on the bridge.
	h, _ := m.host.handle()
	defer h.Close()
	for _, s := range sbs {
		if _, err := h.LinkByName(s.Endpoints[0].HostVeth); err != nil {
			t.Errorf("%s: %v", s.ID, err)
		}
	}
}

// deadOwner is a process that has ended.
func deadOwner(t *testing.T) owner {
	t.Helper()
	c := exec.Command("/bin/true")
	if err := c.Run(); err != nil {
		t.Fatal(err)
	}
	return owner{Pid: c.Process.Pid, Start: 1}
}

func TestAttach_CrashHalfWayIsCleanedUp(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	// A process reserved an address and made the namespace and the veth
	// pair, then died before it wrote "attached".
	rec, _, err := m.reserve("crashed", []AttachRequest{{Network: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.plumb(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	rec.Owner = deadOwner(t)
	if err := m.writeSandbox(&rec); err != nil {
		t.Fatal(err)
	}
	// The next Attach, of anyone, finishes the dead one's job first, and
	// its address is free again.
	sb := attach(t, m, "next", AttachRequest{Network: "app"})
	if sb.Endpoints[0].IP != rec.Endpoints[0].IP {
		t.Errorf("got %s, want the crashed attach's %s back", sb.Endpoints[0].IP, rec.Endpoints[0].IP)
	}
	h, _ := m.host.handle()
	defer h.Close()
	if _, err := h.LinkByName(rec.Endpoints[0].HostVeth); err == nil {
		t.Errorf("veth %s of the crashed attach is still there", rec.Endpoints[0].HostVeth)
	}
	if _, err := os.Stat(rec.NetNS); err == nil {
		t.Errorf("namespace %s of the crashed attach is still there", rec.NetNS)
	}

	// A live attach of the same id by someone else is left alone.
	busy, _, err := m.reserve("busy", []AttachRequest{{Network: "app"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Attach(context.Background(), "busy", []AttachRequest{{Network: "app"}}); err == nil {
		t.Error("attaching a sandbox another process is attaching succeeded")
	}
	if err := m.undo(busy); err != nil {
		t.Fatal(err)
	}
}

func TestCleanup_StraysAndGoneContainers(t *testing.T) {
	m := testManager(t)
	createNetwork(t, m, NetworkConfig{Name: "app"})
	keep := attach(t, m, "keep", AttachRequest{Network: "app"})
	if _, err := m.Attach(context.Background(), "gone", []AttachRequest{{Network: "app"}}); err != nil {
		t.Fatal(err)
	}
	// Strays: a link of berth's and a namespace file no record names.
	h, _ := m.host.handle()
	defer h.Close()
	stray := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "bth00stray000"}}
	if err := h.LinkAdd(stray); err != nil {
		t.Fatal(err)
	}
	if err := h.LinkSetAlias(stray, linkAlias); err != nil { // not taken at creation
		t.Fatal(err)
	}
	foreign := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "bthforeign"}}
	if err := h.LinkAdd(foreign); err != nil {
		t.Fatal(err)
	}
	defer deleteLink(h, "bthforeign")
	if err := createNetNS(filepath.Join(m.netnsDir, "orphan")); err != nil {
		t.Fatal(err)
	}
	if err := m.Cleanup(func(id string) bool { return id == "keep" }); err != nil {
		t.Fatal(err)
	}
	if _, err := h.LinkByName("bth00stray000"); err == nil {
		t.Error("the stray link is still there")
	}
	if _, err := h.LinkByName("bthforeign"); err != nil {
		t.Error("Cleanup deleted a link that is not berth's")
	}
	if _, err := os.Stat(filepath.Join(m.netnsDir, "orphan")); err == nil {
		t.Error("the stray namespace file is still there")
	}
	if sb, _ := m.Inspect("gone"); sb != nil {
		t.Error("the sandbox of a gone container is still attached")
	}
	if sb, _ := m.Inspect("keep"); sb == nil || sb.Endpoints[0].IP != keep.Endpoints[0].IP {
		t.Errorf("the kept sandbox: %+v", sb)
	}
	if !isNetNS(keep.NetNS) {
		t.Error("the kept sandbox lost its namespace")
	}
}

func TestEnsureDefault(t *testing.T) {
	m := testManager(t)
	n, err := m.EnsureDefault()
	if err != nil {
		t.Fatal(err)
	}
	again, err := m.EnsureDefault()
	if err != nil || again.ID != n.ID || n.Name != DefaultNetwork {
		t.Errorf("EnsureDefault twice: %+v then %+v (%v)", n, again, err)
	}
	// Removing it takes its bridge, and the table once no network is left.
	if err := m.Remove(DefaultNetwork); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Get(DefaultNetwork); err == nil {
		t.Error("the default network is still there")
	}
}

// A temporary is removed once its writer is gone, and only then: killed
// and not yet reaped by its parent (as the engine, killed mid-write, can
// stay for seconds) counts as gone.
func TestRemoveDeadTemps(t *testing.T) {
	zombie, zombieStart := killedChild(t)
	me := self()
	dead := deadOwner(t)
	for _, tc := range []struct {
		name string
		file string
		gone bool
	}{
		{"this process's", filepath.Base(tempName("a.json")), false},
		{"a killed writer not reaped yet", fmt.Sprintf("a.json.tmp-%d-%d-1", zombie, zombieStart), true},
		{"an ended writer", fmt.Sprintf("a.json.tmp-%d-%d-1", dead.Pid, dead.Start), true},
		{"a writer whose pid runs another process", fmt.Sprintf("a.json.tmp-%d-%d-1", me.Pid, me.Start+1), true},
		{"pid only, running", fmt.Sprintf("a.json.tmp-%d", me.Pid), false},
		{"pid only, killed and not reaped yet", fmt.Sprintf("a.json.tmp-%d", zombie), true},
		{"a network's record with .tmp- in its name", "a.tmp-1.json", false},
		{"a temporary of that record's", fmt.Sprintf("a.tmp-1.json.tmp-%d-%d-1", dead.Pid, dead.Start), true},
		{"not a number", "a.json.tmp-x-1-1", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, tc.file)
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			removeDeadTemps(dir)
			_, err := os.Stat(path)
			if gone := err != nil; gone != tc.gone {
				t.Errorf("%s: removed %v, want %v", tc.file, gone, tc.gone)
			}
		})
	}
}

// Two writes of one record, by goroutines of one process, never share a
// temporary.
func TestTempName_UniquePerWrite(t *testing.T) {
	a, b := tempName("a.json"), tempName("a.json")
	if a == b {
		t.Errorf("two writes share the temporary %s", a)
	}
}

// killedChild starts a process, kills it and leaves it unreaped (a
// zombie) until the test ends; it returns its pid and start time.
func killedChild(t *testing.T) (pid int, start uint64) {
	t.Helper()
	c := exec.Command("/bin/sleep", "60")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	pid = c.Process.Pid
	start, err := procStart(pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return pid, start
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d is no zombie 5 s after SIGKILL: %s", pid, b)
		}
	}
}
