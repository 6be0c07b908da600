# Sourced by the hack/*.sh scripts (and read by the Makefile): build the
# project with the Go toolchain that go.mod's `toolchain` line names. The go
# command fetches that toolchain from the Go module proxy once (~10 s) and
# keeps it in the module cache. A machine's own Go may be older and ignores
# the toolchain line unless GOTOOLCHAIN says otherwise, hence the export.
# The control-plane test binaries are built with the machine's own Go
# (hack/build-tools.sh), so a toolchain bump does not rebuild them.
_go_env_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GOTOOLCHAIN="$(sed -n 's/^toolchain //p' "$_go_env_root/go.mod")"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
unset _go_env_root
