package build

import (
	"reflect"
	"testing"
)

func TestBuild_MultiStageTarget(t *testing.T) {
	e := newEnv(t)
	df := `FROM scratch AS tools
RUN touch /tool

FROM scratch AS unused
RUN touch /unused

FROM tools AS builder
RUN touch /out/app

FROM scratch AS final
COPY --from=builder /out/app /bin/app
COPY --from=0 /tool /bin/
CMD ["/bin/app"]
`
	img := e.mustBuild(df, Options{})
	if runs := e.runner.runs(); !reflect.DeepEqual(runs, []string{"touch /tool", "touch /out/app"}) {
		t.Errorf("runs = %q: the unused stage ran, or a needed one did not", runs)
	}
	if got, _ := file(t, img, "bin/app"); got != "touch /out/app" {
		t.Errorf("bin/app = %q", got)
	}
	if got, _ := file(t, img, "bin/tool"); got != "touch /tool" {
		t.Errorf("bin/tool = %q", got)
	}
	if _, fi := file(t, img, "tool"); fi != nil {
		t.Error("the final stage has the tools stage's files")
	}
	// --target stops at the named stage, which keeps its own config.
	builder := e.mustBuild(df, Options{Target: "builder"})
	if got, _ := file(t, builder, "tool"); got != "touch /tool" {
		t.Errorf("the builder stage lacks its base's file: %q", got)
	}
	if builder.Config.Cmd != nil {
		t.Errorf("--target builder has the final stage's CMD")
	}
	if n := len(e.runner.runs()); n != 2 {
		t.Errorf("the --target build ran steps again: %q", e.runner.runs())
	}
	// The same --from copy is cached by the source stage's key.
	again := e.mustBuild(df, Options{})
	if again.ID != img.ID {
		t.Errorf("rebuild: %s, first %s", again.ID, img.ID)
	}
}
