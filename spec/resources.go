package spec

import (
	"maps"
	"strconv"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
)

// resources folds the service-level limits with deploy.resources, whose
// values win when set, as docker compose does (getDeployResources).
func resources(s types.ServiceConfig) Resources {
	r := Resources{
		CPUShares: s.CPUShares,
		Limits: Limits{
			CPUs:       cpus(s.CPUS),
			Memory:     int64(s.MemLimit),
			MemorySwap: int64(s.MemSwapLimit),
			Pids:       s.PidsLimit,
		},
		Reservations: Limits{Memory: int64(s.MemReservation)},
	}
	if s.Deploy == nil {
		return r
	}
	if l := s.Deploy.Resources.Limits; l != nil {
		if l.MemoryBytes != 0 {
			r.Limits.Memory = int64(l.MemoryBytes)
		}
		if l.NanoCPUs != 0 {
			r.Limits.CPUs = cpus(float32(l.NanoCPUs))
		}
		if l.Pids > 0 {
			r.Limits.Pids = l.Pids
		}
	}
	if l := s.Deploy.Resources.Reservations; l != nil {
		if l.MemoryBytes != 0 {
			r.Reservations.Memory = int64(l.MemoryBytes)
		}
		if l.NanoCPUs != 0 {
			r.Reservations.CPUs = cpus(float32(l.NanoCPUs))
		}
	}
	return r
}

// cpus widens compose-go's float32 by its shortest decimal form, so that
// "0.1" is 0.1 and not 0.10000000149011612.
func cpus(f float32) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(float64(f), 'g', -1, 32), 64)
	return v
}

// logging types the json-file rotation options, parsed as Docker does.
func (c *converter) logging(s types.ServiceConfig, at []string) Logging {
	var lg Logging
	opts := map[string]string{}
	if s.Logging != nil {
		lg.Driver = s.Logging.Driver
		maps.Copy(opts, s.Logging.Options)
	}
	if lg.Driver == "" {
		lg.Driver = s.LogDriver
	}
	for k, v := range s.LogOpt {
		if _, ok := opts[k]; !ok {
			opts[k] = v
		}
	}
	if v, ok := opts["max-size"]; ok {
		delete(opts, "max-size")
		n, err := units.RAMInBytes(v)
		if err != nil || n < 0 {
			c.fail(append(at, "options", "max-size"), "write a size as 10m or 1g", "max-size %q is not a size", v)
		}
		lg.MaxSize = n
	}
	if v, ok := opts["max-file"]; ok {
		delete(opts, "max-file")
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			c.fail(append(at, "options", "max-file"), "write a number of files, 1 or more", "max-file %q is not a number of files", v)
		}
		lg.MaxFile = n
	}
	lg.Options = mapOrNil(opts)
	return lg
}
