// Package containerinit is the program that runs as PID 1 of every berth
// container. It is built into its own small binary, berth-init (so a
// container start pays only for the init's own start-up, not for all of
// berth's packages), and into berth itself as a fallback.
//
// It finishes the container inside its new namespaces (mounts, pivot_root,
// hostname, loopback), starts the workload with its user, capabilities and
// environment, and then supervises it: forwards signals, reaps zombies,
// writes the output to the log file (and to an attached terminal), and
// records the exit status before it exits with the workload's code.
//
// It talks to its parent (package runtime) only through the handshake in
// protocol.go. It imports nothing of berth: runtime imports it for the
// wire types.
package containerinit
