package spec

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/template"
	"github.com/go-viper/mapstructure/v2"
)

// describe turns an error of compose-go's loader into ValidationErrors that
// name the file, line and key where it can. compose-go reports most
// mistakes as text with a key path in it ("validating compose.yaml:
// services.web.ports must be a array"); the path is looked up in the
// index. Interpolation and decoding errors come several at once, and stay
// several.
func (l *loading) describe(err error) error {
	var out []error
	for _, e := range leaves(err) {
		out = append(out, l.describeOne(e))
	}
	return errors.Join(out...)
}

// leaves flattens joined errors, and a join wrapped once (mapstructure's
// "decoding failed due to the following error(s): ..."), whose prefix says
// nothing the leaves do not.
func leaves(err error) []error {
	if _, ok := err.(*ValidationError); ok {
		return []error{err}
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, leaves(e)...)
		}
		return out
	}
	if w := errors.Unwrap(err); w != nil {
		if _, ok := w.(interface{ Unwrap() []error }); ok {
			return leaves(w)
		}
	}
	return []error{err}
}

var (
	schemaErr    = regexp.MustCompile(`^validating (.+?): (\S+) (.*)$`)
	interpErr    = regexp.MustCompile(`(?s)^error while interpolating (\S+): (.*)$`)
	interpFormat = regexp.MustCompile(`(?s)^invalid interpolation format for (\S+?)\.\n.*\n(.*)$`)
	yamlLine     = regexp.MustCompile(`^(?:failed to parse )?(.+?): yaml: (?:.*?)line (\d+)(?:, column (\d+))?: (.*)$`)
	extendsErr   = regexp.MustCompile(`^cannot extend service "([^"]+)" in ([^:]+): (.*)$`)
	pathPrefix   = regexp.MustCompile(`^((?:services|networks|volumes|configs|secrets)\.[^\s:]+):? (.*)$`)
	// sourceYAMLErr is a parse error of indexSources: "compose.yaml: yaml:
	// line 3: did not find expected key".
	sourceYAMLErr = regexp.MustCompile(`(?s)^(.+?): yaml: (?:.*?)line (\d+)(?:, column (\d+))?: (.*)$`)
	additional    = regexp.MustCompile(`additional properties? ('[^']+'(?:, '[^']+')*) not allowed`)
)

func (l *loading) describeOne(err error) error {
	var ve *ValidationError
	if errors.As(err, &ve) {
		return ve // from guard: an included file refused
	}
	var de *mapstructure.DecodeError
	if errors.As(err, &de) {
		return l.decodeError(de)
	}
	var lp *loaderPanic
	if errors.As(err, &lp) {
		var at Position
		if len(l.r.files) > 0 {
			at.File = l.name(l.r.files[0])
		}
		return &ValidationError{Position: at, Message: err.Error(),
			Hint: "look for a key left without a value (null) where Compose expects one", Err: err}
	}
	msg := err.Error()
	if m := schemaErr.FindStringSubmatch(msg); m != nil {
		return l.schemaError(splitPath(m[2]), m[3], err)
	}
	if m := interpFormat.FindStringSubmatch(msg); m != nil {
		ve := l.fail(interpPath(m[1]), `write a variable as ${NAME}, ${NAME:-default} or ${NAME:?message}, and a literal $ as $$`,
			"%q is not a valid interpolation", m[2])
		ve.Err = err
		return ve
	}
	if m := interpErr.FindStringSubmatch(msg); m != nil {
		hint := ""
		var mr *template.MissingRequiredError
		if errors.As(err, &mr) {
			hint = fmt.Sprintf("set %s in the environment, or in .env in the project directory", mr.Variable)
		}
		ve := l.fail(interpPath(m[1]), hint, "%s", m[2])
		ve.Err = err
		return ve
	}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		return &ValidationError{Position: Position{File: l.name(m[1]), Line: line, Column: col}, Message: m[4], Err: err}
	}
	if m := extendsErr.FindStringSubmatch(msg); m != nil {
		ve := l.fail([]string{"services", m[1], "extends"}, "", "%s", m[3])
		ve.Err = err
		return ve
	}
	if m := pathPrefix.FindStringSubmatch(msg); m != nil {
		ve := l.fail(splitPath(m[1]), "", "%s", m[2])
		ve.Err = err
		return ve
	}
	return &ValidationError{Position: l.guess(msg), Message: msg, Err: err}
}

// decodeError is a value compose-go could not turn into its type: a bad
// size, duration or port. Its name reads "services[web].mem_limit".
func (l *loading) decodeError(de *mapstructure.DecodeError) error {
	var path []string
	for _, part := range strings.Split(de.Name(), ".") {
		for part != "" {
			i := strings.IndexByte(part, '[')
			if i < 0 {
				path = append(path, part)
				break
			}
			if i > 0 {
				path = append(path, part[:i])
			}
			j := strings.IndexByte(part[i:], ']')
			if j < 0 {
				path = append(path, part[i+1:])
				break
			}
			path = append(path, part[i+1:i+j])
			part = part[i+j+1:]
		}
	}
	msg := de.Unwrap().Error()
	hint := ""
	last := ""
	if len(path) > 0 {
		last = path[len(path)-1]
	}
	switch {
	case strings.Contains(msg, "in duration") || strings.Contains(msg, "time: "):
		hint = "write a duration as 30s, 1m30s or 1h"
	case strings.Contains(last, "mem") || strings.Contains(last, "size") || strings.Contains(msg, "suffix") || strings.Contains(msg, "size"):
		hint = "write a size in bytes, or with a unit as 512m or 1g"
	}
	ve := l.fail(path, hint, "%s", msg)
	ve.Err = de
	return ve
}

// schemaError is a violation of the Compose schema at path.
func (l *loading) schemaError(path []string, msg string, err error) error {
	hint := ""
	switch {
	case msg == "false schema":
		// A key the schema does not know, under a mapping that allows no
		// others.
		key := path[len(path)-1]
		msg = fmt.Sprintf("%q is not a Compose key", key)
		hint = "remove it, or name it x-" + key + " to keep it as an extension"
		if s := closestKey(key); s != "" {
			hint = fmt.Sprintf("did you mean %q? Otherwise remove it, or name it x-%s to keep it as an extension", s, key)
		}
	case additional.MatchString(msg):
		names := strings.Split(additional.FindStringSubmatch(msg)[1], ", ")
		key := strings.Trim(names[0], "'")
		path = append(path, key)
		msg = fmt.Sprintf("%q is not a Compose key", key)
		hint = "remove it, or name it x-" + key + " to keep it as an extension"
		if s := closestKey(key); s != "" {
			hint = fmt.Sprintf("did you mean %q? Otherwise remove it, or name it x-%s to keep it as an extension", s, key)
		}
	default:
		msg = strings.Replace(msg, "must be a array", "must be a list", 1)
		msg = strings.Replace(msg, "must be a mapping", "must be a mapping (key: value lines)", 1)
	}
	ve := l.fail(path, hint, "%s", msg)
	ve.Err = err
	return ve
}

// splitPath splits a schema path ("services.web.ports.0").
func splitPath(p string) []string {
	if p == "" || p == "(root)" {
		return nil
	}
	return strings.Split(p, ".")
}

// interpPath is the path of an interpolation error, up to its first list
// ("services.web.command.[]" names no item: the list it is in is the
// place to show).
func interpPath(p string) []string {
	parts := strings.Split(p, ".")
	for i, s := range parts {
		if s == "[]" {
			return parts[:i]
		}
		parts[i] = strings.ReplaceAll(s, "👻", ".")
	}
	return parts
}

// sourceError describes an error of indexSources: a file over a limit, or
// not YAML.
func (l *loading) sourceError(err error) error {
	var le *sourceLimitError
	if errors.As(err, &le) {
		return &ValidationError{Position: le.Position, Message: le.Message, Err: err}
	}
	if m := sourceYAMLErr.FindStringSubmatch(err.Error()); m != nil {
		line, _ := strconv.Atoi(m[2])
		col, _ := strconv.Atoi(m[3])
		return &ValidationError{Position: Position{File: m[1], Line: line, Column: col}, Message: m[4], Err: err}
	}
	return err
}

// lastValue finds the value an unpositioned message is about: its last
// word after ": ".
var lastValue = regexp.MustCompile(`: ([^\s:]\S*)$`)

// guess places a message that names no key by the value it quotes, when
// exactly one line of the stack files holds that value; else at the first
// file.
func (l *loading) guess(msg string) Position {
	var first Position
	if len(l.r.files) > 0 {
		first = Position{File: l.name(l.r.files[0])}
	}
	m := lastValue.FindStringSubmatch(msg)
	if m == nil || len(m[1]) < 2 {
		return first
	}
	var found Position
	n := 0
	for _, f := range l.order {
		for i, line := range strings.Split(string(l.content[f]), "\n") {
			if strings.Contains(line, m[1]) {
				n++
				found = Position{File: l.name(f), Line: i + 1, Column: strings.Index(line, m[1]) + 1}
			}
		}
	}
	if n != 1 {
		return first
	}
	return found
}
