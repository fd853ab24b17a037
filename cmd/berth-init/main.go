// Command berth-init is PID 1 of every berth container: berth starts it,
// sealed, in the container's new namespaces. It is not meant to be run by
// hand.
package main

import "github.com/berthproject/berth/runtime/containerinit"

func main() {
	containerinit.Main()
}
