// Package watch reports which files changed under a set of paths, for
// berth watch (develop.watch and the stack files).
//
// Decisions:
//   - inotify through fsnotify, one watch per directory: a directory
//     root is watched recursively, and a directory made later is watched
//     as soon as its creation is seen, its files reported as changed
//     (they may have been written before the watch was in place). A file
//     root is watched through its parent directory, so saves that
//     replace the file (write to a temporary, rename over) and
//     delete-and-recreate are seen, where a watch on the file's inode
//     would go stale after the first save.
//   - Changes are batched: a batch is sent once nothing changed for
//     Quiet (100 ms by default), or once its oldest change is MaxDelay
//     old (2 s), so a `git checkout` of a thousand files is one batch.
//     While the receiver is busy (a rebuild), changes keep merging into
//     the next batch instead of queueing one batch per file.
//   - A batch names paths, each once, and says for each whether it still
//     exists when the batch is sent: an editor's delete-and-recreate is a
//     change, not a removal.
//   - Editors' scratch files are never reported (DefaultIgnored: *.swp,
//     *.swx, *~, .#*, #*#, 4913, .DS_Store), and .git directories are not
//     watched at all; callers add their own rules on top (Skip).
package watch
