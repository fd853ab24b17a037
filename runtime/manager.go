package runtime

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Manager creates, runs and removes containers whose state lives under one
// root directory. Every call reads the state from disk and the kernel
// again, so several berth processes can share a root.
type Manager struct {
	root string // persistent state: containers/, names/
	run  string // runtime files, gone at reboot
}

// New returns a Manager keeping state under root and runtime files under
// run, creating both when missing.
func New(root, run string) (*Manager, error) {
	for _, d := range []string{filepath.Join(root, "containers"), filepath.Join(root, "names"), run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("creating state directory %s: %w", d, err)
		}
	}
	return &Manager{root: root, run: run}, nil
}

// Container is one container as found on disk and in the kernel.
type Container struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Config  Config    `json:"config"`
	State   State     `json:"-"`
	Dir     string    `json:"-"`
}

// LogPath is where the init writes the container's output.
func (c *Container) LogPath() string { return filepath.Join(c.Dir, c.ID+"-json.log") }

// Name is the container's name without Docker's leading slash.
func (c *Container) Name() string { return c.Config.Name }

var namePattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)

// Create records a new container; Start runs it.
func (m *Manager) Create(cfg Config) (*Container, error) {
	if err := validate(&cfg); err != nil {
		return nil, err
	}
	id := cfg.ID
	if id == "" {
		var err error
		if id, err = NewID(); err != nil {
			return nil, err
		}
	}
	cfg.ID = ""
	if cfg.Hostname == "" {
		cfg.Hostname = id[:12]
	}
	claim, err := m.reserveName(&cfg, id)
	if err != nil {
		return nil, err
	}
	// Held until config.json is in: till then the claim is this create's
	// (staleClaim).
	defer claim.Close()
	c := &Container{ID: id, Created: time.Now().UTC(), Config: cfg, Dir: m.containerDir(id)}
	if err := m.writeContainer(c); err != nil {
		m.releaseName(cfg.Name, id)
		// A directory that was there already (a given ID in use) is not
		// ours to remove.
		if !errors.Is(err, fs.ErrExist) {
			os.RemoveAll(c.Dir)
		}
		return nil, err
	}
	c.State = State{Status: StatusCreated}
	return c, nil
}

func validate(cfg *Config) error {
	if cfg.ID != "" && !validID(cfg.ID) {
		return fmt.Errorf("container id %q is not 64 hex digits", cfg.ID)
	}
	if len(cfg.Args) == 0 {
		return fmt.Errorf("no command given: name one after the rootfs or image")
	}
	if len(cfg.Layers) > 0 {
		if cfg.Rootfs != "" {
			return fmt.Errorf("a container has a rootfs directory or image layers, not both")
		}
		for _, l := range cfg.Layers {
			if st, err := os.Stat(l); err != nil || !st.IsDir() || !filepath.IsAbs(l) {
				return fmt.Errorf("image layer %s is missing: remove the image and pull or import it again", l)
			}
		}
		return validateRest(cfg)
	}
	if cfg.Rootfs == "" {
		return fmt.Errorf("no root filesystem given")
	}
	abs, err := filepath.Abs(cfg.Rootfs)
	if err != nil {
		return err
	}
	cfg.Rootfs = abs
	st, err := os.Stat(abs)
	if err != nil {
		return fmt.Errorf("rootfs %s: %w", abs, err)
	}
	if !st.IsDir() {
		return fmt.Errorf("rootfs %s is not a directory", abs)
	}
	return validateRest(cfg)
}

// validateRest checks what every container needs, whatever its root.
func validateRest(cfg *Config) error {
	if err := validateNetNS(cfg.NetNS); err != nil {
		return err
	}
	for _, h := range cfg.ExtraHosts {
		name, ip, ok := splitExtraHost(h)
		if !ok || strings.TrimSpace(name) == "" {
			return fmt.Errorf("extra host %q is not NAME:IP", h)
		}
		if _, err := netip.ParseAddr(ip); err != nil {
			return fmt.Errorf("extra host %q: %q is not an IP address", h, ip)
		}
	}
	for _, ns := range cfg.DNS {
		if _, err := netip.ParseAddr(ns); err != nil {
			return fmt.Errorf("DNS server %q is not an IP address", ns)
		}
	}
	if cfg.WorkingDir != "" && !filepath.IsAbs(cfg.WorkingDir) {
		return fmt.Errorf("working directory %q must be an absolute path", cfg.WorkingDir)
	}
	for _, mnt := range cfg.Mounts {
		if !filepath.IsAbs(mnt.Destination) {
			return fmt.Errorf("mount destination %q must be an absolute path", mnt.Destination)
		}
		if mnt.Type == "bind" && !filepath.IsAbs(mnt.Source) {
			return fmt.Errorf("bind mount source %q must be an absolute path", mnt.Source)
		}
	}
	return nil
}

// writeContainer lays down the container's directory: its config and the
// files bind-mounted over the rootfs's /etc.
func (m *Manager) writeContainer(c *Container) error {
	if err := os.Mkdir(c.Dir, 0o700); err != nil {
		return fmt.Errorf("creating container directory: %w", err)
	}
	// Locked until config.json is in: a directory without it and without
	// the lock is debris of a killed create, which CleanDebris removes.
	if d, err := os.Open(c.Dir); err == nil {
		defer d.Close()
		_ = unix.Flock(int(d.Fd()), unix.LOCK_EX)
	}
	if len(c.Config.Layers) > 0 {
		// The overlay's own directories: upper/ keeps the container's
		// changes (until rm), work/ is overlayfs's scratch space, rootfs/
		// is where the init mounts it.
		for _, d := range []string{"upper", "work", "rootfs"} {
			if err := os.Mkdir(filepath.Join(c.Dir, d), 0o755); err != nil {
				return fmt.Errorf("creating container's %s directory: %w", d, err)
			}
		}
	}
	files := map[string]string{
		"hostname":    c.Config.Hostname + "\n",
		"hosts":       hostsFile(c.Config.ExtraHosts),
		"resolv.conf": resolvConf("/etc/resolv.conf", c.Config.DNS, c.Config.DNSSearch, c.Config.DNSOptions),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(c.Dir, name), []byte(content), 0o644); err != nil {
			return fmt.Errorf("writing container's %s: %w", name, err)
		}
	}
	// config.json goes last: a directory without it is a create that
	// crashed half-way, and List ignores it.
	return writeJSONAtomic(filepath.Join(c.Dir, "config.json"), c, !c.Config.AutoRemove)
}

// validateNetNS checks that path, when set, names a network namespace
// (an nsfs file, as a bind-mounted or /proc/PID/ns/net one is).
func validateNetNS(path string) error {
	if path == "" {
		return nil
	}
	if !filepath.IsAbs(path) {
		return fmt.Errorf("network namespace %q must be an absolute path", path)
	}
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return fmt.Errorf("network namespace %s: %w", path, err)
	}
	if st.Type != unix.NSFS_MAGIC {
		return fmt.Errorf("network namespace %s is not a namespace file (nothing mounted there?)", path)
	}
	return nil
}

func (m *Manager) containerDir(id string) string {
	return filepath.Join(m.root, "containers", id)
}

// validID reports whether id is 64 lowercase hex digits.
func validID(id string) bool {
	if len(id) != 64 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// NewID returns a fresh container id: 32 random bytes in hex, as Docker's.
func NewID() (string, error) {
	b := make([]byte, 32)
	if err := randomBytes(b); err != nil {
		return "", fmt.Errorf("generating container id: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// NewName returns a generated name ("quiet_hopper") that no container
// has now, for a caller that must know the name before Create (a
// network's DNS answers to it). A concurrent Create may still take it
// first: Create then fails with ErrNameInUse, and the caller picks again.
func (m *Manager) NewName() string {
	for i := 0; ; i++ {
		name := randomName(i)
		if _, err := os.Lstat(filepath.Join(m.root, "names", name)); errors.Is(err, fs.ErrNotExist) || i > 20 {
			return name
		}
	}
}

// reserveName claims cfg.Name (generating one when empty) by creating
// names/<name> exclusively, so two concurrent creates cannot both get it.
// The claim comes locked (see claim); the caller closes it once the
// container's config.json is in.
func (m *Manager) reserveName(cfg *Config, id string) (*os.File, error) {
	if cfg.Name != "" {
		if !namePattern.MatchString(cfg.Name) {
			return nil, fmt.Errorf("invalid container name %q: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", cfg.Name)
		}
		return m.claim(cfg.Name, id)
	}
	for i := 0; ; i++ {
		cfg.Name = randomName(i)
		f, err := m.claim(cfg.Name, id)
		if !errors.Is(err, ErrNameInUse) || i > 20 {
			return f, err
		}
	}
}

// claim reserves name for the container id: names/<name> holds the id.
// The file is written and flocked under a temporary name first and then
// linked into place, which fails if the name is taken, so a claim is
// locked from the moment anyone can see it; the returned file holds the
// lock until it is closed. A claim without a container directory whose
// lock nobody holds was left by a create that died (staleClaim).
func (m *Manager) claim(name, id string) (*os.File, error) {
	p := filepath.Join(m.root, "names", name)
	tmp, err := os.CreateTemp(filepath.Dir(p), ".claim-*")
	if err != nil {
		return nil, fmt.Errorf("reserving name %q: %w", name, err)
	}
	defer os.Remove(tmp.Name())
	_ = unix.Flock(int(tmp.Fd()), unix.LOCK_EX)
	if _, err := tmp.WriteString(id); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("reserving name %q: %w", name, err)
	}
	err = os.Link(tmp.Name(), p)
	if errors.Is(err, fs.ErrExist) {
		tmp.Close()
		// A name left by a create that crashed half-way is free again.
		if old, rerr := os.ReadFile(p); rerr == nil && string(old) != "" && m.staleClaim(p, string(old)) {
			os.Remove(p)
			return m.claim(name, id)
		}
		return nil, fmt.Errorf("container name %q: %w", name, ErrNameInUse)
	}
	if err != nil {
		tmp.Close()
		return nil, fmt.Errorf("reserving name %q: %w", name, err)
	}
	return tmp, nil
}

// staleClaim reports whether the name claim at path, held for the
// container id, was left by a create that died: no config.json, and no
// create at work. A create at work holds its claim's lock, and its
// directory's, until config.json is in.
func (m *Manager) staleClaim(path, id string) bool {
	dir := m.containerDir(id)
	if _, err := os.Stat(filepath.Join(dir, "config.json")); !errors.Is(err, fs.ErrNotExist) {
		return false
	}
	if _, err := os.Stat(dir); err == nil {
		return lockFree(dir)
	}
	return lockFree(path)
}

// lockFree reports whether nobody holds a flock on the file or directory
// at p (a create at work holds its claim's and its directory's).
func lockFree(p string) bool {
	f, err := os.Open(p)
	if err != nil {
		return false
	}
	defer f.Close() // releases the lock taken below
	return unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB) == nil
}

func (m *Manager) releaseName(name, id string) {
	p := filepath.Join(m.root, "names", name)
	if old, err := os.ReadFile(p); err == nil && string(old) == id {
		os.Remove(p)
	}
}

// Get finds a container by name, full id or unique id prefix.
func (m *Manager) Get(ref string) (*Container, error) {
	if ref == "" {
		return nil, fmt.Errorf("container %q: %w", ref, ErrNotFound)
	}
	if id, err := os.ReadFile(filepath.Join(m.root, "names", ref)); err == nil && namePattern.MatchString(ref) {
		if c, err := m.load(string(id)); err == nil {
			return c, nil
		}
	}
	ids, err := m.ids()
	if err != nil {
		return nil, err
	}
	var match []string
	for _, id := range ids {
		if strings.HasPrefix(id, ref) {
			match = append(match, id)
		}
	}
	switch len(match) {
	case 0:
		return nil, fmt.Errorf("container %q: %w", ref, ErrNotFound)
	case 1:
		return m.load(match[0])
	}
	return nil, fmt.Errorf("container %q: %w", ref, ErrAmbiguous)
}

// List returns every container, newest first.
func (m *Manager) List() ([]*Container, error) {
	ids, err := m.ids()
	if err != nil {
		return nil, err
	}
	var out []*Container
	for _, id := range ids {
		c, err := m.load(id)
		if err != nil {
			continue // removed meanwhile, or a create that crashed half-way
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.After(out[j].Created) })
	return out, nil
}

func (m *Manager) ids() ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(m.root, "containers"))
	if err != nil {
		return nil, fmt.Errorf("listing containers: %w", err)
	}
	ids := make([]string, 0, len(ents))
	for _, e := range ents {
		if e.IsDir() {
			ids = append(ids, e.Name())
		}
	}
	return ids, nil
}

// load reads one container's config and works out its state.
func (m *Manager) load(id string) (*Container, error) {
	dir := m.containerDir(id)
	c := &Container{}
	if err := readJSON(filepath.Join(dir, "config.json"), c); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("container %q: %w", id, ErrNotFound)
		}
		return nil, err
	}
	c.Dir = dir
	c.State = readState(dir)
	if c.State.Running && c.Config.Healthcheck != nil {
		c.State.Health = readHealth(dir)
	}
	return c, nil
}
