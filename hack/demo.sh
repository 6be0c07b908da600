#!/usr/bin/env bash
# make demo: the connector's real job on this machine. Starts a real control
# plane on loopback (etcd, kube-apiserver, controller-manager, scheduler,
# metrics-server and kwok with simulated nodes, one of them a tainted
# control-plane node), creates a workload, then starts the dev receiver,
# whose live view takes the terminal, and one connector per node running
# with the ServiceAccount identity of deploy/catops.yaml; then changes the
# workload every 10 s. Ctrl-C stops everything it started.
#
# hack/demo.sh down (make demo-down) stops what a crashed demo left running.
# DEMO_NODES (2) sets the number of worker nodes; DEMO_RECEIVER_PORT (18000)
# and DEMO_HEALTH_PORT (18080, the first agent's; the others follow) move
# the demo's fixed ports when they are taken.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.rig/demo
PIDS=$ROOT/.rig/demo.pids
LOGS=$ROOT/.rig/demo-logs
RIG=$ROOT/bin/rig
TOKEN=demo-token
RECEIVER=127.0.0.1:${DEMO_RECEIVER_PORT:-18000}
HEALTH_PORT=${DEMO_HEALTH_PORT:-18080} # the agents' health ports: this one and the next ones
NODES=${DEMO_NODES:-2}
# What `rig up --metrics-server` runs, and kubectl for the workload.
TOOLS=(etcd kube-apiserver kube-controller-manager kube-scheduler kwok metrics-server kubectl)

say() { printf '\033[1m== %s\033[0m\n' "$*"; }
die() { printf 'demo: %s\n' "$*" >&2; exit 1; }

# ours PID: whether PID is a catops-k8s, catops or catops-receiver started by a
# demo of this checkout (a PID in a stale file may be someone else's now).
ours() { [[ "$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" == "$ROOT/bin/catops"[-\ ]* ]]; }

# stop_all stops the receiver and the connectors (by the PIDs in $PIDS) and
# the control plane (`rig down`, by the PIDs in its state file). It never
# fails and prints only what `rig down` prints.
stop_all() {
  local pid pids=() alive
  if [[ -f $PIDS ]]; then
    while read -r pid; do
      if ours "$pid"; then pids+=("$pid"); fi
    done <"$PIDS"
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  if [[ -x $RIG ]]; then
    "$RIG" down --dir "$STATE" || true
  else
    go run ./test/rig/cmd/rig down --dir "$STATE" || true
  fi
  for _ in {1..50}; do
    alive=0
    for pid in "${pids[@]}"; do
      if ours "$pid"; then alive=1; fi
    done
    [[ $alive == 0 ]] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do
    if ours "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  done
  rm -f "$PIDS"
}

if [[ ${1:-} == down ]]; then
  stop_all
  exit 0
fi

# finish stops everything, then says so. Stopping comes first and nothing in
# here may fail or die on output: after Ctrl-C in `make demo | tee log` the
# pipe to tee is gone, and a write to it would otherwise end this shell
# (SIGPIPE) before it stopped anything. A second Ctrl-C is ignored so that
# it cannot cut the cleanup short.
finish() {
  local rc=$1
  trap '' INT TERM PIPE
  trap - EXIT
  set +e
  mkdir -p "$LOGS"
  stop_all >>"$LOGS/stop.log" 2>&1
  {
    printf '\n'
    if [[ $rc == 0 ]]; then
      say "stopped everything the demo started"
    else
      say "demo FAILED (exit $rc); stopped everything it started. Logs: $LOGS/"
    fi
  } 2>/dev/null || true
  # After Ctrl-C or SIGTERM, end here: returning would resume the workload
  # loop against a control plane that is gone.
  exit "$rc"
}

port_free() { ! (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null; }

say "building the control-plane binaries the demo runs (first run: ~25 min on 2 cores; cached after)"
hack/build-tools.sh "${TOOLS[@]}"
say "building catops-k8s (and catops-k8s-cluster beside it), catops (the host agent), catops-receiver and the rig"
mkdir -p bin "$LOGS"
rm -f "$LOGS/view.txt" # the view of an older demo: the view is on the terminal now
CGO_ENABLED=0 go build -trimpath -o bin/catops-k8s ./cmd/kubernetes
# beside it, as in the image: `bin/catops-k8s cluster` execs it
CGO_ENABLED=0 go build -trimpath -o bin/catops-k8s-cluster ./cmd/kubernetes-cluster
make -s --no-print-directory build-host HOST_OUT=bin/catops
go build -o bin/catops-receiver ./cmd/catops-receiver
go build -o bin/rig ./test/rig/cmd/rig

# What an earlier demo of this checkout may have left running.
stop_all >"$LOGS/stop.log" 2>&1
for ((i = 0; i <= NODES + 2; i++)); do # the agents' (one per node, control plane included), the reporter's and the host agent's
  for addr in "$RECEIVER" "127.0.0.1:$((HEALTH_PORT + i))"; do
    port_free "$addr" || die "$addr is in use: is another demo running? (make demo-down stops this" \
      "checkout's; DEMO_RECEIVER_PORT and DEMO_HEALTH_PORT move the demo's ports)"
  done
done

trap 'finish $?' EXIT
trap 'finish 0' INT TERM
say "starting the control plane: $NODES kwok nodes + a tainted control-plane node, metrics-server"
"$RIG" up --nodes "$NODES" --control-plane-node --metrics-server --dir "$STATE" --stop-hint "make demo-down"
export KUBECONFIG=$STATE/kubeconfig
KUBECTL=$ROOT/.cache/bin/kubectl
: >"$PIDS"

say "applying deploy/catops.yaml (ServiceAccount, read-only ClusterRole, DaemonSet) as a user would"
"$KUBECTL" create namespace catops-system >/dev/null
"$KUBECTL" -n catops-system create secret generic catops --from-literal=token="$TOKEN" >/dev/null
"$KUBECTL" apply -f deploy/catops.yaml >/dev/null
# The connectors below run as local processes (kwok nodes run no
# containers), with the ServiceAccount's identity: a token from the
# TokenRequest API, not the admin certificate.
SA_TOKEN=$("$KUBECTL" -n catops-system create token catops --duration=24h)
SERVER=$("$KUBECTL" config view --raw -o jsonpath='{.clusters[0].cluster.server}')
CA=$("$KUBECTL" config view --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
AGENT_KUBECONFIG=$LOGS/agent-kubeconfig
cat >"$AGENT_KUBECONFIG" <<KC
apiVersion: v1
kind: Config
clusters: [{name: rig, cluster: {server: "$SERVER", certificate-authority-data: "$CA"}}]
users: [{name: catops, user: {token: "$SA_TOKEN"}}]
contexts: [{name: catops, context: {cluster: rig, user: catops}}]
current-context: catops
KC
chmod 600 "$AGENT_KUBECONFIG"

say "creating a workload in namespace shop"
# From here on kubectl's errors go to a log: the view owns the terminal.
k() { "$KUBECTL" "$@" >/dev/null 2>>"$LOGS/workload.log"; }
k create namespace shop
k -n shop create deployment web --image=example.invalid/web:1 --replicas=3
k -n shop create deployment api --image=example.invalid/api:1 --replicas=2
# Pinned usage figures, reported by kwok's simulated kubelets to metrics-server.
k -n shop patch deployment web --type=merge -p \
  '{"spec":{"template":{"metadata":{"annotations":{"kwok.x-k8s.io/usage-cpu":"120m","kwok.x-k8s.io/usage-memory":"96Mi"}}}}}'
# Two pods whose status the demo drives by hand: one that keeps being
# OOMKilled and restarted, one that failed.
for pod in worker-oom job-fail; do
  k -n shop apply -f - <<POD
apiVersion: v1
kind: Pod
metadata: {name: $pod, namespace: shop, annotations: {rig.catops.dev/manual-status: "true"}}
spec: {nodeName: kwok-node-1, containers: [{name: main, image: example.invalid/$pod:1}]}
POD
done
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
oom() {
  k -n shop patch pod worker-oom --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",
    \"containerStatuses\":[{\"name\":\"main\",\"image\":\"example.invalid/worker-oom:1\",\"imageID\":\"\",\"ready\":true,
    \"restartCount\":$1,\"state\":{\"running\":{\"startedAt\":\"$(now)\"}},
    \"lastState\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"startedAt\":\"$(now)\",\"finishedAt\":\"$(now)\"}}}]}}"
}
k -n shop patch pod job-fail --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Failed\",
  \"containerStatuses\":[{\"name\":\"main\",\"image\":\"example.invalid/job-fail:1\",\"imageID\":\"\",\"ready\":false,
  \"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\",\"startedAt\":\"$(now)\",\"finishedAt\":\"$(now)\"}}}]}}"
oom 1

CURL="curl -H 'Authorization: Bearer $TOKEN' http://$RECEIVER/api/state"
NOTES=(
  "Every 10 s the demo scales shop/web (5 <-> 2 replicas), relabels or deletes the shop/api pods,"
  "and OOM-kills shop/worker-oom again. All the connectors run on this machine: the HOST rows agree."
  "The cluster panel is the cluster reporter's (catops-k8s cluster): shop/big-batch fits no node."
  "The SERVER row is catops, the host agent of plain servers, run on this machine as one."
  "State as JSON:  $CURL"
  "Logs: .rig/demo-logs/    Stop: Ctrl-C (after a crash: make demo-down)"
)
say "starting the dev receiver on $RECEIVER and one catops-k8s per node (logs: $LOGS/)"
printf '%s\n' "${NOTES[@]}"
note_args=()
for n in "${NOTES[@]}"; do note_args+=(--view-note "$n"); done
# The receiver redraws its view on this terminal as batches arrive (at
# most twice a second).
"$ROOT/bin/catops-receiver" --addr "$RECEIVER" --token "$TOKEN" --view 500ms --clear "${note_args[@]}" \
  2>"$LOGS/receiver.log" &
echo $! >>"$PIDS"
receiver_pid=$!
for _ in {1..100}; do
  grep -q '"Receiving"' "$LOGS/receiver.log" && break
  kill -0 "$receiver_pid" 2>/dev/null || die "the receiver did not start: $(tail -n 1 "$LOGS/receiver.log")"
  sleep 0.1
done

port=$HEALTH_PORT
# kwok's pods run no container, so there is no cgroup to read throttling
# from: CATOPS_THROTTLING_SOURCE=none rather than a warning in each log.
for node in $("$KUBECTL" get nodes -o jsonpath='{.items[*].metadata.name}'); do
  NODE_NAME=$node NAMESPACE=catops-system CATOPS_AUTH_TOKEN=$TOKEN CATOPS_BACKEND_URL=http://$RECEIVER \
    COLLECTION_INTERVAL=10 CATOPS_HEALTH_ADDR=127.0.0.1:$port KUBECONFIG="$AGENT_KUBECONFIG" \
    CATOPS_THROTTLING_SOURCE=none \
    "$ROOT/bin/catops-k8s" >"$LOGS/agent-$node.log" 2>&1 &
  echo $! >>"$PIDS"
  port=$((port + 1))
done

# The cluster reporter: one replica here, with its own ServiceAccount's
# identity (the chart's Deployment runs two; on kwok nodes its pods run
# nothing). It sends the cluster stream: the view's cluster panel.
REPORTER_TOKEN=$("$KUBECTL" -n catops-system create token catops-cluster --duration=24h)
REPORTER_KUBECONFIG=$LOGS/reporter-kubeconfig
sed "s|token: \"$SA_TOKEN\"|token: \"$REPORTER_TOKEN\"|" "$AGENT_KUBECONFIG" >"$REPORTER_KUBECONFIG"
chmod 600 "$REPORTER_KUBECONFIG"
POD_NAME=demo-reporter NAMESPACE=catops-system CATOPS_LEASE_NAME=catops-cluster CATOPS_AUTH_TOKEN=$TOKEN \
  CATOPS_BACKEND_URL=http://$RECEIVER CATOPS_CLUSTER_NAME=demo COLLECTION_INTERVAL=10 \
  CATOPS_HEALTH_ADDR=127.0.0.1:$port KUBECONFIG="$REPORTER_KUBECONFIG" \
  "$ROOT/bin/catops-k8s" cluster >"$LOGS/reporter.log" 2>&1 &
echo $! >>"$PIDS"
port=$((port + 1))
# catops, the host agent of plain servers: this machine as a server
# without Kubernetes beside the cluster (the view's SERVER row).
CATOPS_AUTH_TOKEN=$TOKEN CATOPS_BACKEND_URL=http://$RECEIVER COLLECTION_INTERVAL=10 \
  CATOPS_HEALTH_ADDR=127.0.0.1:$port "$ROOT/bin/catops" >"$LOGS/host-agent.log" 2>&1 &
echo $! >>"$PIDS"
# A pod no node can take: the scheduler says why (the panel's pending pods)
# and reports FailedScheduling warnings (its recent warnings).
k -n shop apply -f - <<POD
apiVersion: v1
kind: Pod
metadata: {name: big-batch, namespace: shop}
spec: {containers: [{name: main, image: example.invalid/batch:1, resources: {requests: {memory: 512Gi}}}]}
POD

step=0
while true; do
  sleep 10
  step=$((step + 1))
  case $((step % 4)) in
    1) k -n shop scale deployment web --replicas=5; oom $((step / 2 + 1)) ;;
    2) k -n shop label pods -l app=api release=v$step --overwrite ;;
    3) k -n shop scale deployment web --replicas=2 ;;
    0) k -n shop delete pod -l app=api --wait=false ;;
  esac
done
