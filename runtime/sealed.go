package runtime

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// InitBinaryName is the container init's own binary, installed beside
// berth. Without it berth re-executes itself as the init, which works the
// same but starts slower: berth's own packages all initialise first.
const InitBinaryName = "berth-init"

// ShimBinaryName is berth-shim, the small C supervisor a container's init
// hands over to once the workload runs (containerinit/doc.go, "The
// shim"), installed beside berth. Without it the Go init supervises, as it
// did before there was a shim, at a Go runtime's memory per container.
const ShimBinaryName = "berth-shim"

// NoShimEnv, set to 1 in berth's environment, makes containers started
// from then on keep the Go init as their supervisor even when berth-shim
// is installed: the fallback path, for tests and for comparison.
const NoShimEnv = "BERTH_NO_SHIM"

// shimPath and initPath, when set, are the berth-shim and berth-init to
// use wherever berth runs from: the package's tests set them to those
// they build.
var shimPath, initPath string

// shimBinary is berth-shim beside the running binary, or "" when there is
// none or NoShimEnv says not to use it. The workload's gate runs it as the
// workload's user, so everyone must be allowed to execute it.
func shimBinary() string {
	if os.Getenv(NoShimEnv) == "1" {
		return ""
	}
	p := shimPath
	if p == "" {
		self, err := os.Executable()
		if err != nil {
			return ""
		}
		p = filepath.Join(filepath.Dir(self), ShimBinaryName)
	}
	if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 == 0o111 {
		return p
	}
	return ""
}

// initBinary is berth-init beside the running binary, or the running
// binary itself.
func initBinary() (string, error) {
	if initPath != "" {
		return initPath, nil
	}
	self, err := os.Executable()
	if err != nil {
		return "", fmt.Errorf("finding berth's own binary: %w", err)
	}
	beside := filepath.Join(filepath.Dir(self), InitBinaryName)
	if st, err := os.Stat(beside); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
		return beside, nil
	}
	return self, nil
}

// sealedExe opens the container init's binary in a way no container can write
// to, however it gets hold of it (CVE-2019-5736: a container process opens
// /proc/<init>/exe and overwrites the host's binary).
//
// The preferred way, as runc >= 1.2 does it, is a read-only overlayfs mount
// made with the new mount API and never attached anywhere: the file we open
// through it is on a read-only filesystem nobody can remount, and it shares
// the page cache of the real binary, so a hundred containers cost one copy.
// Kernels without fsopen(2) get a sealed memfd copy instead.
//
// The returned files are close-on-exec; exec the init as /proc/self/fd/N
// before closing it. shim is nil when there is no berth-shim to use
// (shimBinary), and sealed the same way as the init when there is.
func sealedExe() (init, shim *os.File, err error) {
	self, err := initBinary()
	if err != nil {
		return nil, nil, err
	}
	paths := []string{self}
	// The shim starts exec helpers from the init binary inside the
	// container, where a dynamically linked one (a cgo build, a test
	// binary) finds no loader of ours: such an init supervises itself.
	if s := shimBinary(); s != "" && isStatic(self) {
		paths = append(paths, s)
	}
	files, ovErr := overlayExe(paths)
	if ovErr != nil {
		files = nil
		for _, p := range paths {
			f, err := memfdExe(p)
			if err != nil {
				closeAll(files)
				return nil, nil, fmt.Errorf("sealing a copy of %s (overlay: %v): %w", p, ovErr, err)
			}
			files = append(files, f)
		}
	}
	if len(files) > 1 {
		shim = files[1]
	}
	return files[0], shim, nil
}

// overlayExe opens each of paths through a detached read-only overlay of
// its directory, one overlay for binaries in one directory (berth-init and
// berth-shim beside berth). Overlayfs without an upper layer needs two
// lower layers, and layers may not nest; the second is an empty tmpfs that
// is itself never attached anywhere, so it cannot nest with whatever
// directory berth is in.
func overlayExe(paths []string) ([]*os.File, error) {
	var files []*os.File
	mounts := map[string]int{}
	defer func() {
		for _, mfd := range mounts {
			unix.Close(mfd)
		}
	}()
	for _, p := range paths {
		dir := filepath.Dir(p)
		mfd, ok := mounts[dir]
		if !ok {
			var err error
			if mfd, err = overlayOf(dir); err != nil {
				closeAll(files)
				return nil, err
			}
			mounts[dir] = mfd
		}
		fd, err := unix.Openat(mfd, filepath.Base(p), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			closeAll(files)
			return nil, fmt.Errorf("opening %s through the overlay: %w", filepath.Base(p), err)
		}
		files = append(files, os.NewFile(uintptr(fd), "berth-sealed"))
	}
	return files, nil
}

// overlayOf mounts the detached read-only overlay of dir.
func overlayOf(dir string) (int, error) {
	empty, err := detachedMount("tmpfs", "")
	if err != nil {
		return -1, err
	}
	defer unix.Close(empty)
	return detachedMount("overlay", dir+":/proc/self/fd/"+strconv.Itoa(empty))
}

// detachedMount makes a read-only mount of fstype (with lowerdir, for an
// overlay) that is attached to no mount tree: only the returned fd reaches
// it, and it vanishes with the last fd.
func detachedMount(fstype, lowerdir string) (int, error) {
	fsfd, err := unix.Fsopen(fstype, unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("fsopen %s: %w", fstype, err)
	}
	defer unix.Close(fsfd)
	if lowerdir != "" {
		if err := unix.FsconfigSetString(fsfd, "lowerdir", lowerdir); err != nil {
			return -1, fmt.Errorf("%s lowerdir=%s: %w", fstype, lowerdir, err)
		}
	}
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("creating %s: %w", fstype, err)
	}
	mfd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_RDONLY|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOSUID)
	if err != nil {
		return -1, fmt.Errorf("fsmount %s: %w", fstype, err)
	}
	return mfd, nil
}

// memfdExe copies self into a memfd and seals it against every change.
func memfdExe(self string) (*os.File, error) {
	src, err := os.Open(self)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	fd, err := unix.MemfdCreate(filepath.Base(self), unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return nil, fmt.Errorf("memfd_create: %w", err)
	}
	dst := os.NewFile(uintptr(fd), "berth-sealed")
	if _, err := dst.ReadFrom(src); err != nil {
		dst.Close()
		return nil, fmt.Errorf("copying %s: %w", self, err)
	}
	seals := unix.F_SEAL_SEAL | unix.F_SEAL_SHRINK | unix.F_SEAL_GROW | unix.F_SEAL_WRITE
	if _, err := unix.FcntlInt(dst.Fd(), unix.F_ADD_SEALS, seals); err != nil {
		dst.Close()
		return nil, fmt.Errorf("sealing memfd: %w", err)
	}
	return dst, nil
}

// staticCache remembers isStatic's answer per binary: the binaries do not
// change while berth runs.
var staticCache sync.Map

// isStatic tells whether the ELF binary at path needs no program
// interpreter (no PT_INTERP program header): a static binary runs in any
// root filesystem.
func isStatic(path string) bool {
	if v, ok := staticCache.Load(path); ok {
		return v.(bool)
	}
	static := readIsStatic(path)
	staticCache.Store(path, static)
	return static
}

func readIsStatic(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	var h [64]byte
	if _, err := f.ReadAt(h[:], 0); err != nil || string(h[:4]) != "\x7fELF" || h[4] != 2 || h[5] != 1 {
		return false // not a little-endian ELF64: not one of ours
	}
	le := binary.LittleEndian
	phoff, phentsize, phnum := le.Uint64(h[32:]), int64(le.Uint16(h[54:])), int64(le.Uint16(h[56:]))
	if phentsize < 4 || phnum > 256 {
		return false
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(ph, int64(phoff)); err != nil {
		return false
	}
	const ptInterp = 3
	for i := int64(0); i < phnum; i++ {
		if le.Uint32(ph[i*phentsize:]) == ptInterp {
			return false
		}
	}
	return true
}
