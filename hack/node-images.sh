#!/usr/bin/env bash
# Builds the real node's three images without a container engine (`make
# node-images`), as docker-archive tarballs for `ctr -n k8s.io images import`:
#   catops-k8s.tar  catops.local/catops-k8s:dev  the agent and, beside it, the
#                   cluster reporter (catops-k8s-cluster, which `catops-k8s
#                   cluster` execs), packed as the final stage of
#                   Dockerfile.k8s packs them (checked), on a stand-in for
#                   gcr.io/distroless/static:nonroot
#   pause.tar       catops.local/pause:1         the pod sandbox (test/node/images/pause)
#   box.tar         catops.local/box:1           the test program (test/node/images/box)
# into .cache/node/images (NODE_IMAGES_DIR overrides it), with the binaries in
# its bin/. The agent and the cluster reporter are built by AGENT_GO_BUILD,
# the Makefile's `make build` command (the image's build stage runs `make
# build` too); the others and test/node/cmd/mkimage with CGO_ENABLED=0
# -trimpath. Prints each image's size, ID and digest, and the time of each
# step. Same sources, same digests: a tarball whose image did not change is
# not rewritten.
#
# Usage: make node-images
#        AGENT_GO_BUILD='CGO_ENABLED=0 go build ...' hack/node-images.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
OUT="${NODE_IMAGES_DIR:-$ROOT/.cache/node/images}"
BIN="$OUT/bin"

die() { printf 'node-images: ERROR: %s\n' "$*" >&2; exit 1; }
[[ -n "${AGENT_GO_BUILD:-}" ]] || die "AGENT_GO_BUILD is not set: run \`make node-images\`, which passes make build's command"

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
step() { printf 'node-images: %-44s %s\n' "$1" "$(since "$2")"; }

mkdir -p "$BIN"
start=$(now)
t=$(now)
eval "$AGENT_GO_BUILD -o \"\$BIN/catops-k8s\" ./cmd/kubernetes"
eval "$AGENT_GO_BUILD -o \"\$BIN/catops-k8s-cluster\" ./cmd/kubernetes-cluster"
step "agent + cluster reporter (make build's flags)" "$t"
t=$(now)
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN/pause" ./test/node/images/pause
CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o "$BIN/box" ./test/node/images/box
CGO_ENABLED=0 go build -trimpath -o "$BIN/mkimage" ./test/node/cmd/mkimage
step "pause, box, mkimage binaries" "$t"
t=$(now)
"$BIN/mkimage" -out "$OUT" -dockerfile Dockerfile.k8s \
  -agent "$BIN/catops-k8s" -cluster-reporter "$BIN/catops-k8s-cluster" -pause "$BIN/pause" -box "$BIN/box"
step "images (checked against Dockerfile.k8s)" "$t"
printf 'node-images: %s in %s\n' "${OUT#"$ROOT"/}" "$(since "$start")"
