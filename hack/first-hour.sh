#!/usr/bin/env bash
# hack/first-hour.sh (make first-hour): a new user's first hour, replayed on
# a clean clone, so that what README promises keeps working:
#
#   clone   git clone of this repository into a temporary folder; the
#           control-plane binaries come from this checkout's .cache/bin (a
#           symlink: nothing of Kubernetes is rebuilt) and Go's caches are
#           the machine's.
#   readme  README's Quick start: `make build` and `./catops-k8s --help`, and
#           `make build-host` and `./catops --help` (Plain servers), run
#           here. Every other command of its table is run by another CI
#           stage (.ci/run): make test, test-integration, test-compat,
#           test-e2e, lint,
#           helm-lint test-chart (which also checks that deploy/ is what
#           `make manifests` renders), vuln; make bench runs there at a small
#           size (bench-smoke); make demo is the next step. A command added
#           to the table that is in neither list fails this step.
#   demo    `make demo 2>&1 | tee LOG` in its own session, as in a terminal;
#           once the live view shows pods on both nodes, Ctrl-C (SIGINT to
#           the foreground process group, tee included), and then nothing
#           of the clone may be left running.
#   helm    README's "Install on a cluster" commands against `make
#           cluster-up`'s cluster with the pinned helm (YOUR_TOKEN replaced,
#           `kubectl logs -f` left out: kwok nodes run no containers), the
#           DaemonSet rolled out, `helm upgrade` (a new interval reaches the
#           pods), `helm uninstall` (nothing of the release left). The depth
#           (RBAC, tolerations, token rotation) is test/chart/install_test.go's.
#   recipe  README's "Run it against a cluster you have", its bash blocks
#           verbatim: terminal 1 (the receiver) and terminal 2 (the local
#           cluster, then the agent) as two sessions; the agent logs that its
#           caches synced and it ships, the receiver applies its batches, the
#           health address answers; Ctrl-C to both, the "when done" block,
#           and nothing left running.
#
# Every step prints one PASS/FAIL line with its duration; a failed step does
# not stop the later ones (but a failed clone or build does); the exit code
# is non-zero if any step failed. Everything started is stopped by PID on
# every exit path. One control plane at a time; ~2.5 min with the tools built
# (on 2 cores), at most FIRST_HOUR_TIMEOUT (900 s) whatever happens.
#
# Environment:
#   FIRST_HOUR_SRC=DIR   clone DIR's last commit and lay its working tree
#                        over it (uncommitted and untracked, not ignored,
#                        files), to try changes before committing them;
#                        default: clone this repository's last commit.
#   FIRST_HOUR_STEPS     the steps to run (default "readme demo helm recipe";
#                        the clone is always made)
#   FIRST_HOUR_KEEP=1    keep the temporary folder (the clone and the logs)
#   FIRST_HOUR_DEMO_WAIT seconds to wait for the demo's view (default 240)
#   FIRST_HOUR_TIMEOUT   seconds after which the whole run is stopped (900)
# Needs: git, make, Go, and python3 or perl (to give the backgrounded demo,
# receiver and agent a terminal's SIGINT).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SRC="${FIRST_HOUR_SRC:-}"
[[ -z "$SRC" ]] || SRC="$(cd "$SRC" && pwd)"
STEPS="${FIRST_HOUR_STEPS:-readme demo helm recipe}"
DEMO_WAIT="${FIRST_HOUR_DEMO_WAIT:-240}"
# in_session LOG CMD... (below) starts CMD in a new session with SIGINT at
# its default, as a terminal's foreground job has it (a background job of a
# non-interactive shell ignores SIGINT), output to LOG; LAST_SESSION is its
# PID, which is also its process group and session id.
SIGDFL=""
if command -v python3 >/dev/null; then
  SIGDFL=(python3 -c 'import os,signal,sys; os.setsid(); signal.signal(signal.SIGINT, signal.SIG_DFL); os.execvp(sys.argv[1], sys.argv[1:])')
elif command -v perl >/dev/null; then
  SIGDFL=(perl -MPOSIX -e 'POSIX::setsid() or die "setsid: $!"; $SIG{INT}="DEFAULT"; exec {$ARGV[0]} @ARGV or die "exec: $!"')
else
  echo "first-hour: needs python3 or perl" >&2; exit 1
fi
WORK="$(mktemp -d "${TMPDIR:-/tmp}/catops-first-hour.XXXXXX")"
CLONE="$WORK/catops"
LOGS="$WORK/logs"
mkdir -p "$LOGS"
# helm's and kubectl's caches stay in WORK; no cluster but the ones started
# here is ever reached.
export HELM_CACHE_HOME="$WORK/helm/cache" HELM_CONFIG_HOME="$WORK/helm/config" HELM_DATA_HOME="$WORK/helm/data"
export KUBECACHEDIR="$WORK/kube-cache"
# A new terminal: none of the settings the recipe exports, nor the toolchain
# the Makefile exports (make, hack/*.sh and the recipe say their own).
unset KUBECONFIG GOTOOLCHAIN CATOPS_AUTH_TOKEN CATOPS_BACKEND_URL NODE_NAME NAMESPACE COLLECTION_INTERVAL CATOPS_HEALTH_ADDR

# The script's own stdout and stderr, for cleanup's lines even when a step's
# output goes to a file; closed for everything that may outlive a step.
exec 8>&1 9>&2
t0=$SECONDS
failed=()
SESSIONS=() # session ids (= process group ids) of what we started
say() { printf '\033[1m== %s\033[0m\n' "$*"; }
pass() { printf '\033[32mPASS\033[0m %-7s (%d s)\n' "$1" "$2"; }
fail() { printf '\033[31mFAIL\033[0m %-7s (%d s): %s\n' "$1" "$2" "$3"; failed+=("$1"); }
want() { [[ " $STEPS " == *" $1 "* ]]; }
tail_log() { echo "---- last lines of $1:"; tail -n "${2:-30}" "$1" 2>/dev/null | cut -c1-400 || true; echo "----"; }

# A shell's go: the toolchain of go.mod (hack/go-env.sh) for the script's own
# `go run` (the rig's down); the user's commands go through make or say
# their own export.
gocmd() { (cd "$CLONE" && source hack/go-env.sh && go "$@"); }

in_session() {
  local log=$1; shift
  (cd "$CLONE" && exec "${SIGDFL[@]}" "$@" </dev/null >"$log" 2>&1 8>&- 9>&-) &
  local pid=$!
  SESSIONS+=("$pid")
  LAST_SESSION=$pid
}

alive() { kill -0 "$1" 2>/dev/null; }

# procs: "PID SID CWD-MATCH CMDLINE" for every process, read with bash
# builtins (no fork per process); CWD-MATCH is 1 when its working directory
# is in $CLONE (one find for all).
procs() {
  local -A incwd=()
  local d pid line sid
  while read -r pid; do incwd[$pid]=1; done < <(cd / && find /proc -mindepth 2 -maxdepth 2 -name cwd \
    \( -lname "$CLONE" -o -lname "$CLONE/*" \) 2>/dev/null | cut -d/ -f3)
  for d in /proc/[0-9]*; do
    pid=${d#/proc/}
    read -r line 2>/dev/null <"$d/stat" || continue
    line=${line##*) }
    read -r _ _ _ sid _ <<<"$line"
    local -a argv=()
    mapfile -d '' -t argv 2>/dev/null <"$d/cmdline" || continue
    ((${#argv[@]} > 0)) || continue
    echo "$pid $sid ${incwd[$pid]:-0} ${argv[*]}"
  done
}

# leftovers [SID...]: every process, but this script and its ancestors, that
# runs from the clone (command line or working directory in it) or is in
# one of the sessions; one line each.
leftovers() {
  local -A skip=()
  local p=$BASHPID line pid sid cwd cmd s hit
  # Ancestors: walk PPid up from this shell.
  while [[ -n "$p" && "$p" != 0 && -z "${skip[$p]:-}" ]]; do
    skip[$p]=1
    local next=""
    while read -r line; do [[ "$line" == PPid:* ]] && { next=${line#PPid:}; next=${next//[[:space:]]/}; }; done 2>/dev/null <"/proc/$p/status" || true
    p=$next
  done
  while read -r pid sid cwd cmd; do
    [[ -n "${skip[$pid]:-}" ]] && continue
    hit=""
    [[ "$cwd" == 1 || "$cmd" == *"$CLONE"* ]] && hit=1
    for s in "$@"; do [[ "$sid" == "$s" ]] && hit=1; done
    [[ -n "$hit" ]] && alive "$pid" && echo "pid $pid: ${cmd:0:300}"
  done < <(procs)
  return 0
}

# kill_leftovers: stop what leftovers finds (all of it ours: it runs from
# the clone or in a session we started), TERM then KILL, by PID.
kill_leftovers() {
  local pids=() line
  while read -r line; do
    [[ -n "$line" ]] || continue
    line=${line#pid }; pids+=("${line%%:*}")
  done < <(leftovers "${SESSIONS[@]}")
  [[ ${#pids[@]} -gt 0 ]] || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  local p any
  for _ in $(seq 20); do
    any=""; for p in "${pids[@]}"; do alive "$p" && any=1; done
    [[ -z "$any" ]] && return 0
    sleep 0.5
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

# in_group SID: some process is still in the session SID we started (so its
# process group id cannot have been reused).
in_group() {
  local pid sid _r
  while read -r pid sid _r; do [[ "$sid" == "$1" ]] && return 0; done < <(procs)
  return 1
}

# stop_session SID SIGNAL SECONDS: signal the session's process group (as a
# terminal does its foreground job), then wait for the session leader to
# exit; 0 if it did.
stop_session() {
  local sid=$1 sig=$2 secs=$3
  in_group "$sid" || return 0
  kill "-$sig" -- "-$sid" 2>/dev/null || true
  for _ in $(seq $((secs * 4))); do
    alive "$sid" || { wait "$sid" 2>/dev/null || true; return 0; }
    sleep 0.25
  done
  return 1
}

# rig_down DIR: stop a rig of the clone if one is up (by the PIDs in its state).
rig_down() { [[ -f "$1/state.json" ]] && gocmd run ./test/rig/cmd/rig down --dir "$1" >/dev/null 2>&1 || true; }

cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  exec 1>&8 2>&9
  [[ -n "${WATCHDOG:-}" ]] && kill "$WATCHDOG" 2>/dev/null
  if [[ -d "$CLONE" ]]; then
    local sid; for sid in "${SESSIONS[@]}"; do stop_session "$sid" TERM 10 || true; done
    rig_down "$CLONE/.rig/demo"
    rig_down "$CLONE/.rig"
    kill_leftovers
    local left; left=$(leftovers "${SESSIONS[@]}")
    [[ -n "$left" ]] && { echo "first-hour: STILL RUNNING after cleanup:"; echo "$left"; rc=1; }
  fi
  if [[ "${FIRST_HOUR_KEEP:-}" == 1 || $rc != 0 ]]; then
    echo "first-hour: clone and logs kept in $WORK (logs: $LOGS)"
  else
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "first-hour: interrupted" >&9; exit 130' INT TERM
# The whole run is bounded: every command below has its own bound too.
(
  trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
  sleep "${FIRST_HOUR_TIMEOUT:-900}" & sleeper=$!
  wait "$sleeper" && { echo "first-hour: TIMEOUT after ${FIRST_HOUR_TIMEOUT:-900} s"; kill -TERM $$; }
) &
WATCHDOG=$!

# port_free PORT: nothing listens on 127.0.0.1:PORT (the fixed ports of the
# demo and of README's recipe; others on this machine may hold them).
port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# busy_ports PORT...: prints the first port someone listens on; 1 if none.
busy_ports() {
  local p
  for p in "$@"; do port_free "$p" || { echo "$p"; return 0; }; done
  return 1
}

# http_get URL [HEADER]: status line and body of an HTTP/1.0 GET to loopback.
http_get() {
  local url=${1#http://} hdr=${2:-}
  local hostport=${url%%/*} path=/${url#*/}
  (
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport##*:}" || exit 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n%s\r\n' "$path" "$hostport" "${hdr:+$hdr$'\r\n'}" >&3
    timeout 5 cat <&3
  )
}

# wait_for SECONDS FILE PATTERN [PID]: until FILE has a line matching the
# extended regexp (0), the time is up (1) or PID exited (2).
wait_for() {
  local secs=$1 file=$2 re=$3 pid=${4:-}
  local end=$((SECONDS + secs))
  while ((SECONDS < end)); do
    grep -Eq -- "$re" "$file" 2>/dev/null && return 0
    if [[ -n "$pid" ]] && ! alive "$pid"; then
      grep -Eq -- "$re" "$file" 2>/dev/null && return 0
      return 2
    fi
    sleep 1
  done
  return 1
}

# section HEADING: README.md's section under that heading (to the next
# heading of the same or a higher level), from the clone.
section() {
  awk -v h="$1" '
    /^```/ { fence = !fence }
    !fence && /^#+ / { lvl = index($0, " ") - 1
             if (in_s && lvl <= level) exit
             if (substr($0, lvl + 2) == h) { in_s = 1; level = lvl; next } }
    in_s { print }' "$CLONE/README.md"
}
# bash_blocks: the ```bash blocks of stdin, each ended by a line "@@END@@".
bash_blocks() { awk '/^```bash[[:space:]]*$/ { b = 1; next } b && /^```/ { b = 0; print "@@END@@"; next } b { print }'; }

################################################################ clone
say "clone: $WORK"
s=$SECONDS
from=${SRC:-$ROOT}
if ! git clone --quiet "$from" "$CLONE" 2>"$LOGS/clone.log"; then
  fail clone $((SECONDS - s)) "git clone $from: $(cat "$LOGS/clone.log")"; exit 1
fi
if [[ -n "$SRC" ]]; then
  # The working tree over the last commit: changed and new files (not the
  # ignored ones), and the deleted ones removed.
  (cd "$SRC" && git ls-files -z -co --exclude-standard | tar --null -T - -cf -) | tar -C "$CLONE" -xf -
  (cd "$SRC" && git ls-files -z -d) | (cd "$CLONE" && xargs -0 -r rm -f --)
  echo "working tree of $SRC laid over its last commit ($(cd "$CLONE" && git status --short | wc -l) files differ)"
fi
# The control-plane binaries: this checkout's (hack/build-tools.sh finds
# them up to date by their stamps and builds only what is missing).
mkdir -p "$ROOT/.cache/bin" "$CLONE/.cache"
ln -s "$ROOT/.cache/bin" "$CLONE/.cache/bin"
echo "cloned $(cd "$CLONE" && git log -1 --format='%h %s'); .cache/bin -> $ROOT/.cache/bin"
pass clone $((SECONDS - s))

################################################################ readme
if want readme; then
  say "readme: the Quick start's commands"
  s=$SECONDS
  # Where each command of the Quick start table is run.
  declare -A elsewhere=(
    ["make test"]=".ci/run: make test"
    ["make test-integration"]=".ci/run: make test-integration"
    ["make test-compat"]=".ci/run: make test-compat"
    ["make test-e2e"]=".ci/run: make test-e2e"
    ["make lint"]=".ci/run: make lint"
    ["make helm-lint test-chart"]=".ci/run: make helm-lint test-chart"
    ["make manifests"]=".ci/run: make test-chart checks deploy/ against it"
    ["make vuln"]=".ci/run: make vuln"
    ["make bench"]=".ci/run: make bench-smoke, at a small size"
    ["make demo"]="this script: the demo step"
    ["make build"]="this script: here"
  )
  unknown=()
  while IFS= read -r cmd; do
    [[ -n "$cmd" ]] || continue
    if [[ -n "${elsewhere[$cmd]:-}" ]]; then
      printf '  %-28s %s\n' "$cmd" "${elsewhere[$cmd]}"
    else
      unknown+=("$cmd")
    fi
  done < <(section "Quick start" | awk -F'|' 'NF > 3 && $3 !~ /^ *-+ *$/ && $3 !~ /^ *command *$/ { print $3 }' |
    sed -n 's/^[^`]*`\([^`]*\)`.*/\1/p')
  if ((${#unknown[@]} > 0)); then
    fail readme $((SECONDS - s)) "README's Quick start lists $(printf '`%s` ' "${unknown[@]}")which no CI stage runs: run it here or name the stage in hack/first-hour.sh"
  elif ! (cd "$CLONE" && timeout 600 make build) >"$LOGS/build.log" 2>&1; then
    tail_log "$LOGS/build.log"; fail readme $((SECONDS - s)) "make build failed"; exit 1
  elif ! (cd "$CLONE" && ./catops-k8s --help) >"$LOGS/help.log" 2>&1 || ! grep -q CATOPS_BACKEND_URL "$LOGS/help.log"; then
    tail_log "$LOGS/help.log"; fail readme $((SECONDS - s)) "./catops-k8s --help failed or does not list CATOPS_BACKEND_URL"
  elif ! (cd "$CLONE" && timeout 600 make build-host && ./catops --help) >"$LOGS/host-help.log" 2>&1 || ! grep -q CATOPS_CONFIG "$LOGS/host-help.log"; then
    tail_log "$LOGS/host-help.log"; fail readme $((SECONDS - s)) "make build-host or ./catops --help failed, or it does not list CATOPS_CONFIG"
  else
    echo "  make build; ./catops-k8s --help: $(wc -l <"$LOGS/help.log") lines of help"
    echo "  make build-host; ./catops --help: $(grep -c . "$LOGS/host-help.log") lines"
    pass readme $((SECONDS - s))
  fi
fi

################################################################ demo
if want demo; then
  say "demo: make demo 2>&1 | tee, then Ctrl-C"
  s=$SECONDS
  if busy=$(busy_ports 18000 18080 18081 18082); then
    fail demo $((SECONDS - s)) "127.0.0.1:$busy, a port of the demo, is already in use by another process"
  else
    in_session "$LOGS/demo-session.log" bash -c 'make demo 2>&1 | tee "$0"' "$LOGS/demo.log"
    demo=$LAST_SESSION
    # The view names each node with its number of pods ("kwok-node-1  3
    # pods", "kwok-node-1 (3 pods)"); both kwok nodes run pods (at least
    # the DaemonSet's).
    view_ok() { grep -Eq 'kwok-node-1 +\(?[1-9][0-9]* pods?\b' "$LOGS/demo.log" 2>/dev/null &&
      grep -Eq 'kwok-node-2 +\(?[1-9][0-9]* pods?\b' "$LOGS/demo.log" 2>/dev/null &&
      grep -Eq 'SERVER +OS +KERNEL' "$LOGS/demo.log" 2>/dev/null; }
    end=$((SECONDS + DEMO_WAIT))
    until view_ok || ((SECONDS >= end)) || ! alive "$demo"; do sleep 2; done
    if ! view_ok; then
      tail_log "$LOGS/demo.log" 40
      why="the view did not show pods on kwok-node-1 and kwok-node-2, and the host agent's SERVER panel, within $DEMO_WAIT s"
      alive "$demo" || why="make demo ended before the view showed pods on both nodes"
      fail demo $((SECONDS - s)) "$why (logs: $CLONE/.rig/demo-logs)"
      stop_session "$demo" TERM 30 || true
    else
      echo "  the view shows pods on both nodes after $((SECONDS - s)) s:"
      grep -E 'kwok-node-[12] +\(?[1-9][0-9]* pods?\b' "$LOGS/demo.log" | tail -n 2 | sed 's/\x1b\[[0-9;]*[A-Za-z]//g; s/^/    /'
      # Ctrl-C: SIGINT to the foreground process group (make, the demo
      # script, tee, whatever runs in the foreground at that moment).
      c=$SECONDS
      stop_session "$demo" INT 60 && ended="make demo ended $((SECONDS - c)) s after Ctrl-C" || ended="make demo still running 60 s after Ctrl-C"
      # What the demo started may take a moment more to go.
      for _ in $(seq 30); do [[ -z "$(leftovers "$demo")" ]] && break; sleep 0.5; done
      left=$(leftovers "$demo")
      pids_left=""
      if [[ -f "$CLONE/.rig/demo.pids" ]]; then
        while read -r p; do [[ "$left" == *"pid $p:"* ]] && pids_left+=" $p"; done <"$CLONE/.rig/demo.pids"
      fi
      echo "  $ended"
      if [[ -n "$left" || -n "$pids_left" ]]; then
        echo "  still running after Ctrl-C:"; echo "$left" | sed 's/^/    /'
        [[ -n "$pids_left" ]] && echo "    (of .rig/demo.pids:$pids_left)"
        tail_log "$LOGS/demo.log" 15
        fail demo $((SECONDS - s)) "Ctrl-C left $(echo "$left" | grep -c .) processes running ($ended)"
        kill_leftovers; rig_down "$CLONE/.rig/demo"
      else
        pass demo $((SECONDS - s))
      fi
    fi
  fi
fi

################################################################ helm
if want helm; then
  say "helm: README's install commands on make cluster-up's cluster, upgrade, uninstall"
  s=$SECONDS
  ns=catops-system
  helm_step() {
    local hl="$LOGS/helm.log"
    (cd "$CLONE" && timeout 300 make cluster-up) </dev/null >"$LOGS/helm-cluster-up.log" 2>&1 8>&- 9>&- ||
      { tail_log "$LOGS/helm-cluster-up.log"; echo "make cluster-up failed"; return 1; }
    export KUBECONFIG="$CLONE/.rig/kubeconfig"
    local path="$CLONE/.cache/bin:$PATH"
    # README's block that installs the checkout's chart (not the one from
    # the registry), YOUR_TOKEN filled in; `kubectl logs -f` would follow
    # the logs of containers that kwok nodes do not run.
    local block
    block=$(section "Install on a cluster" | bash_blocks |
      awk '/^@@END@@$/ { if (found) exit; b = ""; next } { b = b $0 "\n" } /^helm install [^ ]+ charts\/catops/ { found = 1 } END { if (found) printf "%s", b }' |
      sed 's/YOUR_TOKEN/first-hour-token/g' | grep -v '^kubectl logs ')
    grep -q '^helm install ' <<<"$block" || { echo "no \"helm install ... charts/catops\" block in README's \"Install on a cluster\""; return 1; }
    echo "$block" | sed 's/^/  $ /'
    (cd "$CLONE" && PATH=$path timeout 300 bash -euo pipefail -c "$block") >>"$hl" 2>&1 ||
      { tail_log "$hl"; echo "README's install commands failed"; return 1; }
    k() { (cd "$CLONE" && PATH=$path timeout 240 kubectl "$@"); }
    h() { (cd "$CLONE" && PATH=$path timeout 240 helm "$@"); }
    local nodes; nodes=$(k get nodes -o name | wc -l)
    k -n $ns rollout status daemonset/catops --timeout=180s >>"$hl" 2>&1 ||
      { tail_log "$hl"; echo "the DaemonSet did not roll out"; return 1; }
    local ready; ready=$(k -n $ns get daemonset catops -o jsonpath='{.status.numberReady}')
    [[ "$ready" == "$nodes" ]] || { echo "$ready agents Ready, $nodes nodes"; return 1; }
    echo "  installed: $ready agents Ready on $nodes nodes"
    h upgrade catops charts/catops --namespace $ns --reuse-values --set collection.interval=30 --wait --timeout 3m >>"$hl" 2>&1 ||
      { tail_log "$hl"; echo "helm upgrade failed"; return 1; }
    k -n $ns rollout status daemonset/catops --timeout=180s >>"$hl" 2>&1 ||
      { tail_log "$hl"; echo "the upgrade did not roll out"; return 1; }
    [[ "$(h status catops --namespace $ns)" == *"REVISION: 2"* ]] || { echo "helm status: not revision 2"; return 1; }
    local envs; envs=$(k -n $ns get pods -l app.kubernetes.io/name=catops \
      -o jsonpath='{range .items[*]}{.spec.containers[0].env[?(@.name=="COLLECTION_INTERVAL")].value}{"\n"}{end}' | sort | uniq -c)
    [[ "$(echo "$envs" | awk '{print $1, $2}')" == "$nodes 30" ]] || { echo "after the upgrade, COLLECTION_INTERVAL of the pods: $envs"; return 1; }
    echo "  upgraded: revision 2, $nodes pods with COLLECTION_INTERVAL=30"
    h uninstall catops --namespace $ns --wait --timeout 3m >>"$hl" 2>&1 || { tail_log "$hl"; echo "helm uninstall failed"; return 1; }
    local left
    for _ in $(seq 60); do
      left=$(k get clusterrole,clusterrolebinding -o name | grep catops || true)
      left+=$(k -n $ns get daemonset,serviceaccount,secret,pods -o name 2>/dev/null | grep -v 'serviceaccount/default' || true)
      [[ -z "$left" ]] && break
      sleep 2
    done
    [[ -z "$left" ]] || { echo "left after helm uninstall: $left"; return 1; }
    echo "  uninstalled: nothing of the release left"
    (cd "$CLONE" && timeout 120 make cluster-down) >>"$hl" 2>&1 || { echo "make cluster-down failed"; return 1; }
    unset KUBECONFIG
  }
  if helm_step >"$LOGS/helm.out" 2>&1; then
    cat "$LOGS/helm.out"; pass helm $((SECONDS - s))
  else
    sed '$d' "$LOGS/helm.out"; fail helm $((SECONDS - s)) "$(tail -n 1 "$LOGS/helm.out")"
  fi
  unset KUBECONFIG
  rig_down "$CLONE/.rig"
fi

################################################################ recipe
if want recipe; then
  say "recipe: README's \"Run it against a cluster you have\", verbatim"
  s=$SECONDS
  recipe_step() {
    local all n=0 blocks=()
    all=$(section "Run it against a cluster you have" | bash_blocks)
    local cur=""
    while IFS= read -r line; do
      if [[ "$line" == "@@END@@" ]]; then blocks+=("$cur"); cur=""; else cur+="$line"$'\n'; fi
    done <<<"$all"
    n=${#blocks[@]}
    # terminal 1: receiver; terminal 2: local cluster, then the agent; when done.
    if ((n != 4)) || [[ "${blocks[0]}" != "# terminal 1"* || "${blocks[1]}" != "# terminal 2"* ||
      "${blocks[2]}" != "# terminal 2"* || "${blocks[3]}" != *"make cluster-down"* ]]; then
      echo "README's recipe is not the 4 bash blocks this step knows (terminal 1; terminal 2: cluster, agent; when done): found $n"
      return 1
    fi
    local health
    health=$(sed -n 's/^export CATOPS_HEALTH_ADDR="\{0,1\}\([^" ]*\).*/\1/p' <<<"${blocks[2]}")
    [[ "$health" == 127.0.0.1:* ]] || { echo "the agent block's CATOPS_HEALTH_ADDR is '$health', not a loopback address"; return 1; }
    local busy
    if busy=$(busy_ports 8000 "${health##*:}"); then
      echo "127.0.0.1:$busy, a port of the recipe, is already in use by another process"; return 1
    fi

    in_session "$LOGS/recipe-terminal1.log" bash -euo pipefail -c "${blocks[0]}"
    local t1=$LAST_SESSION
    wait_for 180 "$LOGS/recipe-terminal1.log" '"msg":"Receiving"' "$t1" ||
      { tail_log "$LOGS/recipe-terminal1.log"; echo "terminal 1: the receiver did not start"; return 1; }
    echo "  terminal 1: receiver up after $((SECONDS - s)) s"
    in_session "$LOGS/recipe-terminal2.log" bash -euo pipefail -c "${blocks[1]}${blocks[2]}"
    local t2=$LAST_SESSION
    local want_lines=('"msg":"Caches synced"' '"msg":"Shipping to backend"')
    # The agent's sign of a first batch taken, in the builds that have it.
    grep -rqF 'First batch accepted' "$CLONE/pkg" "$CLONE/cmd" && want_lines+=('"msg":"First batch accepted')
    local re
    for re in "${want_lines[@]}"; do
      wait_for 240 "$LOGS/recipe-terminal2.log" "$re" "$t2" ||
        { tail_log "$LOGS/recipe-terminal2.log"; echo "terminal 2: no $re line from the agent"; return 1; }
    done
    local shown=("${want_lines[@]#\"msg\":\"}"); shown=("${shown[@]%\"}")
    echo "  terminal 2: the agent logged $(printf '"%s", ' "${shown[@]}")after $((SECONDS - s)) s"
    # The node the agent watches (the recipe's NODE_NAME), from its log.
    local node
    node=$(grep -F '"msg":"Caches synced"' "$LOGS/recipe-terminal2.log" | grep -o '"node":"[^"]*"' | head -n 1 | cut -d'"' -f4 || true)
    [[ -n "$node" ]] || { echo "terminal 2: no node named in the agent's \"Caches synced\" line"; return 1; }
    wait_for 60 "$LOGS/recipe-terminal1.log" "\"msg\":\"Applied batch\".*\"node\":\"$node\"" "$t1" ||
      { tail_log "$LOGS/recipe-terminal1.log"; echo "terminal 1: no \"Applied batch\" from $node"; return 1; }
    echo "  terminal 1: $(grep -c "\"Applied batch\".*\"node\":\"$node\"" "$LOGS/recipe-terminal1.log") batches applied from $node"
    local ready; ready=$(http_get "http://$health/readyz" | head -n 1 | tr -d '\r')
    [[ "$ready" == *" 200 "* ]] || { echo "GET http://$health/readyz: '$ready'"; return 1; }
    echo "  GET http://$health/readyz: $ready"
    # Ctrl-C in both terminals.
    stop_session "$t2" INT 30 || { tail_log "$LOGS/recipe-terminal2.log"; echo "the agent still runs 30 s after Ctrl-C"; return 1; }
    stop_session "$t1" INT 15 || { echo "the receiver still runs 15 s after Ctrl-C"; return 1; }
    echo "  Ctrl-C: both terminals ended"
    (cd "$CLONE" && timeout 120 bash -euo pipefail -c "${blocks[3]}") >"$LOGS/recipe-done.log" 2>&1 ||
      { tail_log "$LOGS/recipe-done.log"; echo "the \"when done\" block failed"; return 1; }
    local left
    for _ in $(seq 20); do left=$(leftovers "$t1" "$t2"); [[ -z "$left" ]] && break; sleep 0.5; done
    [[ -z "$left" ]] || { echo "$left"; echo "still running after Ctrl-C and make cluster-down"; return 1; }
  }
  # Not in $( ): the sessions it starts must be known to cleanup.
  if recipe_step >"$LOGS/recipe.out" 2>&1; then
    cat "$LOGS/recipe.out"; pass recipe $((SECONDS - s))
  else
    sed '$d' "$LOGS/recipe.out"; fail recipe $((SECONDS - s)) "$(tail -n 1 "$LOGS/recipe.out")"
  fi
  for sid in "${SESSIONS[@]}"; do stop_session "$sid" TERM 10 || true; done
  rig_down "$CLONE/.rig"
fi

echo
if ((${#failed[@]} > 0)); then
  echo "first-hour: FAILED: ${failed[*]} ($((SECONDS - t0)) s)"
  exit 1
fi
echo "first-hour: PASS ($((SECONDS - t0)) s)"
