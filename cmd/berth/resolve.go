package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/berthproject/berth/runtime"
)

// eachContainer runs fn for every reference, printing each failure and
// going on with the rest as Docker does; the error says how many failed.
func eachContainer(m *runtime.Manager, refs []string, fn func(ref string, c *runtime.Container) error) error {
	failed := 0
	var last error
	for _, ref := range refs {
		c, err := m.Get(ref)
		if err == nil {
			err = fn(ref, c)
		}
		if err != nil {
			failed++
			last = err
			if len(refs) > 1 {
				printError(os.Stderr, err)
			}
		}
	}
	switch {
	case failed == 0:
		return nil
	case len(refs) == 1:
		return last
	}
	return &exitError{code: 1, err: errors.New(fmt.Sprint(failed, " of ", len(refs), " containers failed"))}
}
