package build

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"golang.org/x/sys/unix"
)

// dispatch carries out one instruction of a stage on st.
func (b *builder) dispatch(ctx context.Context, st *stageState, cmd instructions.Command) error {
	err := b.dispatchCommand(ctx, st, cmd)
	if err == nil {
		return nil
	}
	var se *StepError
	var ie *InstructionError
	if errors.As(err, &se) || errors.As(err, &ie) || errors.Is(err, context.Canceled) {
		return err
	}
	ie = &InstructionError{File: b.file, Instruction: strings.ToUpper(cmd.Name()), Err: err}
	if loc := cmd.Location(); len(loc) > 0 {
		ie.Line = loc[0].Start.Line
	}
	return ie
}

func (b *builder) dispatchCommand(ctx context.Context, st *stageState, cmd instructions.Command) error {
	// Variables expand from the state before the instruction: ENV A=1 B=$A
	// sees the old A, as in Docker.
	expand := b.expander(st.expandEnv())
	if e, ok := cmd.(instructions.SupportsSingleWordExpansion); ok {
		if _, isRun := cmd.(*instructions.RunCommand); !isRun {
			if err := e.Expand(expand); err != nil {
				return err
			}
		}
	}
	if e, ok := cmd.(instructions.SupportsSingleWordExpansionRaw); ok {
		if err := e.ExpandRaw(expand); err != nil {
			return err
		}
	}
	switch c := cmd.(type) {
	case *instructions.ArgCommand:
		// ARG changes no image; the args in scope are part of the
		// following steps' keys.
		for _, kv := range c.Args {
			st.args.set(kv.Key, b.argValue(kv, b.global))
		}
		return nil
	case *instructions.RunCommand:
		return b.dispatchRun(ctx, st, c)
	case *instructions.CopyCommand:
		return b.dispatchCopy(ctx, st, c)
	case *instructions.AddCommand:
		return b.dispatchAdd(ctx, st, c)
	case *instructions.WorkdirCommand:
		return b.dispatchWorkdir(ctx, st, c)
	case *instructions.ExposeCommand:
		ports, err := expandWords(expand, c.Ports)
		if err != nil {
			return err
		}
		return b.configStep(ctx, st, func(cfg *v1.Config) (string, error) { return expose(cfg, ports) })
	}
	return b.configStep(ctx, st, func(cfg *v1.Config) (string, error) { return b.applyConfig(st, cfg, cmd) })
}

// configStep is a step that changes only the config: apply changes cfg
// (st's working config) and returns the history text.
func (b *builder) configStep(ctx context.Context, st *stageState, apply func(cfg *v1.Config) (string, error)) error {
	cfg := cloneConfig(st.config)
	createdBy, err := apply(&cfg)
	if err != nil {
		return err
	}
	key := st.stepKey(createdBy, "")
	st.config = cfg
	return b.commit(ctx, st, key, createdBy, configOnly)
}

// applyConfig makes the config change of a config instruction and says
// how history shows it (BuildKit's texts).
func (b *builder) applyConfig(st *stageState, cfg *v1.Config, cmd instructions.Command) (string, error) {
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		var kvs []string
		for _, kv := range c.Env {
			cfg.Env = setEnv(cfg.Env, kv.Key, kv.Value)
			kvs = append(kvs, kv.Key+"="+kv.Value)
		}
		return "ENV " + strings.Join(kvs, " "), nil
	case *instructions.LabelCommand:
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		var kvs []string
		for _, kv := range c.Labels {
			cfg.Labels[kv.Key] = kv.Value
			kvs = append(kvs, kv.Key+"="+kv.Value)
		}
		return "LABEL " + strings.Join(kvs, " "), nil
	case *instructions.MaintainerCommand:
		// Deprecated; BuildKit keeps it as the image's author.
		st.author = c.Maintainer
		return "MAINTAINER " + c.Maintainer, nil
	case *instructions.CmdCommand:
		cfg.Cmd = withShell(cfg, c.ShellDependantCmdLine)
		st.cmdSet = true
		return fmt.Sprintf("CMD %q", cfg.Cmd), nil
	case *instructions.EntrypointCommand:
		cfg.Entrypoint = withShell(cfg, c.ShellDependantCmdLine)
		// A CMD inherited from the base no longer fits the new
		// entrypoint; one set earlier in this stage stays (Docker's rule).
		if !st.cmdSet {
			cfg.Cmd = nil
		}
		return fmt.Sprintf("ENTRYPOINT %q", cfg.Entrypoint), nil
	case *instructions.UserCommand:
		cfg.User = c.User
		return "USER " + c.User, nil
	case *instructions.VolumeCommand:
		if cfg.Volumes == nil {
			cfg.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return "", errors.New("VOLUME specified can not be an empty string")
			}
			cfg.Volumes[v] = struct{}{}
		}
		return fmt.Sprintf("VOLUME %v", c.Volumes), nil
	case *instructions.ShellCommand:
		cfg.Shell = c.Shell
		return fmt.Sprintf("SHELL %v", c.Shell), nil
	case *instructions.StopSignalCommand:
		if err := checkSignal(c.Signal); err != nil {
			return "", err
		}
		cfg.StopSignal = c.Signal
		return "STOPSIGNAL " + c.Signal, nil
	case *instructions.HealthCheckCommand:
		h := c.Health
		cfg.Healthcheck = &v1.HealthConfig{
			Test: h.Test, Interval: h.Interval, Timeout: h.Timeout,
			StartPeriod: h.StartPeriod, Retries: h.Retries,
		}
		return fmt.Sprintf("HEALTHCHECK &{%q %q %q %q %d}", h.Test, h.Interval, h.Timeout, h.StartPeriod, h.Retries), nil
	case *instructions.OnbuildCommand:
		cfg.OnBuild = append(cfg.OnBuild, c.Expression)
		return "ONBUILD " + c.Expression, nil
	}
	return "", fmt.Errorf("%s is not supported", strings.ToUpper(cmd.Name()))
}

// withShell is CMD's, ENTRYPOINT's or RUN's argv: the exec form as it
// is, the shell form run by SHELL (default /bin/sh -c).
func withShell(cfg *v1.Config, c instructions.ShellDependantCmdLine) []string {
	if !c.PrependShell {
		return c.CmdLine
	}
	return append(shellOf(cfg), strings.Join(c.CmdLine, " "))
}

func shellOf(cfg *v1.Config) []string {
	if len(cfg.Shell) > 0 {
		return append([]string{}, cfg.Shell...)
	}
	return []string{"/bin/sh", "-c"}
}

// setEnv sets k=v in env, in place of an earlier k or after the others.
func setEnv(env []string, k, v string) []string {
	for i, kv := range env {
		if name, _, _ := strings.Cut(kv, "="); name == k {
			env[i] = k + "=" + v
			return env
		}
	}
	return append(env, k+"="+v)
}

func expandWords(expand instructions.SingleWordExpander, words []string) ([]string, error) {
	out := make([]string, 0, len(words))
	for _, w := range words {
		e, err := expand(w)
		if err != nil {
			return nil, err
		}
		out = append(out, strings.Fields(e)...)
	}
	return out, nil
}

// checkSignal accepts what Docker's STOPSIGNAL does: a number, or a name
// with or without SIG.
func checkSignal(s string) error {
	if s == "" {
		return errors.New("no signal given")
	}
	if s[0] >= '0' && s[0] <= '9' {
		var n int
		if _, err := fmt.Sscanf(s, "%d", &n); err != nil || n <= 0 || n > 64 {
			return fmt.Errorf("invalid signal %q", s)
		}
		return nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 && !strings.HasPrefix(name, "SIGRTM") {
		return fmt.Errorf("invalid signal %q", s)
	}
	return nil
}

// workdir resolves WORKDIR's path against the current one.
func workdir(cur, p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	if cur == "" {
		cur = "/"
	}
	return path.Join(cur, p)
}

// runOnBuild runs the ONBUILD triggers of the stage's base, after clearing
// them: they run once, in the image built FROM it, not in its children.
func (b *builder) runOnBuild(ctx context.Context, st *stageState, s *instructions.Stage) error {
	triggers := st.config.OnBuild
	st.config.OnBuild = nil
	for _, t := range triggers {
		res, err := parser.Parse(strings.NewReader(t))
		if err != nil || len(res.AST.Children) != 1 {
			return b.stageError(s, fmt.Errorf("the base image's ONBUILD %q does not parse: %v", t, err))
		}
		parsed, err := instructions.ParseInstruction(res.AST.Children[0])
		if err != nil {
			return b.stageError(s, fmt.Errorf("the base image's ONBUILD %q: %w", t, err))
		}
		cmd, ok := parsed.(instructions.Command)
		if !ok {
			return b.stageError(s, fmt.Errorf("the base image's ONBUILD %q is not allowed", t))
		}
		fmt.Fprintf(b.out, "ONBUILD %s\n", t)
		if err := b.dispatchCommand(ctx, st, cmd); err != nil {
			return b.stageError(s, fmt.Errorf("running the base image's ONBUILD %q: %w", t, err))
		}
	}
	return nil
}
