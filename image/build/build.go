package build

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/parser"
	"github.com/moby/buildkit/frontend/dockerfile/shell"

	"github.com/berthproject/berth/image"
)

// StepRunner runs RUN steps. cmd/berth implements it with package runtime.
type StepRunner interface {
	// RunStep runs step.Args in a container whose root file system is an
	// overlay of step.Layers (bottom first) under a fresh upper directory,
	// with step's env, user, working dir, network ("default", "host",
	// "none") and output. Once the process has exited, and before the
	// container is removed, it calls diff with the upper directory. A
	// non-zero exit is an *ExitError (code).
	RunStep(ctx context.Context, step Step, diff func(upper string) error) error
}

// Step is one RUN instruction, ready to run.
type Step struct {
	Args       []string
	Env        []string
	User       string
	WorkingDir string
	Network    string   // "default", "host" or "none"
	Layers     []string // unpacked layer directories, bottom first
	// Output receives the process's stdout and stderr.
	Output io.Writer
}

// ExitError is a RUN step's process exiting with a non-zero code.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// Options say what to build.
type Options struct {
	ContextDir string
	// Dockerfile is the Dockerfile's path (default ContextDir/Dockerfile);
	// DockerfileData, when set, is its content (read from stdin) and
	// Dockerfile only names it in messages.
	Dockerfile     string
	DockerfileData []byte
	Tags           []string
	BuildArgs      map[string]string
	Labels         map[string]string // set on the final image
	Target         string            // the stage to build; default the last
	NoCache        bool              // run every step (cache entries are still written)
	Pull           bool              // pull FROM images even when the store has them
	Network        string            // RUN's network unless RUN --network says: default, host, none
	// Progress receives the step lines and RUN's output; nil discards.
	Progress io.Writer
	// Quiet keeps RUN's output back, unless a step fails.
	Quiet bool
	// PullImage fetches an image the store lacks (or every FROM image
	// with Pull); nil means FROM takes only images the store has.
	PullImage func(ctx context.Context, ref string) error
	// TempDir holds upper directories of COPY and ADD; it must be on a
	// file system that can be an overlay's upper (default os.TempDir()).
	TempDir string
	// HTTPClient downloads ADD's URLs (default http.DefaultClient).
	HTTPClient httpGetter
	// Now is the clock for created times (default time.Now).
	Now func() time.Time
}

// Build runs the Dockerfile o describes and returns the image it made,
// named with o.Tags (nameless without). A failed build leaves no image
// and no name, but the cache keeps the steps that succeeded.
func Build(ctx context.Context, store *image.Store, run StepRunner, o Options) (*image.Image, error) {
	b, err := newBuilder(store, run, o)
	if err != nil {
		return nil, err
	}
	st, err := b.buildTarget(ctx)
	if err != nil {
		return nil, err
	}
	b.warnUnusedArgs()
	return b.finish(st)
}

// builder is one build's state.
type builder struct {
	store  *image.Store
	run    StepRunner
	o      Options
	out    io.Writer
	file   string // the Dockerfile's name in messages: "Dockerfile", "dir/Dockerfile.dev"
	lex    *shell.Lex
	ctxDir *buildContext

	stages   []instructions.Stage
	meta     []instructions.ArgCommand
	global   *argScope       // ARGs before the first FROM
	usedArgs map[string]bool // build args some ARG declared
	results  map[int]*stageState

	step, total int
}

func newBuilder(store *image.Store, run StepRunner, o Options) (*builder, error) {
	if o.ContextDir == "" {
		o.ContextDir = "."
	}
	if o.Dockerfile == "" {
		o.Dockerfile = filepath.Join(o.ContextDir, "Dockerfile")
	}
	if o.Network == "" {
		o.Network = "default"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.TempDir == "" {
		o.TempDir = os.TempDir()
	}
	b := &builder{store: store, run: run, o: o, out: o.Progress, usedArgs: map[string]bool{}, results: map[int]*stageState{}}
	if b.out == nil {
		b.out = io.Discard
	}
	b.file = o.Dockerfile
	if rel, err := filepath.Rel(o.ContextDir, o.Dockerfile); err == nil && filepath.IsLocal(rel) {
		b.file = rel
	}
	var err error
	if b.ctxDir, err = openContext(o.ContextDir); err != nil {
		return nil, err
	}
	data := o.DockerfileData
	if data == nil {
		if data, err = os.ReadFile(o.Dockerfile); err != nil {
			return nil, fmt.Errorf("reading the Dockerfile: %w", err)
		}
	}
	if err := b.parse(data); err != nil {
		return nil, err
	}
	return b, nil
}

// parse reads the Dockerfile into stages; an error names file and line.
func (b *builder) parse(data []byte) error {
	res, err := parser.Parse(bytes.NewReader(data))
	if err != nil {
		return b.locate(err, "")
	}
	for _, w := range res.Warnings {
		line := ""
		if w.Location != nil {
			line = fmt.Sprintf(":%d", w.Location.Start.Line)
		}
		fmt.Fprintf(b.out, "warning: %s%s: %s\n", b.file, line, w.Short)
	}
	b.lex = shell.NewLex(res.EscapeToken)
	b.stages, b.meta, err = instructions.Parse(res.AST, nil)
	if err != nil {
		return b.locate(err, "")
	}
	if len(b.stages) == 0 {
		return &InstructionError{File: b.file, Err: errors.New("the Dockerfile has no FROM instruction")}
	}
	return nil
}

// locate gives err the Dockerfile's name and the line it carries.
func (b *builder) locate(err error, instruction string) error {
	ie := &InstructionError{File: b.file, Instruction: instruction, Err: err}
	var le *parser.LocationError
	if errors.As(err, &le) && len(le.Locations) > 0 && len(le.Locations[0]) > 0 {
		ie.Line = le.Locations[0][0].Start.Line
	}
	return ie
}

// InstructionError is a mistake in the Dockerfile, or an instruction that
// failed: it names the file, the line and the instruction.
type InstructionError struct {
	File        string
	Line        int // 0: unknown
	Instruction string
	Err         error
}

func (e *InstructionError) Error() string {
	at := e.File
	if e.Line > 0 {
		at = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Instruction != "" {
		return fmt.Sprintf("%s: %s: %v", at, e.Instruction, e.Err)
	}
	return fmt.Sprintf("%s: %v", at, e.Err)
}

func (e *InstructionError) Unwrap() error { return e.Err }

// StepError is a RUN step whose process failed. Output is what it printed,
// for a quiet build that kept it back.
type StepError struct {
	Step, Total int
	File        string
	Line        int
	Instruction string
	Code        int
	Output      []byte
}

func (e *StepError) Error() string {
	return fmt.Sprintf("RUN step %d/%d failed with exit code %d (%s:%d: %s)", e.Step, e.Total, e.Code, e.File, e.Line, e.Instruction)
}

// platform is the only platform builds can target: this host's.
func platform() string { return "linux/" + runtime.GOARCH }
