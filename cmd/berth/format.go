package main

import (
	"encoding/json"
	"fmt"
	"io"
)

// checkListFormat accepts the formats every listing takes.
func checkListFormat(format string) error {
	if format != "table" && format != "json" {
		return &exitError{code: 2, err: fmt.Errorf("--format %q: use table or json", format)}
	}
	return nil
}

// writeJSONLines prints one JSON object per line, as docker's
// `--format json` does for listings.
func writeJSONLines[T any](w io.Writer, rows []T) error {
	enc := json.NewEncoder(w)
	for _, r := range rows {
		if err := enc.Encode(r); err != nil {
			return err
		}
	}
	return nil
}
