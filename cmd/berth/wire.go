package main

import (
	"github.com/berthproject/berth/runtime"
)

// wire.go is the one place that builds berth's concrete parts and hands
// them to each other.

func newManager(g *globalOptions) (*runtime.Manager, error) {
	return runtime.New(g.root, g.runDir())
}
