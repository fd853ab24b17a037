package image

import (
	"errors"
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Sentinels a caller can test with errors.Is; the typed errors below wrap
// them and carry the details.
var (
	// ErrNotFound: no image has that name or id.
	ErrNotFound = errors.New("no such image")
	// ErrAmbiguous: a short id matches more than one image.
	ErrAmbiguous = errors.New("short id matches more than one image")
	// ErrInvalidName: the name is not a valid image reference.
	ErrInvalidName = errors.New("invalid image name")
	// ErrHasNames: an image named more than once cannot be removed by id.
	ErrHasNames = errors.New("image has more than one name")
	// ErrUnsafeLayer: a layer entry tries to leave its layer, or is of a
	// kind we refuse.
	ErrUnsafeLayer = errors.New("unsafe layer entry")
	// ErrLayerTooLarge: a layer exceeds Limits (a decompression bomb?).
	ErrLayerTooLarge = errors.New("layer exceeds the unpack limit")
	// ErrCompression: the input's compression cannot be read here.
	ErrCompression = errors.New("unsupported compression")
)

// NotFoundError says which reference found nothing.
type NotFoundError struct {
	Ref string // as the user gave it
}

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("image %q: %v in the local store (pull or import it first)", e.Ref, ErrNotFound)
}

func (e *NotFoundError) Unwrap() error { return ErrNotFound }

// AmbiguousError lists the images a short id matches.
type AmbiguousError struct {
	Ref     string
	Matches []string // image ids
}

func (e *AmbiguousError) Error() string {
	return fmt.Sprintf("image id %q matches %d images (%s); give more characters of the id",
		e.Ref, len(e.Matches), strings.Join(e.Matches, ", "))
}

func (e *AmbiguousError) Unwrap() error { return ErrAmbiguous }

// NameError is a name that does not parse as an image reference.
type NameError struct {
	Name string
	Err  error // go-containerregistry's reason
}

func (e *NameError) Error() string {
	return fmt.Sprintf("%v %q: %v (names are lowercase, like registry.example.com/team/app:1.0)", ErrInvalidName, e.Name, e.Err)
}

func (e *NameError) Unwrap() []error { return []error{ErrInvalidName, e.Err} }

// HasNamesError is returned by Remove of an id whose image has several
// names: which one should go is the caller's choice.
type HasNamesError struct {
	ID    string
	Names []string
}

func (e *HasNamesError) Error() string {
	return fmt.Sprintf("image %s has %d names (%s); remove them by name", e.ID, len(e.Names), strings.Join(e.Names, ", "))
}

func (e *HasNamesError) Unwrap() error { return ErrHasNames }

// EntryError is a layer entry refused while unpacking.
type EntryError struct {
	Entry  string // the name in the tarball
	Reason string // "escapes the layer", "path goes through symlink \"a\""
	Err    error  // ErrUnsafeLayer or ErrLayerTooLarge
}

func (e *EntryError) Error() string {
	return fmt.Sprintf("layer entry %q: %s", e.Entry, e.Reason)
}

func (e *EntryError) Unwrap() error { return e.Err }

func unsafeEntry(entry, format string, args ...any) error {
	return &EntryError{Entry: entry, Reason: fmt.Sprintf(format, args...), Err: ErrUnsafeLayer}
}

// CompressionError names a compression we recognised but cannot read.
type CompressionError struct {
	Format string // "xz"
	Hint   string // what to install or do
}

func (e *CompressionError) Error() string {
	return fmt.Sprintf("%s-compressed input: %v here (%s)", e.Format, ErrCompression, e.Hint)
}

func (e *CompressionError) Unwrap() error { return ErrCompression }

// Sentinels of talking to a registry, carried by RegistryError and
// DigestError.
var (
	// ErrRemoteNotFound: the registry has no such repository, tag or digest.
	ErrRemoteNotFound = errors.New("no such image in the registry")
	// ErrUnauthorized: the registry wants credentials, or refused ours.
	ErrUnauthorized = errors.New("registry refused access")
	// ErrUnreachable: no connection to the registry could be made.
	ErrUnreachable = errors.New("registry unreachable")
	// ErrDigestMismatch: content from a registry is not what its digest says.
	ErrDigestMismatch = errors.New("digest mismatch")
	// ErrTLS: the registry's certificate is not trusted, or it speaks
	// plain HTTP, and it is not in insecure-registries.
	ErrTLS = errors.New("no trusted TLS connection to the registry")
	// ErrConfig: berth's configuration file cannot be used.
	ErrConfig = errors.New("invalid configuration file")
)

// RegistryError is a pull or push that a registry refused or that could
// not reach it. Err is one of the sentinels above, or nil when the cause
// is something else (Cause says what).
type RegistryError struct {
	Op       string // "pulling", "pushing"
	Ref      string // the normalised name
	Registry string // host[:port]
	Err      error
	Cause    error  // go-containerregistry's or net/http's error
	Config   string // with ErrTLS: the configuration file to list the registry in
}

func (e *RegistryError) Error() string {
	switch e.Err {
	case ErrRemoteNotFound:
		return fmt.Sprintf("%s %s: %v %s (check the name and tag): %v", e.Op, e.Ref, e.Err, e.Registry, e.Cause)
	case ErrUnauthorized:
		return fmt.Sprintf("%s %s: %v %s (log in first: berth login %s): %v", e.Op, e.Ref, e.Err, e.Registry, e.Registry, e.Cause)
	case ErrUnreachable:
		return fmt.Sprintf("%s %s: %v at %s (is it running, and is the address right?): %v", e.Op, e.Ref, e.Err, e.Registry, e.Cause)
	case ErrTLS:
		return fmt.Sprintf("%s %s: %v %s (if you trust it, add %q to \"insecure-registries\" in %s): %v", e.Op, e.Ref, e.Err, e.Registry, e.Registry, e.Config, e.Cause)
	}
	return fmt.Sprintf("%s %s: %v", e.Op, e.Ref, e.Cause)
}

func (e *RegistryError) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Cause}
	}
	return []error{e.Err, e.Cause}
}

// DigestError is content whose digest is not the one asked for: a
// corrupted or tampered download.
type DigestError struct {
	What string // "layer blob", "config", "manifest", "layer content (diff ID)"
	Want v1.Hash
	Got  v1.Hash
	// Source is where the content came from, for the message: "the
	// registry" when empty.
	Source string
}

func (e *DigestError) Error() string {
	src := e.Source
	if src == "" {
		src = "the registry"
	}
	return fmt.Sprintf("%s %s: %v: received content has digest %s (%s's copy is damaged or was tampered with)", e.What, e.Want, ErrDigestMismatch, e.Got, src)
}

func (e *DigestError) Unwrap() error { return ErrDigestMismatch }

// ForeignLayerError is a foreign (non-distributable) layer that the
// registry does not have. Docker would fetch it from the URLs its
// descriptor lists; berth fetches layers only from the image's registry.
type ForeignLayerError struct {
	Digest    v1.Hash
	MediaType string
	URLs      []string // where the manifest says it can be had
}

func (e *ForeignLayerError) Error() string {
	from := "the URLs its manifest lists (" + strings.Join(e.URLs, ", ") + ")"
	if len(e.URLs) == 0 {
		from = "elsewhere"
	}
	return fmt.Sprintf("layer %s is a foreign layer (%s) that the registry does not have; berth fetches layers only from the registry, not from %s (copy the image into the registry with its foreign layers, e.g. crane copy --allow-nondistributable-artifacts)",
		e.Digest, e.MediaType, from)
}

func (e *ForeignLayerError) Unwrap() error { return ErrRemoteNotFound }

// ConfigError is berth's configuration file that cannot be read or used,
// with the place of the problem when it is known.
type ConfigError struct {
	Path         string
	Line, Column int    // of a syntax or type error; 0 when unknown
	Key          string // "insecure-registries[1]"; "" when unknown
	Err          error
}

func (e *ConfigError) Error() string {
	where := e.Path
	if e.Line > 0 {
		where = fmt.Sprintf("%s:%d:%d", e.Path, e.Line, e.Column)
	}
	if e.Key != "" {
		where += ": " + e.Key
	}
	return fmt.Sprintf("%s: %v", where, e.Err)
}

func (e *ConfigError) Unwrap() []error { return []error{ErrConfig, e.Err} }
