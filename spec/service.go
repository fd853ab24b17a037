package spec

import (
	"net/netip"
	"strconv"
	"time"
)

// Service is one service of a stack, normalised: every size is in bytes,
// every duration a time.Duration, every path absolute, short syntaxes are
// expanded to long ones and lists that carry no order are sorted. JSON keys
// are Compose's where a field has a Compose counterpart.
type Service struct {
	Name string `json:"name"`
	// ContainerName is container_name: the one container's name, instead
	// of the engine's "<stack>-<service>-<n>". It allows one replica.
	ContainerName string `json:"container_name,omitempty"`
	Image         string `json:"image,omitempty"`
	// Build is set when the service is built from a Dockerfile; Image is
	// then the name the built image gets ("" lets the engine choose
	// "<stack>-<service>", as Compose does).
	Build *Build `json:"build,omitempty"`

	// Command and Entrypoint replace the image's when not nil; an empty,
	// non-nil list clears the image's (Compose's `command: []`). A string
	// in the file is split as a shell would, without running one.
	Command    []string `json:"command"`
	Entrypoint []string `json:"entrypoint"`
	// Environment is the container's environment: env_file entries
	// overridden by `environment:`, variables listed without a value taken
	// from the project environment (and dropped when it has none).
	Environment map[string]string `json:"environment,omitempty"`
	User        string            `json:"user,omitempty"`
	WorkingDir  string            `json:"working_dir,omitempty"`
	Hostname    string            `json:"hostname,omitempty"`
	Domainname  string            `json:"domainname,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`

	// Ports are the published ports, one binding per container port
	// (ranges expanded), sorted.
	Ports []PortBinding `json:"ports,omitempty"`
	// Expose are ports opened to the stack's networks only, sorted.
	Expose []ContainerPort `json:"expose,omitempty"`
	// Networks are the networks the service joins, by their key in the
	// stack's Networks ("default" when the file names none).
	Networks   map[string]ServiceNetwork `json:"networks,omitempty"`
	ExtraHosts []ExtraHost               `json:"extra_hosts,omitempty"`
	DNS        []string                  `json:"dns,omitempty"`

	// Mounts are `volumes:` and `tmpfs:` together, sorted by target.
	Mounts  []Mount     `json:"volumes,omitempty"`
	Configs []FileMount `json:"configs,omitempty"`
	Secrets []FileMount `json:"secrets,omitempty"`

	DependsOn   map[string]Dependency `json:"depends_on,omitempty"`
	Healthcheck *Healthcheck          `json:"healthcheck,omitempty"`
	// Restart is `restart:` reconciled with deploy.restart_policy, which
	// wins when both are set, as in Compose.
	Restart RestartPolicy `json:"restart"`
	// Replicas is deploy.replicas or scale (Compose refuses different
	// values), 1 when neither is set.
	Replicas     int          `json:"replicas"`
	UpdateConfig UpdateConfig `json:"update_config"`
	// Resources folds mem_limit, memswap_limit, cpus, cpu_shares and
	// pids_limit with deploy.resources, whose values win, as in Compose.
	Resources Resources `json:"resources"`

	CapAdd     []string          `json:"cap_add,omitempty"`
	CapDrop    []string          `json:"cap_drop,omitempty"`
	Privileged bool              `json:"privileged,omitempty"`
	ReadOnly   bool              `json:"read_only,omitempty"`
	Sysctls    map[string]string `json:"sysctls,omitempty"`
	Ulimits    map[string]Ulimit `json:"ulimits,omitempty"`
	// Init is `init:`; nil leaves the choice to the engine.
	Init       *bool  `json:"init,omitempty"`
	StopSignal string `json:"stop_signal,omitempty"`
	// StopGracePeriod is how long a stop waits before SIGKILL: 10 s when
	// the file says nothing, as in Docker.
	StopGracePeriod time.Duration `json:"stop_grace_period"`
	Logging         Logging       `json:"logging"`
	Develop         *Develop      `json:"develop,omitempty"`
}

// DefaultStopGracePeriod is Docker's: how long a stop waits for the
// container to exit after the stop signal.
const DefaultStopGracePeriod = 10 * time.Second

// Build says how to build the service's image.
type Build struct {
	// Context is an absolute directory (or a URL, kept as written).
	Context string `json:"context"`
	// Dockerfile is relative to Context unless absolute; "Dockerfile" by
	// default.
	Dockerfile       string `json:"dockerfile,omitempty"`
	DockerfileInline string `json:"dockerfile_inline,omitempty"`
	// Args are build arguments; one listed without a value takes the
	// project environment's, and is dropped when it has none.
	Args    map[string]string `json:"args,omitempty"`
	Target  string            `json:"target,omitempty"`
	Network string            `json:"network,omitempty"`
	Labels  map[string]string `json:"labels,omitempty"`
}

// PortBinding publishes one container port on the host.
type PortBinding struct {
	// HostIP is the host address; the zero Addr means every address.
	HostIP netip.Addr `json:"host_ip,omitzero"`
	// HostPort is the host port; 0 lets the engine pick a free one. When
	// HostPortEnd is set, HostPort-HostPortEnd is a range to pick from
	// (Compose's "8000-8010:80").
	HostPort      uint16 `json:"published,omitempty"`
	HostPortEnd   uint16 `json:"published_end,omitempty"`
	ContainerPort uint16 `json:"target"`
	// Protocol is "tcp", "udp" or "sctp".
	Protocol string `json:"protocol"`
}

func (p PortBinding) hostAddr() string {
	ip := "0.0.0.0"
	if p.HostIP.IsValid() {
		ip = p.HostIP.String()
		if p.HostIP.Is6() {
			ip = "[" + ip + "]"
		}
	}
	port := strconv.Itoa(int(p.HostPort))
	if p.HostPortEnd != 0 {
		port += "-" + strconv.Itoa(int(p.HostPortEnd))
	}
	return ip + ":" + port
}

// ContainerPort is a port a service exposes to its networks.
type ContainerPort struct {
	Port     uint16 `json:"port"`
	Protocol string `json:"protocol"`
}

// ServiceNetwork is how a service joins one network.
type ServiceNetwork struct {
	Aliases     []string   `json:"aliases,omitempty"`
	IPv4Address netip.Addr `json:"ipv4_address,omitzero"`
	IPv6Address netip.Addr `json:"ipv6_address,omitzero"`
	// Priority orders the networks a container is connected to (highest
	// first), as Compose's `priority:`.
	Priority int `json:"priority,omitempty"`
}

// ExtraHost is one extra_hosts entry: a line of the container's /etc/hosts.
// IP may be "host-gateway", which the engine replaces by the host's
// address on the container's network, as Docker does.
type ExtraHost struct {
	Host string `json:"host"`
	IP   string `json:"ip"`
}

// Mount types.
const (
	MountBind   = "bind"
	MountVolume = "volume"
	MountTmpfs  = "tmpfs"
)

// Mount is one `volumes:` or `tmpfs:` entry of a service.
type Mount struct {
	// Type is MountBind, MountVolume or MountTmpfs.
	Type string `json:"type"`
	// Source is an absolute host path for binds, the key of a stack volume
	// for named volumes, "" for anonymous volumes and tmpfs.
	Source   string `json:"source,omitempty"`
	Target   string `json:"target"`
	ReadOnly bool   `json:"read_only,omitempty"`
	// Bind options.
	Propagation string `json:"propagation,omitempty"`
	// NoCreateHostPath is bind.create_host_path: false (Compose creates a
	// missing source directory unless told not to).
	NoCreateHostPath bool `json:"no_create_host_path,omitempty"`
	// Volume options.
	NoCopy  bool   `json:"nocopy,omitempty"`
	Subpath string `json:"subpath,omitempty"`
	// Tmpfs options: size in bytes (0: the kernel's default, half of RAM),
	// mode (0: 1777), and other mount options of the `tmpfs:` short
	// syntax ("noexec", ...), as written.
	TmpfsSize    int64    `json:"tmpfs_size,omitempty"`
	TmpfsMode    uint32   `json:"tmpfs_mode,omitempty"`
	TmpfsOptions []string `json:"tmpfs_options,omitempty"`
}

// FileMount is a config or secret given to a service, as a file.
type FileMount struct {
	// Source is the key of the stack's config or secret.
	Source string `json:"source"`
	// Target is absolute: for secrets "/run/secrets/<source>" and for
	// configs "/<source>" by default, as Compose does.
	Target string `json:"target"`
	UID    string `json:"uid,omitempty"`
	GID    string `json:"gid,omitempty"`
	// Mode is the file's permission bits; nil leaves the default (0444).
	Mode *uint32 `json:"mode,omitempty"`
}

// depends_on conditions.
const (
	ConditionStarted   = "service_started"
	ConditionHealthy   = "service_healthy"
	ConditionCompleted = "service_completed_successfully"
)

// Dependency is one depends_on entry.
type Dependency struct {
	// Condition is ConditionStarted, ConditionHealthy or
	// ConditionCompleted.
	Condition string `json:"condition"`
	// Restart restarts this service when the dependency is restarted.
	Restart bool `json:"restart,omitempty"`
	// Required false lets the service start when the dependency is not in
	// the stack (profile not enabled) or fails to start.
	Required bool `json:"required"`
}

// Healthcheck is a service's health check. Durations left 0 take the
// image's values, or Docker's defaults (30 s interval and timeout, 3
// retries, 5 s start interval).
type Healthcheck struct {
	// Test is ["CMD", argv...], ["CMD-SHELL", "command"] or ["NONE"]; a
	// string in the file is CMD-SHELL. Nil keeps the image's test.
	Test []string `json:"test,omitempty"`
	// Disable is true for `disable: true` and for a test of ["NONE"];
	// Test is then ["NONE"].
	Disable       bool          `json:"disable,omitempty"`
	Interval      time.Duration `json:"interval,omitempty"`
	Timeout       time.Duration `json:"timeout,omitempty"`
	StartPeriod   time.Duration `json:"start_period,omitempty"`
	StartInterval time.Duration `json:"start_interval,omitempty"`
	// Retries is 0 when not set.
	Retries int `json:"retries,omitempty"`
}

// Restart policy names, Docker's.
const (
	RestartNo            = "no"
	RestartAlways        = "always"
	RestartOnFailure     = "on-failure"
	RestartUnlessStopped = "unless-stopped"
)

// RestartPolicy says when the engine restarts an exited container.
type RestartPolicy struct {
	// Name is RestartNo, RestartAlways, RestartOnFailure or
	// RestartUnlessStopped (deploy.restart_policy's "none" and "any" are
	// mapped to "no" and "always").
	Name string `json:"name"`
	// MaxRetries caps on-failure restarts ("on-failure:3",
	// max_attempts); 0 is no cap.
	MaxRetries int `json:"max_retries,omitempty"`
	// Delay and Window are deploy.restart_policy's; Docker ignores them
	// and the engine may use Delay as its first back-off.
	Delay  time.Duration `json:"delay,omitempty"`
	Window time.Duration `json:"window,omitempty"`
}

// UpdateConfig is deploy.update_config: how a changed service's replicas
// are replaced.
type UpdateConfig struct {
	// Parallelism is how many replicas are replaced at once; 1 by
	// default, 0 for all at once.
	Parallelism int `json:"parallelism"`
	// Order is "stop-first" (the default) or "start-first".
	Order         string        `json:"order"`
	Delay         time.Duration `json:"delay,omitempty"`
	Monitor       time.Duration `json:"monitor,omitempty"`
	FailureAction string        `json:"failure_action,omitempty"`
}

// Resources are a service's limits and reservations.
type Resources struct {
	Limits       Limits `json:"limits"`
	Reservations Limits `json:"reservations"`
	// CPUShares is cpu_shares, a relative weight (Docker's 2 to 262144;
	// 0: the default, 1024).
	CPUShares int64 `json:"cpu_shares,omitempty"`
}

// Limits are amounts of resources; 0 means no limit (or reservation).
type Limits struct {
	// CPUs is a number of CPUs, 0.5 for half of one.
	CPUs float64 `json:"cpus,omitempty"`
	// Memory and MemorySwap are in bytes; MemorySwap is memory plus swap,
	// -1 for unlimited swap (memswap_limit, limits only).
	Memory     int64 `json:"memory,omitempty"`
	MemorySwap int64 `json:"memswap,omitempty"`
	// Pids caps the processes (limits only).
	Pids int64 `json:"pids,omitempty"`
}

// Ulimit is one ulimits entry; a single number in the file sets both.
type Ulimit struct {
	Soft int64 `json:"soft"`
	Hard int64 `json:"hard"`
}

// Logging is a service's logging options. berth has one log driver,
// Docker's json-file format; its rotation options are typed here.
type Logging struct {
	Driver string `json:"driver,omitempty"`
	// MaxSize is max-size in bytes, 0 for no rotation.
	MaxSize int64 `json:"max_size,omitempty"`
	// MaxFile is max-file, the number of files kept (1 when 0).
	MaxFile int `json:"max_file,omitempty"`
	// Options are the other options, as written.
	Options map[string]string `json:"options,omitempty"`
}

// Develop is a service's develop section.
type Develop struct {
	Watch []WatchRule `json:"watch"`
}

// Watch actions.
const (
	WatchSync        = "sync"
	WatchRebuild     = "rebuild"
	WatchSyncRestart = "sync+restart"
	WatchSyncExec    = "sync+exec"
	WatchRestart     = "restart"
)

// WatchRule is one develop.watch entry.
type WatchRule struct {
	// Path is absolute, on the host.
	Path string `json:"path"`
	// Action is WatchSync, WatchRebuild, WatchSyncRestart or WatchRestart.
	Action string `json:"action"`
	// Target is the path in the container (sync actions).
	Target      string   `json:"target,omitempty"`
	Ignore      []string `json:"ignore,omitempty"`
	Include     []string `json:"include,omitempty"`
	InitialSync bool     `json:"initial_sync,omitempty"`
	// Exec is what sync+exec runs in each replica after syncing.
	Exec *WatchExec `json:"exec,omitempty"`
}

// Syncs reports whether the rule copies files into the containers.
func (w WatchRule) Syncs() bool {
	return w.Action == WatchSync || w.Action == WatchSyncRestart || w.Action == WatchSyncExec
}

// WatchExec is a sync+exec rule's command (Compose's service hook).
type WatchExec struct {
	Command     []string          `json:"command"`
	User        string            `json:"user,omitempty"`
	Privileged  bool              `json:"privileged,omitempty"`
	WorkingDir  string            `json:"working_dir,omitempty"`
	Environment map[string]string `json:"environment,omitempty"`
}
