package spec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeStack writes files (name -> content) into a new directory.
func writeStack(t testing.TB, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// Mistakes are reported all at once, each at the file, line and key that
// hold it, with a hint.
func TestLoad_ValidationErrors(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		env   []string
		want  []string // each error, in order, as Error() reads
		hint  string   // a part of the first error's hint
	}{
		{
			name: "depends_on cycle",
			files: map[string]string{"compose.yaml": `services:
  a:
    image: x
    depends_on: [b]
  b:
    image: x
    depends_on:
      c: {condition: service_started}
  c:
    image: x
    depends_on: [a]
`},
			want: []string{"compose.yaml:4:18: services.a.depends_on.b: depends_on cycle: a -> b -> c -> a"},
			hint: "remove one of these dependencies",
		},
		{
			name: "watch rules",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    develop:
      watch:
        - path: ./src
          action: sync+exec
          target: /src
        - path: ./conf
          action: sync+exec
          target: /conf
          exec:
            command: ["true"]
            privileged: true
`},
			want: []string{
				"compose.yaml:6:11: services.web.develop.watch[0]: watch action sync+exec needs exec.command",
				"compose.yaml:14:13: services.web.develop.watch[1].exec.privileged: berth does not run watch commands privileged",
			},
			hint: "add exec: with command:",
		},
		{
			name: "depends_on unknown service",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    depends_on:
      dbb:
        condition: service_healthy
  db:
    image: postgres
`},
			want: []string{`compose.yaml:5:7: services.web.depends_on.dbb: depends on service "dbb", which is not defined`},
			hint: "the services are db, web",
		},
		{
			name: "depends_on a service of a profile not enabled",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    depends_on: [tools]
  tools:
    image: x
    profiles: [debug]
`},
			want: []string{`compose.yaml:4:18: services.web.depends_on.tools: depends on service "tools", which is only in profile debug, not enabled`},
			hint: "--profile debug",
		},
		{
			name: "service name not a DNS label",
			files: map[string]string{"compose.yaml": `services:
  my_web:
    image: x
  ok-name:
    image: x
`},
			want: []string{`compose.yaml:2:3: services.my_web: service name "my_web" is not a valid host name`},
			hint: `"my-web"`,
		},
		{
			name: "same host port in two services",
			files: map[string]string{"compose.yaml": `services:
  a:
    image: x
    ports: ["8080:80"]
  b:
    image: x
    ports:
      - "127.0.0.1:8080:81"
      - "127.0.0.1:8081:82"
  c:
    image: x
    ports: ["127.0.0.2:8081:80", "8082:80/udp"]
  d:
    image: x
    ports: ["8082:80/tcp"]
`},
			want: []string{`compose.yaml:7:5: services.b.ports: tcp 127.0.0.1:8080 is also published by service "a"`},
			hint: "change the host port",
		},
		{
			name: "fixed host port with replicas",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    ports: ["8080:80"]
    deploy: {replicas: 3}
`},
			want: []string{`compose.yaml:4:5: services.web.ports: 3 replicas cannot all publish tcp 0.0.0.0:8080`},
			hint: `"8080-8082:80"`,
		},
		{
			name: "container_name with replicas",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    container_name: web
    scale: 2
`},
			want: []string{`compose.yaml:4:5: services.web.container_name: 2 replicas cannot all be named "web"`},
			hint: "one replica",
		},
		{
			name: "bad size",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    mem_limit: 12qq
`},
			want: []string{`compose.yaml:4:5: services.web.mem_limit: invalid suffix: 'qq'`},
			hint: "512m",
		},
		{
			name: "bad duration",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    healthcheck:
      test: ["CMD", "true"]
      interval: 10 parsecs
`},
			want: []string{`compose.yaml:6:7: services.web.healthcheck.interval: time: unknown unit " parsecs" in duration "10 parsecs"`},
			hint: "1m30s",
		},
		{
			name: "bad log size and tmpfs size",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    logging:
      options: {max-size: lots, max-file: "0"}
    tmpfs: ["/run:size=huge"]
`},
			want: []string{
				`compose.yaml:5:17: services.web.logging.options.max-size: max-size "lots" is not a size`,
				`compose.yaml:5:33: services.web.logging.options.max-file: max-file "0" is not a number of files`,
				`compose.yaml:6:13: services.web.tmpfs[0]: tmpfs size "huge" is not a size`,
			},
			hint: "10m",
		},
		{
			name: "negative replicas",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    deploy:
      replicas: -1
`},
			want: []string{`compose.yaml:5:7: services.web.deploy.replicas: replicas -1 is negative`},
			hint: "0 or more",
		},
		{
			name: "neither image nor build",
			files: map[string]string{"compose.yaml": `services:
  web:
    command: echo hi
`},
			want: []string{`compose.yaml:2:3: services.web: service "web" has neither image nor build`},
			hint: "image:",
		},
		{
			name: "network and volume used but not declared",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    networks: [front]
    volumes:
      - ./html:/html
      - data:/data
`},
			want: []string{
				`compose.yaml:4:16: services.web.networks.front: network "front" is not declared`,
				`compose.yaml:7:9: services.web.volumes[1]: volume "data" is not declared`,
			},
			hint: "top-level networks:",
		},
		{
			name: "several mistakes at once",
			files: map[string]string{"compose.yaml": `services:
  web_1:
    image: x
    depends_on: [nope]
  api:
    build: ./api
    restart: sometimes
`},
			want: []string{
				`compose.yaml:2:3: services.web_1: service name "web_1" is not a valid host name`,
				`compose.yaml:4:18: services.web_1.depends_on.nope: depends on service "nope", which is not defined`,
				`compose.yaml:7:5: services.api.restart: restart policy "sometimes" is not one of no, always, on-failure, unless-stopped`,
			},
		},
		{
			name: "error in an override file points into it",
			files: map[string]string{
				"compose.yaml": "services:\n  web:\n    image: x\n",
				"compose.override.yaml": `services:
  web:
    networks: [missing]
`,
			},
			want: []string{`compose.override.yaml:3:16: services.web.networks.missing: network "missing" is not declared`},
		},
		{
			name: "error in an included file points into it",
			files: map[string]string{
				"compose.yaml": "include: [db/db.yaml]\nservices:\n  web:\n    image: x\n",
				"db/db.yaml":   "services:\n  db:\n    image: x\n    depends_on: [cache]\n",
			},
			want: []string{`db/db.yaml:4:18: services.db.depends_on.cache: depends on service "cache", which is not defined`},
		},
		{
			name:  "required variable",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    image: \"nginx:${TAG:?set TAG to the nginx version}\"\n"},
			want:  []string{`compose.yaml:3:5: services.web.image: required variable TAG is missing a value: set TAG to the nginx version`},
			hint:  "set TAG in the environment",
		},
		{
			name:  "bad interpolation",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    image: nginx:${TAG\n"},
			want:  []string{`compose.yaml:3:5: services.web.image: "nginx:${TAG" is not a valid interpolation`},
			hint:  "$$",
		},
		{
			name:  "misspelt key",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    enviroment: [A=1]\n"},
			want:  []string{`compose.yaml:4:5: services.web.enviroment: "enviroment" is not a Compose key`},
			hint:  `did you mean "environment"?`,
		},
		{
			name:  "wrong type",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    ports: 80\n"},
			want:  []string{`compose.yaml:4:5: services.web.ports: must be a list`},
		},
		{
			name:  "bad short port",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    image: x\n    ports: [\"80:80:80:80\"]\n"},
			want:  []string{`compose.yaml:4:14: invalid IP address: 80:80`},
		},
		{
			name:  "extends of a missing service",
			files: map[string]string{"compose.yaml": "services:\n  web:\n    extends: {file: base.yaml, service: nope}\n", "base.yaml": "services:\n  base:\n    image: x\n"},
			want:  []string{`compose.yaml:3:5: services.web.extends: service "nope" not found in base.yaml`},
		},
		{
			name: "mount targets",
			files: map[string]string{"compose.yaml": `services:
  web:
    image: x
    volumes: ["./a:/data"]
    tmpfs: [/data/, relative]
`},
			want: []string{
				`compose.yaml:5:13: services.web.tmpfs[0]: /data is mounted twice`,
				`compose.yaml:5:21: services.web.tmpfs[1]: mount target "relative" is not an absolute path`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeStack(t, tt.files)
			_, _, err := Load(context.Background(), Options{WorkingDir: dir, Environ: tt.env})
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("error does not wrap ErrInvalid: %v", err)
			}
			got := ValidationErrors(err)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%v", len(got), len(tt.want), err)
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i].Error(), w) {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
			if !strings.Contains(got[0].Hint, tt.hint) {
				t.Errorf("hint %q does not mention %q", got[0].Hint, tt.hint)
			}
		})
	}
}
