package spec

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
)

// unsetVars collects the variables that interpolation replaced by an empty
// string because they have no value and no default: Docker Compose warns
// of each ("The "TAG" variable is not set. Defaulting to a blank
// string."), through a logger of its own; berth returns them as Warnings.
type unsetVars struct {
	names []string
}

// substitute is template.Substitute, the interpolation compose-go does by
// default, noting the variables it finds unset instead of logging them.
func (u *unsetVars) substitute(tmpl string, mapping template.Mapping) (string, error) {
	var missed string
	lookup := func(k string) (string, bool) {
		v, ok := mapping(k)
		if !ok {
			missed = k
		}
		return v, ok
	}
	replace := func(s string, m template.Mapping, cfg *template.Config) (string, error) {
		missed = ""
		v, applied, err := template.DefaultReplacementAppliedFunc(s, m, cfg)
		if err == nil && !applied && missed != "" && !slices.Contains(u.names, missed) {
			u.names = append(u.names, missed)
		}
		return v, err
	}
	return template.SubstituteWithOptions(tmpl, lookup, template.WithoutLogging, template.WithReplacementFunction(replace))
}

// warnings returns a Warning per unset variable, at its first use in the
// stack files.
func (u *unsetVars) warnings(l *loading) []Warning {
	var ws []Warning
	for _, name := range u.names {
		use := regexp.MustCompile(`\$(\{` + regexp.QuoteMeta(name) + `\}|` + regexp.QuoteMeta(name) + `\b)`)
		ws = append(ws, Warning{
			Position: l.firstMatch(use),
			Message:  fmt.Sprintf("the %q variable is not set: it is replaced by an empty string", name),
		})
	}
	return ws
}

// firstMatch returns where re first matches in the files, searched in the
// order they were read.
func (l *loading) firstMatch(re *regexp.Regexp) Position {
	for _, f := range l.order {
		for i, line := range strings.Split(string(l.content[f]), "\n") {
			if loc := re.FindStringIndex(line); loc != nil {
				return Position{File: l.name(f), Line: i + 1, Column: loc[0] + 1}
			}
		}
	}
	return Position{}
}
