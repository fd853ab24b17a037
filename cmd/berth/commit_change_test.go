//go:build registry

package main

import (
	"reflect"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

func TestApplyChanges(t *testing.T) {
	base := func() v1.Config {
		return v1.Config{Env: []string{"PATH=/bin", "HOME=/root"}, Cmd: []string{"sh"}, WorkingDir: "/srv"}
	}
	cases := []struct {
		name    string
		changes []string
		want    func(c *v1.Config)
	}{
		{"cmd exec and env", []string{`CMD ["cat","/hello"]`, "ENV A=b"}, func(c *v1.Config) {
			c.Cmd = []string{"cat", "/hello"}
			c.Env = append(c.Env, "A=b")
		}},
		{"shell form under the image's shell", []string{"CMD echo $HOME"}, func(c *v1.Config) {
			c.Shell = []string{"/bin/bash", "-c"}
			c.Cmd = []string{"/bin/bash", "-c", "echo $HOME"}
		}},
		{"entrypoint drops the image's cmd", []string{`ENTRYPOINT ["top"]`}, func(c *v1.Config) {
			c.Entrypoint, c.Cmd = []string{"top"}, nil
		}},
		{"but not one set before it", []string{`CMD ["-b"]`, `ENTRYPOINT ["top"]`}, func(c *v1.Config) {
			c.Entrypoint, c.Cmd = []string{"top"}, []string{"-b"}
		}},
		{"variables from the env as it is", []string{"ENV D=/data", "ENV HOME=$D/home", "WORKDIR $D", "USER ${U:-app}", "VOLUME $D/v"}, func(c *v1.Config) {
			c.Env = []string{"PATH=/bin", "HOME=/data/home", "D=/data"}
			c.WorkingDir, c.User = "/data", "app"
			c.Volumes = map[string]struct{}{"/data/v": {}}
		}},
		{"relative workdir", []string{"WORKDIR app", "WORKDIR ../lib"}, func(c *v1.Config) { c.WorkingDir = "/srv/lib" }},
		{"expose, label, stopsignal, onbuild", []string{"ENV P=53", "EXPOSE 80 ${P}/udp 8000-8001", `LABEL a=1 "b c"=2`, "STOPSIGNAL SIGQUIT", "ONBUILD RUN make"}, func(c *v1.Config) {
			c.Env = append(c.Env, "P=53")
			c.ExposedPorts = map[string]struct{}{"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
			c.Labels = map[string]string{"a": "1", "b c": "2"}
			c.StopSignal = "SIGQUIT"
			c.OnBuild = []string{"RUN make"}
		}},
		{"healthcheck", []string{"HEALTHCHECK --interval=5s --retries=2 CMD wget -q localhost"}, func(c *v1.Config) {
			c.Healthcheck = &v1.HealthConfig{Test: []string{"CMD-SHELL", "wget -q localhost"}, Interval: 5 * time.Second, Retries: 2}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, want := base(), base()
			tc.want(&want)
			got.Shell = want.Shell
			if err := applyChanges(&got, tc.changes); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got  %+v\nwant %+v", got, want)
			}
		})
	}
}

func TestApplyChanges_Errors(t *testing.T) {
	cases := map[string]string{
		"RUN make":                    "RUN cannot be changed by commit",
		"FROM scratch":                "FROM cannot be changed by commit",
		"STOPSIGNAL SIGNOPE":          "invalid signal",
		"EXPOSE 70000":                "not a port",
		"EXPOSE 80/foo":               "unknown protocol",
		"HEALTHCHECK --bogus=1 CMD x": "bogus",
	}
	for change, msg := range cases {
		cfg := v1.Config{}
		err := applyChanges(&cfg, []string{change})
		if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), change) {
			t.Errorf("-c %q: %v, want an error naming it and saying %q", change, err, msg)
		}
	}
}
