package build

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"

	"github.com/berthproject/berth/image"
)

// stageState is where a stage's build stands after its latest step.
type stageState struct {
	index int
	// config is the image config as the steps so far made it.
	config v1.Config
	// img is the stored image of this state: the base image, or the last
	// step's result; nil for scratch before any step.
	img *image.Image
	// file and layers are img's config file and layers, read only when a
	// step has to run (a cached step needs neither).
	file   *v1.ConfigFile
	layers []image.Layer
	key    string // the cache key of this state
	args   *argScope
	// cmdSet: a CMD of this stage came before, so ENTRYPOINT keeps it.
	cmdSet bool
	// author is MAINTAINER's, for the config file commit writes next.
	author string
}

// defaultPath is the PATH a scratch image gets, as BuildKit gives it.
const defaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ensure reads the config file and layers of the state's image.
func (st *stageState) ensure(s *image.Store) error {
	if st.file != nil {
		return nil
	}
	if st.img == nil {
		st.file = scratchConfig()
		return nil
	}
	file, layers, err := s.ImageLayers(st.img.ID)
	if err != nil {
		return fmt.Errorf("reading image %s: %w", st.img.ID, err)
	}
	st.file, st.layers = file, layers
	return nil
}

func scratchConfig() *v1.ConfigFile {
	p := platformArgs()
	return &v1.ConfigFile{
		Architecture: p["TARGETARCH"], OS: "linux", Variant: p["TARGETVARIANT"],
		RootFS: v1.RootFS{Type: "layers"},
		Config: v1.Config{Env: []string{defaultPath}},
	}
}

// layerDirs are the state's unpacked layers, bottom first.
func (st *stageState) layerDirs() []string {
	dirs := make([]string, len(st.layers))
	for i, l := range st.layers {
		dirs[i] = l.Dir
	}
	return dirs
}

// derive is a new stage's state on top of st (FROM an earlier stage).
func (st *stageState) derive(index int) *stageState {
	n := *st
	n.index, n.args, n.cmdSet = index, newArgScope(), false
	n.config = cloneConfig(st.config)
	return &n
}

// cloneConfig copies c deeply enough that changing it leaves c alone.
func cloneConfig(c v1.Config) v1.Config {
	c.Env = slices.Clone(c.Env)
	c.Cmd = slices.Clone(c.Cmd)
	c.Entrypoint = slices.Clone(c.Entrypoint)
	c.Shell = slices.Clone(c.Shell)
	c.OnBuild = slices.Clone(c.OnBuild)
	c.Labels = maps.Clone(c.Labels)
	c.Volumes = maps.Clone(c.Volumes)
	c.ExposedPorts = maps.Clone(c.ExposedPorts)
	if c.Healthcheck != nil {
		h := *c.Healthcheck
		h.Test = slices.Clone(h.Test)
		c.Healthcheck = &h
	}
	return c
}

// buildTarget builds the stages the target needs and returns its state.
func (b *builder) buildTarget(ctx context.Context) (*stageState, error) {
	if err := b.globalArgs(); err != nil {
		return nil, err
	}
	bases := make([]string, len(b.stages))
	for i := range b.stages {
		s := &b.stages[i]
		base, err := b.expander(b.global.env())(s.BaseName)
		if err != nil {
			return nil, b.stageError(s, err)
		}
		if base == "" {
			return nil, b.stageError(s, errors.New("the image name is empty (an ARG without a value?)"))
		}
		bases[i] = base
	}
	target, err := b.targetStage()
	if err != nil {
		return nil, err
	}
	needed, err := b.neededStages(target, bases)
	if err != nil {
		return nil, err
	}
	for i := range b.stages {
		if needed[i] {
			b.total += 1 + len(b.stages[i].Commands)
		}
	}
	for i := 0; i <= target; i++ {
		if !needed[i] {
			continue
		}
		st, err := b.buildStage(ctx, i, bases[i])
		if err != nil {
			return nil, err
		}
		b.results[i] = st
	}
	return b.results[target], nil
}

func (b *builder) stageError(s *instructions.Stage, err error) error {
	ie := &InstructionError{File: b.file, Instruction: "FROM", Err: err}
	if len(s.Location) > 0 {
		ie.Line = s.Location[0].Start.Line
	}
	return ie
}

// targetStage is --target's index, or the last stage's.
func (b *builder) targetStage() (int, error) {
	if b.o.Target == "" {
		return len(b.stages) - 1, nil
	}
	if i, ok := instructions.HasStage(b.stages, b.o.Target); ok {
		return i, nil
	}
	var names []string
	for _, s := range b.stages {
		if s.Name != "" {
			names = append(names, s.Name)
		}
	}
	return 0, fmt.Errorf("--target %s: %s has no stage of that name (its stages: %s)", b.o.Target, b.file, strings.Join(names, ", "))
}

// stageRef finds the stage that ref (a name, or for COPY --from an index)
// names among those before stage before.
func (b *builder) stageRef(ref string, before int, byIndex bool) (int, bool) {
	for i := 0; i < before; i++ {
		if b.stages[i].Name != "" && strings.EqualFold(b.stages[i].Name, ref) {
			return i, true
		}
	}
	if n, err := strconv.Atoi(ref); err == nil && byIndex && n >= 0 && n < before {
		return n, true
	}
	return 0, false
}

// neededStages marks the stages target depends on, through FROM and
// COPY --from, and target itself.
func (b *builder) neededStages(target int, bases []string) ([]bool, error) {
	needed := make([]bool, len(b.stages))
	var visit func(i int) error
	visit = func(i int) error {
		if needed[i] {
			return nil
		}
		needed[i] = true
		if j, ok := b.stageRef(bases[i], i, false); ok {
			if err := visit(j); err != nil {
				return err
			}
		}
		for _, cmd := range b.stages[i].Commands {
			c, ok := cmd.(*instructions.CopyCommand)
			if !ok || c.From == "" {
				continue
			}
			from, err := b.expander(b.global.env())(c.From)
			if err != nil {
				return b.locate(err, "COPY")
			}
			if j, ok := b.stageRef(from, i, true); ok {
				if err := visit(j); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return needed, visit(target)
}

// buildStage runs stage i: its FROM, then each instruction.
func (b *builder) buildStage(ctx context.Context, i int, base string) (*stageState, error) {
	s := &b.stages[i]
	b.printStep(s.SourceCode)
	if s.Platform != "" {
		p, err := b.expander(b.global.env())(s.Platform)
		if err != nil {
			return nil, b.stageError(s, err)
		}
		if p != platform() {
			return nil, b.stageError(s, fmt.Errorf("--platform=%s: berth builds for this host's platform only (%s)", p, platform()))
		}
	}
	st, err := b.from(ctx, i, base)
	if err != nil {
		return nil, b.stageError(s, err)
	}
	if len(st.config.OnBuild) > 0 {
		if err := b.runOnBuild(ctx, st, s); err != nil {
			return nil, err
		}
	}
	for _, cmd := range s.Commands {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		b.printStep(cmd.(interface{ String() string }).String())
		if err := b.dispatch(ctx, st, cmd); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// from is a stage's starting state: an earlier stage, scratch or an image.
func (b *builder) from(ctx context.Context, i int, base string) (*stageState, error) {
	if j, ok := b.stageRef(base, i, false); ok {
		return b.results[j].derive(i), nil
	}
	if base == "scratch" {
		f := scratchConfig()
		return &stageState{index: i, config: cloneConfig(f.Config), file: f, key: cacheKey("FROM scratch", platform()), args: newArgScope()}, nil
	}
	img, err := b.baseImage(ctx, base)
	if err != nil {
		return nil, err
	}
	return &stageState{index: i, config: cloneConfig(img.Config), img: img, key: cacheKey("FROM", img.ID), args: newArgScope()}, nil
}

// baseImage finds FROM's image in the store, pulling it when the store
// lacks it or with --pull.
func (b *builder) baseImage(ctx context.Context, ref string) (*image.Image, error) {
	if b.o.Pull && b.o.PullImage != nil {
		if err := b.o.PullImage(ctx, ref); err != nil {
			return nil, fmt.Errorf("pulling %s: %w", ref, err)
		}
	}
	img, err := b.store.Get(ref)
	if errors.Is(err, image.ErrNotFound) && b.o.PullImage != nil && !b.o.Pull {
		if err := b.o.PullImage(ctx, ref); err != nil {
			return nil, fmt.Errorf("pulling %s: %w", ref, err)
		}
		img, err = b.store.Get(ref)
	}
	return img, err
}

func (b *builder) printStep(text string) {
	b.step++
	fmt.Fprintf(b.out, "STEP %d/%d: %s\n", b.step, b.total, text)
}
