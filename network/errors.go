package network

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

var (
	// ErrNotFound: no network has that name.
	ErrNotFound = errors.New("no such network")
	// ErrExists: a network of that name exists already.
	ErrExists = errors.New("network already exists")
	// ErrInUse: the network still has endpoints (see InUseError).
	ErrInUse = errors.New("network has active endpoints")
	// ErrPoolExhausted: every subnet of the pool is taken or routed on the host.
	ErrPoolExhausted = errors.New("no free subnet left in the address pool")
	// ErrSubnetOverlap: a requested subnet overlaps another network's.
	ErrSubnetOverlap = errors.New("subnet overlaps another network")
	// ErrAddressInUse: a requested container address is taken.
	ErrAddressInUse = errors.New("address already in use")
	// ErrSubnetFull: the network has no free address left.
	ErrSubnetFull = errors.New("no free address left in the subnet")
	// ErrPortInUse: a host port to publish is held by someone else.
	ErrPortInUse = errors.New("address already in use")
	// ErrNotAttached: the sandbox has no endpoints (Publish before Attach).
	ErrNotAttached = errors.New("container is not attached to a network")
	// ErrBusy: another berth process is attaching or detaching the same
	// sandbox right now.
	ErrBusy = errors.New("another berth process is setting up this container's network")
	// ErrDNSRunning: another process serves DNS for this root already.
	ErrDNSRunning = errors.New("berth's DNS server runs already")
	// ErrInvalid: a name, subnet, address or port mapping is malformed.
	ErrInvalid = errors.New("invalid network configuration")
)

// InUseError says which sandboxes keep a network from being removed.
type InUseError struct {
	Network   string
	Sandboxes []string // sandbox (container) ids
}

func (e *InUseError) Error() string {
	ids := make([]string, len(e.Sandboxes))
	for i, id := range e.Sandboxes {
		ids[i] = shortID(id)
	}
	return fmt.Sprintf("network %q: %v: %s", e.Network, ErrInUse, strings.Join(ids, ", "))
}

func (e *InUseError) Unwrap() error { return ErrInUse }

// PortConflictError is a host port that cannot be published because
// something holds it already.
type PortConflictError struct {
	Addr     netip.AddrPort
	Protocol string // "tcp" or "udp"
	// Holder names who holds it: "pid 4121 (nginx)", "container 3f2a..."
	// or "" when it could not be found.
	Holder string
}

func (e *PortConflictError) Error() string {
	s := fmt.Sprintf("publishing %s/%s: %v", e.Addr, e.Protocol, ErrPortInUse)
	if e.Holder != "" {
		s += " (held by " + e.Holder + ")"
	}
	return s
}

func (e *PortConflictError) Unwrap() error { return ErrPortInUse }

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}
