#!/usr/bin/env bash
# Checks Dockerfile.k8s as far as can be done without a container engine
# (`make check-image`):
#  1. parses it and asserts the properties the image promises: multi-stage;
#     a cross-compiling build stage (--platform=$BUILDPLATFORM, GOOS/GOARCH
#     from TARGETOS/TARGETARCH); `go mod download` after copying only
#     go.mod/go.sum and before `COPY . .` (the dependency layer is cached);
#     the binary built by `make build`; a distroless static nonroot final
#     stage with `USER 65534`; .dockerignore keeping caches out of the context;
#  2. runs the build stage's RUN commands, exactly as written, for
#     linux/amd64 and linux/arm64 in a copy of the build context (the repo
#     minus .dockerignore), and checks that each binary is static, stripped,
#     for the right architecture and built with `make build`'s flags; prints
#     the sizes.
# Needs Go, make and file(1); works offline once the module cache is warm.
#
# Usage: hack/check-image.sh [--parse-only]     (DOCKERFILE=path to check another file)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DOCKERFILE="${DOCKERFILE:-Dockerfile.k8s}"
VERSION="check-image-$$"  # unique, so the -X check cannot match by chance
fail=0
ok()  { printf '  ok    %s\n' "$*"; }
bad() { printf '  FAIL  %s\n' "$*"; fail=1; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# --- 1. parse -------------------------------------------------------------
# Instructions, one per line, continuation lines joined, comments dropped:
# "<line>\t<INSTRUCTION>\t<arguments>"; STAGE is the stage index of each.
parsed="$(awk '
  /^[[:space:]]*#/ && cont == "" { next }
  {
    line = $0
    if (cont == "") { start = NR }
    if (sub(/\\[[:space:]]*$/, "", line)) { cont = cont line " "; next }
    line = cont line; cont = ""
    if (line ~ /^[[:space:]]*$/) next
    sub(/^[[:space:]]+/, "", line)
    n = index(line, " "); if (n == 0) n = length(line) + 1
    ins = toupper(substr(line, 1, n - 1)); args = substr(line, n + 1)
    if (ins == "FROM") stage++
    printf "%d\t%d\t%s\t%s\n", start, stage, ins, args
  }' "$DOCKERFILE")"
ins()  { awk -F'\t' -v s="$1" -v i="$2" '$2 == s && $3 == i { print $4 }' <<<"$parsed"; }
line_of() { awk -F'\t' -v i="$1" -v re="$2" '$3 == i && $4 ~ re { print $1; exit }' <<<"$parsed"; }

stages=$(awk -F'\t' '$3 == "FROM"' <<<"$parsed" | wc -l)
final=$stages
build_from="$(ins 1 FROM)"
build_stage="$(awk '{ for (i = 1; i < NF; i++) if (toupper($i) == "AS") print $(i + 1) }' <<<"$build_from")"
echo "$DOCKERFILE: $stages stages; build stage '$build_stage' from: $build_from; final from: $(ins "$final" FROM)"

check "multi-stage (got $stages stages)" test "$stages" -ge 2
check "build stage runs on the build platform (FROM --platform=\$BUILDPLATFORM)" \
  grep -q -- '--platform=\$BUILDPLATFORM' <<<"$build_from"
want_go="$(sed -n 's/^toolchain go//p' go.mod)"
check "build stage uses go.mod's toolchain (golang:$want_go)" \
  grep -qE "golang:${want_go//./\\.}( |$)" <<<"$build_from"
check "build stage declares ARG TARGETOS and ARG TARGETARCH" \
  bash -c '[[ "$(grep -cxE "TARGETOS|TARGETARCH" <<<"$1")" == 2 ]]' _ "$(ins 1 ARG)"
l_copy_mod=$(line_of COPY '^go\.mod go\.sum ')
l_download=$(line_of RUN 'go mod download')
l_copy_all=$(line_of COPY '^\. \.$')
l_make=$(line_of RUN 'make build')
check "COPY go.mod go.sum (line ${l_copy_mod:-?}) < RUN go mod download (line ${l_download:-?}) < COPY . . (line ${l_copy_all:-?})" \
  test "${l_copy_mod:-999999}" -lt "${l_download:-0}" -a "${l_download:-999999}" -lt "${l_copy_all:-0}"
build_run="$(awk -F'\t' -v l="${l_make:-0}" '$1 == l { print $4 }' <<<"$parsed")"
check "the binary is built by 'make build' after COPY . . (line ${l_make:-?}: $build_run)" \
  test "${l_make:-0}" -gt "${l_copy_all:-999999}"
check "make build gets GOOS=\$TARGETOS GOARCH=\$TARGETARCH" \
  grep -qE 'GOOS=\$\{?TARGETOS\}? +GOARCH=\$\{?TARGETARCH\}?' <<<"$build_run"
check "final stage is distroless static, nonroot" \
  grep -qE '^gcr\.io/distroless/static(-debian[0-9]+)?:(nonroot|latest-nonroot|debug-nonroot)' <<<"$(ins "$final" FROM)"
check "final stage: USER 65534" grep -qE '^65534(:65534)?$' <<<"$(ins "$final" USER)"
check "final stage copies the binary from '$build_stage'" \
  grep -q -- "--from=$build_stage /src/catops-k8s" <<<"$(ins "$final" COPY)"
check "final stage: ENTRYPOINT is the binary" grep -qF '["/catops-k8s"]' <<<"$(ins "$final" ENTRYPOINT)"
check "final stage runs nothing (no RUN in a distroless stage)" test -z "$(ins "$final" RUN)"
flags="$(make -s -n build VERSION="$VERSION")"
check "make build: CGO_ENABLED=0 -trimpath -ldflags \"-s -w -X main.version=...\" ($flags)" \
  grep -qF "CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w -X main.version=$VERSION\"" <<<"$flags"
check ".dockerignore keeps .git, .cache and .rig out of the context" \
  bash -c 'for p in .git .cache .rig; do grep -qxE "/?$p/?" .dockerignore || exit 1; done'
check ".dockerignore has no '!' exceptions (this script's context copy does not handle them)" \
  bash -c '! grep -q "^!" .dockerignore'

if [[ "${1:-}" == "--parse-only" ]]; then
  if [[ $fail != 0 ]]; then echo "check-image: FAILED"; exit 1; fi
  echo "check-image: $DOCKERFILE parsed OK (builds skipped)"; exit 0
fi

# --- 2. build as the build stage would --------------------------------------
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
excludes=()
while IFS= read -r p; do
  p="${p%%#*}"; p="${p%/}"; p="${p#/}"; [[ -n "${p// }" ]] && excludes+=("--exclude=./$p")
done < .dockerignore
runs=()
while IFS= read -r r; do runs+=("$r"); done < <(ins 1 RUN)
echo
echo "build stage RUN commands: $(printf '[%s] ' "${runs[@]}")"
for arch in amd64 arm64; do
  ctx="$tmp/ctx-$arch"
  mkdir -p "$ctx"
  tar -C "$ROOT" "${excludes[@]}" -cf - . | tar -C "$ctx" -xf -
  start=$SECONDS
  for r in "${runs[@]}"; do
    (cd "$ctx" && TARGETOS=linux TARGETARCH=$arch VERSION=$VERSION sh -c "$r") >"$tmp/build-$arch.log" 2>&1 \
      || { cat "$tmp/build-$arch.log"; bad "linux/$arch: '$r' failed"; continue 2; }
  done
  bin="$ctx/catops-k8s"
  desc="$(file -b "$bin")"
  meta="$(go version -m "$bin")"
  case $arch in amd64) want='x86-64' ;; arm64) want='ARM aarch64' ;; esac
  check "linux/$arch: ELF for $want, statically linked, stripped ($desc)" \
    bash -c '[[ "$1" == *"$2"* && "$1" == *"statically linked"* && "$1" == *stripped* && "$1" != *"not stripped"* ]]' _ "$desc" "$want"
  # With -trimpath Go leaves -ldflags out of the build info (they may hold
  # paths), so the -X is checked by the version string inside the binary.
  check "linux/$arch: build info says CGO_ENABLED=0 GOOS=linux GOARCH=$arch -trimpath=true" \
    bash -c 'grep -qP "\tCGO_ENABLED=0$" <<<"$1" && grep -qP "\tGOOS=linux$" <<<"$1" && grep -qP "\tGOARCH=$2$" <<<"$1" \
      && grep -qP "\t-trimpath=true$" <<<"$1"' _ "$meta" "$arch"
  check "linux/$arch: main.version set to $VERSION (-X)" grep -qaF "$VERSION" "$bin"
  size=$(stat -c %s "$bin")
  printf '  size  linux/%s: %d bytes (%.1f MiB), built in %d s\n' "$arch" "$size" "$(bc -l <<<"$size/1048576" 2>/dev/null || echo 0)" $((SECONDS - start))
done

echo
if [[ $fail != 0 ]]; then echo "check-image: FAILED"; exit 1; fi
echo "check-image: $DOCKERFILE is consistent with make build; both architectures build static"
