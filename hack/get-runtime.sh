#!/usr/bin/env bash
# Fetches the real node's container runtime — containerd, runc and the CNI
# plugins, as the Debian 12 (bookworm) packages pinned below — into
# .cache/node/debs and unpacks them with `dpkg-deb -x` into .cache/node/root.
# Nothing is installed: no maintainer scripts, no service, nothing written to
# /usr, /etc or dpkg's database, nothing to uninstall (delete
# .cache/node/{debs,root,apt}; .cache/node/ holds other things too).
# Then it runs each binary and checks its version against the pin. It starts
# no daemon.
#
# Idempotent: when .cache/node/root's stamp says it holds exactly the pinned
# packages, nothing is fetched or unpacked. Change a pin and the next run
# downloads only the missing debs, deletes those of other versions and
# unpacks a fresh root.
#
# Package lists: `apt-get download` needs lists that offer the pinned
# versions. The machine's own (/var/lib/apt/lists, as `apt-get update` left
# them) are used when they do, and are only read: apt's binary caches stay in
# memory. When they do not (not Debian 12, lists never fetched, a pin they
# lack), the script fetches bookworm's lists from deb.debian.org into
# .cache/node/apt — a private `apt-get update` with its own configuration,
# sources list, lists, caches and an empty dpkg status — and downloads with
# those. NODE_APT=private forces that path.
#
# deb.debian.org keeps only the newest version of a package in a suite: once
# Debian ships a fix, the old pin cannot be downloaded any more and the script
# shows what apt offers; pin that (`apt-cache policy containerd runc
# containernetworking-plugins`).
#
# Usage: hack/get-runtime.sh
# Needs apt-get and dpkg-deb (Debian or Ubuntu), libseccomp2 (runc links it)
# and, while a pinned .deb is missing, network access to deb.debian.org.
# Root is not needed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
NODE_DIR="$ROOT/.cache/node"
DEB_DIR="$NODE_DIR/debs"
ROOT_DIR="$NODE_DIR/root"
APT_DIR="$NODE_DIR/apt"
STAMP="$ROOT_DIR/.packages"

# package=version, as `apt-cache policy` offered them on 2026-11-30 (the ones
# the real-node spike ran with). crun is left out: the node runs runc.
PACKAGES=(
  "containerd=1.6.20~ds1-1+deb12u3"
  "runc=1.1.5+ds1-1+deb12u1"
  "containernetworking-plugins=1.1.1+ds1-3+b5"
)
# The suites the pins come from: the private lists' sources.
SUITES=(
  "http://deb.debian.org/debian bookworm main"
  "http://deb.debian.org/debian-security bookworm-security main"
)
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() { printf '\nget-runtime: ERROR: %s\n' "$*" >&2; exit 1; }

for cmd in apt-get apt-cache dpkg dpkg-deb; do
  command -v "$cmd" >/dev/null || die "$cmd is not on PATH: this needs a Debian or Ubuntu machine"
done
ARCH="$(dpkg --print-architecture)"

# apt's options: never write its binary caches (Dir::Cache::*pkgcache ""), and
# as root do not hand the download to the _apt user, who cannot write into
# this checkout (apt would fall back to root with a warning anyway).
APT_OPTS=(-o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=)
if [[ $EUID -eq 0 ]]; then APT_OPTS+=(-o APT::Sandbox::User=root); fi

# deb_file PACKAGE=VERSION: the file name `apt-get download` gives it.
deb_file() {
  local name=${1%%=*} version=${1#*=}
  echo "${name}_${version//:/%3a}_${ARCH}.deb"
}

# unoffered PACKAGE=VERSION...: the ones apt's lists do not offer, one a line.
# One apt-cache call (each call reads all the lists: ~1 s).
unoffered() {
  local offers p
  offers="$(apt-cache "${APT_OPTS[@]}" madison "${@%%=*}" 2>/dev/null \
    | awk -F'|' '{gsub(/ /, ""); print $1 "=" $2}')" || true
  for p in "$@"; do
    grep -qxF "$p" <<<"$offers" || echo "$p"
  done
}

# use_private_lists: point apt at bookworm's lists under .cache/node/apt,
# fetching them first. APT_CONFIG makes apt read only .cache/node/apt/etc: none
# of the machine's sources, keys, preferences or hooks (an update's
# Post-Invoke hooks would tell system services about lists that are not theirs).
use_private_lists() {
  [[ -r $KEYRING ]] || die "$KEYRING is missing (package debian-archive-keyring): the private lists cannot be verified"
  local d s
  for d in etc/apt.conf.d etc/sources.list.d etc/preferences.d etc/trusted.gpg.d \
           state/lists/partial cache/archives/partial; do
    mkdir -p "$APT_DIR/$d"
  done
  for s in "${SUITES[@]}"; do echo "deb [signed-by=$KEYRING] $s"; done > "$APT_DIR/etc/sources.list"
  : > "$APT_DIR/state/status"
  cat > "$APT_DIR/apt.conf" <<EOF_CONF
Dir::Etc "$APT_DIR/etc";
Dir::State "$APT_DIR/state";
Dir::State::status "$APT_DIR/state/status";
Dir::Cache "$APT_DIR/cache";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Acquire::Languages "none";
Acquire::GzipIndexes "true";
EOF_CONF
  export APT_CONFIG="$APT_DIR/apt.conf"
  echo "fetching bookworm's package lists into ${APT_DIR#"$ROOT"/}…"
  apt-get "${APT_OPTS[@]}" -q update || die "apt-get update into $APT_DIR failed"
}

# download PACKAGE=VERSION...: into .cache/node/debs.
download() {
  if [[ "${NODE_APT:-}" == private || -n "$(unoffered "$@")" ]]; then
    use_private_lists
    local gone
    gone="$(unoffered "$@")"
    if [[ -n "$gone" ]]; then
      apt-cache "${APT_OPTS[@]}" madison "${@%%=*}" >&2 || true
      die "apt does not offer $(echo "$gone" | paste -sd' ') (above: what it does offer): pin one of those in hack/get-runtime.sh"
    fi
  fi
  echo "downloading $*…"
  ( cd "$DEB_DIR" && apt-get "${APT_OPTS[@]}" -q download "$@" ) || die "apt-get download $* failed"
}

# fetch: download the missing debs, drop the others, unpack into a fresh root.
fetch() {
  local p f missing=() keep=" "
  mkdir -p "$DEB_DIR"
  for p in "${PACKAGES[@]}"; do
    keep+="$(deb_file "$p") "
    [[ -f "$DEB_DIR/$(deb_file "$p")" ]] || missing+=("$p")
  done
  if [[ ${#missing[@]} -gt 0 ]]; then download "${missing[@]}"; fi
  for f in "$DEB_DIR"/*.deb; do
    [[ "$keep" == *" ${f##*/} "* ]] || { echo "removing ${f##*/} (not pinned)"; rm -f "$f"; }
  done
  echo "unpacking into ${ROOT_DIR#"$ROOT"/}…"
  rm -rf "$ROOT_DIR" "$ROOT_DIR.tmp"
  mkdir -p "$ROOT_DIR.tmp"
  for p in "${PACKAGES[@]}"; do
    f="$DEB_DIR/$(deb_file "$p")"
    [[ "$(dpkg-deb -f "$f" Package)=$(dpkg-deb -f "$f" Version)" == "$p" ]] || die "$f is not $p"
    dpkg-deb -x "$f" "$ROOT_DIR.tmp"
  done
  printf '%s\n' "${PACKAGES[@]}" > "$ROOT_DIR.tmp/.packages"
  mv "$ROOT_DIR.tmp" "$ROOT_DIR"
}

# check NAME WANT COMMAND...: run COMMAND, whose output must contain WANT.
check() {
  local name=$1 want=$2 out
  shift 2
  [[ -x "$1" ]] || die "$1 is missing: delete ${ROOT_DIR#"$ROOT"/} and run again"
  if ! out="$("$@" 2>&1)"; then
    ldd "$1" 2>/dev/null | grep 'not found' >&2 || true
    die "$name does not run: $out"
  fi
  [[ "$out" == *"$want"* ]] || die "$name says '$out', want '$want'"
  printf '  %-16s %s\n' "$name" "$(head -1 <<<"$out")"
}

# upstream PACKAGE=VERSION: the upstream version (1.6.20 for
# containerd=1.6.20~ds1-1+deb12u3), which the binaries print.
upstream() { local v=${1#*=}; v=${v#*:}; echo "${v%%[~+-]*}"; }

start=$SECONDS
if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$(printf '%s\n' "${PACKAGES[@]}")" ]]; then
  echo "up to date: ${ROOT_DIR#"$ROOT"/}"
else
  fetch
fi
echo "runtime in ${ROOT_DIR#"$ROOT"/} (${PACKAGES[*]}):"
check containerd "$(upstream "${PACKAGES[0]}")" "$ROOT_DIR/usr/bin/containerd" --version
check runc "$(upstream "${PACKAGES[1]}")" "$ROOT_DIR/usr/sbin/runc" --version
# Debian's CNI plugins do not stamp their version: run without CNI_COMMAND,
# each prints its name ("CNI bridge plugin version unknown") and exits 0.
for plugin in loopback bridge host-local; do
  check "cni/$plugin" "CNI $plugin plugin" "$ROOT_DIR/usr/lib/cni/$plugin"
done
echo "get-runtime: done ($((SECONDS - start)) s)"
