//go:build registry

package main

import (
	"context"
	"fmt"
	"io"

	"github.com/berthproject/berth/spec"
)

// buildService builds svc's image as tag, for up and build of a stack.
func buildService(ctx context.Context, g *globalOptions, out io.Writer, st *spec.Stack, svc *spec.Service, tag string) error {
	return fmt.Errorf("service %q: building its image needs berth build, which this berth does not have yet; build it elsewhere and load it, or use image:", svc.Name)
}
