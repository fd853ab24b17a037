//go:build registry

package image

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Progress receives one event per layer state change, for the CLI to
// render. Pull and Push call it from several goroutines, one at a time.
type Progress func(ev ProgressEvent)

// ProgressEvent is one layer's state. Download and unpacking are one
// streaming pass, so a pulled layer goes waiting, downloading (repeated
// as bytes arrive), verifying, done; or straight to exists.
type ProgressEvent struct {
	Layer   string // short digest, e.g. "a3ed95caeb02"
	Status  string // "waiting", "downloading", "verifying", "extracting", "done", "exists", "pushing", "pushed"
	Current int64  // bytes so far
	Total   int64  // bytes in all, 0 if unknown
}

// pullJobs bounds the layers downloaded, or pushed, at once.
const pullJobs = 4

// reporter serialises progress events so that a Progress need not lock.
type reporter struct {
	mu sync.Mutex
	fn Progress
}

func (r *reporter) emit(layer v1.Hash, status string, cur, total int64) {
	if r.fn == nil {
		return
	}
	short := layer.Hex
	if len(short) > 12 {
		short = short[:12]
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.fn(ProgressEvent{Layer: short, Status: status, Current: cur, Total: total})
}

// parseRemote parses ref as go-containerregistry does, marking insecure
// registries (cfg.insecure) so that plain HTTP is tried when HTTPS fails.
func parseRemote(ctx context.Context, ref string, cfg *registryConfig) (name.Reference, error) {
	if _, err := NormalizeName(ref); err != nil {
		return nil, err
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, &NameError{Name: ref, Err: err}
	}
	if cfg.insecure(ctx, r.Context().RegistryStr()) {
		r, err = name.ParseReference(ref, name.Insecure)
		if err != nil {
			return nil, &NameError{Name: ref, Err: err}
		}
	}
	return r, nil
}

// isLoopback says whether host[:port] names this machine: localhost,
// 127.0.0.0/8 or ::1.
func isLoopback(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// registryTransport carries every request to a registry. Hosts that
// cfg.insecure names get TLS without certificate checks and may be spoken
// to in plain HTTP (go-containerregistry's ping tries HTTPS first, then
// HTTP, for a registry parsed with name.Insecure); all others get HTTPS
// with verified certificates. go-containerregistry itself also uses HTTP
// for private (RFC 1918) and .local addresses; Docker does not without an
// insecure-registries entry, and neither do we: such requests go out as
// HTTPS. The decision is per request host, so a redirect to another host
// (blob storage) is verified again.
type registryTransport struct {
	cfg        *registryConfig
	verified   http.RoundTripper
	unverified http.RoundTripper
}

func newRegistryTransport(cfg *registryConfig) http.RoundTripper {
	base, ok := remote.DefaultTransport.(*http.Transport)
	if !ok {
		base = http.DefaultTransport.(*http.Transport)
	}
	unverified := base.Clone()
	tc := &tls.Config{}
	if unverified.TLSClientConfig != nil {
		tc = unverified.TLSClientConfig.Clone()
	}
	tc.InsecureSkipVerify = true
	unverified.TLSClientConfig = tc
	return &registryTransport{cfg: cfg, verified: base, unverified: unverified}
}

func (t *registryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.cfg.insecure(req.Context(), req.URL.Host) {
		return t.unverified.RoundTrip(req)
	}
	if req.URL.Scheme == "http" {
		req = req.Clone(req.Context())
		req.URL.Scheme = "https"
	}
	return t.verified.RoundTrip(req)
}

func remoteOptions(ctx context.Context, cfg *registryConfig) []remote.Option {
	return []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(authn.DefaultKeychain),
		remote.WithTransport(newRegistryTransport(cfg)),
		remote.WithPlatform(v1.Platform{OS: "linux", Architecture: goruntime.GOARCH, Variant: hostVariant()}),
		remote.WithUserAgent("berth"),
		remote.WithJobs(pullJobs),
	}
}

// hostVariant is the platform variant our images are for; only arm64 has
// one that registries commonly set.
func hostVariant() string {
	if goruntime.GOARCH == "arm64" {
		return "v8"
	}
	return ""
}

// registryError classifies err from a registry exchange.
func registryError(op string, r name.Reference, err error) error {
	if err == nil {
		return nil
	}
	var de *DigestError
	var fe *ForeignLayerError
	if errors.As(err, &de) || errors.As(err, &fe) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s %s: %w", op, r.Name(), err)
	}
	e := &RegistryError{Op: op, Ref: r.Name(), Registry: r.Context().RegistryStr(), Cause: err}
	var te *transport.Error
	switch {
	case isTLSFailure(err):
		e.Err, e.Config = ErrTLS, ConfigPath()
	case errors.As(err, &te):
		switch te.StatusCode {
		case http.StatusNotFound:
			e.Err = ErrRemoteNotFound
		case http.StatusUnauthorized, http.StatusForbidden:
			e.Err = ErrUnauthorized
		}
		for _, d := range te.Errors {
			switch d.Code {
			case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
				e.Err = ErrRemoteNotFound
			case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
				e.Err = ErrUnauthorized
			}
		}
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		e.Err = ErrUnreachable
	default:
		var dnsErr *net.DNSError
		var opErr *net.OpError
		if errors.As(err, &dnsErr) || errors.As(err, &opErr) && opErr.Op == "dial" {
			e.Err = ErrUnreachable
		}
	}
	return e
}

// isTLSFailure says whether err is a certificate we do not trust, or a
// registry that answered HTTPS in plain HTTP (net/http says so only in
// words).
func isTLSFailure(err error) bool {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	return errors.As(err, &unknown) || errors.As(err, &hostname) || errors.As(err, &invalid) || errors.As(err, &verify) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client")
}

// isNotFound says whether err is a registry's answer that it has no such
// thing.
func isNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	if te.StatusCode == http.StatusNotFound {
		return true
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.BlobUnknownErrorCode, transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode:
			return true
		}
	}
	return false
}

// blobFetcher GETs blobs of one repository itself rather than through
// remote.Layer, whose reader reports a digest mismatch only as an
// unexported error type: Pull checks digests and says so with DigestError.
type blobFetcher struct {
	repo   name.Repository
	client *http.Client
}

func newBlobFetcher(ctx context.Context, repo name.Repository, cfg *registryConfig) (*blobFetcher, error) {
	auth, err := authn.DefaultKeychain.ResolveContext(ctx, repo)
	if err != nil {
		return nil, fmt.Errorf("reading credentials for %s: %w", repo.RegistryStr(), err)
	}
	rt, err := transport.NewWithContext(ctx, repo.Registry, auth, newRegistryTransport(cfg), []string{repo.Scope(transport.PullScope)})
	if err != nil {
		return nil, err
	}
	return &blobFetcher{repo: repo, client: &http.Client{Transport: rt}}, nil
}

// blob opens the blob h; the caller verifies what it reads.
func (f *blobFetcher) blob(ctx context.Context, h v1.Hash) (io.ReadCloser, error) {
	u := url.URL{
		Scheme: f.repo.Registry.Scheme(),
		Host:   f.repo.RegistryStr(),
		Path:   fmt.Sprintf("/v2/%s/blobs/%s", f.repo.RepositoryStr(), h),
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, err
	}
	if err := transport.CheckError(resp, http.StatusOK); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp.Body, nil
}
