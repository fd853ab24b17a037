package build

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// Docker's ENTRYPOINT/CMD table (the Dockerfile reference), on a base
// whose CMD is inherited.
func TestBuild_EntrypointCmdTable(t *testing.T) {
	e := newEnv(t)
	e.mustBuild("FROM scratch\nCMD [\"base-cmd\"]\n", Options{Tags: []string{"base"}})
	cases := []struct {
		name       string
		lines      string
		entrypoint []string
		cmd        []string
	}{
		{"nothing: the base's CMD", "", nil, []string{"base-cmd"}},
		{"CMD exec", `CMD ["p1_cmd", "p1"]`, nil, []string{"p1_cmd", "p1"}},
		{"CMD shell", `CMD exec_cmd p1`, nil, []string{"/bin/sh", "-c", "exec_cmd p1"}},
		{"ENTRYPOINT exec clears the inherited CMD", `ENTRYPOINT ["exec_entry", "p1_entry"]`, []string{"exec_entry", "p1_entry"}, nil},
		{"ENTRYPOINT shell", `ENTRYPOINT exec_entry p1_entry`, []string{"/bin/sh", "-c", "exec_entry p1_entry"}, nil},
		{"ENTRYPOINT then CMD exec", "ENTRYPOINT [\"exec_entry\", \"p1_entry\"]\nCMD [\"p1_cmd\", \"p2_cmd\"]", []string{"exec_entry", "p1_entry"}, []string{"p1_cmd", "p2_cmd"}},
		{"CMD before ENTRYPOINT stays", "CMD [\"p1_cmd\"]\nENTRYPOINT [\"exec_entry\"]", []string{"exec_entry"}, []string{"p1_cmd"}},
		{"ENTRYPOINT shell with CMD", "ENTRYPOINT exec_entry p1_entry\nCMD exec_cmd p1_cmd", []string{"/bin/sh", "-c", "exec_entry p1_entry"}, []string{"/bin/sh", "-c", "exec_cmd p1_cmd"}},
		{"SHELL changes the shell form", "SHELL [\"/bin/bash\", \"-xc\"]\nCMD echo hi", nil, []string{"/bin/bash", "-xc", "echo hi"}},
		{"ENTRYPOINT [] clears", "ENTRYPOINT [\"x\"]\nENTRYPOINT []", nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			img := e.mustBuild("FROM base\n"+tc.lines+"\n", Options{})
			if !reflect.DeepEqual(img.Config.Entrypoint, tc.entrypoint) || !reflect.DeepEqual(img.Config.Cmd, tc.cmd) {
				t.Errorf("Entrypoint %q Cmd %q, want %q %q", img.Config.Entrypoint, img.Config.Cmd, tc.entrypoint, tc.cmd)
			}
		})
	}
}

func TestBuild_ConfigInstructions(t *testing.T) {
	e := newEnv(t)
	img := e.mustBuild(`FROM scratch
ENV A=1 B="two words"
ENV C $A-x
ENV A=3 D=$A
LABEL version="1.0" "with space"=yes
LABEL from.env=$B
EXPOSE 80 53/udp 8000-8002/tcp
VOLUME ["/data", "/logs"]
VOLUME /cache
USER app:staff
WORKDIR /srv
WORKDIR sub
STOPSIGNAL SIGQUIT
HEALTHCHECK --interval=5s --timeout=2s --start-period=1s --retries=4 CMD curl -f http://localhost/
ONBUILD RUN touch /onbuild
MAINTAINER someone@example.com
`, Options{Tags: []string{"conf"}})
	c := img.Config
	wantEnv := []string{defaultPath, "A=3", "B=two words", "C=1-x", "D=1"}
	if !reflect.DeepEqual(c.Env, wantEnv) {
		t.Errorf("Env = %q, want %q", c.Env, wantEnv)
	}
	if c.Labels["version"] != "1.0" || c.Labels["with space"] != "yes" || c.Labels["from.env"] != "two words" {
		t.Errorf("Labels = %v", c.Labels)
	}
	var ports []string
	for p := range c.ExposedPorts {
		ports = append(ports, p)
	}
	slices.Sort(ports)
	if want := []string{"53/udp", "80/tcp", "8000/tcp", "8001/tcp", "8002/tcp"}; !reflect.DeepEqual(ports, want) {
		t.Errorf("ExposedPorts = %v, want %v", ports, want)
	}
	if len(c.Volumes) != 3 {
		t.Errorf("Volumes = %v", c.Volumes)
	}
	if c.User != "app:staff" || c.WorkingDir != "/srv/sub" || c.StopSignal != "SIGQUIT" {
		t.Errorf("User %q WorkingDir %q StopSignal %q", c.User, c.WorkingDir, c.StopSignal)
	}
	h := c.Healthcheck
	if h == nil || !reflect.DeepEqual(h.Test, []string{"CMD-SHELL", "curl -f http://localhost/"}) || h.Interval != 5*time.Second || h.Timeout != 2*time.Second || h.StartPeriod != time.Second || h.Retries != 4 {
		t.Errorf("Healthcheck = %+v", h)
	}
	if !reflect.DeepEqual(c.OnBuild, []string{"RUN touch /onbuild"}) {
		t.Errorf("OnBuild = %q", c.OnBuild)
	}
	cf, _, err := e.store.ImageLayers(img.ID)
	if err != nil {
		t.Fatal(err)
	}
	if cf.Author != "someone@example.com" {
		t.Errorf("Author = %q", cf.Author)
	}
	// WORKDIR made /srv/sub: the only steps with a layer.
	var layered []string
	for _, h := range cf.History {
		if !h.EmptyLayer {
			layered = append(layered, h.CreatedBy)
		}
	}
	if want := []string{"WORKDIR /srv", "WORKDIR /srv/sub"}; !reflect.DeepEqual(layered, want) {
		t.Errorf("steps with a layer: %q, want %q", layered, want)
	}
	if len(cf.History) != 15 || !strings.HasPrefix(cf.History[0].CreatedBy, "ENV A=1") {
		t.Errorf("history: %+v", cf.History)
	}

	// HEALTHCHECK NONE, and the ONBUILD trigger runs in the child only.
	child := e.mustBuild("FROM conf\nHEALTHCHECK NONE\n", Options{})
	if child.Config.OnBuild != nil {
		t.Errorf("the child keeps the triggers: %q", child.Config.OnBuild)
	}
	if !reflect.DeepEqual(child.Config.Healthcheck.Test, []string{"NONE"}) {
		t.Errorf("HEALTHCHECK NONE: %+v", child.Config.Healthcheck)
	}
	if runs := e.runner.runs(); !reflect.DeepEqual(runs, []string{"touch /onbuild"}) {
		t.Errorf("runs = %q, want the ONBUILD trigger once", runs)
	}
	if got, _ := file(t, child, "onbuild"); got != "touch /onbuild" {
		t.Errorf("the ONBUILD RUN's file in the child: %q", got)
	}
}

func TestBuild_BadInstructions(t *testing.T) {
	e := newEnv(t)
	cases := []struct{ name, dockerfile, want string }{
		{"unknown instruction", "FROM scratch\nFROB x\n", "Dockerfile:2"},
		{"no FROM", "ENV A=1\n", "Dockerfile:1"},
		{"bad stop signal", "FROM scratch\nSTOPSIGNAL SIGNOPE\n", "Dockerfile:2: STOPSIGNAL: invalid signal"},
		{"bad port", "FROM scratch\n\nEXPOSE 99999\n", "Dockerfile:3: EXPOSE"},
		{"bad chmod", "FROM scratch\nCOPY --chmod=abc Dockerfile /\n", "Dockerfile:2: COPY: --chmod=abc"},
		{"other platform", "FROM --platform=linux/s390x scratch\n", "Dockerfile:1: FROM: --platform=linux/s390x"},
		{"no such target", "FROM scratch AS a\n", "--target nope"},
		{"RUN --mount", "FROM scratch\nRUN --mount=type=cache,target=/c true\n", "RUN --mount is not supported yet"},
		{"no such image", "FROM nosuchimage:1\n", "Dockerfile:1: FROM"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o := Options{}
			if tc.name == "no such target" {
				o.Target = "nope"
			}
			_, err := e.build(tc.dockerfile, o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}
