//go:build !registry

package main

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"
)

// The registry client (package image's pull and push, with net/http, TLS
// and go-containerregistry) lives in a second build of this command,
// berth-registry, installed beside berth: linked into berth it cost every
// berth process ~3-5 ms of start-up (measured: `berth run --rm` 32.8 ->
// 38.3 ms), paid by `berth run` of a local image too. berth hands pull,
// push, login and logout over to it with exec, so stdio, terminal and exit
// code pass through.

// registryBinaryName is berth built with -tags registry.
const registryBinaryName = "berth-registry"

func newPullCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("pull [OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry")
}

func newPushCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("push [OPTIONS] NAME[:TAG]", "Upload an image to its registry")
}

func newLoginCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("login [OPTIONS] [SERVER]", "Log in to a registry (credentials are kept where docker keeps them)")
}

func newLogoutCmd(g *globalOptions) *cobra.Command {
	return forwardCmd("logout [SERVER]", "Forget the credentials for a registry")
}

func newCommitCmd(g *globalOptions) *cobra.Command {
	// -c takes Dockerfile instructions: BuildKit's parser is linked in
	// berth-registry only.
	return forwardCmd("commit [OPTIONS] CONTAINER [NAME[:TAG]]", "Make an image of a container's changes")
}

func newConfigCmd(g *globalOptions) *cobra.Command {
	// The Compose loader (compose-go, its YAML and JSON schema) costs
	// ~30 ms of start-up, measured: only berth-registry links it.
	return forwardCmd("config [OPTIONS]", "Check the stack file and print it resolved, as docker compose config does")
}

func newBuildCmd(g *globalOptions) *cobra.Command {
	// BuildKit's Dockerfile parser, HTTP for ADD of URLs and pulls of
	// FROM images: berth-registry links them.
	return forwardCmd("build [OPTIONS] CONTEXT", "Build an image from a Dockerfile")
}

// forwardCmd is a command that berth-registry carries out.
func forwardCmd(use, short string) *cobra.Command {
	return &cobra.Command{
		Use:                use,
		Short:              short,
		DisableFlagParsing: true, // berth-registry parses them
		RunE: func(cmd *cobra.Command, args []string) error {
			self, err := os.Executable()
			if err != nil {
				return err
			}
			bin := filepath.Join(filepath.Dir(self), registryBinaryName)
			if _, err := os.Stat(bin); err != nil {
				return fmt.Errorf("%s: the registry client %s is not installed beside %s (make build puts both in bin/)", cmd.Name(), registryBinaryName, self)
			}
			argv := append([]string{bin}, os.Args[1:]...)
			return syscall.Exec(bin, argv, os.Environ())
		},
	}
}
