package build

import (
	"fmt"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// expose adds EXPOSE's ports to cfg: "80", "80/tcp", "53/udp", "8000-8002"
// (each port of a range), as Docker records them ("80/tcp").
func expose(cfg *v1.Config, ports []string) (string, error) {
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	var added []string
	for _, p := range ports {
		spec, proto, _ := strings.Cut(p, "/")
		if proto == "" {
			proto = "tcp"
		}
		proto = strings.ToLower(proto)
		if proto != "tcp" && proto != "udp" && proto != "sctp" {
			return "", fmt.Errorf("port %q: unknown protocol %q (tcp, udp or sctp)", p, proto)
		}
		// A host address or port (Docker's ip:host:container) has no
		// place in an image.
		if strings.Contains(spec, ":") {
			return "", fmt.Errorf("port %q: EXPOSE takes container ports only, not host:container", p)
		}
		lo, hi, err := portRange(spec)
		if err != nil {
			return "", fmt.Errorf("port %q: %w", p, err)
		}
		for n := lo; n <= hi; n++ {
			k := fmt.Sprintf("%d/%s", n, proto)
			cfg.ExposedPorts[k] = struct{}{}
			added = append(added, k)
		}
	}
	return "EXPOSE " + strings.Join(added, " "), nil
}

func portRange(s string) (lo, hi int, err error) {
	a, b, isRange := strings.Cut(s, "-")
	if lo, err = portNumber(a); err != nil {
		return 0, 0, err
	}
	hi = lo
	if isRange {
		if hi, err = portNumber(b); err != nil {
			return 0, 0, err
		}
		if hi < lo {
			return 0, 0, fmt.Errorf("range %s ends before it starts", s)
		}
	}
	return lo, hi, nil
}

func portNumber(s string) (int, error) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%q is not a port number (1-65535)", s)
	}
	return n, nil
}
