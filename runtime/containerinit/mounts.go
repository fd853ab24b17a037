package containerinit

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	securejoin "github.com/cyphar/filepath-securejoin"
	"golang.org/x/sys/unix"
)

// maskedPaths are hidden from the container (a bind of /dev/null over
// files, an empty read-only tmpfs over directories), as Docker does.
var maskedPaths = []string{
	"/proc/asound", "/proc/acpi", "/proc/interrupts", "/proc/kcore",
	"/proc/keys", "/proc/latency_stats", "/proc/timer_list",
	"/proc/timer_stats", "/proc/sched_debug", "/proc/scsi",
	"/sys/firmware", "/sys/devices/virtual/powercap",
}

// readonlyPaths stay visible but cannot be written, as Docker does.
var readonlyPaths = []string{
	"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
}

// prepareRootfs builds the container's filesystem view and pivots into it.
//
// Preconditions: in the container's fresh mount namespace, before any
// process of the container runs.
func prepareRootfs(b *Bootstrap) error {
	c := &b.Spec
	root := c.Rootfs
	// Nothing mounted from here on may propagate back to the host.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("making mounts private: %w", err)
	}
	if len(c.Lowers) > 0 {
		root = filepath.Join(b.StateDir, "rootfs")
		if err := mountOverlay(root, c.Lowers, b.StateDir); err != nil {
			return err
		}
	} else if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		// pivot_root needs the new root to be a mount point.
		return fmt.Errorf("bind-mounting rootfs %s: %w", root, err)
	}
	if err := mountSystem(root); err != nil {
		return err
	}
	if err := mountEtcFiles(root, b.StateDir); err != nil {
		return err
	}
	for _, m := range c.Mounts {
		if err := mountUser(root, m); err != nil {
			return err
		}
	}
	if err := maskPaths(root); err != nil {
		return err
	}
	// Read while the host's mount table is still in view; mounted later,
	// from inside the cgroup namespace (see forkWorkload).
	cgroupMounts = hostCgroupMounts()
	if err := pivotRoot(root); err != nil {
		return err
	}
	if c.ReadOnly {
		if err := remountReadOnly("/"); err != nil {
			return fmt.Errorf("making the root filesystem read-only: %w", err)
		}
	}
	return nil
}

// mountSystem mounts /proc, /sys and /dev with its device nodes.
func mountSystem(root string) error {
	const nsd = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
	mounts := []struct {
		source, target, fstype string
		flags                  uintptr
		data                   string
	}{
		{"proc", "/proc", "proc", nsd, ""},
		{"sysfs", "/sys", "sysfs", nsd | unix.MS_RDONLY, ""},
		{"tmpfs", "/dev", "tmpfs", unix.MS_NOSUID | unix.MS_STRICTATIME, "mode=755,size=65536k"},
		{"devpts", "/dev/pts", "devpts", unix.MS_NOSUID | unix.MS_NOEXEC, "newinstance,ptmxmode=0666,mode=0620,gid=5"},
		{"shm", "/dev/shm", "tmpfs", nsd, "mode=1777,size=65536k"},
		{"mqueue", "/dev/mqueue", "mqueue", nsd, ""},
	}
	for _, m := range mounts {
		target, err := mountTarget(root, m.target, true)
		if err != nil {
			return err
		}
		if err := unix.Mount(m.source, target, m.fstype, m.flags, m.data); err != nil {
			return fmt.Errorf("mounting %s on %s: %w", m.fstype, m.target, err)
		}
		if m.target == "/dev" {
			if err := populateDev(target); err != nil {
				return err
			}
		}
	}
	return nil
}

// populateDev creates the device nodes and links every container gets.
func populateDev(dev string) error {
	nodes := []struct {
		name         string
		major, minor uint32
	}{
		{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7},
		{"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
	}
	for _, n := range nodes {
		p := filepath.Join(dev, n.name)
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", n.name, err)
		}
		// mknod honours the umask; the nodes must be world-usable.
		if err := unix.Chmod(p, 0o666); err != nil {
			return fmt.Errorf("chmod /dev/%s: %w", n.name, err)
		}
	}
	links := [][2]string{
		{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"},
		{"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"},
		{"pts/ptmx", "ptmx"}, {"/proc/kcore", "core"},
	}
	for _, l := range links {
		if err := os.Symlink(l[0], filepath.Join(dev, l[1])); err != nil {
			return fmt.Errorf("creating /dev/%s: %w", l[1], err)
		}
	}
	for _, d := range []string{"pts", "shm", "mqueue"} {
		if err := os.Mkdir(filepath.Join(dev, d), 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("creating /dev/%s: %w", d, err)
		}
	}
	return nil
}

// mountEtcFiles binds the hostname, hosts and resolv.conf files berth
// wrote into the container's directory over the rootfs's own, as Docker
// does, so the image's files stay untouched.
func mountEtcFiles(root, stateDir string) error {
	for _, name := range []string{"hostname", "hosts", "resolv.conf"} {
		src := filepath.Join(stateDir, name)
		target, err := mountTarget(root, "/etc/"+name, false)
		if err != nil {
			return err
		}
		if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind-mounting /etc/%s: %w", name, err)
		}
	}
	return nil
}

// mountUser mounts a volume or tmpfs the user asked for.
func mountUser(root string, m Mount) error {
	switch m.Type {
	case "bind":
		st, err := os.Stat(m.Source)
		if err != nil {
			return fmt.Errorf("bind source %s: %w", m.Source, err)
		}
		target, err := mountTarget(root, m.Destination, st.IsDir())
		if err != nil {
			return err
		}
		if err := unix.Mount(m.Source, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind-mounting %s on %s: %w", m.Source, m.Destination, err)
		}
		if m.ReadOnly {
			if err := remountReadOnly(target); err != nil {
				return fmt.Errorf("making %s read-only: %w", m.Destination, err)
			}
		}
		return nil
	case "tmpfs":
		target, err := mountTarget(root, m.Destination, true)
		if err != nil {
			return err
		}
		flags, data := tmpfsOptions(m.Options)
		if m.ReadOnly {
			flags |= unix.MS_RDONLY
		}
		if err := unix.Mount("tmpfs", target, "tmpfs", flags, data); err != nil {
			return fmt.Errorf("mounting tmpfs on %s (%s): %w", m.Destination, data, err)
		}
		return nil
	}
	return fmt.Errorf("mount on %s: unknown type %q", m.Destination, m.Type)
}

// tmpfsOptions splits Docker-style tmpfs options into mount flags and the
// filesystem's data string. Docker's default is nosuid,nodev,noexec.
func tmpfsOptions(opts []string) (uintptr, string) {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC)
	var data []string
	for _, o := range opts {
		switch o {
		case "exec":
			flags &^= unix.MS_NOEXEC
		case "noexec":
			flags |= unix.MS_NOEXEC
		case "suid":
			flags &^= unix.MS_NOSUID
		case "nosuid":
			flags |= unix.MS_NOSUID
		case "dev":
			flags &^= unix.MS_NODEV
		case "nodev":
			flags |= unix.MS_NODEV
		case "ro":
			flags |= unix.MS_RDONLY
		case "rw", "":
		default:
			data = append(data, o)
		}
	}
	return flags, strings.Join(data, ",")
}

// mountTarget resolves path inside root without following any symlink out
// of it, and creates it (a directory, or an empty file) when missing.
func mountTarget(root, path string, dir bool) (string, error) {
	target, err := securejoin.SecureJoin(root, path)
	if err != nil {
		return "", fmt.Errorf("resolving %s inside the rootfs: %w", path, err)
	}
	if _, err := os.Lstat(target); err == nil {
		return target, nil
	}
	if dir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return "", fmt.Errorf("creating mount point %s: %w", path, err)
		}
		return target, nil
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return "", fmt.Errorf("creating mount point %s: %w", path, err)
	}
	f, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return "", fmt.Errorf("creating mount point %s: %w", path, err)
	}
	return target, f.Close()
}

// maskPaths hides and write-protects what Docker hides under /proc and /sys.
func maskPaths(root string) error {
	null := filepath.Join(root, "dev/null")
	for _, p := range maskedPaths {
		target := filepath.Join(root, p)
		st, err := os.Stat(target)
		if err != nil {
			continue // this kernel has no such file
		}
		if st.IsDir() {
			err = unix.Mount("tmpfs", target, "tmpfs", unix.MS_RDONLY, "size=0")
		} else {
			err = unix.Mount(null, target, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("masking %s: %w", p, err)
		}
	}
	for _, p := range readonlyPaths {
		target := filepath.Join(root, p)
		if _, err := os.Stat(target); err != nil {
			continue
		}
		if err := unix.Mount(target, target, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("protecting %s: %w", p, err)
		}
		if err := remountReadOnly(target); err != nil {
			return fmt.Errorf("protecting %s: %w", p, err)
		}
	}
	return nil
}

// remountReadOnly makes the bind mount at path read-only, keeping the
// flags it already has (the kernel refuses to drop locked ones).
func remountReadOnly(path string) error {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return err
	}
	flags := uintptr(unix.MS_BIND | unix.MS_REMOUNT | unix.MS_RDONLY)
	for _, f := range []struct{ st, ms uintptr }{
		{unix.ST_NOSUID, unix.MS_NOSUID}, {unix.ST_NODEV, unix.MS_NODEV},
		{unix.ST_NOEXEC, unix.MS_NOEXEC}, {unix.ST_NOATIME, unix.MS_NOATIME},
		{unix.ST_RELATIME, unix.MS_RELATIME}, {unix.ST_NODIRATIME, unix.MS_NODIRATIME},
	} {
		if uintptr(st.Flags)&f.st != 0 {
			flags |= f.ms
		}
	}
	return unix.Mount("", path, "", flags, "")
}

// pivotRoot makes root the container's "/" and detaches the host's tree.
// pivot_root(".", ".") stacks the old root on top of the new one, so one
// lazy unmount of "." removes it without needing a directory for it.
func pivotRoot(root string) error {
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("entering rootfs %s: %w", root, err)
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detaching the host's root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("entering the new root: %w", err)
	}
	return nil
}

// loopbackUp brings up lo in the container's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return err
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return err
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	return unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
}

// maxOverlayData is what mount(2) takes as options: one page.
const maxOverlayData = 4096

// mountOverlay mounts the image's layers (bottom first) with the
// container's upper and work directories on target.
func mountOverlay(target string, lowers []string, stateDir string) error {
	top := make([]string, len(lowers))
	for i, l := range lowers {
		top[len(lowers)-1-i] = l
	}
	upper := ",upperdir=" + filepath.Join(stateDir, "upper") + ",workdir=" + filepath.Join(stateDir, "work")
	data := "lowerdir=" + strings.Join(top, ":") + upper
	if len(data) > maxOverlayData {
		// Too many layers for one page of options. As Docker's overlay2
		// does with its l/ links, name each layer by a short symlink and
		// mount from their directory with relative paths: overlayfs
		// resolves the links when it mounts. 125 layers take 400 bytes.
		short, err := shortLowers(stateDir, lowers)
		if err != nil {
			return err
		}
		if err := unix.Chdir(filepath.Join(stateDir, "lower")); err != nil {
			return err
		}
		defer unix.Chdir("/")
		data = "lowerdir=" + strings.Join(short, ":") + upper
		if len(data) > maxOverlayData {
			return fmt.Errorf("mounting the image's %d layers: more than one overlay mount takes", len(lowers))
		}
	}
	if err := unix.Mount("overlay", target, "overlay", 0, data); err != nil {
		if errors.Is(err, unix.ENODEV) {
			return fmt.Errorf("mounting the root filesystem: overlayfs is not available (modprobe overlay, or a kernel built with CONFIG_OVERLAY_FS): %w", err)
		}
		return fmt.Errorf("mounting the root filesystem as overlayfs of %d layers: %w (is berth's state on a file system overlayfs can use as upper layer?)", len(lowers), err)
	}
	return nil
}

// shortLowers links stateDir/lower/<i> to the i-th layer and returns the
// links' names, top layer first, for a mount made from that directory.
func shortLowers(stateDir string, lowers []string) ([]string, error) {
	dir := filepath.Join(stateDir, "lower")
	os.RemoveAll(dir) // links of an earlier start of this container
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("linking the image's layers: %w", err)
	}
	names := make([]string, len(lowers))
	for i, l := range lowers {
		name := strconv.Itoa(i)
		if err := os.Symlink(l, filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("linking the image's layers: %w", err)
		}
		names[len(lowers)-1-i] = name
	}
	return names, nil
}
