#!/usr/bin/env bash
# Measures one catops-k8s process against the local control plane: resident
# memory, Go heap and CPU time in steady state with PODS pods on its node
# (spread over 10 namespaces), COLLECTION_INTERVAL=10, no Metrics API.
#   PODS=110 SECS=120 hack/footprint.sh
# AGENT=path/to/catops-k8s measures that binary instead of building this
# tree's (to compare builds in one sitting); the agent inherits the
# environment, so CATOPS_* variables set by the caller apply
# (e.g. CATOPS_SPOOL_DIR=$(mktemp -d)).
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"
cd "$(dirname "$0")/.."
PODS=${PODS:-110}
SECS=${SECS:-120}
STATE=$PWD/.rig/footprint
KUBECTL=$PWD/.cache/bin/kubectl

hack/build-tools.sh etcd kube-apiserver kubectl >/dev/null
mkdir -p bin
AGENT=${AGENT:-bin/catops-k8s}
if [ "$AGENT" = bin/catops-k8s ]; then CGO_ENABLED=0 go build -trimpath -o bin/catops-k8s ./cmd/kubernetes; fi
go build -o bin/catops-receiver ./cmd/catops-receiver

go run ./test/rig/cmd/rig down --dir "$STATE" >/dev/null 2>&1 || true
go run ./test/rig/cmd/rig up --no-controllers --no-kwok --dir "$STATE" >/dev/null
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  go run ./test/rig/cmd/rig down --dir "$STATE" >/dev/null 2>&1 || true
}
trap cleanup EXIT INT TERM
export KUBECONFIG=$STATE/kubeconfig

{
  echo "apiVersion: v1"; echo "kind: Node"; echo "metadata: {name: bench-node}"
  for n in $(seq 0 9); do echo "---"; echo "apiVersion: v1"; echo "kind: Namespace"; echo "metadata: {name: ns-$n}"; done
  for i in $(seq 1 "$PODS"); do
    n=$((i % 10))
    cat <<POD
---
apiVersion: v1
kind: Pod
metadata: {name: web-$i, namespace: ns-$n, labels: {app: web, tier: frontend, pod-template-hash: 5d8f7c9b4}}
spec:
  nodeName: bench-node
  containers:
    - {name: web, image: "nginx:1.27", resources: {requests: {cpu: 100m, memory: 64Mi}, limits: {memory: 128Mi}},
       env: [{name: MODE, value: production}], ports: [{containerPort: 8080}]}
    - {name: sidecar, image: "envoy:1.31", resources: {requests: {cpu: 50m, memory: 32Mi}}}
POD
  done
} | "$KUBECTL" apply -f - >/dev/null

bin/catops-receiver --addr 127.0.0.1:18100 --token bench >/dev/null 2>&1 &
pids+=($!)
NODE_NAME=bench-node CATOPS_AUTH_TOKEN=bench CATOPS_BACKEND_URL=http://127.0.0.1:18100 \
  COLLECTION_INTERVAL=10 CATOPS_POD_METRICS_SOURCE=none CATOPS_HEALTH_ADDR=127.0.0.1:18180 \
  "$AGENT" 2>/dev/null &
agent=$!
pids+=("$agent")

# CPU time of every thread, in nanoseconds (schedstat: the scheduler's own
# count; /proc/<pid>/stat's clock ticks are 10 ms, too coarse for an agent
# that uses well under a millicore).
cpu() { cat /proc/"$agent"/task/*/schedstat | awk '{ns += $1} END {printf "%.0f", ns}'; }
sleep 20 # start-up and the first snapshot are not steady state
c0=$(cpu)
sleep "$SECS"
c1=$(cpu)
tck=1000000000
rss=$(awk '/^VmRSS/{print $2}' "/proc/$agent/status")
hwm=$(awk '/^VmHWM/{print $2}' "/proc/$agent/status")
anon=$(awk '/^RssAnon/{print $2}' "/proc/$agent/status")  # heap, stacks, runtime
file=$(awk '/^RssFile/{print $2}' "/proc/$agent/status")  # the binary's mapped pages
heap=$(curl -s 127.0.0.1:18180/metrics 2>/dev/null | awk '/^go_memstats_heap_inuse_bytes /{print $2}' || true)
cached=$(curl -s 127.0.0.1:18180/metrics 2>/dev/null | awk '/^catops_cached_pods /{print $2}' || true)
awk -v p="$PODS" -v cached="$cached" -v s="$SECS" -v c0="$c0" -v c1="$c1" -v t="$tck" -v rss="$rss" -v hwm="$hwm" -v anon="$anon" -v file="$file" -v heap="$heap" 'BEGIN {
  cpus = (c1 - c0) / t
  printf "pods on the node: %d (cached %s)\n", p, cached
  printf "RSS: %.1f MiB (peak %.1f MiB): anonymous %.1f MiB, file-backed %.1f MiB\n", rss / 1024, hwm / 1024, anon / 1024, file / 1024
  if (heap != "") printf "Go heap in use: %.1f MiB\n", heap / 1048576
  printf "CPU: %.2f s over %d s = %.2f millicores = %.1f CPU-s/hour\n", cpus, s, cpus / s * 1000, cpus / s * 3600
}'
