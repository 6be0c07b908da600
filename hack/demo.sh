#!/usr/bin/env bash
# make demo: the connector's real job on this machine. Starts a real control
# plane on loopback (etcd, kube-apiserver, controller-manager, scheduler,
# metrics-server and kwok with simulated nodes, one of them a tainted
# control-plane node), the dev receiver, and one connector per node running
# with the ServiceAccount identity of deploy/catops.yaml; then changes the
# workload now and then. Ctrl-C stops everything it started.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE=$ROOT/.rig/demo
PIDS=$ROOT/.rig/demo.pids
LOGS=$ROOT/.rig/demo-logs
TOKEN=demo-token
RECEIVER=127.0.0.1:18000
NODES=${DEMO_NODES:-2}

say() { printf '\033[1m== %s\033[0m\n' "$*"; }

cleanup() {
  trap - EXIT INT TERM
  say "stopping"
  [ -f "$PIDS" ] && while read -r pid; do kill -TERM "$pid" 2>/dev/null || true; done <"$PIDS"
  sleep 1
  go run ./test/rig/cmd/rig down --dir "$STATE" >/dev/null 2>&1 || true
  say "stopped; nothing left running"
  # After Ctrl-C or SIGTERM, end here: returning would resume the workload
  # loop against a control plane that is gone.
  exit 0
}

say "building the control-plane binaries (first run: ~30 min on 2 cores; cached after)"
hack/build-tools.sh
say "building catops-k8s and catops-receiver"
mkdir -p bin
CGO_ENABLED=0 go build -trimpath -o bin/catops-k8s ./cmd/kubernetes
go build -o bin/catops-receiver ./cmd/catops-receiver

go run ./test/rig/cmd/rig down --dir "$STATE" >/dev/null 2>&1 || true
trap cleanup EXIT INT TERM
say "starting the control plane: $NODES kwok nodes + a tainted control-plane node, metrics-server"
go run ./test/rig/cmd/rig up --nodes "$NODES" --control-plane-node --metrics-server --dir "$STATE"
export KUBECONFIG=$STATE/kubeconfig
KUBECTL=$ROOT/.cache/bin/kubectl
: >"$PIDS"
mkdir -p "$LOGS"

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

say "starting the dev receiver on $RECEIVER (logs: $LOGS/receiver.log)"
bin/catops-receiver --addr "$RECEIVER" --token "$TOKEN" --view 2s >"$LOGS/view.txt" 2>"$LOGS/receiver.log" &
echo $! >>"$PIDS"

port=18080
for node in $("$KUBECTL" get nodes -o jsonpath='{.items[*].metadata.name}'); do
  say "starting catops-k8s for $node (logs: $LOGS/agent-$node.log, health :$port)"
  NODE_NAME=$node NAMESPACE=catops-system CATOPS_AUTH_TOKEN=$TOKEN CATOPS_BACKEND_URL=http://$RECEIVER \
    COLLECTION_INTERVAL=10 CATOPS_HEALTH_ADDR=127.0.0.1:$port KUBECONFIG="$AGENT_KUBECONFIG" \
    bin/catops-k8s >"$LOGS/agent-$node.log" 2>&1 &
  echo $! >>"$PIDS"
  port=$((port + 1))
done

say "creating a workload"
"$KUBECTL" create namespace shop >/dev/null
"$KUBECTL" -n shop create deployment web --image=example.invalid/web:1 --replicas=3 >/dev/null
"$KUBECTL" -n shop create deployment api --image=example.invalid/api:1 --replicas=2 >/dev/null
# Pinned usage figures, reported by kwok's simulated kubelets to metrics-server.
"$KUBECTL" -n shop patch deployment web --type=merge -p \
  '{"spec":{"template":{"metadata":{"annotations":{"kwok.x-k8s.io/usage-cpu":"120m","kwok.x-k8s.io/usage-memory":"96Mi"}}}}}' >/dev/null
# Two pods whose status the demo drives by hand: one that keeps being
# OOMKilled and restarted, one that failed.
for pod in worker-oom job-fail; do
  "$KUBECTL" -n shop apply -f - >/dev/null <<POD
apiVersion: v1
kind: Pod
metadata: {name: $pod, namespace: shop, annotations: {rig.catops.dev/manual-status: "true"}}
spec: {nodeName: kwok-node-1, containers: [{name: main, image: example.invalid/$pod:1}]}
POD
done
now() { date -u +%Y-%m-%dT%H:%M:%SZ; }
oom() {
  "$KUBECTL" -n shop patch pod worker-oom --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Running\",
    \"containerStatuses\":[{\"name\":\"main\",\"image\":\"example.invalid/worker-oom:1\",\"imageID\":\"\",\"ready\":true,
    \"restartCount\":$1,\"state\":{\"running\":{\"startedAt\":\"$(now)\"}},
    \"lastState\":{\"terminated\":{\"exitCode\":137,\"reason\":\"OOMKilled\",\"startedAt\":\"$(now)\",\"finishedAt\":\"$(now)\"}}}]}}" >/dev/null
}
"$KUBECTL" -n shop patch pod job-fail --subresource=status --type=merge -p "{\"status\":{\"phase\":\"Failed\",
  \"containerStatuses\":[{\"name\":\"main\",\"image\":\"example.invalid/job-fail:1\",\"imageID\":\"\",\"ready\":false,
  \"restartCount\":0,\"state\":{\"terminated\":{\"exitCode\":1,\"reason\":\"Error\",\"startedAt\":\"$(now)\",\"finishedAt\":\"$(now)\"}}}]}}" >/dev/null
oom 1

say "live view (refreshed as batches arrive; Ctrl-C to stop)"
step=0
while true; do
  sleep 10
  step=$((step + 1))
  case $((step % 4)) in
    1) "$KUBECTL" -n shop scale deployment web --replicas=5 >/dev/null; oom $((step / 2 + 1)) ;;
    2) "$KUBECTL" -n shop label pods -l app=api release=v$step --overwrite >/dev/null ;;
    3) "$KUBECTL" -n shop scale deployment web --replicas=2 >/dev/null ;;
    0) "$KUBECTL" -n shop delete pod -l app=api --wait=false >/dev/null ;;
  esac
  clear 2>/dev/null || true
  tail -n 40 "$LOGS/view.txt" | awk '/^catops-receiver/{buf=""} {buf=buf $0 "\n"} END{printf "%s", buf}'
done
