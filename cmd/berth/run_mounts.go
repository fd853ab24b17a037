package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/volume"
)

// volumeMount is a volume a new container is to mount: a named one
// (-v NAME:/path, created on first use) or, with Name empty, an anonymous
// one made for this container (-v /path, or the image's VOLUME).
type volumeMount struct {
	Name        string
	Destination string
	ReadOnly    bool
	NoCopy      bool // -v NAME:/path:nocopy: no copy-up from the image
}

// mounts reads -v and --tmpfs into bind and tmpfs mounts and volumes, and
// adds an anonymous volume for each of the image's VOLUME paths that no
// flag mounts something on, as Docker does.
func (o *runOptions) mounts(imageVolumes []string) ([]runtime.Mount, []volumeMount, error) {
	var out []runtime.Mount
	var vols []volumeMount
	taken := map[string]string{} // destination -> the flag that mounts it
	take := func(flag, dest string) error {
		dest = filepath.Clean(dest)
		if prev, ok := taken[dest]; ok {
			return fmt.Errorf("%s: duplicate mount point %s (also in %s)", flag, dest, prev)
		}
		taken[dest] = flag
		return nil
	}
	for _, v := range o.volumes {
		m, vm, err := parseVolume(v)
		if err != nil {
			return nil, nil, err
		}
		dest := m.Destination
		if vm.Destination != "" {
			dest = vm.Destination
		}
		if err := take(fmt.Sprintf("-v %q", v), dest); err != nil {
			return nil, nil, err
		}
		if vm.Destination != "" {
			vols = append(vols, vm)
		} else {
			out = append(out, m)
		}
	}
	for _, t := range o.tmpfs {
		dest, opts, _ := strings.Cut(t, ":")
		if !filepath.IsAbs(dest) {
			return nil, nil, fmt.Errorf("--tmpfs %q: the path must be absolute", t)
		}
		m := runtime.Mount{Type: "tmpfs", Destination: filepath.Clean(dest)}
		if opts != "" {
			m.Options = strings.Split(opts, ",")
		}
		if err := take(fmt.Sprintf("--tmpfs %q", t), dest); err != nil {
			return nil, nil, err
		}
		out = append(out, m)
	}
	for _, p := range imageVolumes {
		if _, ok := taken[filepath.Clean(p)]; ok || !filepath.IsAbs(p) || filepath.Clean(p) == "/" {
			continue // covered by a flag, or nothing Docker would mount either
		}
		vols = append(vols, volumeMount{Destination: filepath.Clean(p)})
	}
	sortMounts(out)
	return out, vols, nil
}

// parseVolume reads one -v, as Docker does:
//
//	HOST:CONTAINER[:OPTS]  bind-mounts an absolute host path (created when missing)
//	NAME:CONTAINER[:OPTS]  mounts the named volume, created on first use
//	CONTAINER              mounts a new anonymous volume
//
// OPTS is ro or rw, and for volumes nocopy, comma-separated. It returns a
// bind mount or a volume, the other one zero.
func parseVolume(v string) (runtime.Mount, volumeMount, error) {
	parts := strings.Split(v, ":")
	if len(parts) > 3 {
		return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: expected HOST:CONTAINER[:ro], NAME:CONTAINER[:ro] or CONTAINER", v)
	}
	if len(parts) == 1 {
		if !filepath.IsAbs(v) || filepath.Clean(v) == "/" {
			return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: a volume needs an absolute container path other than /", v)
		}
		return runtime.Mount{}, volumeMount{Destination: filepath.Clean(v)}, nil
	}
	src, dest := parts[0], parts[1]
	var ro, nocopy bool
	if len(parts) == 3 {
		for _, opt := range strings.Split(parts[2], ",") {
			switch opt {
			case "ro":
				ro = true
			case "rw":
			case "nocopy":
				nocopy = true
			default:
				return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: unknown option %q (ro, rw or nocopy)", v, opt)
			}
		}
	}
	if !filepath.IsAbs(dest) || filepath.Clean(dest) == "/" {
		return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: the container path must be absolute, and not /", v)
	}
	if !filepath.IsAbs(src) {
		return namedVolume(v, src, dest, ro, nocopy)
	}
	if nocopy {
		return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: nocopy is for volumes; a host directory is never copied into", v)
	}
	m := runtime.Mount{Type: "bind", Source: src, Destination: filepath.Clean(dest), ReadOnly: ro}
	if _, err := os.Stat(src); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(src, 0o755); err != nil {
			return m, volumeMount{}, fmt.Errorf("-v %q: creating %s: %w", v, src, err)
		}
	}
	return m, volumeMount{}, nil
}

// namedVolume checks the NAME of -v NAME:CONTAINER. Something with a "/"
// or a leading "." meant a host path, which must be absolute.
func namedVolume(v, name, dest string, ro, nocopy bool) (runtime.Mount, volumeMount, error) {
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: the host path %q must be absolute (or, for a named volume, a name without \"/\")", v, name)
	}
	if err := volume.ValidName(name); err != nil {
		return runtime.Mount{}, volumeMount{}, fmt.Errorf("-v %q: %w", v, err)
	}
	return runtime.Mount{}, volumeMount{Name: name, Destination: filepath.Clean(dest), ReadOnly: ro, NoCopy: nocopy}, nil
}

// sortMounts puts parents before their children (/data before
// /data/logs), as Docker does, so that a mount is never hidden by one on
// a directory above it. The order is otherwise kept.
func sortMounts(ms []runtime.Mount) {
	depth := func(p string) int { return strings.Count(filepath.Clean(p), "/") }
	sort.SliceStable(ms, func(i, j int) bool { return depth(ms[i].Destination) < depth(ms[j].Destination) })
}
