#!/usr/bin/env bash
# Offline vulnerability check (`make vuln`): govulncheck over the root
# module, against a database built locally from the Go vulnerability
# database pinned in hack/tools/vuln/go.mod (golang.org/x/vulndb's data/osv,
# indexed by its cmd/indexdb). Needs only Go and the module proxy (once);
# nothing talks to vuln.go.dev.
#
# The database goes to .cache/vulndb and is rebuilt only when the vulndb pin
# or the indexdb binary changes (stamp: .cache/vulndb/.stamp). To pick up new
# advisories, bump the pin:
#   (cd hack/tools/vuln && go get golang.org/x/vulndb@master && go mod tidy)
#
# Usage: hack/vuln.sh [govulncheck args...]    (default: ./...)
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
BIN_DIR="${RIG_BIN_DIR:-$ROOT/.cache/bin}"
DB_DIR="$ROOT/.cache/vulndb"
TOOLS_MOD="$ROOT/hack/tools/vuln"

die() { printf 'vuln: ERROR: %s\n' "$*" >&2; exit 1; }

hack/build-tools.sh govulncheck indexdb

# The pinned vulndb version, as the tools module resolves it.
vulndb_version="$(cd "$TOOLS_MOD" && GOFLAGS=-mod=readonly go list -m -f '{{.Version}}' golang.org/x/vulndb)" \
  || die "cannot resolve golang.org/x/vulndb in hack/tools/vuln"
stamp="$(printf '%s|%s' "$vulndb_version" "$(sha256sum "$BIN_DIR/indexdb" | cut -d' ' -f1)")"

if [[ -f "$DB_DIR/.stamp" && "$(cat "$DB_DIR/.stamp")" == "$stamp" && -f "$DB_DIR/index/db.json" ]]; then
  echo "vuln: database up to date (golang.org/x/vulndb $vulndb_version)"
else
  # The module zip is already in the module cache after the tools build;
  # `go mod download` only prints where it is (or fetches it on a cold cache).
  src="$(cd "$TOOLS_MOD" && GOFLAGS=-mod=readonly go mod download -json "golang.org/x/vulndb@$vulndb_version" \
    | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')"
  [[ -n "$src" && -d "$src/data/osv" ]] || die "no data/osv in golang.org/x/vulndb@$vulndb_version ($src)"
  echo "vuln: indexing $(find "$src/data/osv" -name '*.json' | wc -l) advisories of golang.org/x/vulndb $vulndb_version…"
  start=$SECONDS
  tmp="$DB_DIR.tmp"
  rm -rf "$tmp"
  "$BIN_DIR/indexdb" -vulns "$src/data/osv" -out "$tmp"
  echo "$stamp" > "$tmp/.stamp"
  rm -rf "$DB_DIR"
  mv "$tmp" "$DB_DIR"
  echo "vuln: database built in $((SECONDS - start)) s ($(du -sh "$DB_DIR" | cut -f1))"
fi

[[ $# -gt 0 ]] || set -- ./...
exec "$BIN_DIR/govulncheck" -db "file://$DB_DIR" "$@"
