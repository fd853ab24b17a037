package scheduler

import (
	"context"
	"time"

	"github.com/berthproject/berth/spec"
)

// Host is everything the scheduler does to the machine. cmd/berth
// implements it with the runtime, network, volume and image packages;
// tests use a fake.
type Host interface {
	// Replicas lists the containers labelled as the stack's.
	Replicas(ctx context.Context, stack string) ([]Replica, error)
	// Networks reports which of names exist on the host.
	Networks(ctx context.Context, names []string) (map[string]bool, error)
	// ImageID returns the id of the image ref in the store; "" when the
	// store does not have it.
	ImageID(ctx context.Context, ref string) (string, error)

	CreateNetwork(ctx context.Context, nw *spec.Network) error
	RemoveNetwork(ctx context.Context, name string) error
	Pull(ctx context.Context, ref string) error
	Build(ctx context.Context, st *spec.Stack, svc *spec.Service, tag string) error

	// Create creates (without starting) a container as c says, its
	// networks attached and its volumes made, and returns its id.
	Create(ctx context.Context, c ContainerSpec) (string, error)
	Start(ctx context.Context, id string) error
	// Rename gives a container another name (a rolling update's old
	// replica steps aside for the new one).
	Rename(ctx context.Context, id, name string) error
	// Drain takes a running container out of DNS answers, before it is
	// stopped; it returns once clients no longer get its address.
	Drain(ctx context.Context, id string) error
	// Stop sends the container's stop signal and, after grace, SIGKILL.
	Stop(ctx context.Context, id string, grace time.Duration) error
	// Remove removes a container that is not running, with its network,
	// and with volumes its anonymous volumes.
	Remove(ctx context.Context, id string, volumes bool) error
	// Healthy reports whether a running container's health check passes
	// (true for a running container without one); Exited, whether it
	// ended and with which code.
	Healthy(ctx context.Context, id string) (bool, error)
	// CheckHealth runs a running container's health check once and
	// returns the health it leaves and when the next check is due; a
	// container without a check returns "" and 0.
	CheckHealth(ctx context.Context, id string) (health string, next time.Duration, err error)
	Exited(ctx context.Context, id string) (exited bool, code int, err error)
}

// Syncer is a Host that can copy files into containers and run commands
// in them: what berth watch's sync, sync+restart and sync+exec rules need.
type Syncer interface {
	// Sync makes each file's Target in container id what Source is on the
	// host (a file, or a directory to make), or removes Target; paths
	// inside the container are resolved in its root, never out of it.
	Sync(ctx context.Context, id string, files []SyncFile) error
	// Exec runs x in the running container id and returns its exit code
	// and the end of its output.
	Exec(ctx context.Context, id string, x *spec.WatchExec) (code int, output string, err error)
}

// SyncFile is one path of a sync.
type SyncFile struct {
	Source string `json:"source,omitempty"` // absolute, on the host
	Target string `json:"target"`           // absolute, in the container
	Remove bool   `json:"remove,omitempty"`
}
