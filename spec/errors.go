package spec

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
)

// ErrNoStackFile is wrapped by NoStackFileError.
var ErrNoStackFile = errors.New("no stack file")

// NoStackFileError says that no stack file was named and none was found.
type NoStackFileError struct {
	// Dir is where the search started.
	Dir string
}

func (e *NoStackFileError) Error() string {
	return fmt.Sprintf("no compose.yaml, compose.yml, docker-compose.yml or docker-compose.yaml in %s or its parents", e.Dir)
}

func (e *NoStackFileError) Unwrap() error { return ErrNoStackFile }

// ErrInvalid is wrapped by every ValidationError: the stack file is wrong
// and retrying will not help.
var ErrInvalid = errors.New("invalid stack file")

// ValidationError is one mistake in a stack file, with where it was
// written. Load returns several at once, joined with errors.Join.
type ValidationError struct {
	// Position is where the offending key was written; Line is 0 when it
	// is not known (the key came from a file berth did not index, or
	// compose-go did not say).
	Position Position
	// Key is the path of the offending key, as
	// "services.web.depends_on.db" or "services.web.ports[0]".
	Key string
	// Message says what is wrong.
	Message string
	// Hint says how to fix it, or is "".
	Hint string
	// Err is compose-go's error this one describes, if any.
	Err error
}

// Error reads "compose.yaml:14:5: services.web.ports[0]: message"; the hint
// is not part of it, the CLI prints it on its own line.
func (e *ValidationError) Error() string {
	var b strings.Builder
	switch {
	case e.Position.Line > 0:
		b.WriteString(e.Position.String())
		b.WriteString(": ")
	case e.Position.File != "":
		b.WriteString(filepath.Base(e.Position.File))
		b.WriteString(": ")
	}
	if e.Key != "" {
		b.WriteString(e.Key)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

func (e *ValidationError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrInvalid}
	}
	return []error{ErrInvalid, e.Err}
}

// ValidationErrors returns the ValidationErrors in err, which may be one or
// a join of several, in order.
func ValidationErrors(err error) []*ValidationError {
	var out []*ValidationError
	var walk func(error)
	walk = func(err error) {
		if err == nil {
			return
		}
		if ve, ok := err.(*ValidationError); ok {
			out = append(out, ve)
			return
		}
		switch u := err.(type) {
		case interface{ Unwrap() []error }:
			for _, e := range u.Unwrap() {
				walk(e)
			}
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		}
	}
	walk(err)
	return out
}

// keyString renders a path as Compose users read it: "services.web.ports[0]".
// A number is a list index, except as the name of a service, network,
// volume, config or secret (the second segment).
func keyString(path []string) string {
	var b strings.Builder
	for i, p := range path {
		if i != 1 && isIndex(p) {
			b.WriteString("[" + p + "]")
			continue
		}
		if i > 0 {
			b.WriteByte('.')
		}
		b.WriteString(p)
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
