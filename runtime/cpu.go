package runtime

import (
	"fmt"
	"math"
)

const (
	// cfsPeriod is the CFS period, in µs, that a CPU limit is a share of:
	// Docker's, and the kernel's default.
	cfsPeriod = 100000
	// cfsMinQuota is the smallest quota the kernel accepts, in µs (0.01 CPU).
	cfsMinQuota = 1000

	// The v1 range of cpu.shares; the kernel clamps other values into it.
	minCPUShares = 2
	maxCPUShares = 262144
)

// cpuQuota turns a CPU count in billionths into a CFS quota per cfsPeriod,
// as Docker does: 1.5 CPUs is 150000 µs every 100000 µs. 0 is no limit.
func cpuQuota(nanoCPUs int64) (int64, error) {
	switch {
	case nanoCPUs == 0:
		return 0, nil
	case nanoCPUs < 0:
		return 0, fmt.Errorf("cpu limit %d nanoCPUs is negative", nanoCPUs)
	case nanoCPUs > math.MaxInt64/cfsPeriod:
		return 0, fmt.Errorf("cpu limit %d nanoCPUs is too large", nanoCPUs)
	}
	q := nanoCPUs * cfsPeriod / 1e9
	if q < cfsMinQuota {
		return 0, fmt.Errorf("cpu limit %g CPUs is below the kernel's minimum of 0.01", float64(nanoCPUs)/1e9)
	}
	return q, nil
}

// cpuShares clamps shares into the range v1 takes, keeping 0 as "unset".
func cpuShares(shares uint64) uint64 {
	if shares == 0 {
		return 0
	}
	return min(max(shares, minCPUShares), maxCPUShares)
}

// cpuWeight converts v1 cpu.shares [2, 262144] to v2 cpu.weight [1, 10000]
// with the linear formula of runc <= 1.3.1 and crun <= 1.22. (Later runc and
// crun map the default 1024 shares to the default weight 100 instead; this
// one maps it to 39.) 0 stays 0, "unset".
func cpuWeight(shares uint64) uint64 {
	shares = cpuShares(shares)
	if shares == 0 {
		return 0
	}
	return 1 + (shares-minCPUShares)*9999/(maxCPUShares-minCPUShares)
}

// cpuV1 is what the v1 cpu controller is given: cpu.shares, then the CFS
// period and quota.
func cpuV1(r Resources) ([]cgroupSetting, error) {
	quota, err := cpuQuota(r.NanoCPUs)
	if err != nil {
		return nil, err
	}
	var s []cgroupSetting
	if shares := cpuShares(r.CPUShares); shares != 0 {
		s = append(s, intSetting("cpu.shares", int64(shares)))
	}
	if quota != 0 {
		s = append(s, intSetting("cpu.cfs_period_us", cfsPeriod), intSetting("cpu.cfs_quota_us", quota))
	}
	return s, nil
}

// cpuV2 is what the v2 cpu controller is given: cpu.weight, and the quota
// and period together in cpu.max.
func cpuV2(r Resources) ([]cgroupSetting, error) {
	quota, err := cpuQuota(r.NanoCPUs)
	if err != nil {
		return nil, err
	}
	var s []cgroupSetting
	if w := cpuWeight(r.CPUShares); w != 0 {
		s = append(s, intSetting("cpu.weight", int64(w)))
	}
	if quota != 0 {
		s = append(s, cgroupSetting{file: "cpu.max", value: fmt.Sprintf("%d %d", quota, cfsPeriod)})
	}
	return s, nil
}
