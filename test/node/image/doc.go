// Package image builds the container images of the real-node rig from Go
// sources, without a container engine or a registry: each image is one
// layer holding a static Go binary (for the agent, two: catops-k8s and the
// cluster reporter catops-k8s-cluster beside it, and the few files of its
// distroless base that they rely on), written as a docker-archive tarball
// that `ctr -n k8s.io images import` loads into containerd.
//
// Three images, named in the catops.local domain so that a pull by mistake
// cannot reach a real registry (.local never resolves through public DNS):
//
//   - AgentRef (catops.local/catops-k8s:dev): the agent and the cluster
//     reporter packed as the final stage of Dockerfile.k8s packs them, on a
//     stand-in for gcr.io/distroless/static:nonroot (see Distroless);
//     CheckDockerfile fails when the two disagree;
//   - PauseRef (catops.local/pause:1): the pod sandbox, test/node/images/pause;
//   - BoxRef (catops.local/box:1): test/node/images/box, a test program with
//     sleep, hog, burn, exit and write subcommands.
//
// Builds are deterministic: entries are sorted, every file time is the Unix
// epoch, the layer is gzip-compressed once by the standard library and the
// config carries no build time, so the same binary gives the same image
// digest (with the same Go toolchain, whose compressor could change).
//
// Why docker-archive and not an OCI layout tarball: containerd 1.6's
// importer names a docker-archive image by its manifest.json RepoTags, the
// full reference, with no further flags; an OCI layout's names come from
// index annotations that `ctr images import` reads differently across
// containerd versions (--base-name, --index-name). The spike imported
// docker-archives into containerd 1.6.20 without trouble. Containerd writes
// its own manifest for a docker-archive, so after the import the manifest
// digest differs from Digest here; the config digest (the image ID that
// crictl and the kubelet show) is the same.
package image
