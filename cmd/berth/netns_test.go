package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Each CLI test runs berth in a network namespace of its own (nsenter),
// so the bridges, nftables rules and DNS listeners berth makes are never
// the machine's: they go when the namespace does. Traffic stays in it:
// its loopback, and the containers' namespaces hanging off its bridges.

// inNetNS runs f on a fresh OS thread inside the namespace at path;
// sockets f opens stay there.
func inNetNS(path string, f func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return err
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// links lists the names of the links in the test's namespace.
func (c *cli) links() []string {
	c.t.Helper()
	ns, err := netns.GetFromPath(c.netns)
	if err != nil {
		c.t.Fatal(err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		c.t.Fatal(err)
	}
	defer h.Close()
	// Links come and go while containers are taken down: a dump the
	// kernel says was interrupted is asked for again.
	ls, err := h.LinkList()
	for i := 0; errors.Is(err, netlink.ErrDumpInterrupted) && i < 10; i++ {
		ls, err = h.LinkList()
	}
	if err != nil {
		c.t.Fatal(err)
	}
	var out []string
	for _, l := range ls {
		out = append(out, l.Attrs().Name)
	}
	return out
}

// berthRules counts the rules in berth's nftables table in the test's
// namespace; -1 when there is no table.
func (c *cli) berthRules() int {
	c.t.Helper()
	f, err := os.Open(c.netns)
	if err != nil {
		c.t.Fatal(err)
	}
	defer f.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(f.Fd())))
	if err != nil {
		c.t.Fatal(err)
	}
	tables, err := conn.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		c.t.Fatal(err)
	}
	for _, tb := range tables {
		if tb.Name != "berth" {
			continue
		}
		rules := 0
		chains, _ := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		for _, ch := range chains {
			if ch.Table.Name == "berth" {
				rs, _ := conn.GetRules(tb, ch)
				rules += len(rs)
			}
		}
		return rules
	}
	return -1
}

// sandboxLeft lists what container networks left: sandbox records,
// namespace files and veth host ends.
func (c *cli) sandboxLeft() []string {
	var left []string
	for _, dir := range []string{filepath.Join(c.root, "networks", "sandboxes"), filepath.Join(c.root, "run", "netns")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			left = append(left, filepath.Join(dir, e.Name()))
		}
	}
	for _, l := range c.links() {
		if strings.HasPrefix(l, "bth") {
			left = append(left, "link "+l)
		}
	}
	return left
}

// checkNetworkGone waits for the containers' networks to be taken down
// (a foreground run hands that to a background helper) and for the DNS
// helper to leave, and fails the test if either does not happen. A DNS
// helper that stays is ended, by its pid.
func (c *cli) checkNetworkGone() {
	c.t.Helper()
	var left []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if left = c.sandboxLeft(); len(left) == 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(left) > 0 {
		c.t.Errorf("container networks left after every container went: %v", left)
	}
	c.waitDNSGone()
}

// waitDNSGone waits for the DNS helper of c's root to exit, and kills it
// (by the pid it wrote, once sure it is that helper) if it does not.
func (c *cli) waitDNSGone() {
	c.t.Helper()
	pidFile := filepath.Join(c.root, "run", "dns.pid")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) && !c.dnsLockHeld() {
			return
		}
	}
	c.t.Errorf("berth's DNS helper still runs 10 s after the last container")
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if strings.Contains(string(cmdline), "__dns") && strings.Contains(string(cmdline), c.root) {
		_ = unix.Kill(pid, unix.SIGKILL)
	}
}

// dnsLockHeld reports whether some process serves DNS for c's root.
func (c *cli) dnsLockHeld() bool {
	f, err := os.OpenFile(filepath.Join(c.root, "networks", "dns.lock"), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == unix.EWOULDBLOCK
}

// httpGet fetches url from the test's namespace: its loopback is the
// "host's" as berth sees it.
func (c *cli) httpGet(url string) (string, error) {
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		var conn net.Conn
		err := inNetNS(c.netns, func() (err error) {
			conn, err = (&net.Dialer{Timeout: 5 * time.Second}).DialContext(ctx, network, addr)
			return err
		})
		return conn, err
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DialContext: dial, DisableKeepAlives: true}}
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return string(b), fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return string(b), err
}

// httpGetReady is httpGet of a server that may still be starting: `run
// -d` returns once the container runs, not once httpd listens. A refused
// connection is tried again for a few seconds.
func (c *cli) httpGetReady(url string) (string, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := c.httpGet(url)
		if err == nil || !errors.Is(err, syscall.ECONNREFUSED) || time.Now().After(deadline) {
			return got, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePort is a TCP port nothing holds on the test's namespace's loopback.
func (c *cli) freePort() int {
	c.t.Helper()
	var port int
	err := inNetNS(c.netns, func() error {
		l, err := net.Listen("tcp4", "127.0.0.1:0")
		if err != nil {
			return err
		}
		port = l.Addr().(*net.TCPAddr).Port
		return l.Close()
	})
	if err != nil {
		c.t.Fatal(err)
	}
	return port
}

// waitEngineGone waits for the engine of c's root, if one was started, to
// leave (it does once it has no stack), and ends it by its pid, once sure
// it is that engine, if it stays.
func (c *cli) waitEngineGone() {
	c.t.Helper()
	pidFile := filepath.Join(c.root, "run", "engine.pid")
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(pidFile); errors.Is(err, fs.ErrNotExist) {
			return
		}
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if pid > 0 && strings.Contains(string(cmdline), c.root) && strings.Contains(string(cmdline), "daemon") {
		c.t.Errorf("the engine (pid %d) did not leave after its last stack went", pid)
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
