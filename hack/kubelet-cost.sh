#!/bin/bash
# Kubelet CPU per GET of /metrics/resource, /stats/summary and /metrics/cadvisor on the
# real node (make node-up first; root): N pods (default 20) with a CPU limit, 20 GETs of
# each endpoint, the kubelet's utime+stime from /proc/PID/stat before and after.
# Usage: make node-up && hack/kubelet-cost.sh && make node-down
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
N=${N:-20}
D=.rig/node
ANCHOR=$(python3 -c "import json;print(json.load(open('$D/state.json'))['anchor']['pid'])")
KPID=$(python3 -c "import json;print(json.load(open('$D/state.json'))['kubelet']['pid'])")
{
for i in $(seq 1 $N); do cat <<Y
apiVersion: v1
kind: Pod
metadata: {name: p$i, namespace: default}
spec:
  nodeName: vm
  terminationGracePeriodSeconds: 0
  containers:
  - {name: box, image: catops.local/box:1, imagePullPolicy: Never, args: [sleep], resources: {limits: {cpu: 100m, memory: 32Mi}}}
---
Y
done; } | $D/bin/kubectl apply -f - >/dev/null
for t in $(seq 1 60); do r=$($D/bin/kubectl get pods --no-headers 2>/dev/null | grep -c Running || true); [ "$r" -ge "$N" ] && break; sleep 1; done
sleep 25  # cadvisor housekeeping sees them all
PKI=$D/cp/pki
get() { nsenter -t "$ANCHOR" -n -- curl -s --cert $PKI/admin.crt --key $PKI/admin.key --cacert $PKI/ca.crt "https://10.250.0.1:10250$1"; }
ticks() { awk '{print $14+$15}' /proc/$KPID/stat; }
HZ=$(getconf CLK_TCK)
for p in /metrics/resource /stats/summary /metrics/cadvisor; do
  size=$(get $p | wc -c)
  t0=$(ticks); for i in $(seq 1 20); do get $p >/dev/null; done; t1=$(ticks)
  echo "$p: $size bytes with $N pods ($((size / N)) per pod); kubelet CPU $(( (t1 - t0) * 1000 / HZ / 20 )) ms per GET (20 GETs)"
done
