package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"

	"github.com/spf13/cobra"

	"github.com/berthproject/berth/image"
	"github.com/berthproject/berth/runtime"
)

// berth cp copies between a container and the host. The container's side
// runs inside its root (runtime.InRoot: a chroot into /proc/PID/root of a
// running container, or into a private overlay mount of a stopped one),
// the host's side outside it, and a tar stream in a pipe joins the two.
// So the container's paths are resolved by the kernel within its root,
// whatever symlinks it holds, and the host's paths never are.

type cpOptions struct {
	archive bool // -a: keep uid and gid
	follow  bool // -L: follow SRC if it is a symlink
}

func newCpCmd(g *globalOptions) *cobra.Command {
	o := &cpOptions{}
	cmd := &cobra.Command{
		Use:   "cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n  berth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH",
		Short: "Copy files and directories between a container and the host",
		Long: `Copy files and directories between a container, running or stopped, and the
host, with docker cp's rules: a directory is copied into an existing
directory under its own name, or as DEST when DEST does not exist;
SRC_PATH/. copies a directory's contents; DEST ending in / must be an
existing directory. "-" as DEST writes a tar stream of SRC to stdout; as
SRC it unpacks a tar stream from stdin into the directory DEST.
Container paths are relative to the container's root, and every symlink
in them resolves inside the container. Copies into a container belong to
root, copies out of one to the user running berth, unless -a keeps the
owners of the source.`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst := splitCpArg(args[0]), splitCpArg(args[1])
			if err := checkCpArgs(src, dst); err != nil {
				return err
			}
			m, err := newManager(g)
			if err != nil {
				return err
			}
			ref := src.container + dst.container
			c, err := m.Get(ref)
			if err != nil {
				return err
			}
			return runCp(c, src, dst, o, cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.BoolVarP(&o.archive, "archive", "a", false, "archive mode: keep the uid and gid of the source")
	f.BoolVarP(&o.follow, "follow-link", "L", false, "follow SRC_PATH if it is a symbolic link")
	return cmd
}

// checkCpArgs wants a container on exactly one side.
func checkCpArgs(src, dst cpArg) error {
	switch {
	case src.container != "" && dst.container != "":
		return &exitError{code: 2, err: errors.New("copying between containers is not supported; copy to the host, then to the other container")}
	case src.container == "" && dst.container == "":
		return &exitError{code: 2, err: errors.New("must specify at least one container source: CONTAINER:PATH as SRC or as DEST")}
	}
	return nil
}

// runCp copies between c and the host; the side of src or dst with a
// container name is c's.
func runCp(c *runtime.Container, src, dst cpArg, o *cpOptions, in io.Reader, out io.Writer) error {
	if os.Geteuid() != 0 {
		return runtime.ErrNotRoot
	}
	if src.container != "" {
		return copyOut(c, src.path, dst.path, o, out)
	}
	return copyIn(c, src.path, dst.path, o, in)
}

// copyOut copies src in c to dst on the host, or to out as a tar stream.
func copyOut(c *runtime.Container, src, dst string, o *cpOptions, out io.Writer) error {
	if dst == "-" {
		return runtime.InRoot(c, image.InOverlay, func() error {
			s, err := statCpSource(src, o.follow, c)
			if err != nil {
				return err
			}
			name := path.Base(path.Clean(src))
			if s.isDir && s.contentsOnly() {
				name = "."
			}
			return writeCpTar(out, src, name, o.follow)
		})
	}
	d := statCpDest(dst)
	own := cpOwner{keep: o.archive, uid: os.Getuid(), gid: os.Getgid()}
	pr, pw := io.Pipe()
	plans := make(chan cpPlan, 1)
	unpacked := make(chan error, 1)
	go func() { unpacked <- unpackFromPipe(pr, plans, own) }()
	err := runtime.InRoot(c, image.InOverlay, func() error {
		s, err := statCpSource(src, o.follow, c)
		if err != nil {
			return err
		}
		p, err := copyPlan(s, d)
		if err != nil {
			return err
		}
		plans <- p
		err = writeCpTar(pw, src, p.name, o.follow)
		pw.CloseWithError(err)
		return err
	})
	close(plans)
	pw.CloseWithError(err)
	// Whichever side failed first ended the other through the pipe,
	// which then failed with the same error: report the first.
	if uerr := <-unpacked; uerr != nil && (err == nil || !errors.Is(uerr, err)) {
		return fmt.Errorf("copying to %s: %w", dst, uerr)
	}
	return err
}

// copyIn copies src on the host, or the tar stream in, to dst in c.
func copyIn(c *runtime.Container, src, dst string, o *cpOptions, in io.Reader) error {
	own := cpOwner{keep: o.archive} // root's, as docker's
	if src == "-" {
		return runtime.InRoot(c, image.InOverlay, func() error {
			if fi, err := os.Stat(dst); err != nil || !fi.IsDir() {
				return fmt.Errorf("destination %q in container %s must be a directory to unpack a tar stream into", dst, c.Name())
			}
			return unpackCpTar(in, dst, own)
		})
	}
	s, err := statCpSource(src, o.follow, nil)
	if err != nil {
		return err
	}
	pr, pw := io.Pipe()
	plans := make(chan cpPlan, 1)
	packed := make(chan error, 1)
	go func() {
		p, ok := <-plans
		if !ok {
			packed <- nil
			return
		}
		err := writeCpTar(pw, src, p.name, o.follow)
		pw.CloseWithError(err)
		packed <- err
	}()
	err = runtime.InRoot(c, image.InOverlay, func() error {
		p, err := copyPlan(s, statCpDest(dst))
		if err != nil {
			return err
		}
		plans <- p
		return drainAfter(pr, unpackCpTar(pr, p.dir, own))
	})
	close(plans)
	pr.CloseWithError(err)
	// As in copyOut: report the side that failed first.
	if perr := <-packed; perr != nil && (err == nil || errors.Is(err, perr)) {
		return fmt.Errorf("reading %s: %w", src, perr)
	}
	if err != nil {
		return fmt.Errorf("copying to %s in container %s: %w", dst, c.Name(), err)
	}
	return nil
}

// unpackFromPipe waits for the plan, then unpacks pr by it.
func unpackFromPipe(pr *io.PipeReader, plans <-chan cpPlan, own cpOwner) error {
	p, ok := <-plans
	if !ok {
		return nil
	}
	return drainAfter(pr, unpackCpTar(pr, p.dir, own))
}

// drainAfter ends the reading side of a pipe after unpacking: on success
// it reads what the writer still sends (the tar's end padding), so the
// writer does not fail; on failure it stops the writer with err.
func drainAfter(pr *io.PipeReader, err error) error {
	if err != nil {
		pr.CloseWithError(err)
		return err
	}
	_, err = io.Copy(io.Discard, pr)
	return err
}

// statCpSource is what src is. In a container (c set) a missing one gets
// docker's message.
func statCpSource(src string, follow bool, c *runtime.Container) (cpSource, error) {
	stat := os.Lstat
	if follow {
		stat = os.Stat
	}
	fi, err := stat(src)
	if err != nil && c != nil && errors.Is(err, fs.ErrNotExist) {
		return cpSource{}, fmt.Errorf("could not find the file %s in container %s", src, c.Name())
	}
	if err != nil {
		return cpSource{}, err
	}
	return cpSource{path: src, isDir: fi.IsDir()}, nil
}

// statCpDest is what dst is, following symlinks as docker does: inside a
// container's root, they resolve inside it.
func statCpDest(dst string) cpDest {
	d := cpDest{path: dst}
	if fi, err := os.Stat(dst); err == nil {
		d.exists, d.isDir = true, fi.IsDir()
	}
	if fi, err := os.Stat(path.Dir(path.Clean(dst))); err == nil && fi.IsDir() {
		d.parentDir = true
	}
	return d
}
