package volume

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinels a caller can test with errors.Is; the typed errors below wrap
// them and carry the details.
var (
	// ErrNotFound: no volume has that name.
	ErrNotFound = errors.New("no such volume")
	// ErrInUse: a container, running or not, mounts the volume.
	ErrInUse = errors.New("volume is in use")
	// ErrInvalidName: the name breaks Docker's rule for volume names.
	ErrInvalidName = errors.New("invalid volume name")
)

// NotFoundError says which name found nothing.
type NotFoundError struct {
	Name string
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("volume %q: %v", e.Name, ErrNotFound)
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// InUseError names the containers that keep a volume from going.
type InUseError struct {
	Name       string
	Containers []string // names, sorted
}

// Error reads: volume "data" is in use by container web
func (e *InUseError) Error() string {
	what := "container "
	if len(e.Containers) > 1 {
		what = "containers "
	}
	return fmt.Sprintf("volume %q is in use by %s%s", e.Name, what, strings.Join(e.Containers, ", "))
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// NameError is a name that cannot be a volume's.
type NameError struct {
	Name string
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%v %q: it must be 2 to 255 of [a-zA-Z0-9_.-], starting with a letter or digit", ErrInvalidName, e.Name)
}

func (e *NameError) Unwrap() error { return ErrInvalidName }
