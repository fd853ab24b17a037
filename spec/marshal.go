package spec

import (
	"bytes"
	"errors"
	"fmt"
)

// ErrNotLoaded is returned by MarshalCompose for a Stack that Load did not
// return (one decoded from JSON, say).
var ErrNotLoaded = errors.New("stack was not loaded from its files")

// MarshalCompose prints the stack as `docker compose config` does, in
// format "yaml" or "json": the resolved model with Compose's keys and
// layout (environment as a map, env_file folded into it, paths absolute,
// only the networks and volumes that services use), and every "$" written
// "$$" so that the output loads again to the same stack. It marshals what
// compose-go loaded rather than the Stack, so that the output is Compose's
// to the byte, keys berth does not implement included.
func (st *Stack) MarshalCompose(format string) ([]byte, error) {
	if st.project == nil {
		return nil, ErrNotLoaded
	}
	var (
		out []byte
		err error
	)
	switch format {
	case "yaml", "":
		out, err = st.project.MarshalYAML()
	case "json":
		out, err = st.project.MarshalJSON()
	default:
		return nil, fmt.Errorf("format %q: use yaml or json", format)
	}
	if err != nil {
		return nil, fmt.Errorf("printing stack %q: %w", st.Name, err)
	}
	return bytes.ReplaceAll(out, []byte("$"), []byte("$$")), nil
}
