// Package scheduler is berth's engine: it makes the host match a stack
// file and keeps it that way.
//
// One pass is observe -> plan -> apply (DESIGN.md, "Reconcile"):
//   - observe.go reads what the stack has on the host (its containers, by
//     their labels; the networks and images it needs) and changes nothing;
//   - plan.go decides, as a pure function of the stack and what was
//     observed: every step says what, on which object, why, and after
//     which other steps. Running a pass again with nothing changed plans
//     nothing;
//   - apply.go carries the steps out, in parallel where their order
//     allows, and decides nothing: a failed step fails the steps after it
//     (its replica's start, its dependents), the others go on, and the
//     next pass plans what is left.
//
// The scheduler imports the leaves (spec, runtime, network, image) for
// their types only. What it does to the host goes through the small
// interfaces of host.go, which cmd/berth implements with the real
// packages and tests replace with fakes.
//
// Containers carry Compose's labels (com.docker.compose.project, service,
// container-number, config-hash, oneoff), so a container's identity is
// the same as under Docker Compose, and tools that read those labels
// work. Names are "<stack>-<service>-<n>", or container_name.
package scheduler
