package build

import (
	"fmt"
	"runtime"
	"slices"
	"sort"
	"strings"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// argScope is the ARGs one scope has declared, in order: the global scope
// (before the first FROM) or one stage's. A stage sees a global ARG only
// once it declares it again.
type argScope struct {
	names  []string
	values map[string]*string // nil: declared without a value
}

func newArgScope() *argScope { return &argScope{values: map[string]*string{}} }

func (a *argScope) set(k string, v *string) {
	if _, ok := a.values[k]; !ok {
		a.names = append(a.names, k)
	}
	a.values[k] = v
}

func (a *argScope) get(k string) (*string, bool) {
	v, ok := a.values[k]
	return v, ok
}

// env is the ARGs that have a value, as K=V in declaration order.
func (a *argScope) env() []string {
	var out []string
	for _, k := range a.names {
		if v := a.values[k]; v != nil {
			out = append(out, k+"="+*v)
		}
	}
	return out
}

func (a *argScope) clone() *argScope {
	c := newArgScope()
	for _, k := range a.names {
		c.set(k, a.values[k])
	}
	return c
}

// proxyArgs may be given with --build-arg without an ARG: they reach RUN's
// environment, but neither the cache key nor the history (they often
// hold credentials), and an unused one is no warning. Docker's list.
var proxyArgs = []string{
	"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy",
}

func isProxyArg(k string) bool { return slices.Contains(proxyArgs, k) }

// platformArgs are BuildKit's automatic ARGs: set in the global scope,
// and in a stage that declares them without a value. Builds run on this
// host for this host, so build and target platforms are the same.
func platformArgs() map[string]string {
	p := "linux/" + runtime.GOARCH
	variant := ""
	if runtime.GOARCH == "arm" {
		variant = "v7"
	}
	return map[string]string{
		"BUILDPLATFORM": p, "BUILDOS": "linux", "BUILDARCH": runtime.GOARCH, "BUILDVARIANT": variant,
		"TARGETPLATFORM": p, "TARGETOS": "linux", "TARGETARCH": runtime.GOARCH, "TARGETVARIANT": variant,
	}
}

// globalArgs reads the ARGs before the first FROM: each default may use
// the ones before it, --build-arg overrides.
func (b *builder) globalArgs() error {
	b.global = newArgScope()
	for k, v := range platformArgs() {
		b.global.set(k, &v)
	}
	for i := range b.meta {
		c := &b.meta[i]
		if err := c.Expand(b.expander(b.global.env())); err != nil {
			return b.locate(fmt.Errorf("%s: %w", c.String(), err), "ARG")
		}
		for _, kv := range c.Args {
			b.global.set(kv.Key, b.argValue(kv, nil))
		}
	}
	return nil
}

// argValue is an ARG's value: --build-arg, else its default, else (in a
// stage) the global ARG's value, else an automatic platform ARG's.
func (b *builder) argValue(kv instructions.KeyValuePairOptional, global *argScope) *string {
	b.usedArgs[kv.Key] = true
	if v, ok := b.o.BuildArgs[kv.Key]; ok {
		return &v
	}
	if kv.Value != nil {
		return kv.Value
	}
	if global != nil {
		if v, ok := global.get(kv.Key); ok && v != nil {
			return v
		}
	}
	if v, ok := platformArgs()[kv.Key]; ok && global != nil {
		return &v
	}
	return nil
}

// warnUnusedArgs says which --build-arg no ARG took, as Docker does.
func (b *builder) warnUnusedArgs() {
	var unused []string
	for k := range b.o.BuildArgs {
		if !b.usedArgs[k] && !isProxyArg(k) {
			unused = append(unused, k)
		}
	}
	if len(unused) == 0 {
		return
	}
	sort.Strings(unused)
	fmt.Fprintf(b.out, "[Warning] One or more build-args [%s] were not consumed\n", strings.Join(unused, " "))
}

// runEnv is RUN's environment: the image's, then the ARGs in scope that
// no ENV overrides, then proxy build args.
func (st *stageState) runEnv(b *builder) []string {
	env := slices.Clone(st.config.Env)
	has := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		has[k] = true
	}
	for _, kv := range st.args.env() {
		k, _, _ := strings.Cut(kv, "=")
		if !has[k] {
			env = append(env, kv)
			has[k] = true
		}
	}
	for _, k := range proxyArgs {
		if v, ok := b.o.BuildArgs[k]; ok && !has[k] {
			env = append(env, k+"="+v)
		}
	}
	return env
}

// expandEnv is what variables in instructions expand from: the ARGs in
// scope, with ENV taking over ARGs of the same name.
func (st *stageState) expandEnv() []string {
	return append(st.args.env(), st.config.Env...)
}

// historyArgs are the ARGs in scope as RUN's history shows them
// ("|2 A=1 B=2"), proxies left out; empty when there are none.
func (st *stageState) historyArgs() string {
	var kvs []string
	for _, kv := range st.args.env() {
		k, _, _ := strings.Cut(kv, "=")
		if !isProxyArg(k) {
			kvs = append(kvs, kv)
		}
	}
	if len(kvs) == 0 {
		return ""
	}
	return fmt.Sprintf("|%d %s ", len(kvs), strings.Join(kvs, " "))
}

// expander expands words with BuildKit's shell lexer over env.
func (b *builder) expander(env []string) instructions.SingleWordExpander {
	getter := shell.EnvsFromSlice(env)
	return func(word string) (string, error) {
		out, _, err := b.lex.ProcessWord(word, getter)
		return out, err
	}
}
