//go:build !registry

package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
)

// berth itself serves no DNS: the server (package network/dnsserver)
// links miekg/dns and the crypto it brings, 3-4 ms of every start-up.
// berth-registry, berth's second build, has it.

// dnsHelperBinary is the program that serves DNS: berth-registry beside
// this berth.
func dnsHelperBinary() (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(filepath.Dir(self), registryBinaryName)
	if _, err := os.Stat(bin); err != nil {
		return "", fmt.Errorf("berth's DNS server ships in %s, which is not installed beside %s (make build puts both in bin/)", registryBinaryName, self)
	}
	return bin, nil
}

func newDNSCmd(g *globalOptions) *cobra.Command {
	cmd := forwardCmd(dnsCommand, "Serve DNS to containers until none is left (started by berth run)")
	cmd.Hidden = true
	return cmd
}
