//go:build registry

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/berthproject/berth/image/build"
	"github.com/berthproject/berth/runtime"
)

// buildRunner runs a build's RUN steps as berth containers.
type buildRunner struct {
	g *globalOptions
	m *runtime.Manager
}

// buildLabel marks a container as a build step's, for ps and clean-ups.
const buildLabel = "io.berth.build.step"

// RunStep runs one RUN step in a container on the step's layers and the
// network it asks for, streams its output, hands the upper directory to
// diff once it has exited, and removes the container whatever happened.
func (r *buildRunner) RunStep(ctx context.Context, step build.Step, diff func(upper string) error) error {
	netFlag := step.Network
	if netFlag == "" || netFlag == "default" {
		netFlag = "default"
	}
	plan, err := (&runOptions{networks: []string{netFlag}}).networkPlan()
	if err != nil {
		return err
	}
	cfg := runtime.Config{
		Image: "(build step)", Layers: step.Layers, Args: step.Args, Env: step.Env,
		User: step.User, WorkingDir: step.WorkingDir,
		Labels: map[string]string{buildLabel: "true"},
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		return err
	}
	copied := make(chan struct{})
	go func() {
		defer close(copied)
		_, _ = io.Copy(step.Output, pr)
		pr.Close()
	}()
	s := &starter{g: r.g, m: r.m, plan: plan, rv: &runVolumes{release: func() {}}}
	c, p, err := s.run(ctx, cfg, &runtime.Stdio{Out: pw, Err: pw})
	pw.Close()
	if err != nil {
		s.net.detach()
		if c != nil {
			r.remove(c)
		}
		<-copied
		return fmt.Errorf("starting the RUN container: %w", err)
	}
	defer r.remove(c)
	defer s.net.detach()
	exited := make(chan runtime.ExitStatus, 1)
	go func() { exited <- p.Wait() }()
	var st runtime.ExitStatus
	select {
	case st = <-exited:
	case <-ctx.Done():
		_ = p.Signal(unix.SIGKILL)
		<-exited
		<-copied
		return ctx.Err()
	}
	<-copied
	if st.ExitCode != 0 {
		return &build.ExitError{Code: st.ExitCode}
	}
	return diff(filepath.Join(c.Dir, "upper"))
}

// remove removes a step's container, killing it first if it still runs.
func (r *buildRunner) remove(c *runtime.Container) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if fresh, err := r.m.Get(c.ID); err == nil {
		c = fresh
	} else if errors.Is(err, runtime.ErrNotFound) {
		return
	}
	if err := r.m.Remove(ctx, c, true); err != nil {
		fmt.Fprintf(os.Stderr, "warning: removing build container %s: %v; remove it with: berth rm -f %s\n", c.Name(), err, c.Name())
	}
}
