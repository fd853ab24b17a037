package main

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/berthproject/berth/network"
)

func TestNetworkPlan(t *testing.T) {
	ip := netip.MustParseAddr
	cases := []struct {
		name string
		o    runOptions
		mode string
		reqs []network.AttachRequest
		nets string
		err  string
	}{
		{name: "default network", mode: "bridge", reqs: []network.AttachRequest{{Network: "bridge"}}, nets: "bridge"},
		{name: "default by its other name", o: runOptions{networks: []string{"default"}}, mode: "bridge", reqs: []network.AttachRequest{{Network: "bridge"}}, nets: "bridge"},
		{name: "none", o: runOptions{networks: []string{"none"}}, mode: "none", nets: "none"},
		{name: "host", o: runOptions{networks: []string{"host"}, publish: []string{"80"}}, mode: "host", nets: "host"},
		{
			name: "ip and aliases go to the first network",
			o:    runOptions{networks: []string{"a", "b"}, ip: "10.1.2.3", aliases: []string{"x", "y"}},
			mode: "bridge", nets: "a,b",
			reqs: []network.AttachRequest{{Network: "a", IP: ip("10.1.2.3"), Aliases: []string{"x", "y"}}, {Network: "b"}},
		},
		{
			name: "long form",
			o:    runOptions{networks: []string{"a", "name=b,alias=z,ip=10.9.0.9"}},
			mode: "bridge", nets: "a,b",
			reqs: []network.AttachRequest{{Network: "a"}, {Network: "b", IP: ip("10.9.0.9"), Aliases: []string{"z"}}},
		},
		{name: "none with another", o: runOptions{networks: []string{"none", "a"}}, err: "cannot be combined"},
		{name: "a network twice", o: runOptions{networks: []string{"a", "a"}}, err: "given twice"},
		{name: "another container's", o: runOptions{networks: []string{"container:web"}}, err: "not supported"},
		{name: "ip with none", o: runOptions{networks: []string{"none"}, ip: "10.0.0.2"}, err: "need a network of berth's"},
		{name: "bad ip", o: runOptions{ip: "10.0.0"}, err: "not an IPv4 address"},
		{name: "ports with none", o: runOptions{networks: []string{"none"}, publish: []string{"80"}}, err: "no ports to publish"},
		{name: "bad port", o: runOptions{publish: []string{"80:80:80:80"}}, err: "-p:"},
		{name: "bad extra host", o: runOptions{addHosts: []string{"justaname"}}, err: "not NAME:IP"},
		{name: "host-gateway needs a network", o: runOptions{networks: []string{"none"}, addHosts: []string{"h:host-gateway"}}, err: "host-gateway needs"},
		{name: "bad dns", o: runOptions{dns: []string{"dns.example"}}, err: "--dns"},
		{name: "unknown long option", o: runOptions{networks: []string{"name=a,mtu=9000"}}, err: `unknown option "mtu"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := tc.o.networkPlan()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.mode != tc.mode || !reflect.DeepEqual(p.reqs, tc.reqs) || p.networkNames() != tc.nets {
				t.Errorf("got mode %s, %+v, %q", p.mode, p.reqs, p.networkNames())
			}
			if tc.mode == "host" && len(p.ports) != 0 {
				t.Errorf("ports kept with --network host: %v", p.ports)
			}
		})
	}
}
