package image

import (
	"errors"
	"fmt"
	"strings"
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
