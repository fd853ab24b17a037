//go:build registry

package main

import (
	"strings"
	"testing"

	"github.com/berthproject/berth/image"
)

func TestProgressPlainLines(t *testing.T) {
	var b strings.Builder
	p := newProgressPrinter(&b, false)
	for _, ev := range []image.ProgressEvent{
		{Layer: "aaa", Status: "waiting"},
		{Layer: "bbb", Status: "exists"},
		{Layer: "aaa", Status: "downloading", Current: 10, Total: 100},
		{Layer: "aaa", Status: "downloading", Current: 50, Total: 100},
		{Layer: "aaa", Status: "done"},
	} {
		p.event(ev)
	}
	p.done()
	want := "aaa: Waiting\nbbb: Already exists\naaa: Downloading [===>                          ] 10B/100B\naaa: Done\n"
	if b.String() != want {
		t.Errorf("got\n%q\nwant\n%q", b.String(), want)
	}
}

func TestProgressTerminalRedraws(t *testing.T) {
	var b strings.Builder
	p := newProgressPrinter(&b, true)
	p.event(image.ProgressEvent{Layer: "aaa", Status: "downloading", Current: 1, Total: 2})
	p.event(image.ProgressEvent{Layer: "bbb", Status: "waiting"})
	p.done()
	out := b.String()
	if !strings.Contains(out, "\x1b[1A") || !strings.Contains(out, "\x1b[2A") {
		t.Errorf("no cursor moves in %q", out)
	}
	if !strings.HasSuffix(out, "\x1b[2Kbbb: Waiting\n") {
		t.Errorf("last line: %q", out)
	}
}
