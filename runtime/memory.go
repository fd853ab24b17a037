package runtime

import (
	"fmt"
	"math"
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

// v1 is what the v1 memory controller is given: memory.limit_in_bytes,
// then memory.memsw.limit_in_bytes (memory plus swap) where the kernel
// accounts swap per group (haveMemsw: swapaccount=1), then
// memory.swappiness. The kernel refuses a memsw limit below the memory
// limit, hence the order.
//
// memory.swappiness 0 stops reclaim in this group from swapping at all, so
// hitting the limit is an OOM kill. It is set when no swap is allowed, and
// when swap is allowed but cannot be capped (no memsw files): there the
// group could otherwise swap without bound instead of being killed.
func (l memoryLimits) v1(haveMemsw bool) []cgroupSetting {
	if l.limit == 0 {
		return nil
	}
	s := []cgroupSetting{intSetting("memory.limit_in_bytes", l.limit)}
	if haveMemsw && l.memsw > 0 {
		s = append(s, intSetting("memory.memsw.limit_in_bytes", l.memsw))
	}
	if l.memsw == l.limit || !haveMemsw && l.memsw != -1 {
		s = append(s, intSetting("memory.swappiness", 0))
	}
	return s
}

// v2 is what the v2 memory controller is given: memory.max, and
// memory.swap.max where the kernel accounts swap. v2 limits swap alone, so
// that is memsw - limit. Without swap accounting swap cannot be capped: v2
// has no memory.swappiness to turn it off either.
//
// v2 takes "max", never -1, for unlimited, so unlimited is never written:
// it is a new group's default.
func (l memoryLimits) v2() []cgroupSetting {
	var s []cgroupSetting
	if l.limit > 0 {
		s = append(s, intSetting("memory.max", l.limit))
	}
	if l.memsw > 0 {
		swap := intSetting("memory.swap.max", l.memsw-l.limit)
		swap.ifOffered = true
		s = append(s, swap)
	}
	return s
}
