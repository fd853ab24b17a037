// Package spec turns the Compose files a user already has into a Stack,
// the model of berth's own that is all the engine ever sees of them.
// Load reads, interpolates, merges and checks the files exactly as Docker
// Compose does, through compose-go (the loader Docker Compose itself
// uses), then converts compose-go's project into a Stack: every size in
// bytes, every duration a time.Duration, every path absolute, short
// syntaxes expanded. Service.ConfigHash stamps containers so that the
// engine knows which need recreating.
//
// spec is a leaf: it must not import any other package of berth. It does
// no I/O but reading the files it is pointed at (stack files, .env and
// env_file files, which compose-go reads, and the directories it searches
// for a stack file).
//
// Files:
//
//	load.go       Load and Options: one load, start to end
//	discover.go   which files, project directory, environment and name (Compose's rules)
//	include.go    included and extended files, checked before compose-go reads them
//	budget.go     limits on what compose-go does with a file
//	source*.go    where each key was written, YAML bombs, keys berth does not implement
//	convert.go, ports.go, mounts.go, policy.go, resources.go   compose-go's project -> Stack
//	validate.go   checks across services; describe.go: compose-go's errors, placed
//	stack.go, service.go   the model; hash.go: ConfigHash; marshal.go: `berth config`
//
// Decisions written down here:
//   - Options are docker compose's global flags, and Load applies them in
//     the order docker compose does (cmd/compose toProjectOptions): the
//     process environment (Options.Environ, never os.Environ, so tests
//     control it), .env of the project directory (or --env-file, or
//     COMPOSE_ENV_FILES; COMPOSE_DISABLE_ENV_FILE turns it off), then the
//     files: -f, else COMPOSE_FILE (split on COMPOSE_PATH_SEPARATOR), else
//     the first of compose.yaml, compose.yml, docker-compose.yml and
//     docker-compose.yaml in the project directory or the nearest parent,
//     with compose.override.yaml (or .yml, docker-compose.override.*)
//     beside it merged over it; then .env again, for the project directory
//     the files decided. Variables set earlier win. The project name is -p,
//     else COMPOSE_PROJECT_NAME, else `name:`, else the project
//     directory's name, normalised. Profiles are --profile, else
//     COMPOSE_PROFILES. A file from standard input ("-f -") and remote
//     (git, OCI) includes are not supported.
//   - Each stack file is read once, by spec: the same bytes go to the
//     source index and to compose-go (types.ConfigFile.Content). Files that
//     the stack files include or extend are read by compose-go; spec hooks
//     into it (a ResourceLoader, include.go) to read and check those the
//     stack files name before compose-go does. Those named in included or
//     extended files compose-go reads unchecked, and they have no
//     positions; its YAML decoder still refuses excessive aliasing and
//     nesting.
//   - Hostile files are refused before compose-go sees them: the source
//     index bounds the parse (size, tokens, depth, scalars, alias
//     expansion: source_limits.go), and budget.go bounds what compose-go
//     would do with the values, measured: text once aliases are expanded,
//     ${...} rescans, splitting string commands, port ranges, nodes and
//     keys per mapping. Every limit is far above what real files need.
//   - Errors in the files are ValidationErrors (errors.Is ErrInvalid),
//     each with the file, line, column and key path where it was written,
//     and a hint; Load reports all it finds at once, joined, in reading
//     order. Positions come from the source index, which knows the files
//     as written: a value that came from extends or a default is placed at
//     the nearest key written, never at an unrelated one. compose-go's own
//     errors (schema, interpolation, decoding, YAML) carry a key path or a
//     line in their text, which describe.go looks up; compose-go stops at
//     its first inconsistency, so on one Load loads again without its
//     consistency checks and lets validate.go, which says where and
//     reports everything, explain. A panic of compose-go on a malformed
//     file is recovered into an error.
//   - Keys the Compose specification defines but berth does not implement
//     are Warnings with their position (source_implemented.go lists what
//     berth implements); Options.Strict makes them errors. The obsolete
//     `version` and variables found unset (replaced by "", as Compose does)
//     stay warnings. compose-go also logs a few warnings of its own
//     (`version` among them) through logrus's standard logger; the CLI
//     decides where that goes.
//   - Normalisation: env_file is folded into environment (environment
//     wins) and variables left without a value are dropped; restart: and
//     deploy.restart_policy are reconciled as docker compose does (the
//     latter wins; "none" is "no", "any" is "always"); mem_limit,
//     memswap_limit, cpus, cpu_shares and pids_limit fold into Resources
//     with deploy.resources winning; Replicas is deploy.replicas or scale,
//     1 by default; `tmpfs:` entries join the mounts; lists whose order
//     means nothing (ports, mounts, capabilities, aliases, extra_hosts) are
//     sorted; StopGracePeriod is 10 s and UpdateConfig 1 at a time,
//     stop-first, when unset. Only the networks, volumes, configs and
//     secrets that services use are in the Stack, as docker compose
//     creates only those. A dependency on a service of a profile not
//     enabled is dropped when `required: false`, an error otherwise.
//   - Validation beyond compose-go's: service names are DNS labels (they
//     become host names); two services may not publish the same host
//     address and port, nor may several replicas publish one fixed port;
//     depends_on has no cycle and names services of the stack; networks,
//     volumes, configs and secrets used are declared; sizes, durations,
//     restart policies, addresses and mount targets parse.
//   - ConfigHash is the SHA-256 of "berth-hash-v1\n" and the canonical JSON
//     of exactly the fields whose change needs a new container (hash.go).
//     Replicas, depends_on, build, develop, update_config, restart policy
//     and healthcheck are left out: they do not change what a container is
//     created from, or the engine applies them. Hashed fields are
//     normalised, so the hash does not change with key order, comments,
//     formatting, short or long syntax or units; JSON names of the hashed
//     types must never change, and fields added to them must be omitempty,
//     so that an upgrade leaves hashes alone (golden tests pin them).
//     Configs and secrets are hashed by target, not by content.
//   - `berth config` prints what compose-go loaded, marshalled as docker
//     compose does (Stack.MarshalCompose keeps compose-go's project beside
//     the Stack), so the output is Compose's to the byte, "$" escaped.
package spec
