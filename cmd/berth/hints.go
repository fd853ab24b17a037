package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/network"
	"github.com/berthproject/berth/runtime"
	"github.com/berthproject/berth/volume"
)

// hints are the "what to do" lines printed under an error, picked by the
// first entry whose match accepts it. One table keeps the wording even.
var hints = []struct {
	match func(error) bool
	text  string
}{
	{is(runtime.ErrNotRoot), "containers need namespaces and cgroups, which need root: run berth with sudo"},
	{is(runtime.ErrNamespaces), "the kernel needs namespace support (CONFIG_*_NS) and room for more\n(sysctl user.max_mnt_namespaces, user.max_pid_namespaces, user.max_net_namespaces);\ninside another container, run berth privileged"},
	{is(runtime.ErrNotFound), "list containers with: berth ps -a"},
	{is(image.ErrNotFound), "list images with: berth images; make one from a root filesystem tarball with: berth image import TAR NAME"},
	{is(errImageInUse), "remove the container first (berth rm NAME), or take just the name away with: berth rmi -f IMAGE"},
	{is(runtime.ErrAmbiguous), "give more characters of the id, or the container's name"},
	{is(runtime.ErrNameInUse), "remove the other container (berth rm -f NAME) or choose another --name"},
	{is(runtime.ErrRunning), "stop it first (berth stop NAME), or force it with -f"},
	{is(runtime.ErrNotRunning), "start a new one with: berth run"},
	{is(runtime.ErrPaused), "unpause it first: berth unpause NAME"},
	{is(volume.ErrNotFound), "list volumes with: berth volume ls"},
	{is(network.ErrNotFound), "list networks with: berth network ls; make one with: berth network create NAME\n(the default network, bridge, is made by the first berth run without --network)"},
	{is(network.ErrExists), "choose another name, or remove that network first: berth network rm NAME"},
	{is(network.ErrInUse), "stop or remove those containers first (berth rm -f NAME); a stopped container holds no network"},
	{is(errPredefined), "it is where containers go without --network; remove other networks with: berth network rm NAME"},
	{is(network.ErrPortInUse), "stop what holds the port, or publish another host port (-p OTHER:CONTAINER_PORT),\nor leave the host port out (-p CONTAINER_PORT) and find the one berth picked with: berth port CONTAINER"},
	{is(network.ErrSubnetOverlap), "choose another --subnet, or leave it out and berth picks a free one;\nberth network inspect NAME shows what each network has"},
	{is(network.ErrPoolExhausted), "remove networks no container uses (berth network prune), or give one a --subnet outside 10.89.0.0/16"},
	{is(network.ErrSubnetFull), "remove containers you no longer need (berth ps -a), or use a network with a larger --subnet"},
	{is(network.ErrAddressInUse), "choose another --ip, or leave it out and berth picks a free address"},
	{is(network.ErrNotAttached), "the container has no network of berth's (--network none or host)"},
	{is(volume.ErrInvalidName), "to bind-mount a host directory, give its absolute path: -v /host/dir:/path"},
	{exitCode(runtime.ExitNotFound), "check the command's spelling and that it exists in the root filesystem (and its PATH)"},
	{exitCode(runtime.ExitCannotExecute), "the file must be executable (chmod +x) and built for this machine"},
	{is(fs.ErrNotExist), "check the path exists"},
}

func is(target error) func(error) bool {
	return func(err error) bool { return errors.Is(err, target) }
}

func exitCode(code int) func(error) bool {
	return func(err error) bool {
		var se *runtime.StartError
		if errors.As(err, &se) {
			return se.Code == code
		}
		// An exec's command is missing or cannot run: the same hints.
		var ee *runtime.ExecError
		return errors.As(err, &ee) && ee.Code == code
	}
}

// selfPrinting is an error that prints itself, several lines: a stack
// file's mistakes, each with its own hint.
type selfPrinting interface{ printTo(w io.Writer) }

// printError prints err once, as "error: ...", with a hint when one fits.
func printError(w io.Writer, err error) {
	var many interface{ Failures() []error }
	if errors.As(err, &many) && len(many.Failures()) > 1 {
		// Failures apart from each other (the engine's api.Errors: a
		// pass's steps): each on its own error line, with its own hint.
		for _, e := range many.Failures() {
			printError(w, e)
		}
		return
	}
	var sp selfPrinting
	if errors.As(err, &sp) {
		sp.printTo(w)
		return
	}
	fmt.Fprintf(w, "error: %v\n", err)
	var cg *runtime.CgroupUnavailableError
	if errors.As(err, &cg) {
		fmt.Fprintf(w, "hint:  %s\n", cg.Fix)
		return
	}
	var vu *volume.InUseError
	if errors.As(err, &vu) {
		fmt.Fprintf(w, "hint:  remove the container first: berth rm %s (-f if it runs);\n       a stopped container keeps its volumes until it is removed\n", strings.Join(vu.Containers, " "))
		return
	}
	for _, h := range hints {
		if h.match(err) {
			fmt.Fprintf(w, "hint:  %s\n", strings.ReplaceAll(h.text, "\n", "\n       "))
			return
		}
	}
}
