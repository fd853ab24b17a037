package main

import (
	"errors"
	"testing"
)

func TestSplitCpArg(t *testing.T) {
	for arg, want := range map[string]cpArg{
		"box:/etc": {container: "box", path: "/etc"},
		"box:etc":  {container: "box", path: "/etc"},
		"/abs:x":   {path: "/abs:x"},
		"./a:b":    {path: "./a:b"},
		"plain":    {path: "plain"},
		"-":        {path: "-"},
		"box:/d/.": {container: "box", path: "/d/."},
		"box:":     {container: "box", path: "/"},
	} {
		if got := splitCpArg(arg); got != want {
			t.Errorf("splitCpArg(%q) = %+v, want %+v", arg, got, want)
		}
	}
}

func TestCopyPlan(t *testing.T) {
	file := cpSource{path: "/src/f"}
	dir := cpSource{path: "/src/d", isDir: true}
	missing := cpDest{path: "/dst/new", parentDir: true}
	for _, tc := range []struct {
		name string
		src  cpSource
		dst  cpDest
		want cpPlan
		err  error
	}{
		{"file to a new name", file, missing, cpPlan{"/dst", "new"}, nil},
		{"file to a missing directory", file, cpDest{path: "/dst/new/", parentDir: true}, cpPlan{}, errCpDestNoDir},
		{"file over a file", file, cpDest{path: "/dst/g", exists: true, parentDir: true}, cpPlan{"/dst", "g"}, nil},
		{"file into a directory", file, cpDest{path: "/dst/", exists: true, isDir: true, parentDir: true}, cpPlan{"/dst", "f"}, nil},
		{"file with a slash", cpSource{path: "/src/f/"}, missing, cpPlan{}, errCpNotDir},
		{"directory to a new name", dir, missing, cpPlan{"/dst", "new"}, nil},
		{"directory over a file", dir, cpDest{path: "/dst/g", exists: true, parentDir: true}, cpPlan{}, errCpDirToFile},
		{"directory into a directory", dir, cpDest{path: "/dst", exists: true, isDir: true, parentDir: true}, cpPlan{"/dst", "d"}, nil},
		{"contents into a directory", cpSource{path: "/src/d/.", isDir: true}, cpDest{path: "/dst", exists: true, isDir: true, parentDir: true}, cpPlan{"/dst", "."}, nil},
		{"contents to a new name", cpSource{path: "/src/d/.", isDir: true}, missing, cpPlan{"/dst", "new"}, nil},
		{"missing parent", file, cpDest{path: "/no/x"}, cpPlan{}, errCpDestParent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := copyPlan(tc.src, tc.dst)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("copyPlan = %+v, %v; want %+v, %v", got, err, tc.want, tc.err)
			}
		})
	}
}
