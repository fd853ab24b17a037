package scheduler

import "time"

// ReplicaState is where a container is in its life.
type ReplicaState string

const (
	StateCreated ReplicaState = "created" // never started
	StateRunning ReplicaState = "running"
	StateExited  ReplicaState = "exited"
)

// Replica is one container of a stack, as observed on the host.
type Replica struct {
	ID      string
	Name    string
	Service string // "" for a container whose labels name no service
	Number  int
	// Hash is the config hash the container was created with; ImageID
	// the image it was created from.
	Hash     string
	ImageID  string
	State    ReplicaState
	ExitCode int
	// Oneoff marks `berth run SVC` containers: the plan leaves them be.
	Oneoff bool
	// StopRequested: someone stopped it; restart policies leave it.
	StopRequested bool
	// Restart is carried over from the replicas it replaced after exits.
	Restart RestartState
	// Health is "starting", "healthy" or "unhealthy" for a running
	// replica with a health check, "" otherwise.
	Health     string
	StartedAt  time.Time
	FinishedAt time.Time
}

// Observed is what a pass sees of one stack on the host.
type Observed struct {
	Replicas []Replica
	// Networks are the host networks that exist, by their host name.
	Networks map[string]bool
	// Images are the image IDs of the services' images, by service name;
	// a service whose image is not in the store has none.
	Images map[string]string
}
