package spec

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// Which files are loaded, from which project directory and under which
// name, as Docker Compose decides.
func TestLoad_Discovery(t *testing.T) {
	const svc = "services:\n  web:\n    image: nginx:${TAG:-latest}\n"
	tests := []struct {
		name     string
		files    map[string]string
		o        Options // WorkingDir, ConfigFiles, ProjectDirectory relative to the temp dir
		env      []string
		wantName string
		wantDir  string // relative to the temp dir
		wantFile []string
		image    string
	}{
		{
			name:     "found in a parent directory",
			files:    map[string]string{"My App/compose.yaml": svc, "My App/src/lib/x": ""},
			o:        Options{WorkingDir: "My App/src/lib"},
			wantName: "myapp", wantDir: "My App", wantFile: []string{"My App/compose.yaml"},
			image: "nginx:latest",
		},
		{
			name:     "compose.yaml before docker-compose.yml",
			files:    map[string]string{"p/compose.yaml": svc, "p/docker-compose.yml": "services: {old: {image: x}}\n"},
			o:        Options{WorkingDir: "p"},
			wantName: "p", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:latest",
		},
		{
			name:     "docker-compose.yml alone",
			files:    map[string]string{"p/docker-compose.yml": svc},
			o:        Options{WorkingDir: "p"},
			wantName: "p", wantDir: "p", wantFile: []string{"p/docker-compose.yml"},
			image: "nginx:latest",
		},
		{
			name:     "override file beside it",
			files:    map[string]string{"p/compose.yml": svc, "p/compose.override.yml": "services:\n  web:\n    image: nginx:dev\n"},
			o:        Options{WorkingDir: "p"},
			wantName: "p", wantDir: "p", wantFile: []string{"p/compose.yml", "p/compose.override.yml"},
			image: "nginx:dev",
		},
		{
			name: "-f in order, project directory is the first file's",
			files: map[string]string{
				"a/base.yaml": svc,
				"b/over.yaml": "services:\n  web:\n    image: nginx:over\n",
			},
			o:        Options{ConfigFiles: []string{"a/base.yaml", "b/over.yaml"}},
			wantName: "a", wantDir: "a", wantFile: []string{"a/base.yaml", "b/over.yaml"},
			image: "nginx:over",
		},
		{
			name:     "COMPOSE_FILE with COMPOSE_PATH_SEPARATOR",
			files:    map[string]string{"x.yaml": svc, "y.yaml": "services:\n  web:\n    image: nginx:y\n"},
			env:      []string{"COMPOSE_FILE=x.yaml;y.yaml", "COMPOSE_PATH_SEPARATOR=;"},
			wantFile: []string{"x.yaml", "y.yaml"},
			image:    "nginx:y",
		},
		{
			name: "COMPOSE_FILE and the name from .env",
			files: map[string]string{
				".env":           "COMPOSE_FILE=stack/app.yaml\nCOMPOSE_PROJECT_NAME=fromdotenv\nTAG=2\n",
				"stack/app.yaml": svc,
			},
			wantName: "fromdotenv", wantDir: "stack", wantFile: []string{"stack/app.yaml"},
			image: "nginx:2",
		},
		{
			name: "--project-directory: discovery and .env start there",
			files: map[string]string{
				"proj/compose.yaml": svc,
				"proj/.env":         "TAG=from-project-dir\n",
				"elsewhere/x":       "",
			},
			o:        Options{WorkingDir: "elsewhere", ProjectDirectory: "proj"},
			wantName: "proj", wantDir: "proj", wantFile: []string{"proj/compose.yaml"},
			image: "nginx:from-project-dir",
		},
		{
			name:     "the process environment wins over .env",
			files:    map[string]string{"p/compose.yaml": svc, "p/.env": "TAG=dotenv\n"},
			o:        Options{WorkingDir: "p"},
			env:      []string{"TAG=process"},
			wantName: "p", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:process",
		},
		{
			name:     "COMPOSE_DISABLE_ENV_FILE",
			files:    map[string]string{"p/compose.yaml": svc, "p/.env": "TAG=dotenv\n"},
			o:        Options{WorkingDir: "p"},
			env:      []string{"COMPOSE_DISABLE_ENV_FILE=1"},
			wantName: "p", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:latest",
		},
		{
			name:     "--env-file replaces .env",
			files:    map[string]string{"p/compose.yaml": svc, "p/.env": "TAG=dotenv\n", "p/ci.env": "TAG=ci\n"},
			o:        Options{WorkingDir: "p", EnvFiles: []string{"ci.env"}},
			wantName: "p", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:ci",
		},
		{
			name:     "name: in the file",
			files:    map[string]string{"p/compose.yaml": "name: ${NAME:-Named}\n" + svc},
			o:        Options{WorkingDir: "p"},
			wantName: "named", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:latest",
		},
		{
			name:     "-p wins over name: and COMPOSE_PROJECT_NAME",
			files:    map[string]string{"p/compose.yaml": "name: named\n" + svc},
			o:        Options{WorkingDir: "p", ProjectName: "dash-p"},
			env:      []string{"COMPOSE_PROJECT_NAME=from-env"},
			wantName: "dash-p", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:latest",
		},
		{
			name:     "COMPOSE_PROJECT_NAME wins over name:",
			files:    map[string]string{"p/compose.yaml": "name: named\n" + svc},
			o:        Options{WorkingDir: "p"},
			env:      []string{"COMPOSE_PROJECT_NAME=from-env"},
			wantName: "from-env", wantDir: "p", wantFile: []string{"p/compose.yaml"},
			image: "nginx:latest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := writeStack(t, tt.files)
			o := tt.o
			o.WorkingDir = filepath.Join(root, o.WorkingDir)
			if o.ProjectDirectory != "" {
				o.ProjectDirectory = filepath.Join(root, o.ProjectDirectory)
			}
			st, _ := load(t, o, tt.env...)
			if tt.wantName == "" {
				tt.wantName = strings.ToLower(filepath.Base(root))
			}
			if st.Name != tt.wantName {
				t.Errorf("name %q, want %q", st.Name, tt.wantName)
			}
			if want := filepath.Join(root, tt.wantDir); st.WorkingDir != want {
				t.Errorf("project directory %s, want %s", st.WorkingDir, want)
			}
			var files []string
			for _, f := range st.Files {
				rel, _ := filepath.Rel(root, f)
				files = append(files, rel)
			}
			if !slices.Equal(files, tt.wantFile) {
				t.Errorf("files %q, want %q", files, tt.wantFile)
			}
			if got := st.Services["web"].Image; got != tt.image {
				t.Errorf("image %q, want %q", got, tt.image)
			}
		})
	}
}

func TestLoad_NoStackFile(t *testing.T) {
	dir := writeStack(t, map[string]string{"a/b/readme": ""})
	_, _, err := Load(context.Background(), Options{WorkingDir: filepath.Join(dir, "a/b")})
	var nf *NoStackFileError
	if !errors.As(err, &nf) || !errors.Is(err, ErrNoStackFile) {
		t.Fatalf("got %v, want a NoStackFileError", err)
	}
	if nf.Dir != filepath.Join(dir, "a/b") {
		t.Errorf("search started in %s", nf.Dir)
	}
}

func TestLoad_BadOptions(t *testing.T) {
	dir := writeStack(t, map[string]string{"compose.yaml": "services: {web: {image: x}}\n"})
	tests := []struct {
		name string
		o    Options
		env  []string
		want string
	}{
		{"invalid -p", Options{ProjectName: "My Project"}, nil, `invalid project name "My Project"`},
		{"invalid COMPOSE_PROJECT_NAME", Options{}, []string{"COMPOSE_PROJECT_NAME=Nope!"}, `invalid project name "Nope!"`},
		{"missing -f", Options{ConfigFiles: []string{"nope.yaml"}}, nil, "reading stack file " + filepath.Join(dir, "nope.yaml")},
		{"missing --env-file", Options{EnvFiles: []string{"nope.env"}}, nil, "couldn't find env file"},
		{"missing COMPOSE_FILE", Options{}, []string{"COMPOSE_FILE=gone.yaml"}, `stack file "gone.yaml" set by COMPOSE_FILE`},
		{"stdin", Options{ConfigFiles: []string{"-"}}, nil, "standard input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.WorkingDir = dir
			tt.o.Environ = tt.env
			_, _, err := Load(context.Background(), tt.o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

// Interpolation follows Compose: defaults for unset or empty, required
// variables, and $$ for a literal dollar.
func TestLoad_Interpolation(t *testing.T) {
	dir := writeStack(t, map[string]string{"compose.yaml": `services:
  web:
    image: x
    environment:
      UNSET_COLON: ${UNSET:-d1}
      UNSET_DASH: ${UNSET-d2}
      EMPTY_COLON: ${EMPTY:-d3}
      EMPTY_DASH: ${EMPTY-d4}
      SET: $SET
      BRACED: ${SET}/x
      ESCAPED: $$HOME and $${SET}
      ALT: ${SET:+alt}
`})
	st, _ := load(t, Options{WorkingDir: dir}, "EMPTY=", "SET=v")
	want := map[string]string{
		"UNSET_COLON": "d1", "UNSET_DASH": "d2", "EMPTY_COLON": "d3", "EMPTY_DASH": "",
		"SET": "v", "BRACED": "v/x", "ESCAPED": "$HOME and ${SET}", "ALT": "alt",
	}
	got := st.Services["web"].Environment
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s=%q, want %q", k, got[k], v)
		}
	}
	// `berth config` escapes dollars again, as docker compose config does.
	y, err := st.MarshalCompose("yaml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(y), "ESCAPED: $$HOME and $${SET}") {
		t.Errorf("config output does not escape $:\n%s", y)
	}
}
