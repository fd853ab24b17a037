package containerinit

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// DefaultPath is the PATH a workload gets when its environment has none.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// workloadEnv completes the workload's environment as Docker does: PATH,
// HOSTNAME, TERM for a terminal, HOME from the user's passwd entry, each only
// where the user did not set it.
func workloadEnv(env []string, tty bool, home string) []string {
	has := func(k string) bool {
		for _, e := range env {
			if strings.HasPrefix(e, k+"=") {
				return true
			}
		}
		return false
	}
	var out []string
	if !has("PATH") {
		out = append(out, "PATH="+DefaultPath)
	}
	if !has("HOSTNAME") {
		if h, err := os.Hostname(); err == nil {
			out = append(out, "HOSTNAME="+h)
		}
	}
	if tty && !has("TERM") {
		out = append(out, "TERM=xterm")
	}
	out = append(out, env...)
	if !has("HOME") {
		out = append(out, "HOME="+home)
	}
	return out
}

// workingDir returns the workload's directory, creating it when missing as
// `docker run -w` does.
func workingDir(dir string) (string, error) {
	if dir == "" {
		return "/", nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("creating working directory %s: %w", dir, err)
	}
	return dir, nil
}

// findExecutable resolves argv[0] the way execvp does, with the workload's
// PATH, and tells "not found" (127) from "cannot execute" (126).
func findExecutable(argv, env []string, cwd string) (string, error) {
	if len(argv) == 0 || argv[0] == "" {
		return "", &initError{ExitSetupFailed, fmt.Errorf("no command given")}
	}
	name := argv[0]
	if strings.Contains(name, "/") {
		p := name
		if !filepath.IsAbs(p) {
			p = filepath.Join(cwd, p)
		}
		if err := checkExecutable(name, p); err != nil {
			return "", err
		}
		return p, nil
	}
	path := DefaultPath
	for _, e := range env {
		if v, ok := strings.CutPrefix(e, "PATH="); ok {
			path = v
		}
	}
	var denied string
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		err := checkExecutable(name, p)
		if err == nil {
			return p, nil
		}
		if ie, ok := err.(*initError); ok && ie.code == ExitCannotExecute && denied == "" {
			denied = p
		}
	}
	if denied != "" {
		return "", &initError{ExitCannotExecute, fmt.Errorf("exec %q: %s: permission denied", name, denied)}
	}
	return "", &initError{ExitNotFound, fmt.Errorf("exec %q: executable file not found in $PATH", name)}
}

func checkExecutable(name, p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return &initError{ExitNotFound, fmt.Errorf("exec %q: no such file or directory", name)}
	}
	if st.IsDir() {
		return &initError{ExitCannotExecute, fmt.Errorf("exec %q: is a directory", name)}
	}
	if st.Mode()&0o111 == 0 {
		return &initError{ExitCannotExecute, fmt.Errorf("exec %q: permission denied", name)}
	}
	// The workload's user may still lack the permission the init has;
	// exec reports that, and execError maps it to 126.
	return nil
}
