// Package build executes Dockerfiles: it reads them with BuildKit's parser
// and instructions packages, expands variables with BuildKit's shell
// lexer, and carries out every instruction with Docker's semantics on top
// of package image's store.
//
// build imports package image (the store, WriteDiff, InOverlay) and no
// other package of berth. RUN steps need a container runtime: build
// declares StepRunner, and cmd/berth plugs package runtime in.
//
// How a build runs:
//   - Only the stages the target needs are built (its FROM chain and the
//     stages its COPY --from name), in Dockerfile order.
//   - Each step's result is an image in the store, written without a name
//     and recorded in the build cache under the step's key (cache.go): the
//     parent state's key, the expanded instruction, the build args in
//     scope and, for COPY and ADD, a digest of what is copied. A cached
//     step is taken whole, config and created times included, so a build
//     with nothing changed runs no step and gives the same image ID.
//   - RUN runs through StepRunner in a container on an overlay of the
//     current layers; COPY, ADD and WORKDIR mount the same overlay with
//     image.InOverlay under a fresh upper directory. Either way the upper
//     directory becomes the step's layer through image.WriteDiff and
//     Store.AddLayer. A step that changes nothing on disk (a config
//     instruction, a RUN that writes nothing, a WORKDIR that exists) makes
//     no layer: its history entry says empty_layer, as BuildKit's do.
//   - Sources of COPY and ADD are read from the build context with
//     .dockerignore applied; a source that leaves the context, by ".." or
//     through a symlink, is refused. Inside the image, the destination is
//     resolved with securejoin, so the image's own symlinks are followed
//     within its root.
//   - Files from the context belong to 0:0 unless --chown says otherwise;
//     files from another stage or image keep their owners (BuildKit's
//     behaviour).
//
// Left out for now: RUN --mount and --security, COPY --parents, ADD of a
// git repository, --platform other than this host's, and ONBUILD
// triggers of a base image that itself come from ONBUILD.
package build
