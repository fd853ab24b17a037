package runtime

import (
	"maps"
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

// cgSettings is settings as file -> value; a file written twice fails t.
func cgSettings(t *testing.T, settings []cgroupSetting) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, s := range settings {
		if _, dup := m[s.file]; dup {
			t.Errorf("%s is written twice", s.file)
		}
		m[s.file] = s.value
	}
	return m
}

func TestCgroupMemoryV1(t *testing.T) {
	const none = "" // "not written" in this table
	tests := []struct {
		name       string
		l          memoryLimits
		memsw      bool
		limit      string
		swap       string
		swappiness string
	}{
		{name: "no limit writes nothing", l: memoryLimits{}, memsw: true, limit: none, swap: none, swappiness: none},
		{name: "memory plus swap", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, memsw: true, limit: "67108864", swap: "134217728", swappiness: none},
		{name: "no swap turns swapping off", l: memoryLimits{limit: 64 * mib, memsw: 64 * mib}, memsw: true, limit: "67108864", swap: "67108864", swappiness: "0"},
		{name: "unlimited swap is left at the default", l: memoryLimits{limit: 64 * mib, memsw: -1}, memsw: true, limit: "67108864", swap: none, swappiness: none},
		{name: "swap that cannot be capped is turned off", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, memsw: false, limit: "67108864", swap: none, swappiness: "0"},
		{name: "unlimited swap without memsw", l: memoryLimits{limit: 64 * mib, memsw: -1}, memsw: false, limit: "67108864", swap: none, swappiness: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := tt.l.v1(tt.memsw)
			want := map[string]string{}
			for file, value := range map[string]string{
				"memory.limit_in_bytes":       tt.limit,
				"memory.memsw.limit_in_bytes": tt.swap,
				"memory.swappiness":           tt.swappiness,
			} {
				if value != none {
					want[file] = value
				}
			}
			if got := cgSettings(t, settings); !maps.Equal(got, want) {
				t.Errorf("%+v.v1(memsw=%v) = %+v, want %v", tt.l, tt.memsw, settings, want)
			}
			// The kernel refuses a memsw limit below the memory limit.
			if len(settings) > 0 && settings[0].file != "memory.limit_in_bytes" {
				t.Errorf("%s is written before memory.limit_in_bytes", settings[0].file)
			}
		})
	}
}

func TestCgroupMemoryV2(t *testing.T) {
	const none = "" // "not written" in this table
	tests := []struct {
		name string
		l    memoryLimits
		max  string
		swap string
	}{
		{name: "no limit", l: memoryLimits{}, max: none, swap: none},
		{name: "swap is what memsw allows above memory", l: memoryLimits{limit: 64 * mib, memsw: 96 * mib}, max: "67108864", swap: "33554432"},
		{name: "docker default", l: memoryLimits{limit: 64 * mib, memsw: 128 * mib}, max: "67108864", swap: "67108864"},
		{name: "no swap", l: memoryLimits{limit: 64 * mib, memsw: 64 * mib}, max: "67108864", swap: "0"},
		{name: "unlimited swap is not written", l: memoryLimits{limit: 64 * mib, memsw: -1}, max: "67108864", swap: none},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			settings := tt.l.v2()
			m := cgSettings(t, settings)
			if m["memory.max"] != tt.max || m["memory.swap.max"] != tt.swap {
				t.Errorf("%+v.v2() = %+v; want memory.max %q, memory.swap.max %q (%q: not written)",
					tt.l, settings, tt.max, tt.swap, none)
			}
			for _, s := range settings {
				// Without swap accounting the kernel has no memory.swap.max.
				if s.ifOffered != (s.file == "memory.swap.max") {
					t.Errorf("%s has ifOffered %v", s.file, s.ifOffered)
				}
			}
		})
	}
}
