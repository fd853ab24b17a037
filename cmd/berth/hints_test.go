package main

import (
	"bytes"
	"errors"
	"testing"
)

// Failures joined (the steps of a pass that failed apart from each other)
// are printed one to an error line.
func TestPrintError_Joined(t *testing.T) {
	var b bytes.Buffer
	printError(&b, errors.Join(errors.New("pull image:x: not found"), errors.New("create app-web-1: the port is taken")))
	want := "error: pull image:x: not found\nerror: create app-web-1: the port is taken\n"
	if b.String() != want {
		t.Errorf("printed %q, want %q", b.String(), want)
	}
	b.Reset()
	printError(&b, errors.New("one"))
	if b.String() != "error: one\n" {
		t.Errorf("printed %q for one error", b.String())
	}
}
