package main

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// webRootfs adds a page for busybox httpd to c's rootfs: /www/index.html.
func (c *cli) webRootfs(page string) {
	c.t.Helper()
	if err := os.MkdirAll(filepath.Join(c.rootfs, "www"), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.rootfs, "www", "index.html"), []byte(page), 0o644); err != nil {
		c.t.Fatal(err)
	}
}

// web starts a detached busybox httpd serving c's /www on port 80, and
// waits until it listens: run -d returns once the container runs.
func (c *cli) web(name string, flags ...string) string {
	c.t.Helper()
	args := append(append([]string{"run", "-d", "--name", name}, flags...), "--rootfs", c.rootfs, "--", "httpd", "-f", "-p", "80", "-h", "/www")
	id := strings.TrimSpace(c.must(args...))
	addr := net.JoinHostPort(c.netSettings(name).IPAddress, "80")
	waitFor(c.t, name+" to listen on "+addr, func() bool {
		// The test's namespace is the containers' host: it reaches them
		// over their bridge.
		return inNetNS(c.netns, func() error {
			conn, err := net.DialTimeout("tcp4", addr, time.Second)
			if err == nil {
				conn.Close()
			}
			return err
		}) == nil
	})
	return id
}

// in runs a shell command in a new --rm container with flags and returns
// its output and exit code. (Debian's static busybox wget crashes with
// -T: timeouts are timeout(1)'s.)
func (c *cli) in(flags []string, script string) (string, int) {
	c.t.Helper()
	args := append(append([]string{"run", "--rm"}, flags...), "--rootfs", c.rootfs, "--", "sh", "-c", script)
	out, errs, code := c.run(args...)
	return out + errs, code
}

type endpointJSON struct {
	IPAddress, Gateway, MacAddress string
	IPPrefixLen                    int
	Aliases, DNSNames              []string
}

type netSettingsJSON struct {
	IPAddress string
	Ports     map[string][]struct{ HostIp, HostPort string }
	Networks  map[string]endpointJSON
}

// netSettings is what inspect says of ctr's networks.
func (c *cli) netSettings(ctr string) netSettingsJSON {
	c.t.Helper()
	var views []struct{ NetworkSettings netSettingsJSON }
	if err := json.Unmarshal([]byte(c.must("inspect", ctr)), &views); err != nil {
		c.t.Fatal(err)
	}
	return views[0].NetworkSettings
}

var nslookupAddr = regexp.MustCompile(`(?m)^Address(?: \d+)?:\s+(\d+\.\d+\.\d+\.\d+)$`)

// lookedUp are the addresses busybox nslookup printed for the name (the
// server's own "Address: IP:53" line has a port and is left out).
func lookedUp(out string) []string {
	var ips []string
	for _, m := range nslookupAddr.FindAllStringSubmatch(out, -1) {
		ips = append(ips, m[1])
	}
	slices.Sort(ips)
	return slices.Compact(ips)
}

func TestCLI_NetworkNamesAndAliases(t *testing.T) {
	c := newCLI(t)
	c.webRootfs("hello from web\n")
	c.must("network", "create", "app")
	c.web("web", "--network", "app", "--network-alias", "site")
	web := c.netSettings("web").Networks["app"]
	if web.IPAddress == "" || web.IPPrefixLen != 24 || !slices.Equal(web.Aliases, []string{"site"}) || len(web.DNSNames) != 3 {
		t.Fatalf("inspect web: %+v", web)
	}
	for _, url := range []string{"http://web/", "http://site/", "http://web.berth.internal/"} {
		if out, code := c.in([]string{"--network", "app"}, "timeout 5 wget -q -O - "+url); code != 0 || out != "hello from web\n" {
			t.Errorf("wget %s from another container: exit %d, %q", url, code, out)
		}
	}
	// The container's own files: berth's DNS server on the gateway, its
	// hostname on its own address, --add-host lines (host-gateway too).
	out, code := c.in([]string{"--network", "app", "-h", "client", "--add-host", "db.example:192.0.2.9", "--add-host", "host.berth.internal:host-gateway"},
		"cat /etc/resolv.conf /etc/hosts; ip -4 -o addr show eth0")
	if code != 0 || !strings.Contains(out, "nameserver "+web.Gateway+"\n") || !strings.Contains(out, "192.0.2.9\tdb.example\n") ||
		!strings.Contains(out, web.Gateway+"\thost.berth.internal\n") || !regexp.MustCompile(`(?m)^(\S+)\tclient$`).MatchString(out) {
		t.Errorf("a container's resolv.conf, hosts and address: exit %d\n%s", code, out)
	}
	// Names berth does not know, under its own domain, are NXDOMAIN.
	if out, code := c.in([]string{"--network", "app"}, "nslookup unknown.berth.internal"); code == 0 || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("nslookup unknown.berth.internal: exit %d, %q", code, out)
	}
	// Without --network a container goes to the default network, which
	// does not see app's containers.
	if out, code := c.in(nil, "ip -4 -o addr show eth0; nslookup web"); code == 0 || !strings.Contains(out, "inet 10.89.") || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("on the default network: exit %d, %q", code, out)
	}
}

func TestCLI_SharedAliasAllAnswer(t *testing.T) {
	c := newCLI(t)
	c.must("network", "create", "app")
	var want []string
	for i := range 3 {
		name := fmt.Sprintf("replica%d", i)
		c.must("run", "-d", "--name", name, "--network", "app", "--network-alias", "svc", "--rootfs", c.rootfs, "--", "sleep", "100")
		want = append(want, c.netSettings(name).Networks["app"].IPAddress)
	}
	slices.Sort(want)
	out, code := c.in([]string{"--network", "app"}, "nslookup -type=a svc")
	if got := lookedUp(out); code != 0 || !slices.Equal(got, want) {
		t.Errorf("nslookup svc: %v (exit %d), want %v\n%s", got, code, want, out)
	}
	// A stopped replica no longer answers.
	stopped := c.netSettings("replica0").Networks["app"].IPAddress
	c.must("stop", "-t", "1", "replica0")
	out, _ = c.in([]string{"--network", "app"}, "nslookup -type=a svc")
	if got := lookedUp(out); len(got) != 2 || slices.Contains(got, stopped) {
		t.Errorf("after replica0 (%s) stopped: %v\n%s", stopped, got, out)
	}
}

// fakeUpstream is a DNS server on the loopback of the test's namespace
// that knows one name, as the host's resolver would.
func (c *cli) fakeUpstream(name, ip string) string {
	c.t.Helper()
	var pc net.PacketConn
	if err := inNetNS(c.netns, func() (err error) { pc, err = net.ListenPacket("udp4", "127.0.0.1:0"); return err }); err != nil {
		c.t.Fatal(err)
	}
	var mu sync.Mutex
	var asked []string
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		q := r.Question[0]
		mu.Lock()
		asked = append(asked, q.Name)
		mu.Unlock()
		switch {
		case q.Name == dns.Fqdn(name) && q.Qtype == dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.ParseIP(ip)})
		case q.Name != dns.Fqdn(name):
			m.SetRcode(r, dns.RcodeNameError)
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	c.t.Cleanup(func() { _ = srv.Shutdown() })
	return pc.LocalAddr().String()
}

func TestCLI_DNSForwardsToUpstream(t *testing.T) {
	c := newCLI(t)
	upstream := c.fakeUpstream("example.test", "192.0.2.77")
	// The helper takes its upstreams from the run that starts it.
	c.env = []string{"BERTH_DNS_IDLE=200ms", "BERTH_DNS_UPSTREAMS=" + upstream}
	c.must("network", "create", "app")
	out, code := c.in([]string{"--network", "app"}, "nslookup -type=a example.test")
	if got := lookedUp(out); code != 0 || !slices.Equal(got, []string{"192.0.2.77"}) {
		t.Errorf("example.test through berth's DNS to the upstream: %v (exit %d)\n%s", got, code, out)
	}
	if out, code := c.in([]string{"--network", "app"}, "nslookup -type=a nosuch.example.test"); code == 0 || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("the upstream's NXDOMAIN: exit %d\n%s", code, out)
	}
	// An internal network forwards nothing.
	c.must("network", "create", "--internal", "closed")
	if out, code := c.in([]string{"--network", "closed"}, "nslookup -type=a example.test"); code == 0 || strings.Contains(out, "192.0.2.77") {
		t.Errorf("forwarded from an internal network: exit %d\n%s", code, out)
	}
}

func TestCLI_PublishedPorts(t *testing.T) {
	c := newCLI(t)
	c.webRootfs("published\n")
	port := c.freePort()
	c.web("web", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "-p", "8080")
	// From the host's loopback (the test's namespace is berth's host).
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || got != "published\n" {
		t.Errorf("GET through the published port: %q, %v", got, err)
	}
	lines := strings.Split(strings.TrimSpace(c.must("port", "web")), "\n")
	if len(lines) != 2 || lines[0] != fmt.Sprintf("80/tcp -> 127.0.0.1:%d", port) || !strings.HasPrefix(lines[1], "8080/tcp -> 0.0.0.0:") {
		t.Errorf("berth port web: %q", lines)
	}
	random := strings.TrimPrefix(lines[1], "8080/tcp -> ")
	if got := strings.TrimSpace(c.must("port", "web", "8080/tcp")); got != random {
		t.Errorf("berth port web 8080/tcp = %q, want %q", got, random)
	}
	if ps := c.must("ps"); !strings.Contains(ps, fmt.Sprintf("127.0.0.1:%d->80/tcp, %s->8080/tcp", port, random)) {
		t.Errorf("ps PORTS:\n%s", ps)
	}
	ns := c.netSettings("web")
	if b := ns.Ports["80/tcp"]; len(b) != 1 || b[0].HostIp != "127.0.0.1" || b[0].HostPort != fmt.Sprint(port) {
		t.Errorf("inspect NetworkSettings.Ports: %v", ns.Ports)
	}
	// The port is taken: a second container cannot have it.
	_, errs, code := c.run("run", "-d", "--name", "web2", "-p", fmt.Sprintf("127.0.0.1:%d:80", port), "--rootfs", c.rootfs, "--", "sleep", "100")
	if code != 125 || !strings.Contains(errs, "address already in use") || !strings.Contains(errs, "hint:") {
		t.Errorf("a second container on a taken port: exit %d, %q", code, errs)
	}
	if _, errs, code := c.run("run", "--rm", "--network", "none", "-p", "80", "--rootfs", c.rootfs, "--", "true"); code != 125 || !strings.Contains(errs, "--network none") {
		t.Errorf("-p with --network none: exit %d, %q", code, errs)
	}
	// A stopped container keeps no port, as in Docker.
	c.must("stop", "-t", "1", "web")
	if out := c.must("port", "web"); out != "" {
		t.Errorf("berth port of a stopped container: %q", out)
	}
	if _, err := c.httpGet(fmt.Sprintf("http://127.0.0.1:%d/", port)); err == nil {
		t.Error("the port still answers after its container stopped")
	}
	c.web("web3", "-p", fmt.Sprintf("127.0.0.1:%d:80", port))
	if got, err := c.httpGetReady(fmt.Sprintf("http://127.0.0.1:%d/", port)); err != nil || got != "published\n" {
		t.Errorf("the port again, for a new container: %q, %v", got, err)
	}
}

func TestCLI_NetworksIsolated(t *testing.T) {
	c := newCLI(t)
	c.webRootfs("only on a\n")
	c.must("network", "create", "a")
	c.must("network", "create", "b")
	c.web("web", "--network", "a")
	ip := c.netSettings("web").Networks["a"].IPAddress
	if out, code := c.in([]string{"--network", "b"}, "timeout 3 wget -q -O - http://"+ip+"/"); code == 0 || strings.Contains(out, "only on a") {
		t.Errorf("a container on b reached web on a by address: exit %d, %q", code, out)
	}
	if out, code := c.in([]string{"--network", "b"}, "nslookup web"); code == 0 || !strings.Contains(out, "NXDOMAIN") {
		t.Errorf("web resolved on b: exit %d, %q", code, out)
	}
	// A container on both reaches it, by name and by address.
	if out, code := c.in([]string{"--network", "b", "--network", "a"}, "timeout 5 wget -q -O - http://web/ && timeout 5 wget -q -O - http://"+ip+"/"); code != 0 || out != "only on a\nonly on a\n" {
		t.Errorf("from a container on b and a: exit %d, %q", code, out)
	}
	// --network none: loopback only; host: berth's own namespace.
	if out, code := c.in([]string{"--network", "none"}, "ls /sys/class/net"); code != 0 || out != "lo\n" {
		t.Errorf("--network none: exit %d, links %q", code, out)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(c.netns, &st); err != nil {
		t.Fatal(err)
	}
	if out, code := c.in([]string{"--network", "host"}, "readlink /proc/self/ns/net"); code != 0 || out != fmt.Sprintf("net:[%d]\n", st.Ino) {
		t.Errorf("--network host: exit %d, %q; want net:[%d]", code, out, st.Ino)
	}
}

func TestCLI_ConcurrentRunsGetDistinctAddresses(t *testing.T) {
	c := newCLI(t)
	c.must("network", "create", "app")
	const n = 8
	var wg sync.WaitGroup
	ids := make([]string, n)
	errs := make([]string, n)
	for i := range n {
		wg.Go(func() {
			// No --name: each run picks a generated name before its
			// network is set up, and another if a concurrent run took it.
			out, stderr, code := c.run("run", "-d", "--network", "app", "--rootfs", c.rootfs, "--", "sleep", "100")
			if code != 0 {
				errs[i] = fmt.Sprintf("exit %d: %s", code, stderr)
			}
			ids[i] = strings.TrimSpace(out)
		})
	}
	wg.Wait()
	ips, names := map[string]string{}, map[string]bool{}
	for i, id := range ids {
		if errs[i] != "" {
			t.Errorf("run %d: %s", i, errs[i])
			continue
		}
		ip := c.netSettings(id).Networks["app"].IPAddress
		if other, dup := ips[ip]; dup || ip == "" {
			t.Errorf("%s and %s both got address %q", id[:12], other, ip)
		}
		ips[ip] = id[:12]
		names[strings.TrimSpace(c.must("inspect", "-f", "{{.Name}}", id))] = true
	}
	if len(names) != len(ips) {
		t.Errorf("names %v for %d containers", names, len(ips))
	}
}

func TestCLI_NetworkTeardownLeavesNothing(t *testing.T) {
	c := newCLI(t)
	c.webRootfs("x\n")
	c.must("network", "create", "app")
	c.web("a", "--network", "app", "-p", "8081:80", "-p", "9000/udp")
	c.web("b", "--network", "app", "--network-alias", "svc")
	c.must("run", "-d", "--rm", "--network", "app", "--rootfs", c.rootfs, "--", "sleep", "0.2")
	if out, code := c.in([]string{"--network", "app"}, "timeout 5 wget -q -O - http://a/"); code != 0 {
		t.Errorf("wget a: exit %d, %q", code, out)
	}
	if c.berthRules() <= 0 {
		t.Fatal("no rules in berth's table while containers run")
	}
	c.must("rm", "-f", "a", "b")
	waitFor(t, "the -d --rm container to go", func() bool { return c.must("ps", "-a", "-q") == "" })
	c.must("network", "rm", "app")
	c.checkNetworkGone()
	for _, l := range c.links() {
		if strings.HasPrefix(l, "br-") || strings.HasPrefix(l, "bth") {
			t.Errorf("link %s left", l)
		}
	}
	if n := c.berthRules(); n != -1 {
		t.Errorf("berth's nftables table left, with %d rules", n)
	}
	if ls := c.must("network", "ls", "-q"); ls != "" {
		t.Errorf("networks left: %q", ls)
	}
}

func TestCLI_NetworkCommands(t *testing.T) {
	c := newCLI(t)
	id := strings.TrimSpace(c.must("network", "create", "--subnet", "10.123.4.0/24", "--gateway", "10.123.4.254", "-l", "team=a", "app"))
	if len(id) != 64 {
		t.Fatalf("network create printed %q", id)
	}
	c.must("network", "create", "--internal", "closed")
	if ls := c.must("network", "ls"); !strings.Contains(ls, id[:12]+"   app      bridge   local") || !strings.Contains(ls, "closed") {
		t.Errorf("network ls:\n%s", ls)
	}
	if q := strings.Fields(c.must("network", "ls", "-q")); len(q) != 2 {
		t.Errorf("network ls -q: %v", q)
	}
	var row map[string]string
	for _, l := range strings.Split(strings.TrimSpace(c.must("network", "ls", "--format", "json")), "\n") {
		var r map[string]string
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r["Name"] == "app" {
			row = r
		}
	}
	if row["ID"] != id[:12] || row["Driver"] != "bridge" || row["Labels"] != "team=a" || row["Internal"] != "false" {
		t.Errorf("network ls --format json: %v", row)
	}
	if got := c.must("network", "inspect", "-f", "{{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}} {{.Internal}}", "app", "closed"); !strings.HasPrefix(got, "10.123.4.0/24 10.123.4.254 false\n") || !strings.HasSuffix(got, " true\n") {
		t.Errorf("network inspect -f: %q", got)
	}
	cid := strings.TrimSpace(c.must("run", "-d", "--name", "user", "--network", "app", "--ip", "10.123.4.7", "--rootfs", c.rootfs, "--", "sleep", "100"))
	var views []struct {
		Name, Id, Driver string
		Containers       map[string]struct{ Name, IPv4Address, MacAddress string }
		Labels           map[string]string
	}
	if err := json.Unmarshal([]byte(c.must("network", "inspect", "app")), &views); err != nil {
		t.Fatal(err)
	}
	if v := views[0]; v.Id != id || v.Containers[cid].Name != "user" || v.Containers[cid].IPv4Address != "10.123.4.7/24" ||
		v.Containers[cid].MacAddress != "02:42:0a:7b:04:07" || v.Labels["team"] != "a" {
		t.Errorf("network inspect app: %+v", v)
	}

	errCases := []struct {
		name string
		args []string
		code int
		msg  string
		hint string
	}{
		{"in use", []string{"network", "rm", "app"}, 1, `network "app" is used by user`, "berth rm -f NAME"},
		{"default", []string{"network", "rm", "bridge"}, 1, "bridge is a pre-defined network", "without --network"},
		{"missing", []string{"network", "rm", "nope"}, 1, `network "nope": no such network`, "berth network ls"},
		{"run on a missing one", []string{"run", "--rm", "--network", "nope", "--rootfs", c.rootfs, "--", "true"}, 125, `network "nope"`, "berth network create"},
		{"exists", []string{"network", "create", "app"}, 1, "network already exists", "another name"},
		{"overlap", []string{"network", "create", "--subnet", "10.123.0.0/16", "wide"}, 1, "subnet overlaps", "another --subnet"},
		{"bad subnet", []string{"network", "create", "--subnet", "10.1.2.3", "x"}, 2, "not an address range", ""},
		{"address taken", []string{"run", "--rm", "--network", "app", "--ip", "10.123.4.7", "--rootfs", c.rootfs, "--", "true"}, 125, "address already in use", "another --ip"},
		{"bad name", []string{"network", "create", "no/slash"}, 1, "only [a-zA-Z0-9]", ""},
		{"none with others", []string{"run", "--rm", "--network", "none", "--network", "app", "--rootfs", c.rootfs, "--", "true"}, 125, "cannot be combined", ""},
	}
	for _, tc := range errCases {
		t.Run(tc.name, func(t *testing.T) {
			_, errs, code := c.run(tc.args...)
			if code != tc.code || !strings.Contains(errs, tc.msg) || !strings.Contains(errs, tc.hint) {
				t.Errorf("exit %d, stderr %q; want exit %d, %q and a hint with %q", code, errs, tc.code, tc.msg, tc.hint)
			}
		})
	}

	// prune takes closed, keeps app (in use); after rm, rm takes app.
	if out, _, code := c.runIn(strings.NewReader("n\n"), "network", "prune"); code == 0 || !strings.Contains(out, "Are you sure") {
		t.Errorf("prune without yes: exit %d, %q", code, out)
	}
	if out := c.must("network", "prune", "-f"); out != "Deleted Networks:\nclosed\n" {
		t.Errorf("network prune -f: %q", out)
	}
	c.must("rm", "-f", "user")
	if out := c.must("network", "rm", "app"); out != "app\n" {
		t.Errorf("network rm app: %q", out)
	}
	c.must("network", "rm", "-f", "app")
}

func TestCLI_DefaultNetwork(t *testing.T) {
	c := newCLI(t)
	out, code := c.in(nil, "ip -4 -o addr show eth0; ip route")
	if code != 0 || !strings.Contains(out, "inet 10.89.0.") || !strings.Contains(out, "default via 10.89.0.1") {
		t.Errorf("a container without --network: exit %d\n%s", code, out)
	}
	if ls := c.must("network", "ls"); !strings.Contains(ls, " bridge ") {
		t.Errorf("network ls after a run on the default network:\n%s", ls)
	}
	// -d and the container's name answer at once, on the default network too.
	c.must("run", "-d", "--name", "named", "--rootfs", c.rootfs, "--", "sleep", "100")
	if out, code := c.in(nil, "nslookup -type=a named"); code != 0 || len(lookedUp(out)) != 1 {
		t.Errorf("the default network's DNS: exit %d\n%s", code, out)
	}
	if mode := c.must("inspect", "-f", "{{.HostConfig.NetworkMode}}", "named"); mode != "bridge\n" {
		t.Errorf("NetworkMode %q", mode)
	}
}

// A static address is free for the next run as soon as the run that held
// it is over: the previous --rm container's network may still be going
// down in the background, and the next attach waits for it.
func TestCLI_StaticAddressForRunAfterRun(t *testing.T) {
	c := newCLI(t)
	c.must("network", "create", "--subnet", "10.97.4.0/24", "fixed")
	for i := range 6 {
		if out, code := c.in([]string{"--network", "fixed", "--ip", "10.97.4.250"}, "true"); code != 0 {
			t.Fatalf("run %d with the address the run before had: exit %d\n%s", i+1, code, out)
		}
	}
}
