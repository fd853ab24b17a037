package main

import (
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"strings"
)

// Docker's rules for where `docker cp` puts things, as its reference gives
// them. They are pure (the file system was read before): cp.go reads the
// two sides, copyPlan decides, cp_tar.go copies.

// cpArg is one side of `berth cp`: a path in a container, a path on the
// host, or "-" (a tar stream on stdin or stdout).
type cpArg struct {
	container string // "" on the host
	path      string
}

// splitCpArg splits CONTAINER:PATH as docker does: an absolute path, or
// one whose first part starts with ".", is the host's even with a colon
// in it ("./a:b"). A container path is relative to the container's root.
func splitCpArg(arg string) cpArg {
	if filepath.IsAbs(arg) {
		return cpArg{path: arg}
	}
	name, p, ok := strings.Cut(arg, ":")
	if !ok || strings.HasPrefix(name, ".") {
		return cpArg{path: arg}
	}
	if !strings.HasPrefix(p, "/") {
		p = "/" + p
	}
	return cpArg{container: name, path: p}
}

// cpSource is what SRC_PATH is.
type cpSource struct {
	path  string // as the user gave it
	isDir bool
}

// contentsOnly: "DIR/." copies what DIR holds, not DIR itself.
func (s cpSource) contentsOnly() bool {
	return s.path == "." || strings.HasSuffix(s.path, "/.") || path.Clean(s.path) == "/"
}

// trailingSlash: "DIR/" or "DIR/." says SRC must be a directory.
func (s cpSource) trailingSlash() bool {
	return strings.HasSuffix(s.path, "/") || strings.HasSuffix(s.path, "/.")
}

// cpDest is what DEST_PATH is, and whether its parent directory exists.
type cpDest struct {
	path      string // as the user gave it
	exists    bool
	isDir     bool // following a symlink, as docker does for DEST
	parentDir bool // its parent exists and is a directory
}

// cpPlan is where the copy goes: the tar stream of SRC, its top entry
// named name ("." for a directory's contents only), is unpacked into dir.
type cpPlan struct {
	dir  string
	name string
}

var (
	errCpNotDir     = errors.New("not a directory")
	errCpDirToFile  = errors.New("cannot copy a directory to a file")
	errCpDestNoDir  = errors.New("the destination directory must exist (DEST ends with /, so it names a directory)")
	errCpDestParent = errors.New("no such directory")
)

// copyPlan applies docker cp's table:
//
//	SRC file,  DEST missing       -> created as DEST (its parent must exist)
//	SRC file,  DEST missing + "/" -> error: the directory must exist
//	SRC file,  DEST a file        -> overwritten
//	SRC file,  DEST a directory   -> copied into it, as DEST/basename(SRC)
//	SRC dir,   DEST missing       -> created as DEST, with SRC's contents
//	SRC dir,   DEST a file        -> error
//	SRC dir,   DEST a directory   -> copied into it, as DEST/basename(SRC);
//	SRC dir/., DEST a directory   -> its contents copied into DEST
func copyPlan(src cpSource, dst cpDest) (cpPlan, error) {
	if src.trailingSlash() && !src.isDir {
		return cpPlan{}, fmt.Errorf("source %q: %w", src.path, errCpNotDir)
	}
	clean := path.Clean(dst.path)
	parent, base := path.Dir(clean), path.Base(clean)
	switch {
	case !dst.exists && !dst.parentDir:
		return cpPlan{}, fmt.Errorf("destination %q: %w %q", dst.path, errCpDestParent, parent)
	case !dst.exists && strings.HasSuffix(dst.path, "/") && !src.isDir:
		return cpPlan{}, fmt.Errorf("destination %q: %w", dst.path, errCpDestNoDir)
	case !dst.exists:
		return cpPlan{dir: parent, name: base}, nil
	case !dst.isDir && src.isDir:
		return cpPlan{}, fmt.Errorf("copying %q to %q: %w", src.path, dst.path, errCpDirToFile)
	case !dst.isDir && strings.HasSuffix(dst.path, "/"):
		return cpPlan{}, fmt.Errorf("destination %q: %w", dst.path, errCpNotDir)
	case !dst.isDir:
		return cpPlan{dir: parent, name: base}, nil
	case src.isDir && src.contentsOnly():
		return cpPlan{dir: clean, name: "."}, nil
	}
	return cpPlan{dir: clean, name: path.Base(path.Clean(src.path))}, nil
}
