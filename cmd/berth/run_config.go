package main

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	units "github.com/docker/go-units"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/runtime/containerinit"
)

// config turns run's flags and arguments into a runtime.Config, checking
// everything that can be checked before a container exists.
//
// Without --rootfs, args[0] is an image, found with lookup, and its config
// applies under the flags, as Docker's rules say.
//
// Volumes are returned apart: they are created (and filled from the image)
// only once everything else has been checked, and become bind mounts then.
func (o *runOptions) config(args []string, lookup func(string) (imageInfo, error)) (runtime.Config, []volumeMount, error) {
	cfg := runtime.Config{
		Name: o.name, User: o.user, WorkingDir: o.workdir, Hostname: o.hostname,
		TTY: o.tty, OpenStdin: o.interactive, ReadOnly: o.readOnly,
		AutoRemove: o.autoRemove,
	}
	env, err := o.environment()
	if err != nil {
		return cfg, nil, err
	}
	var entrypoint *string
	var imageVolumes []string
	if o.entrypointSet {
		entrypoint = &o.entrypoint
	}
	if o.rootfs != "" {
		cfg.Image, cfg.Rootfs, cfg.Env = o.rootfs, o.rootfs, env
		if cfg.Args, err = commandLine(imageDefaults{}, entrypoint, args); err != nil {
			return cfg, nil, errors.New("no command given: berth run --rootfs DIR -- CMD [ARG...]")
		}
	} else {
		if len(args) == 0 {
			return cfg, nil, errors.New("no image given: berth run [OPTIONS] IMAGE [COMMAND] (or --rootfs DIR -- COMMAND)")
		}
		img, err := lookup(args[0])
		if err != nil {
			return cfg, nil, err
		}
		d := img.Defaults
		cfg.Image, cfg.ImageID, cfg.Layers = args[0], img.ID, img.Layers
		if cfg.Args, err = commandLine(d, entrypoint, args[1:]); err != nil {
			return cfg, nil, fmt.Errorf("image %s: %w", args[0], err)
		}
		cfg.Env = containerinit.MergeEnv(d.Env, env)
		if cfg.WorkingDir == "" {
			cfg.WorkingDir = d.WorkingDir
		}
		if cfg.User == "" {
			cfg.User = d.User
		}
		cfg.StopSignal = d.StopSignal
		imageVolumes = d.Volumes
	}
	if cfg.Resources, err = o.resources(); err != nil {
		return cfg, nil, err
	}
	var vols []volumeMount
	if cfg.Mounts, vols, err = o.mounts(imageVolumes); err != nil {
		return cfg, nil, err
	}
	if o.stopSignal != "" {
		if _, err := runtime.ParseSignal(o.stopSignal); err != nil {
			return cfg, nil, fmt.Errorf("--stop-signal: %w", err)
		}
		cfg.StopSignal = o.stopSignal
	}
	if o.stopTimeout >= 0 {
		cfg.StopTimeout = time.Duration(o.stopTimeout) * time.Second
	}
	if len(o.labels) > 0 {
		cfg.Labels = map[string]string{}
		for _, l := range o.labels {
			k, v, _ := strings.Cut(l, "=")
			cfg.Labels[k] = v
		}
	}
	return cfg, vols, nil
}

func (o *runOptions) environment() ([]string, error) {
	var env []string
	for _, file := range o.envFiles {
		vars, err := readEnvFile(file)
		if err != nil {
			return nil, err
		}
		env = append(env, vars...)
	}
	for _, e := range o.env {
		if kv, ok := envValue(e); ok {
			env = append(env, kv)
		}
	}
	return env, nil
}

// envValue reads KEY=VALUE as it is, and a bare KEY from berth's own
// environment (skipped when unset), as Docker does.
func envValue(e string) (string, bool) {
	if strings.Contains(e, "=") {
		return e, true
	}
	if v, ok := os.LookupEnv(e); ok {
		return e + "=" + v, true
	}
	return "", false
}

// readEnvFile reads Docker's env-file format: KEY=VALUE lines, # comments,
// a bare KEY copied from berth's environment. Quotes are kept literally.
func readEnvFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--env-file: %w", err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimLeft(sc.Text(), " \t")
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, _, _ := strings.Cut(line, "=")
		if strings.ContainsAny(k, " \t") || k == "" {
			return nil, fmt.Errorf("%s:%d: %q is not KEY=VALUE", path, n, line)
		}
		if kv, ok := envValue(line); ok {
			out = append(out, kv)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--env-file %s: %w", path, err)
	}
	return out, nil
}

func (o *runOptions) resources() (runtime.Resources, error) {
	var r runtime.Resources
	var err error
	if o.memory != "" {
		if r.Memory, err = parseSize("--memory", o.memory); err != nil {
			return r, err
		}
		if r.Memory < 6<<20 {
			return r, fmt.Errorf("--memory %s: the minimum is 6m", o.memory)
		}
	}
	switch o.memorySwap {
	case "":
	case "-1":
		r.MemorySwap = -1
	default:
		if r.MemorySwap, err = parseSize("--memory-swap", o.memorySwap); err != nil {
			return r, err
		}
		if r.Memory == 0 {
			return r, errors.New("--memory-swap needs --memory as well")
		}
		if r.MemorySwap < r.Memory {
			return r, fmt.Errorf("--memory-swap %s must be at least --memory %s (it counts memory plus swap)", o.memorySwap, o.memory)
		}
	}
	if o.cpus < 0 {
		return r, fmt.Errorf("--cpus %v: must be positive", o.cpus)
	}
	r.NanoCPUs = int64(o.cpus * 1e9)
	r.CPUShares = o.cpuShares
	r.PidsLimit = o.pidsLimit
	return r, nil
}

// parseSize reads a size as Docker does: 64m, 1g, 512k, 1024 (bytes).
func parseSize(flag, s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s %q: not a size; write a number with an optional unit b, k, m or g (e.g. 64m)", flag, s)
	}
	return n, nil
}
