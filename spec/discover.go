package spec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/consts"
	"github.com/compose-spec/compose-go/v2/dotenv"
	"github.com/compose-spec/compose-go/v2/loader"
)

// resolved is Options after Compose's rules: which files to load, from
// which project directory, with which environment. docker compose builds
// the same from its flags (cmd/compose ProjectOptions.toProjectOptions):
// environment, .env, COMPOSE_FILE, discovery, .env again, profiles, name.
type resolved struct {
	cwd        string // Options.WorkingDir, absolute
	projectDir string // --project-directory, absolute, or ""
	files      []string
	// origin says how files were chosen when the user did not name them,
	// for error messages ("found by searching /a/b and its parents").
	origin   string
	env      map[string]string
	profiles []string
	name     string // -p or COMPOSE_PROJECT_NAME, or "" to let the loader choose
	warnings []Warning
	// dotEnvFiles are the env files read for interpolation (.env or
	// --env-file), perhaps more than once.
	dotEnvFiles []string
}

// workingDir is compose-go's GetWorkingDir: the project directory, else
// the first file's directory, else where berth runs.
func (r *resolved) workingDir() string {
	if r.projectDir != "" {
		return r.projectDir
	}
	if len(r.files) > 0 {
		return filepath.Dir(r.files[0])
	}
	return r.cwd
}

func (r *resolved) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(r.cwd, p)
}

func resolveOptions(o Options) (*resolved, error) {
	cwd := o.WorkingDir
	if cwd == "" {
		wd, err := os.Getwd()
		if err != nil {
			return nil, fmt.Errorf("finding the working directory: %w", err)
		}
		cwd = wd
	}
	cwd, err := filepath.Abs(cwd)
	if err != nil {
		return nil, err
	}
	r := &resolved{cwd: cwd, env: map[string]string{}}
	for _, kv := range o.Environ {
		k, v, ok := strings.Cut(kv, "=")
		if ok && k != "" {
			r.env[k] = v
		}
	}
	if _, ok := r.env["PWD"]; !ok {
		r.env["PWD"] = cwd
	}
	if o.ProjectDirectory != "" {
		r.projectDir = r.abs(o.ProjectDirectory)
	}
	for _, f := range o.ConfigFiles {
		if f == "-" {
			return nil, errors.New(`reading the stack file from standard input ("-f -") is not supported: name a file`)
		}
		r.files = append(r.files, r.abs(f))
	}

	envFiles := o.EnvFiles
	if len(envFiles) == 0 {
		envFiles = strings.FieldsFunc(r.env[composeEnvFiles], func(c rune) bool { return c == ',' })
	}
	if err := r.loadDotEnv(envFiles); err != nil {
		return nil, err
	}
	if len(r.files) == 0 {
		if err := r.filesFromEnv(); err != nil {
			return nil, err
		}
	}
	if len(r.files) == 0 {
		if err := r.discover(); err != nil {
			return nil, err
		}
	}
	// The project directory may have changed with the files found: its
	// .env counts too, and what the first one set wins.
	if err := r.loadDotEnv(envFiles); err != nil {
		return nil, err
	}

	r.profiles = o.Profiles
	if len(r.profiles) == 0 {
		for _, p := range strings.Split(r.env[consts.ComposeProfiles], ",") {
			if p = strings.TrimSpace(p); p != "" {
				r.profiles = append(r.profiles, p)
			}
		}
	}

	r.name = o.ProjectName
	if r.name == "" {
		r.name = r.env[consts.ComposeProjectName]
	}
	if r.name != "" && r.name != loader.NormalizeProjectName(r.name) {
		return nil, fmt.Errorf("%w (a project name is lowercase letters, digits, '-' and '_', starting with a letter or digit)",
			loader.InvalidProjectNameErr(r.name))
	}
	return r, nil
}

// composeEnvFiles is docker compose's variable for --env-file's default.
const composeEnvFiles = "COMPOSE_ENV_FILES"

// loadDotEnv adds the variables of the env files (or of the project
// directory's .env when none is named) to r.env; variables already set,
// by the process environment or an earlier file, win.
func (r *resolved) loadDotEnv(envFiles []string) error {
	var files []string
	for _, f := range envFiles {
		files = append(files, r.abs(f))
	}
	if len(files) == 0 {
		if v, ok := r.env[consts.ComposeDisableDefaultEnvFile]; ok {
			off, err := strconv.ParseBool(v)
			if err != nil {
				return fmt.Errorf("%s=%q: %w", consts.ComposeDisableDefaultEnvFile, v, err)
			}
			if off {
				return nil
			}
		}
		f := filepath.Join(r.workingDir(), ".env")
		fi, err := os.Stat(f)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return nil
		case errors.Is(err, fs.ErrPermission):
			r.warnings = append(r.warnings, Warning{
				Position: Position{File: f},
				Key:      ".env",
				Message:  fmt.Sprintf("cannot read %s, so its variables are not used: %v", f, err),
			})
			return nil
		case err != nil:
			return err
		case fi.IsDir():
			return nil
		}
		files = []string{f}
	}
	r.dotEnvFiles = append(r.dotEnvFiles, files...)
	vars, err := dotenv.GetEnvFromFile(r.env, files)
	if err != nil {
		return fmt.Errorf("reading env file: %w", err)
	}
	for k, v := range vars {
		if _, set := r.env[k]; !set {
			r.env[k] = v
		}
	}
	return nil
}

// filesFromEnv takes the files from COMPOSE_FILE, separated by
// COMPOSE_PATH_SEPARATOR (":" by default).
func (r *resolved) filesFromEnv() error {
	// Set but empty is unset, as for COMPOSE_PROJECT_NAME: a shell's
	// `COMPOSE_FILE= berth ...` clears it.
	list := r.env[consts.ComposeFilePath]
	if list == "" {
		return nil
	}
	sep := r.env[consts.ComposePathSeparator]
	if sep == "" {
		sep = string(os.PathListSeparator)
	}
	for _, f := range strings.Split(list, sep) {
		p := r.abs(f)
		fi, err := os.Stat(p)
		if err == nil && !fi.Mode().IsRegular() {
			err = errors.New("not a regular file")
		}
		if err != nil {
			return fmt.Errorf("stack file %q set by COMPOSE_FILE: %w", f, err)
		}
		r.files = append(r.files, p)
	}
	r.origin = "set by COMPOSE_FILE"
	return nil
}

// discover finds the stack file as Compose does: the first of compose.yaml,
// compose.yml, docker-compose.yml and docker-compose.yaml in the project
// directory (or where berth runs), else in its parent, and so on up; an
// override file (compose.override.yaml, ...) beside it is merged over it.
func (r *resolved) discover() error {
	start := r.workingDir()
	for dir := start; ; dir = filepath.Dir(dir) {
		if found := existing(dir, cli.DefaultFileNames); len(found) > 0 {
			r.files = append(r.files, found[0])
			if len(found) > 1 {
				r.warnings = append(r.warnings, Warning{
					Position: Position{File: found[0]},
					Key:      filepath.Base(found[0]),
					Message:  fmt.Sprintf("several stack files in %s (%s): using %s", dir, baseNames(found), filepath.Base(found[0])),
				})
			}
			if over := existing(dir, cli.DefaultOverrideFileNames); len(over) > 0 {
				r.files = append(r.files, over[0])
			}
			r.origin = fmt.Sprintf("found by searching %s and its parents", start)
			return nil
		}
		if filepath.Dir(dir) == dir {
			return &NoStackFileError{Dir: start}
		}
	}
}

func existing(dir string, names []string) []string {
	var found []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		if _, err := os.Stat(p); err == nil {
			found = append(found, p)
		}
	}
	return found
}

func baseNames(paths []string) string {
	b := make([]string, len(paths))
	for i, p := range paths {
		b[i] = filepath.Base(p)
	}
	return strings.Join(b, ", ")
}
