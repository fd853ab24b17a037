package build

import (
	"runtime"
	"slices"
	"strings"
	"testing"
)

func TestBuild_ArgScoping(t *testing.T) {
	e := newEnv(t)
	e.mustBuild("FROM scratch\n", Options{Tags: []string{"base:2"}})
	img := e.mustBuild(`ARG TAG=1
ARG GLOBAL=global
FROM base:${TAG}
ARG GLOBAL
ARG LOCAL=local
ARG FROMCLI
ARG TARGETARCH
ENV FROM_ENV=$GLOBAL-$LOCAL
ARG OVERRIDDEN=arg
ENV OVERRIDDEN=env
RUN touch /x
LABEL seen="$GLOBAL $LOCAL $FROMCLI $TARGETARCH $OVERRIDDEN"
FROM scratch
LABEL stage2="[$GLOBAL] [$LOCAL]"
`, Options{Target: "", BuildArgs: map[string]string{"TAG": "2", "FROMCLI": "cli", "UNUSED": "x", "HTTP_PROXY": "http://proxy"}})
	if got := img.Config.Labels["stage2"]; got != "[] []" {
		t.Errorf("a stage that did not declare the ARGs sees %q", got)
	}
	one := e.mustBuild(strings.Replace(dockerfileOf(t, e), "FROM base:${TAG}", "FROM base:${TAG} AS one", 1), Options{Target: "one", BuildArgs: map[string]string{"TAG": "2", "FROMCLI": "cli", "HTTP_PROXY": "http://proxy", "UNUSED": "x"}})
	want := "global local cli " + runtime.GOARCH + " env"
	if got := one.Config.Labels["seen"]; got != want {
		t.Errorf("seen = %q, want %q", got, want)
	}
	if slices.ContainsFunc(one.Config.Env, func(kv string) bool { return strings.HasPrefix(kv, "LOCAL=") || strings.HasPrefix(kv, "GLOBAL=") }) {
		t.Errorf("ARGs leaked into the image's Env: %q", one.Config.Env)
	}
	if !slices.Contains(one.Config.Env, "FROM_ENV=global-local") {
		t.Errorf("Env = %q", one.Config.Env)
	}
	// RUN sees the ARGs (ENV wins over an ARG of the same name) and the
	// proxy build arg.
	run := e.runner.steps[len(e.runner.steps)-1]
	for _, kv := range []string{"GLOBAL=global", "LOCAL=local", "FROMCLI=cli", "OVERRIDDEN=env", "HTTP_PROXY=http://proxy"} {
		if !slices.Contains(run.Env, kv) {
			t.Errorf("RUN's env %q lacks %s", run.Env, kv)
		}
	}
	if slices.Contains(run.Env, "OVERRIDDEN=arg") {
		t.Errorf("RUN's env has the ARG that ENV overrides: %q", run.Env)
	}
	if !strings.Contains(e.out.String(), "[Warning] One or more build-args [UNUSED] were not consumed") {
		t.Errorf("no warning for the unused build arg:\n%s", e.out.String())
	}
	// History shows the ARGs of RUN, not the proxy.
	cf, _, err := e.store.ImageLayers(one.ID)
	if err != nil {
		t.Fatal(err)
	}
	var runHistory string
	for _, h := range cf.History {
		if strings.HasPrefix(h.CreatedBy, "RUN") {
			runHistory = h.CreatedBy
		}
	}
	if !strings.HasPrefix(runHistory, "RUN |5 GLOBAL=global LOCAL=local FROMCLI=cli TARGETARCH=") || strings.Contains(runHistory, "proxy") {
		t.Errorf("RUN's history: %q", runHistory)
	}
}

// dockerfileOf reads back the env's Dockerfile.
func dockerfileOf(t *testing.T, e *env) string {
	t.Helper()
	content, _ := readFile(e.ctx + "/Dockerfile")
	return content
}
