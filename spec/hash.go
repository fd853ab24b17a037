package spec

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// hashVersion is the first line of what ConfigHash hashes. It changes only
// when the meaning of an existing field of hashInput changes; then every
// container is recreated once, on the first `up` after the upgrade.
const hashVersion = "berth-hash-v1\n"

// hashInput lists exactly the fields of a service whose change requires a
// new container. Left out, because the engine applies them to running
// containers or they do not concern one container: Replicas, DependsOn,
// Build (the image built from it is what counts, by name), Develop,
// UpdateConfig, Restart (the engine restarts containers) and Healthcheck
// (the engine runs the checks).
//
// Rules that keep hashes stable across berth versions:
//   - every field is `omitempty` (or `omitzero`), so a field added later
//     leaves the hash of services that do not use it unchanged;
//   - maps are encoded with sorted keys (encoding/json does), lists whose
//     order means nothing are sorted when the Service is built;
//   - values are normalised (bytes, durations, absolute paths), so that
//     "512m" and "536870912", or "1m30s" and "90s", hash the same.
type hashInput struct {
	ContainerName   string                    `json:"container_name,omitempty"`
	Image           string                    `json:"image,omitempty"`
	Command         []string                  `json:"command,omitempty"`
	Entrypoint      []string                  `json:"entrypoint,omitempty"`
	Environment     map[string]string         `json:"environment,omitempty"`
	User            string                    `json:"user,omitempty"`
	WorkingDir      string                    `json:"working_dir,omitempty"`
	Hostname        string                    `json:"hostname,omitempty"`
	Domainname      string                    `json:"domainname,omitempty"`
	Labels          map[string]string         `json:"labels,omitempty"`
	Ports           []PortBinding             `json:"ports,omitempty"`
	Expose          []ContainerPort           `json:"expose,omitempty"`
	Networks        map[string]ServiceNetwork `json:"networks,omitempty"`
	ExtraHosts      []ExtraHost               `json:"extra_hosts,omitempty"`
	DNS             []string                  `json:"dns,omitempty"`
	Mounts          []Mount                   `json:"mounts,omitempty"`
	Configs         []FileMount               `json:"configs,omitempty"`
	Secrets         []FileMount               `json:"secrets,omitempty"`
	Resources       Resources                 `json:"resources,omitzero"`
	CapAdd          []string                  `json:"cap_add,omitempty"`
	CapDrop         []string                  `json:"cap_drop,omitempty"`
	Privileged      bool                      `json:"privileged,omitempty"`
	ReadOnly        bool                      `json:"read_only,omitempty"`
	Sysctls         map[string]string         `json:"sysctls,omitempty"`
	Ulimits         map[string]Ulimit         `json:"ulimits,omitempty"`
	Init            *bool                     `json:"init,omitempty"`
	StopSignal      string                    `json:"stop_signal,omitempty"`
	StopGracePeriod time.Duration             `json:"stop_grace_period,omitempty"`
	Logging         Logging                   `json:"logging,omitzero"`
	// CommandSet and EntrypointSet tell "not set" (the image's) from "set
	// to nothing" (`command: []`), which omitempty cannot.
	CommandSet    bool `json:"command_set,omitempty"`
	EntrypointSet bool `json:"entrypoint_set,omitempty"`
}

// ConfigHash returns the hex SHA-256 of the service's configuration that a
// container is created from: containers are stamped with it, and one whose
// stamp differs from its service's hash is recreated. It does not change
// with key order, comments, formatting, short or long syntax, replicas,
// depends_on, build settings, develop.watch, deploy.update_config, restart
// or healthcheck, nor from one berth version to the next (golden tests pin
// it).
func (s *Service) ConfigHash() string {
	in := hashInput{
		ContainerName:   s.ContainerName,
		Image:           s.Image,
		Command:         s.Command,
		Entrypoint:      s.Entrypoint,
		Environment:     s.Environment,
		User:            s.User,
		WorkingDir:      s.WorkingDir,
		Hostname:        s.Hostname,
		Domainname:      s.Domainname,
		Labels:          s.Labels,
		Ports:           s.Ports,
		Expose:          s.Expose,
		Networks:        s.Networks,
		ExtraHosts:      s.ExtraHosts,
		DNS:             s.DNS,
		Mounts:          s.Mounts,
		Configs:         s.Configs,
		Secrets:         s.Secrets,
		Resources:       s.Resources,
		CapAdd:          s.CapAdd,
		CapDrop:         s.CapDrop,
		Privileged:      s.Privileged,
		ReadOnly:        s.ReadOnly,
		Sysctls:         s.Sysctls,
		Ulimits:         s.Ulimits,
		Init:            s.Init,
		StopSignal:      s.StopSignal,
		StopGracePeriod: s.StopGracePeriod,
		Logging:         s.Logging,
		CommandSet:      s.Command != nil,
		EntrypointSet:   s.Entrypoint != nil,
	}
	b, err := json.Marshal(in)
	if err != nil {
		// Every field is a plain value: this cannot fail.
		panic("spec: encoding a service for its hash: " + err.Error())
	}
	sum := sha256.Sum256(append([]byte(hashVersion), b...))
	return hex.EncodeToString(sum[:])
}
