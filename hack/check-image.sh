#!/usr/bin/env bash
# Checks Dockerfile.k8s as far as can be done without a container engine
# (`make check-image`):
#  1. parses it and asserts the properties the image promises: multi-stage;
#     a cross-compiling build stage (--platform=$BUILDPLATFORM, GOOS/GOARCH
#     from TARGETOS/TARGETARCH); `go mod download` after copying only
#     go.mod/go.sum and before `COPY . .` (the dependency layer is cached);
#     the binaries built by `make build` (catops-k8s and catops-k8s-cluster,
#     both with the image's flags); a distroless static nonroot final stage
#     with `USER 65534` that copies both from the build stage, the cluster
#     reporter beside the agent (`catops-k8s cluster` execs catops-k8s-cluster
#     from the directory of catops-k8s); .dockerignore keeping caches out of
#     the context;
#  2. runs the build stage's RUN commands, exactly as written, for
#     linux/amd64 and linux/arm64 in a copy of the build context (the repo
#     minus .dockerignore), and checks that each of the two binaries is
#     static, stripped, for the right architecture and built with `make
#     build`'s flags; prints the sizes.
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
check "the binaries are built by 'make build' after COPY . . (line ${l_make:-?}: $build_run)" \
  test "${l_make:-0}" -gt "${l_copy_all:-999999}"
check "make build gets GOOS=\$TARGETOS GOARCH=\$TARGETARCH" \
  grep -qE 'GOOS=\$\{?TARGETOS\}? +GOARCH=\$\{?TARGETARCH\}?' <<<"$build_run"
check "final stage is distroless static, nonroot" \
  grep -qE '^gcr\.io/distroless/static(-debian[0-9]+)?:(nonroot|latest-nonroot|debug-nonroot)' <<<"$(ins "$final" FROM)"
check "final stage: USER 65534" grep -qE '^65534(:65534)?$' <<<"$(ins "$final" USER)"
# copy_dst NAME: where the final stage's COPY --from=<build stage> puts the
# file NAME of the build stage's /src (one line per copy; a relative
# destination as ./PATH, without the WORKDIR it is relative to).
copy_dst() {
  awk -v name="$1" -v stage="$build_stage" -v src="/src/$1" '
    {
      gsub(/[][",]/, " "); gsub(/^[[:space:]]+|[[:space:]]+$/, "")  # the JSON form, as words
      n = split($0, w, /[[:space:]]+/); from = ""; first = 1
      while (first <= n && w[first] ~ /^--/) { if (w[first] ~ /^--from=/) from = substr(w[first], 8); first++ }
      if (tolower(from) != tolower(stage) || n - first < 1) next
      dst = w[n]
      for (i = first; i < n; i++) {
        if (w[i] != src && w[i] != "./" src && w[i] != substr(src, 2)) continue
        d = dst; if (d ~ /\/$/) d = d name
        if (d !~ /^\//) d = "./" d
        print d
      }
    }' <<<"$(ins "$final" COPY)"
}
agent_dst="$(copy_dst catops-k8s | head -n 1)"
cluster_dsts="$(copy_dst catops-k8s-cluster)"
agent_dir="$(dirname "${agent_dst:-/catops-k8s}")"
want_cluster="${agent_dir%/}/catops-k8s-cluster"
check "final stage copies catops-k8s from '$build_stage' (to ${agent_dst:-nowhere})" test -n "$agent_dst"
if [[ -z "$cluster_dsts" ]]; then
  bad "final stage does not copy catops-k8s-cluster from '$build_stage': \`catops-k8s cluster\` execs it from beside catops-k8s, add COPY --from=$build_stage /src/catops-k8s-cluster $want_cluster"
elif ! grep -qxF -- "$want_cluster" <<<"$cluster_dsts"; then
  bad "final stage puts catops-k8s-cluster at $(paste -sd, <<<"$cluster_dsts"), not beside catops-k8s (${agent_dst:-?}): \`catops-k8s cluster\` execs $want_cluster"
else
  ok "final stage copies catops-k8s-cluster from '$build_stage' beside catops-k8s ($want_cluster)"
fi
check "final stage: ENTRYPOINT is the binary" grep -qF '["/catops-k8s"]' <<<"$(ins "$final" ENTRYPOINT)"
check "final stage runs nothing (no RUN in a distroless stage)" test -z "$(ins "$final" RUN)"
flags="$(make -s -n build VERSION="$VERSION")"
BINARIES=(catops-k8s catops-k8s-cluster)
declare -A PKG=([catops-k8s]=./cmd/kubernetes [catops-k8s-cluster]=./cmd/kubernetes-cluster)
for b in "${BINARIES[@]}"; do
  check "make build: ./$b from ${PKG[$b]}, CGO_ENABLED=0 -trimpath -ldflags \"-s -w -X main.version=...\"" \
    grep -qxF "CGO_ENABLED=0 go build -trimpath -ldflags \"-s -w -X main.version=$VERSION\" -o $b ${PKG[$b]}" <<<"$flags"
done
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
  case $arch in amd64) want='x86-64' ;; arm64) want='ARM aarch64' ;; esac
  for b in "${BINARIES[@]}"; do
    bin="$ctx/$b"
    if [[ ! -f "$bin" ]]; then bad "linux/$arch: the build stage wrote no $b (make build)"; continue; fi
    desc="$(file -b "$bin")"
    meta="$(go version -m "$bin")"
    check "linux/$arch $b: ELF for $want, statically linked, stripped ($desc)" \
      bash -c '[[ "$1" == *"$2"* && "$1" == *"statically linked"* && "$1" == *stripped* && "$1" != *"not stripped"* ]]' _ "$desc" "$want"
    # With -trimpath Go leaves -ldflags out of the build info (they may hold
    # paths), so the -X is checked by the version string inside the binary.
    check "linux/$arch $b: build info says path ${PKG[$b]#./}, CGO_ENABLED=0 GOOS=linux GOARCH=$arch -trimpath=true" \
      bash -c 'grep -qP "^\tpath\t.*/$3$" <<<"$1" && grep -qP "\tCGO_ENABLED=0$" <<<"$1" && grep -qP "\tGOOS=linux$" <<<"$1" \
        && grep -qP "\tGOARCH=$2$" <<<"$1" && grep -qP "\t-trimpath=true$" <<<"$1"' _ "$meta" "$arch" "${PKG[$b]#./}"
    check "linux/$arch $b: main.version set to $VERSION (-X)" grep -qaF "$VERSION" "$bin"
    size=$(stat -c %s "$bin")
    printf '  size  linux/%s %-20s %d bytes (%.1f MiB)\n' "$arch" "$b:" "$size" "$(bc -l <<<"$size/1048576" 2>/dev/null || echo 0)"
  done
  printf '  time  linux/%s: built in %d s\n' "$arch" $((SECONDS - start))
done

echo
if [[ $fail != 0 ]]; then echo "check-image: FAILED"; exit 1; fi
echo "check-image: $DOCKERFILE is consistent with make build; both binaries build static for both architectures"
