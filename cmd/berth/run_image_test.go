package main

import (
	"reflect"
	"testing"

	"github.com/berthproject/berth/runtime/containerinit"
)

func TestCommandLine(t *testing.T) {
	str := func(s string) *string { return &s }
	img := imageDefaults{Entrypoint: []string{"/entry"}, Cmd: []string{"serve", "--port", "80"}}
	cases := []struct {
		name       string
		img        imageDefaults
		entrypoint *string
		args       []string
		want       []string
		err        bool
	}{
		{name: "image defaults", img: img, want: []string{"/entry", "serve", "--port", "80"}},
		{name: "arguments replace Cmd", img: img, args: []string{"debug"}, want: []string{"/entry", "debug"}},
		{name: "--entrypoint drops Cmd", img: img, entrypoint: str("/bin/sh"), want: []string{"/bin/sh"}},
		{name: "--entrypoint with arguments", img: img, entrypoint: str("/bin/sh"), args: []string{"-c", "id"}, want: []string{"/bin/sh", "-c", "id"}},
		{name: "--entrypoint empty clears it", img: img, entrypoint: str(""), args: []string{"ls"}, want: []string{"ls"}},
		{name: "Cmd only", img: imageDefaults{Cmd: []string{"sh"}}, want: []string{"sh"}},
		{name: "nothing at all", img: imageDefaults{}, err: true},
		{name: "--entrypoint empty and no arguments", img: img, entrypoint: str(""), err: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := commandLine(tc.img, tc.entrypoint, tc.args)
			if (err != nil) != tc.err {
				t.Fatalf("err = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMergeEnv(t *testing.T) {
	got := containerinit.MergeEnv([]string{"PATH=/bin", "A=1", "B=2"}, []string{"B=3", "C=4", "A=5"})
	want := []string{"PATH=/bin", "A=5", "B=3", "C=4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}
