package runtime

import (
	"fmt"
	"math"

	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// memoryLimits is the memory part of Resources as the kernel takes it, in
// bytes. Zero leaves a value at its default, which is unlimited.
type memoryLimits struct {
	limit int64 // memory.limit_in_bytes (v1), memory.max (v2)
	// memsw is memory plus swap, what v1's memory.memsw.limit_in_bytes
	// takes; -1 is unlimited swap. v2 limits swap alone: memory.swap.max
	// is memsw - limit.
	memsw int64
}

// memoryLimitsFor applies Docker's rules to r: MemorySwap counts memory plus
// swap, 0 means twice Memory, -1 unlimited swap, and it needs a Memory limit.
func memoryLimitsFor(r Resources) (memoryLimits, error) {
	switch {
	case r.Memory < 0:
		return memoryLimits{}, fmt.Errorf("memory limit %d is negative", r.Memory)
	case r.MemorySwap < -1:
		return memoryLimits{}, fmt.Errorf("memory+swap limit %d is invalid: use -1 for unlimited swap", r.MemorySwap)
	case r.Memory == 0 && r.MemorySwap > 0:
		return memoryLimits{}, fmt.Errorf("memory+swap limit %d needs a memory limit as well", r.MemorySwap)
	case r.Memory == 0:
		return memoryLimits{}, nil
	case r.MemorySwap == -1, r.MemorySwap == 0 && r.Memory > math.MaxInt64/2:
		return memoryLimits{limit: r.Memory, memsw: -1}, nil
	case r.MemorySwap == 0:
		return memoryLimits{limit: r.Memory, memsw: 2 * r.Memory}, nil
	case r.MemorySwap < r.Memory:
		return memoryLimits{}, fmt.Errorf("memory+swap limit %d is below the memory limit %d: it counts memory plus swap", r.MemorySwap, r.Memory)
	}
	return memoryLimits{limit: r.Memory, memsw: r.MemorySwap}, nil
}

// v1 is what the v1 memory controller is given. haveMemsw tells whether the
// kernel accounts swap per group (memory.memsw.* exist: swapaccount=1).
//
// memory.swappiness 0 stops reclaim in this group from swapping at all, so
// hitting the limit is an OOM kill. It is set when no swap is allowed, and
// when swap is allowed but cannot be capped (no memsw files): there the
// group could otherwise swap without bound instead of being killed.
func (l memoryLimits) v1(haveMemsw bool) *specs.LinuxMemory {
	if l.limit == 0 {
		return nil
	}
	m := &specs.LinuxMemory{Limit: &l.limit}
	if haveMemsw && l.memsw > 0 {
		m.Swap = &l.memsw
	}
	if l.memsw == l.limit || !haveMemsw && l.memsw != -1 {
		var noSwap uint64
		m.Swappiness = &noSwap
	}
	return m
}

// v2 is what the v2 memory controller is given, swap aside (see swapMax).
// It is never nil: a non-nil Memory enables the controller for the group,
// which memory.events (OOM kills) needs even without a limit.
func (l memoryLimits) v2() *cgroup2.Memory {
	m := &cgroup2.Memory{}
	if l.limit > 0 {
		m.Max = &l.limit
	}
	return m
}

// swapMax is v2's memory.swap.max, swap alone; ok is false when swap stays
// unlimited. v2 takes "max", never -1, for unlimited, so unlimited is never
// written: it is a new group's default.
func (l memoryLimits) swapMax() (swap int64, ok bool) {
	if l.memsw <= 0 {
		return 0, false
	}
	return l.memsw - l.limit, true
}
