package runtime

import (
	"math"
	"testing"
)

const mib = 1 << 20

func TestCgroupMemoryLimits(t *testing.T) {
	tests := []struct {
		name string
		r    Resources
		want memoryLimits
		err  bool
	}{
		{name: "no limits", r: Resources{}, want: memoryLimits{}},
		{name: "unlimited swap alone", r: Resources{MemorySwap: -1}, want: memoryLimits{}},
		{name: "swap defaults to twice memory", r: Resources{Memory: 64 * mib}, want: memoryLimits{limit: 64 * mib, memsw: 128 * mib}},
		{name: "explicit memory plus swap", r: Resources{Memory: 64 * mib, MemorySwap: 96 * mib}, want: memoryLimits{limit: 64 * mib, memsw: 96 * mib}},
		{name: "swap equal to memory means no swap", r: Resources{Memory: 64 * mib, MemorySwap: 64 * mib}, want: memoryLimits{limit: 64 * mib, memsw: 64 * mib}},
		{name: "unlimited swap", r: Resources{Memory: 64 * mib, MemorySwap: -1}, want: memoryLimits{limit: 64 * mib, memsw: -1}},
		{name: "twice a huge limit does not overflow", r: Resources{Memory: math.MaxInt64/2 + 1}, want: memoryLimits{limit: math.MaxInt64/2 + 1, memsw: -1}},
		{name: "swap below memory", r: Resources{Memory: 64 * mib, MemorySwap: 32 * mib}, err: true},
		{name: "swap without memory", r: Resources{MemorySwap: 64 * mib}, err: true},
		{name: "negative memory", r: Resources{Memory: -1}, err: true},
		{name: "swap below -1", r: Resources{Memory: 64 * mib, MemorySwap: -2}, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := memoryLimitsFor(tt.r)
			if tt.err {
				if err == nil {
					t.Fatalf("memoryLimitsFor(%+v) = %+v, want an error", tt.r, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("memoryLimitsFor(%+v): %v", tt.r, err)
			}
			if got != tt.want {
				t.Errorf("memoryLimitsFor(%+v) = %+v, want %+v", tt.r, got, tt.want)
			}
		})
	}
}

func TestCgroupMemoryV1(t *testing.T) {
	const none = int64(-99) // "not written" in this table
	tests := []struct {
		name       string
		l          memoryLimits
		memsw      bool
		limit      int64
		swap       int64
		swappiness int64
	}{
		{name: "no limit writes nothing", l: memoryLimits{}, memsw: true, limit: none, swap: none, swappiness: none},
		{name: "memory plus swap", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, memsw: true, limit: 64 * mib, swap: 128 * mib, swappiness: none},
		{name: "no swap turns swapping off", l: memoryLimits{limit: 64 * mib, memsw: 64 * mib}, memsw: true, limit: 64 * mib, swap: 64 * mib, swappiness: 0},
		{name: "unlimited swap is left at the default", l: memoryLimits{limit: 64 * mib, memsw: -1}, memsw: true, limit: 64 * mib, swap: none, swappiness: none},
		{name: "swap that cannot be capped is turned off", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, memsw: false, limit: 64 * mib, swap: none, swappiness: 0},
		{name: "unlimited swap without memsw", l: memoryLimits{limit: 64 * mib, memsw: -1}, memsw: false, limit: 64 * mib, swap: none, swappiness: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.l.v1(tt.memsw)
			limit, swap, swappiness := none, none, none
			if m != nil {
				if m.Limit != nil {
					limit = *m.Limit
				}
				if m.Swap != nil {
					swap = *m.Swap
				}
				if m.Swappiness != nil {
					swappiness = int64(*m.Swappiness)
				}
			}
			if limit != tt.limit || swap != tt.swap || swappiness != tt.swappiness {
				t.Errorf("%+v.v1(memsw=%v): limit %d, memsw %d, swappiness %d; want %d, %d, %d (%d: not written)",
					tt.l, tt.memsw, limit, swap, swappiness, tt.limit, tt.swap, tt.swappiness, none)
			}
		})
	}
}

func TestCgroupMemoryV2(t *testing.T) {
	tests := []struct {
		name    string
		l       memoryLimits
		max     int64 // -1: not written
		swap    int64
		hasSwap bool
	}{
		{name: "no limit", l: memoryLimits{}, max: -1},
		{name: "swap is what memsw allows above memory", l: memoryLimits{limit: 64 * mib, memsw: 96 * mib}, max: 64 * mib, swap: 32 * mib, hasSwap: true},
		{name: "docker default", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, max: 64 * mib, swap: 64 * mib, hasSwap: true},
		{name: "no swap", l: memoryLimits{limit: 64 * mib, memsw: 64 * mib}, max: 64 * mib, swap: 0, hasSwap: true},
		{name: "unlimited swap is not written", l: memoryLimits{limit: 64 * mib, memsw: -1}, max: 64 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.l.v2()
			if m == nil {
				t.Fatal("v2() = nil; the memory controller would not be enabled")
			}
			max := int64(-1)
			if m.Max != nil {
				max = *m.Max
			}
			swap, ok := tt.l.swapMax()
			if max != tt.max || ok != tt.hasSwap || swap != tt.swap {
				t.Errorf("%+v: memory.max %d, memory.swap.max %d (written %v); want %d, %d (%v)",
					tt.l, max, swap, ok, tt.max, tt.swap, tt.hasSwap)
			}
		})
	}
}
