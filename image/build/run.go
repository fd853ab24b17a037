package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"

	"github.com/berthproject/berth/image"
)

// dispatchRun runs a RUN instruction in a container through b.run.
func (b *builder) dispatchRun(ctx context.Context, st *stageState, c *instructions.RunCommand) error {
	for _, f := range c.FlagsUsed {
		if f != "network" {
			return fmt.Errorf("RUN --%s is not supported yet; do without it (for --mount, COPY what the step needs first)", f)
		}
	}
	network := instructions.GetNetwork(c)
	if network == instructions.NetworkDefault {
		network = b.o.Network
	}
	args, err := runArgs(&st.config, c.ShellDependantCmdLine)
	if err != nil {
		return err
	}
	createdBy := "RUN " + st.historyArgs() + strings.Join(args, " ")
	key := st.stepKey(createdBy, "network="+network)
	return b.commit(ctx, st, key, createdBy, func(ctx context.Context, st *stageState) (*image.Layer, error) {
		var kept bytes.Buffer
		out := b.out
		if b.o.Quiet {
			out = &kept
		}
		step := Step{
			Args: args, Env: st.runEnv(b), User: st.config.User, WorkingDir: st.config.WorkingDir,
			Network: network, Layers: st.layerDirs(), Output: out,
		}
		var layer *image.Layer
		err := b.run.RunStep(ctx, step, func(upper string) error {
			var err error
			layer, err = b.storeUpper(ctx, st, upper)
			return err
		})
		var ee *ExitError
		if errors.As(err, &ee) {
			se := &StepError{Step: b.step, Total: b.total, File: b.file, Instruction: c.String(), Code: ee.Code, Output: kept.Bytes()}
			if loc := c.Location(); len(loc) > 0 {
				se.Line = loc[0].Start.Line
			}
			return nil, se
		}
		return layer, err
	})
}

// runArgs is RUN's argv. A heredoc that is the whole command is run by the
// shell as a script (BuildKit's "fake heredoc", so shells without heredocs
// work); heredocs within a command line go to the shell as written.
func runArgs(cfg *v1.Config, cl instructions.ShellDependantCmdLine) ([]string, error) {
	if len(cl.Files) == 0 {
		return withShell(cfg, cl), nil
	}
	if len(cl.CmdLine) != 1 || !cl.PrependShell {
		return nil, errors.New("a heredoc needs the shell form of RUN")
	}
	if h := parser.MustParseHeredoc(cl.CmdLine[0]); h != nil {
		data := cl.Files[0].Data
		if cl.Files[0].Chomp {
			data = parser.ChompHeredocContent(data)
		}
		return append(shellOf(cfg), data), nil
	}
	full := cl.CmdLine[0]
	for _, f := range cl.Files {
		full += "\n" + f.Data + f.Name
	}
	return append(shellOf(cfg), full), nil
}

// storeUpper stores what an upper directory holds as a layer on st's
// layers; nil when it holds nothing (the step changed no file).
func (b *builder) storeUpper(ctx context.Context, st *stageState, upper string) (*image.Layer, error) {
	d, err := os.Open(upper)
	if err != nil {
		return nil, err
	}
	names, err := d.Readdirnames(1)
	d.Close()
	if errors.Is(err, io.EOF) || len(names) == 0 {
		return nil, nil
	}
	below := make([]v1.Hash, len(st.layers))
	for i, l := range st.layers {
		below[i] = l.DiffID
	}
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		err := image.WriteDiff(pw, upper)
		pw.CloseWithError(err)
		done <- err
	}()
	layer, err := b.store.AddLayer(ctx, slices.Clip(below), pr)
	if err == nil {
		// A tar reader may stop before the archive's final padding.
		_, _ = io.Copy(io.Discard, pr)
	}
	pr.CloseWithError(errors.New("the layer was not read to its end"))
	if werr := <-done; werr != nil && err == nil {
		err = werr
	}
	if err != nil {
		return nil, fmt.Errorf("storing the step's changes: %w", err)
	}
	return &layer, nil
}
