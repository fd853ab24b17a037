package scheduler

import "strconv"

// Labels on every container the engine makes: Compose's names, so that a
// container's identity reads the same as under docker compose.
const (
	LabelProject    = "com.docker.compose.project"
	LabelService    = "com.docker.compose.service"
	LabelNumber     = "com.docker.compose.container-number"
	LabelConfigHash = "com.docker.compose.config-hash"
	LabelOneoff     = "com.docker.compose.oneoff"
	// LabelImage is the id of the image the container was created from,
	// so that a service whose image was rebuilt or pulled anew under the
	// same name is recreated (its config hash does not change).
	LabelImage = "io.berth.image-id"
	// LabelRestarts and LabelBackoff carry a replica's RestartState over
	// to the replica that replaces it after an exit.
	LabelRestarts = "io.berth.restart-count"
	LabelBackoff  = "io.berth.restart-backoff"
	// LabelRestartUnhealthy, set to "true" among a service's labels, has
	// the engine replace its replicas that turn unhealthy (Docker only
	// reports them).
	LabelRestartUnhealthy = "io.berth.restart-on-unhealthy"
)

// RestartStateOf reads the restart state from a container's labels.
func RestartStateOf(labels map[string]string) RestartState {
	var r RestartState
	r.Count, _ = strconv.Atoi(labels[LabelRestarts])
	r.Backoff, _ = strconv.Atoi(labels[LabelBackoff])
	return r
}
