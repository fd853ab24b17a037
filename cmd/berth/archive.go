package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/berthproject/berth/image"
)

func newLoadCmd(g *globalOptions) *cobra.Command {
	var input string
	var quiet bool
	cmd := &cobra.Command{
		Use:   "load [-i FILE]",
		Short: "Load images from an archive (docker save, podman save, OCI archive; may be compressed), or from stdin",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			var r io.Reader = os.Stdin
			if input != "" && input != "-" {
				f, err := os.Open(input)
				if err != nil {
					return fmt.Errorf("loading images: %w", err)
				}
				defer f.Close()
				r = f
			} else if term.IsTerminal(int(os.Stdin.Fd())) {
				return errors.New("loading images: no archive: give one with -i FILE or on stdin")
			}
			imgs, err := s.Load(cmd.Context(), r)
			if err != nil {
				return err
			}
			if quiet {
				return nil
			}
			w := cmd.OutOrStdout()
			for _, img := range imgs {
				for _, n := range img.Names {
					fmt.Fprintln(w, "Loaded image: "+familiarName(n))
				}
				if len(img.Names) == 0 {
					fmt.Fprintln(w, "Loaded image ID: "+img.ID)
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&input, "input", "i", "", "read from this archive instead of stdin")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print nothing")
	return cmd
}

func newSaveCmd(g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "save [-o FILE] IMAGE...",
		Short: "Save images to an archive that docker load, podman load and skopeo read (stdout without -o)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newImageStore(g)
			if err != nil {
				return err
			}
			if output == "" || output == "-" {
				if term.IsTerminal(int(os.Stdout.Fd())) {
					return errors.New("saving images: refusing to write an archive to a terminal: give -o FILE or redirect stdout")
				}
				return s.Save(cmd.OutOrStdout(), args)
			}
			return saveToFile(s, output, args)
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", "write to this file instead of stdout")
	return cmd
}

// saveToFile writes the archive beside path and renames it into place,
// so that a failed save leaves no half archive under the name asked for.
func saveToFile(s *image.Store, path string, refs []string) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("saving images: %w", err)
	}
	defer os.Remove(f.Name())
	err = s.Save(f, refs)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), 0o644)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("saving images to %s: %w", path, err)
	}
	return nil
}
