package network

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	goruntime "runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// hostNS is the namespace bridges, rules, sysctls and the DNS server live
// in: the caller's own when path is empty.
type hostNS struct {
	path string
}

// do runs f in the host namespace. With a path set it runs on a thread of
// its own that joins the namespace and is thrown away afterwards (never
// unlocked), so no other goroutine ever runs there; sockets f opens stay
// in that namespace whatever thread uses them later.
func (h hostNS) do(f func() error) error {
	if h.path == "" {
		return f()
	}
	return inNetNS(h.path, f)
}

// handle is a netlink handle on the host namespace.
func (h hostNS) handle() (*netlink.Handle, error) {
	if h.path == "" {
		return netlink.NewHandle()
	}
	ns, err := netns.GetFromPath(h.path)
	if err != nil {
		return nil, fmt.Errorf("opening host network namespace %s: %w", h.path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// dial opens a connection from the host namespace.
func (h hostNS) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	var c net.Conn
	err := h.do(func() error {
		var err error
		c, err = (&net.Dialer{}).DialContext(ctx, network, addr)
		return err
	})
	return c, err
}

// InHost runs f in the host namespace (Options.HostNetNS, or the
// caller's own): sockets f opens stay there, whatever thread uses them
// later. The DNS server listens and forwards through it.
func (m *Manager) InHost(f func() error) error { return m.host.do(f) }

// DialHost opens a connection from the host namespace.
func (m *Manager) DialHost(ctx context.Context, network, addr string) (net.Conn, error) {
	return m.host.dial(ctx, network, addr)
}

// inNetNS runs f on a fresh OS thread inside the namespace at path.
func inNetNS(path string, f func() error) error {
	ns, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening network namespace: %w", err)
	}
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Never unlocked: Go ends the thread with this goroutine.
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("entering network namespace %s: %w", path, err)
			return
		}
		done <- f()
	}()
	return <-done
}

// createNetNS makes a new network namespace and binds it at path, so it
// lives on without a process in it until removeNetNS. An existing
// namespace at path is kept (Attach after a crash).
func createNetNS(path string) error {
	if isNetNS(path) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return fmt.Errorf("creating network namespace file: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		goruntime.LockOSThread()
		// Never unlocked, see inNetNS.
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("creating network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(self, path, "", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("binding network namespace at %s: %w", path, err)
			return
		}
		done <- nil
	}()
	if err := <-done; err != nil {
		os.Remove(path)
		return err
	}
	return nil
}

// removeNetNS unbinds the namespace at path and removes the file. The
// namespace itself ends when its last process does. A missing path is
// not an error.
func removeNetNS(path string) error {
	for isNetNS(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unbinding network namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing network namespace file: %w", err)
	}
	return nil
}

// isNetNS reports whether a namespace is bound at path.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// nsHandle opens a netlink handle inside the namespace at path.
func nsHandle(path string) (*netlink.Handle, error) {
	ns, err := netns.GetFromPath(path)
	if err != nil {
		return nil, fmt.Errorf("opening network namespace %s: %w", path, err)
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns)
}

// writeSysctl sets a /proc/sys value in the calling thread's namespace.
// /proc/thread-self/... would not help here: /proc/sys/net follows the
// namespace of the thread that opens the file.
func writeSysctl(name, value string) error {
	if err := os.WriteFile("/proc/sys/"+name, []byte(value), 0o644); err != nil {
		return fmt.Errorf("setting %s: %w", name, err)
	}
	return nil
}
