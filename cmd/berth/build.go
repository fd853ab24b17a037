//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/image/build"
	"github.com/berthproject/berth/runtime"
)

type buildOptions struct {
	tags      []string
	file      string
	buildArgs []string
	labels    []string
	target    string
	noCache   bool
	pull      bool
	network   string
	progress  string
	quiet     bool
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	o := &buildOptions{}
	cmd := &cobra.Command{
		Use:   "build [OPTIONS] CONTEXT",
		Short: "Build an image from a Dockerfile",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBuild(cmd.Context(), g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.tags, "tag", "t", nil, "name the image NAME[:TAG] (repeat for several)")
	f.StringVarP(&o.file, "file", "f", "", "the Dockerfile (default CONTEXT/Dockerfile; - reads it from stdin)")
	f.StringArrayVar(&o.buildArgs, "build-arg", nil, "set a build arg KEY=VALUE (KEY alone takes it from the environment)")
	f.StringArrayVar(&o.labels, "label", nil, "set a label KEY=VALUE on the image")
	f.StringVar(&o.target, "target", "", "build this stage (and what it needs) instead of the last")
	f.BoolVar(&o.noCache, "no-cache", false, "run every step instead of taking cached results")
	f.BoolVar(&o.pull, "pull", false, "pull the FROM images even when the store has them")
	f.StringVar(&o.network, "network", "default", "network of RUN steps: default (berth's bridge), host or none")
	f.StringVar(&o.progress, "progress", "auto", "output: auto, plain or tty")
	f.BoolVarP(&o.quiet, "quiet", "q", false, "print only the image ID")
	return cmd
}

func runBuild(ctx context.Context, g *globalOptions, o *buildOptions, contextDir string) error {
	if os.Geteuid() != 0 {
		return runtime.ErrNotRoot
	}
	opts, err := o.options(contextDir)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	s, runner, err := buildSetup(g, &opts)
	if err != nil {
		return err
	}
	out := io.Writer(os.Stdout)
	if o.quiet {
		out = io.Discard
	}
	opts.Progress = out
	// A ^C ends the step's container and leaves no image.
	ctx, stop := signal.NotifyContext(ctx, unix.SIGINT, unix.SIGTERM)
	defer stop()
	img, err := build.Build(ctx, s, runner, opts)
	if err != nil {
		var se *build.StepError
		if errors.As(err, &se) && len(se.Output) > 0 {
			os.Stderr.Write(se.Output)
		}
		return err
	}
	if o.quiet {
		fmt.Println(img.ID)
	}
	return nil
}

// options turns the flags into build.Options.
func (o *buildOptions) options(contextDir string) (build.Options, error) {
	opts := build.Options{
		ContextDir: contextDir, Dockerfile: o.file, Tags: o.tags, Target: o.target,
		NoCache: o.noCache, Pull: o.pull, Network: o.network, Quiet: o.quiet,
		BuildArgs: map[string]string{}, Labels: map[string]string{},
	}
	switch o.network {
	case "default", "bridge", "host", "none":
	default:
		return opts, fmt.Errorf("--network %s: builds take default, host or none", o.network)
	}
	switch o.progress {
	case "auto", "plain", "tty":
		// One plain format for now: step lines and RUN's output as it is.
	default:
		return opts, fmt.Errorf("--progress %s: auto, plain or tty", o.progress)
	}
	if contextDir == "-" {
		return opts, errors.New("a build context from stdin (-) is not supported yet; give a directory")
	}
	if o.file == "-" {
		data, err := io.ReadAll(os.Stdin)
		if err != nil {
			return opts, fmt.Errorf("reading the Dockerfile from stdin: %w", err)
		}
		opts.Dockerfile, opts.DockerfileData = "Dockerfile", data
	}
	for _, kv := range o.buildArgs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			// Docker's rule: KEY alone takes the value from here, and
			// is left out when unset.
			if v, ok = os.LookupEnv(k); !ok {
				continue
			}
		}
		opts.BuildArgs[k] = v
	}
	for _, kv := range o.labels {
		k, v, _ := strings.Cut(kv, "=")
		if k == "" {
			return opts, fmt.Errorf("--label %q: no key", kv)
		}
		opts.Labels[k] = v
	}
	return opts, nil
}

// buildSetup is what every build on this root needs, berth build's and
// a stack's: the store, the step runner, a temporary directory on the
// store's file system (an overlay's upper must be on one that takes
// it), and pulls of FROM images the store lacks.
func buildSetup(g *globalOptions, o *build.Options) (*image.Store, build.StepRunner, error) {
	s, err := newImageStore(g)
	if err != nil {
		return nil, nil, err
	}
	m, err := newManager(g)
	if err != nil {
		return nil, nil, err
	}
	o.TempDir = filepath.Join(g.root, "tmp")
	if err := os.MkdirAll(o.TempDir, 0o700); err != nil {
		return nil, nil, err
	}
	o.PullImage = func(ctx context.Context, ref string) error {
		_, err := s.Pull(ctx, ref, nil)
		return err
	}
	return s, &buildRunner{g: g, m: m}, nil
}
