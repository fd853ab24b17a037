package runtime

import (
	"time"

	"github.com/berthproject/berth/runtime/containerinit"
)

// Config is everything needed to create one container. It is stored as
// config.json in the container's directory and never changes afterwards.
type Config struct {
	// ID, when set, is the new container's id (64 hex digits, from NewID)
	// instead of a fresh one: a caller that prepares something named after
	// the container before Create, as its network namespace, sets it. It
	// is not stored here; Container.ID is.
	ID    string `json:"-"`
	Name  string `json:"name"`
	Image string `json:"image"` // what the user named: an image, or the rootfs path
	// ImageID is the image's id ("sha256:..."), for refusing to remove an
	// image a container still uses.
	ImageID string `json:"imageId,omitempty"`
	Rootfs  string `json:"rootfs,omitempty"` // absolute path of the root filesystem
	// Layers are unpacked image layers, bottom first. When set, the root
	// filesystem is an overlay of them with the container's own upper
	// directory on top, and Rootfs stays empty.
	Layers []string `json:"layers,omitempty"`
	// Args is the full argv of the workload: entrypoint followed by command.
	Args       []string  `json:"args"`
	Env        []string  `json:"env,omitempty"`
	User       string    `json:"user,omitempty"` // name, uid, name:group or uid:gid
	WorkingDir string    `json:"workingDir,omitempty"`
	Hostname   string    `json:"hostname,omitempty"`
	Domainname string    `json:"domainname,omitempty"`
	TTY        bool      `json:"tty,omitempty"`
	OpenStdin  bool      `json:"openStdin,omitempty"`
	ReadOnly   bool      `json:"readOnly,omitempty"`
	Mounts     []Mount   `json:"mounts,omitempty"`
	Resources  Resources `json:"resources"`
	StopSignal string    `json:"stopSignal,omitempty"` // "SIGTERM" when empty
	// StopTimeout is the grace period between the stop signal and SIGKILL;
	// zero means the default of 10 s.
	StopTimeout time.Duration `json:"stopTimeout,omitempty"`
	// Network is what the user asked for ("none", "bridge", a network's
	// name), kept for inspect; NetNS is what the runtime acts on.
	Network string `json:"network,omitempty"`
	// NetNS is the path of a network namespace the container joins (one
	// that network.Attach bound, say). Empty: a new namespace of its own,
	// with loopback only.
	NetNS string `json:"netns,omitempty"`
	// DNS, DNSSearch and DNSOptions make the container's resolv.conf
	// (nameserver, search and options lines). With no DNS the host's file
	// is copied, without its nameservers on loopback.
	DNS        []string `json:"dns,omitempty"`
	DNSSearch  []string `json:"dnsSearch,omitempty"`
	DNSOptions []string `json:"dnsOptions,omitempty"`
	// ExtraHosts are lines added to the container's /etc/hosts, each
	// "NAME:IP" as docker run --add-host takes them (NAME may list several
	// names separated by spaces, as a hosts line does).
	ExtraHosts []string          `json:"extraHosts,omitempty"`
	Labels     map[string]string `json:"labels,omitempty"`
	AutoRemove bool              `json:"autoRemove,omitempty"`
	// Healthcheck, when set, is checked by whoever calls CheckHealth (the
	// engine); its state shows in State.Health while the container runs.
	Healthcheck *HealthConfig `json:"healthcheck,omitempty"`
}

// Mount is a bind mount or a tmpfs inside the container.
type Mount = containerinit.Mount

// Resources are the limits put on the container's control group. Zero
// values mean "no limit".
type Resources struct {
	Memory int64 `json:"memory,omitempty"` // bytes
	// MemorySwap is memory plus swap, in bytes, as Docker counts it: -1 is
	// unlimited swap, 0 means twice Memory.
	MemorySwap int64  `json:"memorySwap,omitempty"`
	NanoCPUs   int64  `json:"nanoCpus,omitempty"`  // 1.5 CPUs = 1.5e9
	CPUShares  uint64 `json:"cpuShares,omitempty"` // relative weight, 1024 is the default
	PidsLimit  int64  `json:"pidsLimit,omitempty"` // -1 or 0: unlimited
}

// DefaultStopTimeout is how long Stop waits after the stop signal.
const DefaultStopTimeout = 10 * time.Second

// initSpec is the part of c the container's init needs.
func (c *Config) initSpec() containerinit.Spec {
	return containerinit.Spec{
		Rootfs: c.Rootfs, Lowers: c.Layers, Args: c.Args, Env: c.Env, User: c.User,
		WorkingDir: c.WorkingDir, Hostname: c.Hostname, Domainname: c.Domainname,
		TTY: c.TTY, OpenStdin: c.OpenStdin, ReadOnly: c.ReadOnly, Mounts: c.Mounts,
	}
}
