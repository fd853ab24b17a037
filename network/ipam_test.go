package network

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAllocSubnet(t *testing.T) {
	pool := netip.MustParsePrefix("10.89.0.0/16")
	p := netip.MustParsePrefix
	tests := []struct {
		name  string
		taken []netip.Prefix
		want  string
	}{
		{"empty host", nil, "10.89.0.0/24"},
		{"first taken by a network", []netip.Prefix{p("10.89.0.0/24")}, "10.89.1.0/24"},
		{"host route over the first two", []netip.Prefix{p("10.89.0.0/23")}, "10.89.2.0/24"},
		{"a small host route inside a block", []netip.Prefix{p("10.89.0.128/25"), p("10.89.1.0/24")}, "10.89.2.0/24"},
		{"a wide route elsewhere", []netip.Prefix{p("10.0.0.0/16")}, "10.89.0.0/24"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := allocSubnet(pool, 24, tc.taken)
			if err != nil || got.String() != tc.want {
				t.Errorf("got %v, %v; want %s", got, err, tc.want)
			}
		})
	}
	t.Run("pool exhausted", func(t *testing.T) {
		_, err := allocSubnet(netip.MustParsePrefix("10.89.0.0/23"), 24, []netip.Prefix{p("10.89.0.0/23")})
		if !errors.Is(err, ErrPoolExhausted) {
			t.Errorf("got %v, want ErrPoolExhausted", err)
		}
	})
}

func TestAllocIP(t *testing.T) {
	subnet := netip.MustParsePrefix("10.89.0.0/29") // hosts .1-.6
	gw := netip.MustParseAddr("10.89.0.1")
	a := netip.MustParseAddr
	used := map[netip.Addr]bool{a("10.89.0.2"): true, a("10.89.0.3"): true}
	tests := []struct {
		name    string
		want    netip.Addr
		used    map[netip.Addr]bool
		got     string
		wantErr error
	}{
		{"lowest free skips gateway and used", netip.Addr{}, used, "10.89.0.4", nil},
		{"requested and free", a("10.89.0.6"), used, "10.89.0.6", nil},
		{"requested and taken", a("10.89.0.2"), used, "", ErrAddressInUse},
		{"requested gateway", gw, nil, "", ErrAddressInUse},
		{"requested broadcast", a("10.89.0.7"), nil, "", ErrInvalid},
		{"requested outside", a("10.89.1.5"), nil, "", ErrInvalid},
		{"full", netip.Addr{}, map[netip.Addr]bool{a("10.89.0.2"): true, a("10.89.0.3"): true, a("10.89.0.4"): true,
			a("10.89.0.5"): true, a("10.89.0.6"): true}, "", ErrSubnetFull},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := allocIP(subnet, gw, tc.used, tc.want)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Errorf("got %v, %v; want error %v", got, err, tc.wantErr)
				}
				return
			}
			if err != nil || got.String() != tc.got {
				t.Errorf("got %v, %v; want %s", got, err, tc.got)
			}
		})
	}
}

func TestParsePortMapping(t *testing.T) {
	ip := netip.MustParseAddr
	tests := []struct {
		spec string
		want PortMapping
		bad  bool
	}{
		{spec: "80", want: PortMapping{ContainerPort: 80, Protocol: "tcp"}},
		{spec: "8080:80", want: PortMapping{HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{spec: "127.0.0.1:8080:80/udp", want: PortMapping{HostIP: ip("127.0.0.1"), HostPort: 8080, ContainerPort: 80, Protocol: "udp"}},
		{spec: "127.0.0.1::80", want: PortMapping{HostIP: ip("127.0.0.1"), ContainerPort: 80, Protocol: "tcp"}},
		{spec: "8000-8001:80-81", want: PortMapping{HostPort: 8000, HostPortEnd: 8001, ContainerPort: 80, ContainerPortEnd: 81, Protocol: "tcp"}},
		{spec: "8000-8010:80", want: PortMapping{HostPort: 8000, HostPortEnd: 8010, ContainerPort: 80, Protocol: "tcp"}},
		{spec: "[::]:8080:80", want: PortMapping{HostIP: ip("::"), HostPort: 8080, ContainerPort: 80, Protocol: "tcp"}},
		{spec: "8000-8002:80-81", bad: true},
		{spec: "80-81", bad: true},
		{spec: "8080:80/sctp", bad: true},
		{spec: "x:80", bad: true},
		{spec: "0", bad: true},
		{spec: "[::1]:8080:80", bad: true}, // IPv6 is not published yet
	}
	for _, tc := range tests {
		t.Run(tc.spec, func(t *testing.T) {
			got, err := ParsePortMapping(tc.spec)
			if tc.bad {
				if err == nil {
					t.Errorf("got %+v, want an error", got)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
