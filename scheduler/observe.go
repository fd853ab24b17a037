package scheduler

import (
	"context"
	"fmt"

	"github.com/berthproject/berth/spec"
)

// observe reads what the host has of st: its containers, the networks
// and the images its services need. It changes nothing.
func (s *Scheduler) observe(ctx context.Context, st *spec.Stack) (Observed, error) {
	var o Observed
	var err error
	if o.Replicas, err = s.host.Replicas(ctx, st.Name); err != nil {
		return o, fmt.Errorf("listing the containers of stack %q: %w", st.Name, err)
	}
	var names []string
	for _, key := range sortedKeys(st.Networks) {
		names = append(names, st.Networks[key].Name)
	}
	if o.Networks, err = s.host.Networks(ctx, names); err != nil {
		return o, fmt.Errorf("listing networks: %w", err)
	}
	o.Images = map[string]string{}
	for _, name := range st.ServiceNames() {
		ref := ImageName(st, st.Services[name])
		id, err := s.host.ImageID(ctx, ref)
		if err != nil {
			return o, fmt.Errorf("service %q: looking up image %s: %w", name, ref, err)
		}
		if id != "" {
			o.Images[name] = id
		}
	}
	return o, nil
}
