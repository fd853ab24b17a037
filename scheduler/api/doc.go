// Package api is how the CLI talks to the engine (`berth daemon`): the
// wire types and a client, HTTP with JSON over the engine's unix socket
// (RUN/berth.sock, mode 0600: only root reaches it).
//
// Long requests (up, down) answer with a stream of JSON lines: progress
// events as the engine works, then one result. So the CLI shows progress
// as it happens, and a dropped connection does not stop the engine's
// work: the engine finishes the pass, as it would after a crash.
package api
