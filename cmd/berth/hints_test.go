package main

import (
	"bytes"
	"errors"
	"testing"
)

// failures is the engine's api.Errors, as printError sees it.
type failures []error

func (f failures) Error() string     { return errors.Join(f...).Error() }
func (f failures) Failures() []error { return f }

// The engine's failures apart from each other (the steps of a pass) are
// printed one to an error line; other joined errors stay one error.
func TestPrintError_Failures(t *testing.T) {
	var b bytes.Buffer
	printError(&b, failures{errors.New("pull image:x: not found"), errors.New("create app-web-1: the port is taken")})
	want := "error: pull image:x: not found\nerror: create app-web-1: the port is taken\n"
	if b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
	b.Reset()
	printError(&b, errors.Join(errors.New("one"), errors.New("its detail")))
	if b.String() != "error: one\nits detail\n" {
		t.Errorf("printed %q for a joined error", b.String())
	}
}
