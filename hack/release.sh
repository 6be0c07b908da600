#!/usr/bin/env bash
# The release's names and versions, in one place. The workflow
# (.github/workflows/kubernetes.yml), `make release-check` and
# test/chart/release_test.go all ask this script, so the image the chart
# installs is the image the workflow pushes, with the version the binary
# reports.
#
# The rules:
#  - charts/catops/Chart.yaml `version` and `appVersion` are one version
#    (chart and connector are released together), semver X.Y.Z[-PRE];
#  - a release is a tag vX.Y.Z equal to that version; a pre-release tag
#    vX.Y.Z-PRE is also accepted while Chart.yaml says X.Y.Z (the release it
#    previews); build metadata (+...) is refused (not allowed in image tags);
#  - the image is ghcr.io/<owner>/<repo>/kubernetes-connector, lowercased
#    (ghcr.io/catops/cli/kubernetes-connector), tagged X.Y.Z, X.Y, X (not
#    for 0.y.z: a 0.x minor may break) and latest for a release, only
#    X.Y.Z-PRE for a pre-release; main pushes get `main` and `sha-<7 hex>`;
#  - the image is built with VERSION=X.Y.Z (-X main.version) and the chart
#    is packaged with version = appVersion = X.Y.Z, pushed to
#    oci://ghcr.io/<owner>/charts (installed as
#    oci://ghcr.io/<owner>/charts/catops).
#
# Usage:
#   hack/release.sh version REF          REF: refs/tags/vX.Y.Z or vX.Y.Z; prints X.Y.Z
#   hack/release.sh current              the version Chart.yaml says
#   hack/release.sh image [REPOSITORY]   the image name (REPOSITORY: owner/name, default catops/cli)
#   hack/release.sh chart-registry [REPOSITORY]   where the chart is pushed
#   hack/release.sh tags VERSION         the image tags of a release, one a line
#   hack/release.sh chart VERSION REPOSITORY OUTDIR
#       packages the chart with version = appVersion = VERSION (and, for a
#       fork, image.repository = the fork's image), checks that the package
#       renders <image>:<VERSION>, prints the .tgz path
#   hack/release.sh outputs REF SHA REPOSITORY
#       the workflow's step outputs (name=value lines for $GITHUB_OUTPUT):
#       version, release (true for a tag), image, chart-registry, tags
#
# Uses the pinned helm in .cache/bin for `chart` (build it alone with
# `hack/build-tools.sh helm`), or $HELM; CHART_DIR overrides charts/catops.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CHART_DIR="${CHART_DIR:-$ROOT/charts/catops}"
DEFAULT_REPOSITORY=catops/cli
IMAGE_NAME=kubernetes-connector
# The host agent's image (Dockerfile, catops), beside the connector's.
HOST_IMAGE_NAME=host-agent

die() { echo "release.sh: $*" >&2; exit 1; }

# rel PATH: PATH relative to the repository root when inside it.
rel() { local p=$1; echo "${p#"$ROOT"/}"; }

# is_semver V: X.Y.Z or X.Y.Z-PRE (dot-separated identifiers of
# [0-9A-Za-z-], numeric ones without leading zeros); no build metadata.
is_semver() {
  local v=$1 pre id
  [[ $v =~ ^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-([0-9A-Za-z.-]+))?$ ]] || return 1
  pre=${BASH_REMATCH[5]}
  [[ -z $pre ]] && return 0
  local -a ids
  IFS=. read -r -a ids <<<"$pre"
  [[ $pre != .* && $pre != *. && $pre != *..* ]] || return 1
  for id in "${ids[@]}"; do
    [[ -n $id ]] || return 1
    if [[ $id =~ ^[0-9]+$ && $id == 0?* ]]; then return 1; fi
  done
}

need_semver() {
  is_semver "$1" || die "$2 '$1' is not a version X.Y.Z or X.Y.Z-PRE (semver, no leading zeros, no +build)"
}

need_repository() {
  [[ $1 =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]] || die "repository '$1': want owner/name, as \$GITHUB_REPOSITORY"
}

# chart_field KEY: a top-level scalar of Chart.yaml, quotes dropped.
chart_field() {
  local f="$CHART_DIR/Chart.yaml"
  [[ -r $f ]] || die "no $(rel "$f")"
  awk -v k="$1:" '$1 == k { v = $2; gsub(/["\047]/, "", v); print v; exit }' "$f"
}

# current: the chart's version, after checking version == appVersion.
current() {
  local f version app
  f=$(rel "$CHART_DIR/Chart.yaml")
  version=$(chart_field version)
  app=$(chart_field appVersion)
  need_semver "$version" "$f version"
  need_semver "$app" "$f appVersion"
  [[ $version == "$app" ]] ||
    die "$f: version $version and appVersion $app differ: set both to the release's version"
  echo "$version"
}

# version REF: the release version of a tag, agreeing with Chart.yaml.
version() {
  local ref=$1 tag v chart core f
  [[ $ref != refs/* || $ref == refs/tags/* ]] || die "$ref is not a tag: a release is a tag vX.Y.Z"
  tag=${ref#refs/tags/}
  [[ $tag == v* ]] || die "tag '$tag': a release tag is vX.Y.Z (or vX.Y.Z-PRE)"
  v=${tag#v}
  need_semver "$v" "tag $tag: version"
  chart=$(current)
  f=$(rel "$CHART_DIR/Chart.yaml")
  core=${v%%-*}
  if [[ $v != "$chart" && ! ($v == *-* && $core == "$chart") ]]; then
    die "tag $tag disagrees with $f (version and appVersion $chart): bump both to $core there (then make manifests) and tag that commit, or tag v$chart"
  fi
  echo "$v"
}

image() {
  local repo=${1:-$DEFAULT_REPOSITORY}
  need_repository "$repo"
  echo "ghcr.io/${repo,,}/$IMAGE_NAME"
}

chart_registry() {
  local repo=${1:-$DEFAULT_REPOSITORY}
  need_repository "$repo"
  repo=${repo,,}
  echo "oci://ghcr.io/${repo%%/*}/charts"
}

tags() {
  local v=$1 major minor
  need_semver "$v" "version"
  if [[ $v == *-* ]]; then echo "$v"; return; fi
  IFS=. read -r major minor _ <<<"$v"
  echo "$v"
  echo "$major.$minor"
  [[ $major == 0 ]] || echo "$major"
  echo latest
}

chart() {
  local v=$1 repo=$2 out=$3 img helm name tmp packaged tgz got
  need_semver "$v" "version"
  need_repository "$repo"
  img=$(image "$repo")
  helm=${HELM:-$ROOT/.cache/bin/helm}
  [[ -x $helm ]] || die "no helm at $helm: build it with 'hack/build-tools.sh helm' (or set HELM)"
  name=$(chart_field name)
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: tmp is local
  trap "rm -rf '$tmp'" EXIT
  cp -R "$CHART_DIR" "$tmp/$name"
  if [[ ${repo,,} != "$DEFAULT_REPOSITORY" ]]; then
    # A fork's chart installs the fork's image.
    awk -v img="$img" '
      /^[^[:space:]#]/ { in_image = ($0 ~ /^image:/) }
      in_image && !done && /^  repository:/ { print "  repository: " img; done = 1; next }
      { print }
      END { if (!done) exit 1 }' "$CHART_DIR/values.yaml" >"$tmp/$name/values.yaml" ||
      die "$(rel "$CHART_DIR/values.yaml"): no image.repository line to point at $img"
  fi
  mkdir -p "$out"
  # helm's own line is printed once the package passed the check below, so a
  # refusal stays one line.
  packaged=$("$helm" package "$tmp/$name" --version "$v" --app-version "$v" --destination "$out")
  tgz="$(cd "$out" && pwd)/$name-$v.tgz"
  [[ -f $tgz ]] || die "helm package did not write $tgz"
  # The DaemonSet and the cluster reporter's Deployment run the same image.
  got=$("$helm" template "$name" "$tgz" --set auth.token=release-check |
    sed -n 's/^ *image: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' | sort -u)
  [[ $got == "$img:$v" ]] ||
    die "the packaged chart installs '$got', not $img:$v: is image.repository in $(rel "$CHART_DIR/values.yaml") $(image)?"
  echo "$packaged" >&2
  echo "$tgz"
}

outputs() {
  local ref=$1 sha=$2 repo=$3 img v release tag
  need_repository "$repo"
  [[ $sha =~ ^[0-9a-f]{7,40}$ ]] || die "commit '$sha': want a hex SHA"
  img=$(image "$repo")
  local -a list
  case $ref in
    refs/tags/*)
      v=$(version "$ref")
      release=true
      mapfile -t list < <(tags "$v")
      ;;
    refs/heads/main)
      # git describe of the pushed commit, as `make build` stamps locally,
      # without the tag's v, as a release's version (0.1.0-3-gabc1234).
      v=$(git -C "$ROOT" describe --tags --always "$sha" 2>/dev/null || echo "${sha:0:7}")
      v=${v#v}
      release=false
      list=(main "sha-${sha:0:7}")
      ;;
    *) die "$ref: images are pushed for main and for tags vX.Y.Z only" ;;
  esac
  echo "version=$v"
  echo "release=$release"
  echo "image=$img"
  echo "chart-registry=$(chart_registry "$repo")"
  echo "tags<<END_OF_TAGS"
  for tag in "${list[@]}"; do echo "$img:$tag"; done
  echo "END_OF_TAGS"
  # The host agent's image: the same tags, its own name.
  local host_img=${img%/"$IMAGE_NAME"}/$HOST_IMAGE_NAME
  echo "host-image=$host_img"
  echo "host-tags<<END_OF_TAGS"
  for tag in "${list[@]}"; do echo "$host_img:$tag"; done
  echo "END_OF_TAGS"
}

usage() { sed -n '/^# Usage:/,/^set -euo/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2; exit 2; }

cmd=${1:-}
[[ $# -gt 0 ]] && shift
case $cmd in
  version) [[ $# == 1 ]] || usage; version "$1" ;;
  current) [[ $# == 0 ]] || usage; current ;;
  image) [[ $# -le 1 ]] || usage; image "$@" ;;
  chart-registry) [[ $# -le 1 ]] || usage; chart_registry "$@" ;;
  tags) [[ $# == 1 ]] || usage; tags "$1" ;;
  chart) [[ $# == 3 ]] || usage; chart "$@" ;;
  outputs) [[ $# == 3 ]] || usage; outputs "$@" ;;
  *) usage ;;
esac
