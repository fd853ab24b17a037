package spec

import (
	"cmp"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/types"
	"github.com/docker/go-units"
)

// mounts converts a service's `volumes:` and `tmpfs:` into one list sorted
// by target. compose-go has already parsed the short syntax and made bind
// sources absolute.
func (c *converter) mounts(s types.ServiceConfig, at []string) []Mount {
	var out []Mount
	for i, v := range s.Volumes {
		p := c.l.item(append(slices.Clone(at), "volumes"), i)
		m := Mount{Type: v.Type, Source: v.Source, Target: v.Target, ReadOnly: v.ReadOnly}
		switch v.Type {
		case types.VolumeTypeBind:
			if v.Bind != nil {
				m.Propagation = v.Bind.Propagation
				m.NoCreateHostPath = !bool(v.Bind.CreateHostPath)
			}
		case types.VolumeTypeVolume:
			if v.Volume != nil {
				m.NoCopy = v.Volume.NoCopy
				m.Subpath = v.Volume.Subpath
			}
		case types.VolumeTypeTmpfs:
			m.Source = ""
			if v.Tmpfs != nil {
				m.TmpfsSize = int64(v.Tmpfs.Size)
				m.TmpfsMode = v.Tmpfs.Mode
			}
		default:
			c.fail(append(p, "type"), "use bind, volume or tmpfs", "volume type %q is not supported by berth", v.Type)
			continue
		}
		out = append(out, m)
	}
	for i, t := range s.Tmpfs {
		if m, ok := c.tmpfs(t, c.l.item(append(slices.Clone(at), "tmpfs"), i)); ok {
			out = append(out, m)
		}
	}
	slices.SortStableFunc(out, func(a, b Mount) int { return cmp.Compare(a.Target, b.Target) })
	return out
}

// tmpfs parses a `tmpfs:` entry: "/run" or "/run:size=64m,mode=1777,noexec".
func (c *converter) tmpfs(s string, at []string) (Mount, bool) {
	target, opts, _ := strings.Cut(s, ":")
	m := Mount{Type: MountTmpfs, Target: path.Clean(target)}
	if opts == "" {
		return m, true
	}
	for _, o := range strings.Split(opts, ",") {
		k, v, _ := strings.Cut(o, "=")
		switch {
		case k == "size" && !strings.HasSuffix(v, "%"):
			n, err := units.RAMInBytes(v)
			if err != nil || n < 0 {
				c.fail(at, "write a size in bytes or with a unit: size=64m", "tmpfs size %q is not a size", v)
				return m, false
			}
			m.TmpfsSize = n
		case k == "mode":
			n, err := strconv.ParseUint(v, 8, 32)
			if err != nil || n > 0o7777 {
				c.fail(at, "write the mode in octal: mode=1777", "tmpfs mode %q is not an octal mode", v)
				return m, false
			}
			m.TmpfsMode = uint32(n)
		default:
			m.TmpfsOptions = append(m.TmpfsOptions, o)
		}
	}
	return m, true
}
