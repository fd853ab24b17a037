package network

import (
	"errors"

	"github.com/vishvananda/netlink"
)

// dumpTries bounds how often a netlink dump is asked again when the
// kernel says it was interrupted.
const dumpTries = 10

// dumped runs a netlink dump (a list of links, addresses or routes) until
// the kernel reports it whole. A dump that a change of the same table
// interrupts (NLM_F_DUMP_INTR) comes back as ErrDumpInterrupted with
// results that may miss or repeat entries: links come and go all the
// time while a stack's containers are attached and detached at once, so
// the first try of a list may well be cut, and the next one is not.
func dumped[T any](dump func() (T, error)) (T, error) {
	var out T
	var err error
	for range dumpTries {
		out, err = dump()
		if !errors.Is(err, netlink.ErrDumpInterrupted) {
			return out, err
		}
	}
	return out, err
}
