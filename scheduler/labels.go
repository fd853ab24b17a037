package scheduler

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
)
