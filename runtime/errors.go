package runtime

import (
	"errors"
	"fmt"

	"github.com/berthproject/berth/runtime/containerinit"
)

var (
	// ErrNotFound: no container has that name or id prefix.
	ErrNotFound = errors.New("no such container")
	// ErrAmbiguous: an id prefix matches more than one container.
	ErrAmbiguous = errors.New("id prefix matches several containers")
	// ErrNameInUse: another container already has that name.
	ErrNameInUse = errors.New("name already in use")
	// ErrRunning: the operation needs a stopped container.
	ErrRunning = errors.New("container is running")
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("container is not running")
	// ErrPaused: the container is paused (exec), or already is (pause).
	ErrPaused = errors.New("container is paused")
	// ErrNotPaused: unpause of a container that is not paused.
	ErrNotPaused = errors.New("container is not paused")
	// ErrNotRoot: berth needs root to create namespaces and cgroups.
	ErrNotRoot = errors.New("berth must run as root")
	// ErrNamespaces: the kernel refused to create a container's namespaces.
	ErrNamespaces = errors.New("the kernel refused to create namespaces")
)

// StartError is a container that could not start its command. Code is the
// exit code Docker uses for the same failure: 125 when berth failed, 126
// when the command cannot be executed, 127 when it does not exist.
type StartError struct {
	Container string // name
	Code      int
	Err       error
}

func (e *StartError) Error() string {
	return fmt.Sprintf("starting container %s: %v", e.Container, e.Err)
}

func (e *StartError) Unwrap() error { return e.Err }

// Exit codes of a container that never got to run its command, as Docker's.
const (
	ExitSetupFailed   = containerinit.ExitSetupFailed   // berth failed
	ExitCannotExecute = containerinit.ExitCannotExecute // the command cannot be executed
	ExitNotFound      = containerinit.ExitNotFound      // the command does not exist
)

// CgroupUnavailableError reports that the host lacks a cgroup file system or
// a controller that berth needs to create containers.
type CgroupUnavailableError struct {
	Missing string // "the memory controller", "a cgroup file system"
	Path    string // where it was looked for
	Fix     string // what an operator can do about it
}

// Error says what is missing where; Fix is for the hint under it.
func (e *CgroupUnavailableError) Error() string {
	return fmt.Sprintf("%s is not available at %s", e.Missing, e.Path)
}
