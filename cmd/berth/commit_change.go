//go:build registry

package main

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/berthproject/berth/runtime"
)

// commitInstructions are the Dockerfile instructions `commit --change`
// takes, as Docker's: those that only change the image's config.
var commitInstructions = []string{"cmd", "entrypoint", "env", "expose", "healthcheck", "label", "onbuild", "stopsignal", "user", "volume", "workdir"}

// applyChanges applies each -c instruction to cfg in order, with
// Docker's build semantics: variables expand from the image's ENV as it
// is at that instruction, the shell form runs under the image's SHELL
// (default /bin/sh -c), and ENTRYPOINT drops the image's CMD unless a -c
// CMD came before it.
func applyChanges(cfg *v1.Config, changes []string) error {
	lex := shell.NewLex('\\')
	cmdSet := false
	for _, change := range changes {
		fail := func(err error) error {
			return &exitError{code: 2, err: fmt.Errorf("-c %q: %w", change, err)}
		}
		res, err := parser.Parse(strings.NewReader(change))
		if err != nil {
			return fail(err)
		}
		for _, node := range res.AST.Children {
			if !slices.Contains(commitInstructions, strings.ToLower(node.Value)) {
				return fail(fmt.Errorf("%s cannot be changed by commit; use one of %s", strings.ToUpper(node.Value), strings.ToUpper(strings.Join(commitInstructions, ", "))))
			}
			cmd, err := instructions.ParseCommand(node)
			if err != nil {
				return fail(err)
			}
			if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
				env := shell.EnvsFromSlice(cfg.Env)
				err := e.Expand(func(word string) (string, error) {
					out, _, err := lex.ProcessWord(word, env)
					return out, err
				})
				if err != nil {
					return fail(err)
				}
			}
			if err := applyChange(cfg, cmd, lex, &cmdSet); err != nil {
				return fail(err)
			}
		}
	}
	return nil
}

func applyChange(cfg *v1.Config, cmd instructions.Command, lex *shell.Lex, cmdSet *bool) error {
	switch c := cmd.(type) {
	case *instructions.CmdCommand:
		cfg.Cmd = shellForm(cfg, c.ShellDependantCmdLine)
		*cmdSet = true
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = shellForm(cfg, c.ShellDependantCmdLine)
		if !*cmdSet {
			cfg.Cmd = nil
		}
	case *instructions.EnvCommand:
		for _, kv := range c.Env {
			cfg.Env = setEnvVar(cfg.Env, kv.Key, kv.Value)
		}
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
		}
	case *instructions.ExposeCommand:
		// EXPOSE has no Expand of its own: BuildKit expands its words
		// when it dispatches them.
		env := shell.EnvsFromSlice(cfg.Env)
		for _, p := range c.Ports {
			words, err := lex.ProcessWords(p, env)
			if err != nil {
				return err
			}
			for _, w := range words {
				if err := exposePort(cfg, w); err != nil {
					return err
				}
			}
		}
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
	case *instructions.StopSignalCommand:
		if _, err := runtime.ParseSignal(c.Signal); err != nil {
			return fmt.Errorf("STOPSIGNAL: %w", err)
		}
		cfg.StopSignal = c.Signal
	case *instructions.UserCommand:
		cfg.User = c.User
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
	case *instructions.WorkdirCommand:
		// A relative WORKDIR is relative to the one before, as in a build.
		cfg.WorkingDir = path.Join("/", cfg.WorkingDir, c.Path)
		if path.IsAbs(c.Path) {
			cfg.WorkingDir = path.Clean(c.Path)
		}
	default:
		return fmt.Errorf("%s cannot be changed by commit", strings.ToUpper(cmd.Name()))
	}
	return nil
}

// shellForm is CMD's or ENTRYPOINT's argv: the exec form as it is, the
// shell form run by the image's SHELL.
func shellForm(cfg *v1.Config, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return c.CmdLine
	}
	sh := []string{"/bin/sh", "-c"}
	if len(cfg.Shell) > 0 {
		sh = slices.Clone(cfg.Shell)
	}
	return append(sh, strings.Join(c.CmdLine, " "))
}

// setEnvVar sets k=v in env, in place of an earlier k or after the rest.
func setEnvVar(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

// exposePort adds "80", "80/udp" or a range "8000-8002/tcp" to cfg's
// exposed ports, as Docker records them ("80/tcp").
func exposePort(cfg *v1.Config, p string) error {
	spec, proto, _ := strings.Cut(p, "/")
	proto = strings.ToLower(proto)
	if proto == "" {
		proto = "tcp"
	}
	if proto != "tcp" && proto != "udp" && proto != "sctp" {
		return fmt.Errorf("EXPOSE %q: unknown protocol %q (tcp, udp or sctp)", p, proto)
	}
	lo, hi, isRange := strings.Cut(spec, "-")
	first, err1 := strconv.Atoi(lo)
	last, err2 := first, error(nil)
	if isRange {
		last, err2 = strconv.Atoi(hi)
	}
	if err1 != nil || err2 != nil || first < 1 || last > 65535 || last < first {
		return fmt.Errorf("EXPOSE %q: not a port or range of ports (1-65535)", p)
	}
	if cfg.ExposedPorts == nil {
		cfg.ExposedPorts = map[string]struct{}{}
	}
	for n := first; n <= last; n++ {
		cfg.ExposedPorts[strconv.Itoa(n)+"/"+proto] = struct{}{}
	}
	return nil
}
