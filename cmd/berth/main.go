// Command berth runs containers and Compose-style stacks on one Linux host,
// with its own container runtime.
package main

import (
	"os"

	"github.com/berthproject/berth/runtime/containerinit"
)

func main() {
	// A container's init is this binary re-executed: it must not pay for
	// the CLI's set-up, so it is recognised before anything else.
	containerinit.MaybeRun()
	os.Exit(execute(os.Args[1:]))
}
