package runtime

import specs "github.com/opencontainers/runtime-spec/specs-go"

// defaultDevices are Docker's default device rules: deny everything, then
// allow the few character devices every container gets (/dev/null, zero,
// full, random, urandom, tty, console, ptmx and the pts), and mknod of any
// device, which is harmless while reading and writing it stay denied.
//
// v1 writes them to devices.deny and devices.allow in this order. v2 has no
// devices controller: cgroup2 compiles them into an eBPF program
// (BPF_CGROUP_DEVICE) attached to the group, where the last matching rule
// wins, as on v1.
func defaultDevices() []specs.LinuxDeviceCgroup {
	const wildcard = -1 // "*"
	rule := func(allow bool, typ string, major, minor int64, access string) specs.LinuxDeviceCgroup {
		// Both libraries take a nil Major or Minor as "*" on v1, but the
		// v2 device filter dereferences them: always set both.
		return specs.LinuxDeviceCgroup{Allow: allow, Type: typ, Major: &major, Minor: &minor, Access: access}
	}
	return []specs.LinuxDeviceCgroup{
		rule(false, "a", wildcard, wildcard, "rwm"),
		rule(true, "c", wildcard, wildcard, "m"),
		rule(true, "b", wildcard, wildcard, "m"),
		rule(true, "c", 1, 3, "rwm"),          // null
		rule(true, "c", 1, 5, "rwm"),          // zero
		rule(true, "c", 1, 7, "rwm"),          // full
		rule(true, "c", 1, 8, "rwm"),          // random
		rule(true, "c", 1, 9, "rwm"),          // urandom
		rule(true, "c", 5, 0, "rwm"),          // tty
		rule(true, "c", 5, 1, "rwm"),          // console
		rule(true, "c", 5, 2, "rwm"),          // ptmx
		rule(true, "c", 136, wildcard, "rwm"), // pts
	}
}
