package network

import (
	"context"
	"fmt"
	"strings"

	"github.com/fsnotify/fsnotify"
)

// NetworkChanges tells, through the channel it returns, that the set of
// networks may have changed: a network record was written, renamed into
// place or removed. Notices are coalesced (the channel holds one) and say
// nothing of which network; the receiver reads Networks again. The
// channel closes when ctx ends or the watch fails.
//
// The DNS helper listens on every network's gateway. Polling the records
// alone made a new network wait up to a poll interval for its listener,
// and with it every container of a stack's first up (they wait for DNS
// before they start); the notice makes that a millisecond.
func (m *Manager) NetworkChanges(ctx context.Context) (<-chan struct{}, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching network records: %w", err)
	}
	if err := w.Add(m.dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching network records in %s: %w", m.dir, err)
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Events:
				if !ok {
					return
				}
				if !isNetworkRecord(e.Name) {
					continue
				}
				select {
				case out <- struct{}{}:
				default: // one pending notice covers this one
				}
			case _, ok := <-w.Errors:
				if !ok {
					return
				}
				// An overflow lost events: a notice makes the receiver
				// read the records, which is all one could do anyway.
				select {
				case out <- struct{}{}:
				default:
				}
			}
		}
	}()
	return out, nil
}

// isNetworkRecord tells a network record (<name>.json in the networks
// directory) from the lock, temporary files and the sandboxes directory.
func isNetworkRecord(path string) bool {
	return strings.HasSuffix(path, ".json")
}
