package runtime

import (
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// pidsLimit is pids.max for r, or 0 for no limit: Docker reads a PidsLimit
// of 0 or -1 as unlimited.
func pidsLimit(r Resources) int64 {
	return max(r.PidsLimit, 0)
}

// pidsV1 is what the v1 pids controller is given, or nil for no limit.
func pidsV1(r Resources) *specs.LinuxPids {
	n := pidsLimit(r)
	if n == 0 {
		return nil
	}
	return &specs.LinuxPids{Limit: &n}
}

// pidsV2 is what the v2 pids controller is given. It is never nil, so the
// controller is enabled (and pids.current readable) even without a limit.
func pidsV2(r Resources) *cgroup2.Pids {
	return &cgroup2.Pids{Max: pidsLimit(r)}
}
