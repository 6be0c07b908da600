#!/usr/bin/env bash
# Builds the test rig's binaries (etcd, Kubernetes control plane, kubectl,
# kwok, metrics-server, helm; on request the real node's kubelet) from the Go
# module proxy at the versions pinned in hack/tools/*/go.mod, into .cache/bin/.
#
# A tool is rebuilt only when its pin changes: each binary has a stamp file
# (.cache/bin/.stamps/NAME) holding a hash of its module's go.mod and go.sum,
# the package path, the ldflags and the Go version. Delete .cache/bin to force
# a full rebuild (the Go build cache still makes that quick).
#
# Toolchains: the control-plane binaries are test infrastructure and are
# built with the machine's own Go (GOTOOLCHAIN=local), so bumping the
# project's toolchain does not cost a cold rebuild of Kubernetes. The tools
# that load the project's packages (golangci-lint, govulncheck) must be
# built with the project's toolchain (go.mod's toolchain line): a tool built
# with an older Go cannot type-check a newer standard library.
#
# A cold build of everything takes ~30 min on 2 cores (measured: 1792 s,
# 34 CPU-min); with nothing changed it takes 0.1 s.
#
# Usage: hack/build-tools.sh [--list] [TOOL...]
# (default: every tool but kube-apiserver-1.34 and kubelet, which are built
# only when named: `make test-compat` and `make node-tools` do).
# Needs only Go (and network access to the module proxy on a cold machine).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS_DIR="$ROOT/hack/tools"
BIN_DIR="${RIG_BIN_DIR:-$ROOT/.cache/bin}"
STAMP_DIR="$BIN_DIR/.stamps"

# kube_ldflags VERSION: the version stamp of a Kubernetes binary (what
# /version and `kubectl version` report), as the upstream build sets it.
kube_ldflags() {
  local version=$1 minor flags="" pkg
  minor="${version#v1.}"; minor="${minor%%.*}"
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    flags+=" -X $pkg.gitVersion=$version -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
    flags+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$flags"
}
KUBE_LDFLAGS="$(kube_ldflags v1.37.2)"
# The oldest API server the connector supports, for `make test-compat`.
KUBE_1_34_LDFLAGS="$(kube_ldflags v1.34.4)"
# metrics-server reports client-go's version variables as its own.
METRICS_SERVER_LDFLAGS=" -X k8s.io/client-go/pkg/version.gitVersion=v0.8.0 -X k8s.io/client-go/pkg/version.gitTreeState=clean"
HELM_LDFLAGS=" -X helm.sh/helm/v3/internal/version.version=v3.22.0 -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
HELM_LDFLAGS+=" -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=37"
KWOK_LDFLAGS=" -X sigs.k8s.io/kwok/pkg/consts.Version=0.8.0"
# golangci-lint prints main.version; a non-empty main.date stops it from overriding
# that with the build info's "(devel)" of the wrapper module.
GOLANGCI_LINT_LDFLAGS=" -X main.version=2.15.0 -X main.commit=v2.15.0 -X main.date=1970-01-01T00:00:00Z"
ACTIONLINT_LDFLAGS=" -X github.com/rhysd/actionlint.version=v1.7.12"

# name | module folder under hack/tools | package | extra ldflags | measured cold build time on 2 cores
TOOLS=(
  "etcd|etcd|go.etcd.io/etcd/server/v3||~3 min"
  "kube-apiserver|kube|k8s.io/kubernetes/cmd/kube-apiserver|$KUBE_LDFLAGS|~10 min"
  "kube-apiserver-1.34|kube-1.34|k8s.io/kubernetes/cmd/kube-apiserver|$KUBE_1_34_LDFLAGS|~12.5 min after the other tools"
  "kube-controller-manager|kube|k8s.io/kubernetes/cmd/kube-controller-manager|$KUBE_LDFLAGS|~4.5 min after kube-apiserver"
  "kube-scheduler|kube|k8s.io/kubernetes/cmd/kube-scheduler|$KUBE_LDFLAGS|~20 s after kube-controller-manager"
  "kubectl|kube|k8s.io/kubernetes/cmd/kubectl|$KUBE_LDFLAGS|~1 min after kube-apiserver"
  "kubelet|kube|k8s.io/kubernetes/cmd/kubelet|$KUBE_LDFLAGS|~4.5 min alone, ~40 s after the control plane"
  "kwok|kwok|sigs.k8s.io/kwok/cmd/kwok|$KWOK_LDFLAGS|~2-4 min"
  "metrics-server|metrics-server|sigs.k8s.io/metrics-server/cmd/metrics-server|$METRICS_SERVER_LDFLAGS|~7 min"
  "helm|helm|helm.sh/helm/v3/cmd/helm|$HELM_LDFLAGS|~3 min"
  "golangci-lint|golangci-lint|github.com/golangci/golangci-lint/v2/cmd/golangci-lint|$GOLANGCI_LINT_LDFLAGS|~2 min"
  "actionlint|actionlint|github.com/rhysd/actionlint/cmd/actionlint|$ACTIONLINT_LDFLAGS|~10 s"
  "govulncheck|vuln|golang.org/x/vuln/cmd/govulncheck||~5 s after golangci-lint (shared golang.org/x/tools)"
  "indexdb|vuln|golang.org/x/vulndb/cmd/indexdb||~35 s"
)

die() { printf '\nbuild-tools: ERROR: %s\n' "$*" >&2; exit 1; }

# Tools built only when named: nothing but `make test-compat` (the old API
# server) and `make node-tools` (the real node's kubelet) runs them, and a
# default (all tools) build should not pay their cold build time.
ON_REQUEST=(kube-apiserver-1.34 kubelet)
on_request() { local o; for o in "${ON_REQUEST[@]}"; do [[ "$o" == "$1" ]] && return 0; done; return 1; }

if [[ "${1:-}" == "--list" ]]; then
  for t in "${TOOLS[@]}"; do
    IFS='|' read -r name mod pkg _ _ <<<"$t"
    note=""; on_request "$name" && note=", only when named"
    echo "$name ($pkg, hack/tools/$mod$note)"
  done
  exit 0
fi

command -v go >/dev/null || die "go is not on PATH"
mkdir -p "$BIN_DIR" "$STAMP_DIR"
PROJECT_TOOLCHAIN="$(sed -n 's/^toolchain //p' "$ROOT/go.mod")"
# toolchain_of NAME: the GOTOOLCHAIN a tool is built with.
toolchain_of() {
  case "$1" in
    golangci-lint|govulncheck) echo "${PROJECT_TOOLCHAIN:-local}" ;;
    *) echo local ;;
  esac
}

want=("$@")
selected() {
  if [[ ${#want[@]} -eq 0 ]]; then
    on_request "$1" && return 1
    return 0
  fi
  local w; for w in "${want[@]}"; do [[ "$w" == "$1" ]] && return 0; done
  return 1
}
for w in "${want[@]}"; do
  found=0; for t in "${TOOLS[@]}"; do [[ "${t%%|*}" == "$w" ]] && found=1; done
  [[ $found == 1 ]] || die "unknown tool '$w' (see --list)"
done

total_start=$SECONDS
built=0
for t in "${TOOLS[@]}"; do
  IFS='|' read -r name mod pkg ldflags eta <<<"$t"
  selected "$name" || continue
  moddir="$TOOLS_DIR/$mod"
  [[ -f "$moddir/go.mod" && -f "$moddir/go.sum" ]] || die "$moddir/go.mod or go.sum missing"
  toolchain="$(toolchain_of "$name")"
  go_version="$(GOTOOLCHAIN=$toolchain go env GOVERSION)"
  stamp="$( { cat "$moddir/go.mod" "$moddir/go.sum"; echo "$pkg|$ldflags|$go_version|trimpath|cgo0"; } | sha256sum | cut -d' ' -f1)"
  if [[ -x "$BIN_DIR/$name" && -f "$STAMP_DIR/$name" && "$(cat "$STAMP_DIR/$name")" == "$stamp" ]]; then
    echo "up to date: $name"
    continue
  fi
  echo "building $name with $go_version (cold build $eta on 2 cores)…"
  start=$SECONDS
  rm -f "$STAMP_DIR/$name"
  # -mod=readonly: use exactly the committed go.sum; -trimpath: reproducible.
  if ! ( cd "$moddir" && GOTOOLCHAIN=$toolchain CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false" \
        go build -trimpath -ldflags "-s -w$ldflags" -o "$BIN_DIR/$name.tmp" "$pkg" ); then
    rm -f "$BIN_DIR/$name.tmp"
    die "building $name ($pkg in hack/tools/$mod) FAILED after $((SECONDS - start)) s"
  fi
  mv -f "$BIN_DIR/$name.tmp" "$BIN_DIR/$name"
  echo "$stamp" > "$STAMP_DIR/$name"
  built=$((built + 1))
  echo "built $name in $((SECONDS - start)) s"
done
echo "build-tools: $built built, all in $BIN_DIR ($((SECONDS - total_start)) s)"
