package spec

import (
	"strconv"
	"strings"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
)

// duration checks a duration compose-go parsed; it may be negative.
func (c *converter) duration(d types.Duration, path []string) time.Duration {
	if d < 0 {
		c.fail(path, `write a duration as 30s, 1m30s or 1h`, "duration %s is negative", time.Duration(d))
		return 0
	}
	return time.Duration(d)
}

func (c *converter) optDuration(d *types.Duration, path []string) time.Duration {
	if d == nil {
		return 0
	}
	return c.duration(*d, path)
}

func (c *converter) healthcheck(h *types.HealthCheckConfig, at []string) *Healthcheck {
	if h == nil {
		return nil
	}
	out := &Healthcheck{
		Test:          cloneNil([]string(h.Test)),
		Interval:      c.optDuration(h.Interval, append(at, "interval")),
		Timeout:       c.optDuration(h.Timeout, append(at, "timeout")),
		StartPeriod:   c.optDuration(h.StartPeriod, append(at, "start_period")),
		StartInterval: c.optDuration(h.StartInterval, append(at, "start_interval")),
	}
	if h.Retries != nil {
		out.Retries = int(min(*h.Retries, 1<<31-1))
	}
	if len(out.Test) > 0 {
		switch out.Test[0] {
		case "NONE":
			out.Disable = true
		case "CMD", "CMD-SHELL":
			if len(out.Test) < 2 {
				c.fail(append(at, "test"), `write ["CMD", "curl", "-f", "http://localhost"] or ["CMD-SHELL", "curl -f http://localhost"]`,
					"%s needs a command after it", out.Test[0])
			}
		default:
			c.fail(append(at, "test"), `start the list with "CMD" (arguments), "CMD-SHELL" (a shell command) or "NONE", or write the command as a string`,
				"a test list must start with CMD, CMD-SHELL or NONE, not %q", out.Test[0])
		}
	}
	if h.Disable || out.Disable {
		out.Disable = true
		out.Test = []string{"NONE"}
	}
	return out
}

// restart reconciles `restart:` and deploy.restart_policy as docker
// compose does (getRestartPolicy): the latter wins when set.
func (c *converter) restart(s types.ServiceConfig, at []string) RestartPolicy {
	rp := RestartPolicy{Name: RestartNo}
	if s.Restart != "" {
		name, max, hasMax := strings.Cut(s.Restart, ":")
		rp.Name = name
		switch name {
		case RestartNo, RestartAlways, RestartUnlessStopped:
			if hasMax {
				c.fail(append(at, "restart"), "only on-failure takes a count: on-failure:3", "restart %q takes no count", s.Restart)
			}
		case RestartOnFailure:
			if hasMax {
				n, err := strconv.Atoi(max)
				if err != nil || n < 0 {
					c.fail(append(at, "restart"), "write on-failure:3", "restart count %q is not a number", max)
				}
				rp.MaxRetries = n
			}
		default:
			c.fail(append(at, "restart"), "use no, always, on-failure[:N] or unless-stopped", "restart policy %q is not one of no, always, on-failure, unless-stopped", s.Restart)
		}
	}
	if s.Deploy == nil || s.Deploy.RestartPolicy == nil {
		return rp
	}
	p := s.Deploy.RestartPolicy
	path := append(at, "deploy", "restart_policy")
	rp = RestartPolicy{
		Delay:  c.optDuration(p.Delay, append(path, "delay")),
		Window: c.optDuration(p.Window, append(path, "window")),
	}
	switch p.Condition {
	case "", "none", "no":
		rp.Name = RestartNo
	case "any", "always":
		rp.Name = RestartAlways
	case "on-failure":
		rp.Name = RestartOnFailure
	case "unless-stopped":
		rp.Name = RestartUnlessStopped
	default:
		c.fail(append(path, "condition"), "use none, on-failure or any", "restart condition %q is not one of none, on-failure, any", p.Condition)
	}
	if p.MaxAttempts != nil {
		rp.MaxRetries = int(min(*p.MaxAttempts, 1<<31-1))
	}
	return rp
}

func (c *converter) updateConfig(d *types.DeployConfig, at []string) UpdateConfig {
	u := UpdateConfig{Parallelism: 1, Order: "stop-first"}
	if d == nil || d.UpdateConfig == nil {
		return u
	}
	uc := d.UpdateConfig
	if uc.Parallelism != nil {
		u.Parallelism = int(min(*uc.Parallelism, 1<<31-1))
	}
	switch uc.Order {
	case "":
	case "stop-first", "start-first":
		u.Order = uc.Order
	default:
		c.fail(append(at, "order"), "use stop-first or start-first", "update order %q is not stop-first or start-first", uc.Order)
	}
	u.Delay = c.duration(uc.Delay, append(at, "delay"))
	u.Monitor = c.duration(uc.Monitor, append(at, "monitor"))
	u.FailureAction = uc.FailureAction
	return u
}
