package runtime

import (
	"slices"
	"testing"
)

func TestCgroupCPUQuota(t *testing.T) {
	tests := []struct {
		name     string
		nanoCPUs int64
		quota    int64
		err      bool
	}{
		{name: "no limit", nanoCPUs: 0, quota: 0},
		{name: "one and a half CPUs", nanoCPUs: 1.5e9, quota: 150000},
		{name: "one CPU", nanoCPUs: 1e9, quota: 100000},
		{name: "a quarter CPU", nanoCPUs: 0.25e9, quota: 25000},
		{name: "the minimum of 0.01 CPU", nanoCPUs: 0.01e9, quota: 1000},
		{name: "sixteen CPUs", nanoCPUs: 16e9, quota: 1600000},
		{name: "below the kernel's minimum", nanoCPUs: 0.005e9, err: true},
		{name: "negative", nanoCPUs: -1e9, err: true},
		{name: "overflowing", nanoCPUs: 1 << 62, err: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := cpuQuota(tt.nanoCPUs)
			if tt.err {
				if err == nil {
					t.Fatalf("cpuQuota(%d) = %d, want an error", tt.nanoCPUs, got)
				}
				return
			}
			if err != nil || got != tt.quota {
				t.Errorf("cpuQuota(%d) = %d, %v; want %d", tt.nanoCPUs, got, err, tt.quota)
			}
		})
	}
}

func TestCgroupCPUWeight(t *testing.T) {
	tests := []struct {
		shares, weight uint64
	}{
		{0, 0}, // unset stays unset
		{1, 1}, // clamped to 2 first, as the kernel does on v1
		{2, 1},
		{512, 20},
		{1024, 39},
		{2048, 79},
		{262144, 10000},
		{1 << 20, 10000},
	}
	for _, tt := range tests {
		if got := cpuWeight(tt.shares); got != tt.weight {
			t.Errorf("cpuWeight(%d) = %d, want %d", tt.shares, got, tt.weight)
		}
	}
}

func TestCgroupCPUControllers(t *testing.T) {
	r := Resources{NanoCPUs: 1.5e9, CPUShares: 512}
	v1, err := cpuV1(r)
	if err != nil {
		t.Fatal(err)
	}
	want := []cgroupSetting{
		{file: "cpu.shares", value: "512"},
		{file: "cpu.cfs_period_us", value: "100000"},
		{file: "cpu.cfs_quota_us", value: "150000"},
	}
	if !slices.Equal(v1, want) {
		t.Errorf("cpuV1(%+v) = %+v, want %+v", r, v1, want)
	}
	v2, err := cpuV2(r)
	if err != nil {
		t.Fatal(err)
	}
	want = []cgroupSetting{
		{file: "cpu.weight", value: "20"},
		{file: "cpu.max", value: "150000 100000"},
	}
	if !slices.Equal(v2, want) {
		t.Errorf("cpuV2(%+v) = %+v, want %+v", r, v2, want)
	}

	if v1, err := cpuV1(Resources{}); len(v1) != 0 || err != nil {
		t.Errorf("cpuV1 without limits = %+v, %v; want nothing", v1, err)
	}
	if v2, err := cpuV2(Resources{}); len(v2) != 0 || err != nil {
		t.Errorf("cpuV2 without limits = %+v, %v; want nothing", v2, err)
	}
	if _, err := cpuV1(Resources{NanoCPUs: 1}); err == nil {
		t.Error("cpuV1 with 1 nanoCPU: no error")
	}
}
