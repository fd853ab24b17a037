//go:build registry

package image

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
)

// DefaultConfigPath is berth's configuration file. The environment
// variable BERTH_CONFIG names another.
const DefaultConfigPath = "/etc/berth/config.json"

// ConfigPath is the configuration file in use.
func ConfigPath() string {
	if p := os.Getenv("BERTH_CONFIG"); p != "" {
		return p
	}
	return DefaultConfigPath
}

// registryConfig is what the registry client reads of berth's
// configuration file, with Docker's daemon.json key:
//
//	{"insecure-registries": ["registry.lan:5000", "10.1.2.0/24"]}
//
// Other keys belong to others and are not looked at.
type registryConfig struct {
	path  string
	hosts map[string]bool // "host" or "host:port", lowercase, as listed
	cidrs []netip.Prefix

	mu      sync.Mutex
	decided map[string]bool // host[:port] -> insecure, for hosts the CIDRs decide
}

// loadRegistryConfig reads the configuration file at ConfigPath; a file
// that does not exist is an empty configuration.
func loadRegistryConfig() (*registryConfig, error) {
	return readRegistryConfig(ConfigPath())
}

func readRegistryConfig(path string) (*registryConfig, error) {
	c := &registryConfig{path: path, hosts: map[string]bool{}, decided: map[string]bool{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return nil, &ConfigError{Path: path, Err: err}
	}
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil
	}
	var raw struct {
		Insecure []string `json:"insecure-registries"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		e := &ConfigError{Path: path, Err: err}
		var se *json.SyntaxError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &se):
			e.Line, e.Column = position(b, se.Offset)
		case errors.As(err, &te):
			e.Line, e.Column = position(b, te.Offset)
		}
		return nil, e
	}
	for i, entry := range raw.Insecure {
		if err := c.add(entry); err != nil {
			return nil, &ConfigError{Path: path, Key: fmt.Sprintf("insecure-registries[%d]", i), Err: err}
		}
	}
	return c, nil
}

// position gives the line and column, from 1, of the byte that
// encoding/json read last when it stopped after offset bytes of b.
func position(b []byte, offset int64) (line, col int) {
	if len(b) == 0 {
		return 1, 1
	}
	offset = min(max(offset, 1), int64(len(b)))
	before := b[:offset]
	line = 1 + bytes.Count(before[:len(before)-1], []byte("\n"))
	col = len(before) - 1 - bytes.LastIndexByte(before[:len(before)-1], '\n')
	return line, col
}

// add takes one insecure-registries entry, read as Docker reads it: a
// CIDR, or host[:port]; a leading http:// or https:// is dropped.
func (c *registryConfig) add(entry string) error {
	e := strings.ToLower(strings.TrimSpace(entry))
	e = strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://")
	if strings.Contains(e, "://") {
		return fmt.Errorf("%q: give host[:port] or a CIDR, without a URL scheme", entry)
	}
	if p, err := netip.ParsePrefix(e); err == nil {
		c.cidrs = append(c.cidrs, p.Masked())
		return nil
	}
	if !validHostPort(e) {
		return fmt.Errorf("%q is neither host[:port] nor a CIDR such as 10.1.2.0/24", entry)
	}
	c.hosts[e] = true
	return nil
}

func validHostPort(s string) bool {
	host := s
	if h, port, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(port)
		if err != nil || n < 1 || n > 65535 {
			return false
		}
		host = h
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return true
	}
	if host == "" || len(host) > 253 {
		return false
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' && r != '_' {
				return false
			}
		}
	}
	return true
}

// insecure says whether the registry at hostport is one to speak to as
// Docker speaks to an insecure registry: HTTPS without checking its
// certificate, or plain HTTP when it has no TLS. Loopback registries
// always are (Docker lists 127.0.0.0/8 by default); others when listed
// by host[:port] exactly, or when an address of theirs (looked up, for a
// name) is in a listed CIDR. A nil config lists nothing.
func (c *registryConfig) insecure(ctx context.Context, hostport string) bool {
	if isLoopback(hostport) {
		return true
	}
	if c == nil {
		return false
	}
	key := strings.ToLower(hostport)
	if c.hosts[key] {
		return true
	}
	if len(c.cidrs) == 0 {
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if v, ok := c.decided[key]; ok {
		return v
	}
	v := c.inCIDRs(ctx, key)
	c.decided[key] = v
	return v
}

func (c *registryConfig) inCIDRs(ctx context.Context, hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	var addrs []netip.Addr
	if a, err := netip.ParseAddr(host); err == nil {
		addrs = []netip.Addr{a}
	} else if addrs, err = net.DefaultResolver.LookupNetIP(ctx, "ip", host); err != nil {
		return false // as Docker: a name that does not resolve is not in a CIDR
	}
	for _, a := range addrs {
		for _, p := range c.cidrs {
			if p.Contains(a.Unmap()) {
				return true
			}
		}
	}
	return false
}
