package main

import (
	"errors"

	"github.com/berthproject/berth/runtime"
)

// imageInfo is what `berth run IMAGE` needs of an image.
type imageInfo struct {
	ID       string
	Layers   []string // unpacked, bottom first
	Defaults imageDefaults
}

// imageDefaults is what an image's config says about running it.
type imageDefaults struct {
	Entrypoint []string
	Cmd        []string
	Env        []string
	WorkingDir string
	User       string
	StopSignal string
	// Volumes are the image's VOLUME paths, sorted: each gets an anonymous
	// volume unless a -v or --tmpfs mount covers it.
	Volumes []string
	// Healthcheck is the image's HEALTHCHECK, nil when it has none. Only
	// the engine checks health: berth run does not use it.
	Healthcheck *runtime.HealthConfig
}

// commandLine works out the command as Docker does: arguments after the
// image replace its Cmd; --entrypoint replaces its Entrypoint and drops its
// Cmd (so --entrypoint "" clears both); the command is Entrypoint + Cmd.
func commandLine(img imageDefaults, entrypoint *string, args []string) ([]string, error) {
	ep, cmd := img.Entrypoint, img.Cmd
	if entrypoint != nil {
		ep, cmd = nil, nil
		if *entrypoint != "" {
			ep = []string{*entrypoint}
		}
	}
	if len(args) > 0 {
		cmd = args
	}
	argv := append(append([]string{}, ep...), cmd...)
	if len(argv) == 0 {
		return nil, errors.New("no command: the image has neither Entrypoint nor Cmd; give one after the image name")
	}
	return argv, nil
}
