//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/berthproject/berth/image/build"
	"github.com/berthproject/berth/spec"
)

// buildService builds svc's image as tag, for up (a missing image, or
// --build) of a stack: its build: section as berth build's flags.
func buildService(ctx context.Context, g *globalOptions, out io.Writer, st *spec.Stack, svc *spec.Service, tag string) error {
	b := svc.Build
	o := build.Options{
		ContextDir: b.Context, Tags: []string{tag}, BuildArgs: b.Args, Labels: b.Labels,
		Target: b.Target, Network: b.Network, Progress: out,
	}
	if o.Network == "" {
		o.Network = "default"
	}
	if b.Dockerfile != "" {
		o.Dockerfile = b.Dockerfile
		if !filepath.IsAbs(o.Dockerfile) {
			o.Dockerfile = filepath.Join(b.Context, b.Dockerfile)
		}
	}
	if b.DockerfileInline != "" {
		o.Dockerfile, o.DockerfileData = "Dockerfile (inline, service "+svc.Name+")", []byte(b.DockerfileInline)
	}
	if fi, err := os.Stat(b.Context); err != nil || !fi.IsDir() {
		return fmt.Errorf("service %q: build context %s is not a directory on this machine (URLs are not supported yet)", svc.Name, b.Context)
	}
	s, runner, err := buildSetup(g, &o)
	if err != nil {
		return err
	}
	_, err = build.Build(ctx, s, runner, o)
	var se *build.StepError
	if errors.As(err, &se) && len(se.Output) > 0 {
		out.Write(se.Output)
	}
	if err != nil {
		return fmt.Errorf("service %q: building image %s: %w", svc.Name, tag, err)
	}
	return nil
}
