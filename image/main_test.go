package image

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"testing"
)

// childEnv, when set, makes the test binary a second process working on
// a store instead of running tests: the tests need real processes to
// kill mid-import and to pull alongside them. Its value names the mode in
// childModes; the arguments follow the binary's name.
const childEnv = "BERTH_IMAGE_TEST_CHILD"

// childModes are what a child can do, each given its arguments.
var childModes = map[string]func(args []string) error{
	// import ROOT NAME: Import stdin into the store at ROOT.
	"import": func(args []string) error {
		s, err := Open(args[0])
		if err != nil {
			return err
		}
		img, err := s.Import(context.Background(), os.Stdin, args[1])
		if err != nil {
			return err
		}
		fmt.Println(img.Digest)
		return nil
	},
}

func TestMain(m *testing.M) {
	if mode := os.Getenv(childEnv); mode != "" {
		run, ok := childModes[mode]
		if !ok {
			fmt.Fprintf(os.Stderr, "unknown child mode %q\n", mode)
			os.Exit(2)
		}
		if err := run(os.Args[1:]); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// child is the test binary run as a child in mode with args. The caller
// starts it; t's cleanup kills it if it still runs.
func child(t *testing.T, mode string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	t.Cleanup(func() {
		if cmd.Process != nil && cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd
}
