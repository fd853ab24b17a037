// Package image keeps container images on the local disk: an OCI image
// layout of blobs and names, and every layer unpacked once into a directory
// that overlayfs can use as a lower layer, shared by all images using it.
//
// image is a leaf: it must not import any other package of berth (its tests
// may use internal/testutil). It speaks its own types (Image, Limits) and
// go-containerregistry's (v1.Config, v1.Hash), so pull, push, load and save
// with go-containerregistry can be added without changing the layout.
//
// Layout under the store's root:
//
//	images/oci-layout            {"imageLayoutVersion":"1.0.0"}
//	images/index.json            one manifest descriptor per name, the name in
//	                             the "org.opencontainers.image.ref.name"
//	                             annotation; an image that lost its last name
//	                             to Tag or Import (Docker's "<none>") keeps a
//	                             descriptor without that annotation
//	images/blobs/sha256/<hex>    manifests, configs, layer blobs
//	images/lock                  flock(2) held around every change of the above
//	layers/<chain-id hex>/       a layer unpacked, used as an overlay lowerdir
//	layers/<chain-id hex>.json   what we know of it: diff ID, unpacked size,
//	                             the blob it was stored from (Load reuses it)
//	.tmp-* in each directory     temporaries: layers and blobs being written,
//	                             files being replaced, layers being deleted
//
// Decisions written down here:
//   - Save writes Docker ≥ 25's archive: an OCI layout that also carries
//     manifest.json, so that docker, podman and skopeo read it as either
//     format. Load takes that, the older docker/podman format and OCI
//     archives. An archive is read by entry name through an index of
//     offsets (archive.go), so manifest.json, which docker writes last, is
//     read first and layers unpack in parallel; a compressed or piped
//     archive is first spooled, decompressed, to an unlinked temporary.
//     The same image loaded from two archives whose layer blobs differ
//     (another tool's gzip) stays one image: the nameless twin goes.
//   - Names are normalised as Docker does (NormalizeName): "busybox" is
//     "docker.io/library/busybox:latest". A name with both tag and digest
//     keeps only the digest, as go-containerregistry parses it.
//   - Metadata files are written atomically (temp file, fsync, rename, fsync
//     of the directory). Readers take no lock: they see the old or the new
//     index.json, never half of one. Writers take images/lock; the layer
//     directory rename, blob renames and the index write all happen under
//     it, so a Remove never deletes a layer an Import is about to name.
//   - A layer unpacks into layers/.tmp-* and becomes visible with one
//     rename(2) to its chain ID, after a syncfs(2) so that a crash cannot
//     leave a named layer with lost content. When the name exists already
//     (another import won the race) ours is discarded.
//   - Every temporary is held with flock(2) LOCK_EX by its owner for as
//     long as it exists (the directory or file itself is locked). Import
//     and Pull first delete the temporaries whose lock they can take with
//     LOCK_NB: their owner was killed, and the kernel dropped its locks.
//     Creators hold a shared flock on the directory from before creating a
//     temporary until it is locked, and the cleaner holds it exclusively
//     while it looks, so a temporary is never judged in the moment between
//     its creation and its lock (temp.go). Processes that pull or import
//     the same image at once are safe: each unpacks into its own
//     temporaries and the first to commit under images/lock wins.
//   - Import keeps a gzip input as the layer blob byte for byte (no
//     recompression, the blob digest is that of the input); plain, bzip2,
//     xz and zstd input is stored gzip-compressed, because push and save
//     need a compressed blob with a stable digest and it saves disk. xz and
//     zstd are decompressed by the xz and zstd programs, as Docker does for
//     xz, rather than by a Go library that every berth process would load.
//   - Pull keeps every layer blob byte for byte under the digest its
//     manifest names, whatever the media type (gzip, zstd, uncompressed,
//     Docker's foreign and OCI's non-distributable layers), so that push
//     and save hand the registry back the same manifest. The media type
//     says how to decompress; the blob's magic bytes must agree. Foreign
//     layers are fetched from the image's registry like any other, never
//     from the URLs in their descriptors; a registry that lacks one is a
//     ForeignLayerError.
//   - Pull decodes zstd with klauspost/compress in-process, Import with the
//     zstd program. Pulls run in berth-registry, which links that decoder
//     through go-containerregistry already (0 bytes more), and it is as
//     fast as the program (660 MiB of a zstd -3 layer: 1.8 s in Go, 2.0 s
//     piped through zstd, on 2 cores), with no program to install.
//     Linking it into berth would cost every berth process 382 KiB of
//     binary (+4.6%) and 0.2 ms of package initialisation, for imports of
//     zstd tarballs only. Its window is capped at 128 MiB, the zstd
//     program's default, against frames that ask for unbounded memory.
//   - A registry is spoken to in HTTPS with verified certificates unless
//     it is on loopback or in "insecure-registries" of berth's config file
//     (/etc/berth/config.json, or $BERTH_CONFIG; Docker's daemon.json key:
//     host[:port] matched exactly, or a CIDR matched against its addresses,
//     looked up for a name). Those get what Docker gives them: HTTPS
//     without certificate checks, then plain HTTP if that fails. The check
//     is per request host, so a redirect elsewhere is verified again. A
//     certificate or plain-HTTP failure of any other registry is ErrTLS,
//     whose message names the entry to add. Package image reads the file
//     itself, at each Pull, Push and Login, because those run in
//     berth-registry, which berth execs with its own arguments: nothing
//     needs passing across, and the file stays Docker's shape.
//
// Unpacking (unpack.go) treats a layer as hostile:
//   - Entry names are relative to the layer: a leading "/" is dropped, as tar
//     and Docker do, so "/etc/passwd" is the layer's etc/passwd. A name that
//     still leaves the layer after cleaning ("../x", "a/../../x") is refused.
//   - No entry is written through a symlink: every directory on an entry's
//     path must be a real directory of this layer. Tarballs of real file
//     systems never need more; refusing it means no symlink, wherever it
//     points, can steer a write. Symlinks themselves are kept as they are,
//     absolute ones included: they are resolved inside the container.
//   - A hard link must name a file already in this layer, by the same rules.
//   - Whiteouts become overlayfs's: ".wh.NAME" a 0/0 character device NAME,
//     ".wh..wh..opq" the xattr trusted.overlay.opaque=y on its directory;
//     other ".wh..wh.*" (aufs bookkeeping) is skipped. trusted.overlay.*
//     xattrs in the tarball are dropped.
//   - Limits caps the bytes and entries of one layer against decompression
//     bombs; a file's declared size is checked before it is written.
//   - Run by a user other than root, ownership is not applied (the files
//     belong to that user) and device nodes and whiteouts fail with an
//     error, since they need privileges.
package image
