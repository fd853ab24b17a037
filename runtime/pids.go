package runtime

// pidsLimit is pids.max for r, or 0 for no limit: Docker reads a PidsLimit
// of 0 or -1 as unlimited.
func pidsLimit(r Resources) int64 {
	return max(r.PidsLimit, 0)
}

// pidsSettings is what the pids controller is given, on v1 and v2 alike:
// pids.max, or nothing for no limit, which is a new group's default.
func pidsSettings(r Resources) []cgroupSetting {
	n := pidsLimit(r)
	if n == 0 {
		return nil
	}
	return []cgroupSetting{intSetting("pids.max", n)}
}
