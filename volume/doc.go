// Package volume keeps berth's local volumes: directories that outlive the
// containers that mount them, as Docker's "local" volume driver keeps them.
//
// volume is a leaf: it must not import any other package of berth (its
// tests may use internal/testutil). It knows nothing of containers or
// images. What it needs of them comes in as plain values: which volumes
// containers use (a UsersFunc that cmd builds from the containers' configs),
// and an image's unpacked layer directories for copy-up.
//
// Layout under the store's root:
//
//	volumes/.lock              flock(2): shared by Create and by Hold, exclusive
//	                           for Remove and Prune
//	volumes/<name>/volume.json name, driver "local", created time, labels,
//	                           anonymous flag
//	volumes/<name>/_data/      the data, bind-mounted into containers (so the
//	                           path is Docker's Mountpoint shape)
//	volumes/.tmp-*, .trash-*   a Create or Remove under way, or cut short
//	volumes/<name>/.copyup-*   a copy-up under way, or cut short (it goes
//	                           with the volume)
//
// Every entry that is not a volume starts with ".", which no valid volume
// name does, so they never collide.
//
// Decisions written down here:
//   - Names follow Docker's rule for local volumes, [a-zA-Z0-9][a-zA-Z0-9_.-]+
//     (so at least two characters), and at most 255 bytes, the longest a
//     directory name can be. An empty name asks for an anonymous volume,
//     named by 64 random hex digits as Docker names them.
//   - Creating a volume that exists returns it unchanged (labels included),
//     as `docker volume create` does, so `-v data:/x` can create on first
//     use and reuse afterwards.
//   - A volume appears whole or not at all: Create lays it down in
//     volumes/.tmp-*, fsyncs volume.json and the directory, and renames it
//     into place; Remove renames it to volumes/.trash-* before deleting,
//     so a crash never leaves half a volume under its name. Prune deletes
//     leftover .tmp-* and .trash-* directories: under its exclusive lock
//     no Create or Remove can be using them.
//   - Which containers use a volume is never stored here: the containers'
//     configs say it (a bind mount whose source is a volume's _data, see
//     NameOf), and Remove and Prune ask the caller's UsersFunc under the
//     exclusive lock. A caller about to create a container holds the
//     shared lock (Hold) from choosing its volumes until the container's
//     config exists, so a volume cannot be removed in between.
//   - Copy-up follows Docker: when a volume is first mounted where the
//     container's image has a directory, and the volume is empty, the
//     directory's content is copied in (ownership, modes, times, symlinks,
//     hard links, device nodes; extended attributes best effort), and the
//     volume's root takes the directory's owner and mode. A volume that
//     has data is never touched. The image is read through a read-only
//     overlay of its layers that is attached to no mount tree (fsopen and
//     fsmount: nothing to unmount, nothing left after a crash); overlayfs
//     applies the whiteouts and opaque directories. The path is opened
//     with openat2(RESOLVE_IN_ROOT), so an image's symlink cannot point
//     the copy at the host (filepath-securejoin where openat2 is missing),
//     and the tree is walked one name at a time relative to open
//     directories, never following a symlink, so even a --rootfs
//     directory a running container changes cannot steer it out. The
//     copy goes to <name>/.copyup-* first, which no container sees, and
//     its entries are renamed into _data with RENAME_NOREPLACE: nothing a
//     container wrote meanwhile is overwritten.
//   - Volume sizes (for system df and prune) add up regular files, each
//     hard-linked file once: apparent sizes, as Docker reports them.
package volume
