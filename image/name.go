package image

import (
	"errors"
	"strings"
)

// NormalizeName returns ref in the form Docker stores names in:
// "busybox" is "docker.io/library/busybox:latest", "localhost:5000/x/y:z"
// stays as it is, and a name with a digest keeps the digest and drops any
// tag, as go-containerregistry's name.ParseReference does. It fails for
// names Docker refuses, such as names with uppercase letters in the path.
//
// It follows Docker's grammar (distribution/reference) and splits the
// registry off as go-containerregistry does (the first component, when it
// is "localhost" or has a "." or ":"); the tests check it against
// name.ParseReference. It does not use that package because its regular
// expressions, and those of go-digest under it, cost every berth process
// about 1.3 ms of start-up, for a function `berth run` calls once.
func NormalizeName(ref string) (string, error) {
	bad := func(why string) (string, error) {
		return "", &NameError{Name: ref, Err: errors.New(why)}
	}
	if strings.Contains(ref, "://") {
		return bad("an image name has no URL scheme")
	}
	rest, digest, hasDigest := strings.Cut(ref, "@")
	if hasDigest && !validDigest(digest) {
		return bad("the digest must be sha256: and 64 lowercase hex digits")
	}
	tag := ""
	if i := strings.LastIndexByte(rest, ':'); i >= 0 && !strings.Contains(rest[i+1:], "/") {
		rest, tag = rest[:i], rest[i+1:]
		if !validTag(tag) {
			return bad("a tag is 1 to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'")
		}
	}
	domain, path := "", rest
	if d, p, ok := strings.Cut(rest, "/"); ok && (d == "localhost" || strings.ContainsAny(d, ".:")) {
		if !validDomain(d) {
			return bad("the registry must be a host name or address, with an optional :port")
		}
		domain, path = d, p
	}
	if path == "" {
		return bad("the repository name is missing")
	}
	for _, c := range strings.Split(path, "/") {
		if !validComponent(c) {
			return bad("each part of the repository path is lowercase letters and digits, joined by '.', '_', '__' or '-'")
		}
	}
	if domain == "" || domain == "index.docker.io" {
		domain = "docker.io"
	}
	if domain == "docker.io" && !strings.Contains(path, "/") {
		path = "library/" + path
	}
	if len(path) > 255 {
		return bad("the repository path is longer than 255 characters")
	}
	if hasDigest {
		return domain + "/" + path + "@" + digest, nil
	}
	if tag == "" {
		tag = "latest"
	}
	return domain + "/" + path + ":" + tag, nil
}

func validDigest(d string) bool {
	alg, hex, _ := strings.Cut(d, ":")
	want := map[string]int{"sha256": 64, "sha384": 96, "sha512": 128}[alg]
	return want != 0 && len(hex) == want && isHex(hex)
}

func validTag(t string) bool {
	if t == "" || len(t) > 128 || t[0] == '.' || t[0] == '-' {
		return false
	}
	for _, c := range []byte(t) {
		if !isAlnum(c) && c != '_' && c != '.' && c != '-' {
			return false
		}
	}
	return true
}

// validComponent checks [a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*.
func validComponent(c string) bool {
	if c == "" || !isLowerAlnum(c[0]) || !isLowerAlnum(c[len(c)-1]) {
		return false
	}
	for i := 0; i < len(c); i++ {
		switch {
		case isLowerAlnum(c[i]):
		case c[i] == '.':
			if !isLowerAlnum(c[i+1]) {
				return false
			}
		case c[i] == '-':
			if !isLowerAlnum(c[i+1]) && c[i+1] != '-' {
				return false
			}
		case c[i] == '_':
			if c[i+1] == '_' {
				i++
			}
			if !isLowerAlnum(c[i+1]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// validDomain checks host[:port], the host a DNS name or an address
// (IPv6 in brackets).
func validDomain(d string) bool {
	host, port := d, ""
	if strings.HasPrefix(d, "[") {
		end := strings.IndexByte(d, ']')
		if end < 0 {
			return false
		}
		for _, c := range []byte(d[1:end]) {
			if !isHexDigit(c) && c != ':' && c != '.' {
				return false
			}
		}
		host, port = "", d[end+1:]
		if port != "" && port[0] != ':' {
			return false
		}
		port = strings.TrimPrefix(port, ":")
	} else if h, p, ok := strings.Cut(d, ":"); ok {
		host, port = h, p
		if port == "" {
			return false
		}
	}
	for _, c := range []byte(port) {
		if c < '0' || c > '9' {
			return false
		}
	}
	if host == "" {
		return strings.HasPrefix(d, "[")
	}
	for _, label := range strings.Split(host, ".") {
		if label == "" || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !isAlnum(c) && c != '-' {
				return false
			}
		}
	}
	return true
}

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }
func isAlnum(c byte) bool      { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }
func isHexDigit(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}
