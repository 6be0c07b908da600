#!/usr/bin/env bash
# Renders charts/catops into the plain manifests of deploy/catops.yaml, on
# stdout: release "catops" in namespace "catops-system", the token taken
# from an existing Secret "catops" (so no token is ever written to the file),
# Helm-only labels (helm.sh/chart, app.kubernetes.io/managed-by) and
# "# Source:" lines dropped.
#
#   hack/manifests.sh > deploy/catops.yaml
#
# Uses the pinned helm in .cache/bin (build it alone with
# `hack/build-tools.sh helm`), or $HELM.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/go-env.sh"

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
helm=${HELM:-$root/.cache/bin/helm}
if [[ ! -x $helm ]]; then
	echo "manifests.sh: no helm at $helm: build it with 'hack/build-tools.sh helm' (or set HELM)" >&2
	exit 1
fi

rendered=$("$helm" template catops "$root/charts/catops" \
	--namespace catops-system \
	--set auth.existingSecret=catops)

cat <<'EOF'
# CatOps Kubernetes connector: plain manifests for clusters without Helm.
# Generated from charts/catops by hack/manifests.sh; do not edit by hand.
#
# The token lives in a Secret you create first (it is not in this file):
#   kubectl create namespace catops-system
#   kubectl -n catops-system create secret generic catops --from-literal=token=YOUR_TOKEN
#   kubectl apply -f deploy/catops.yaml
# Rotate the token by updating that Secret: the agent re-reads the mounted
# file, no restart needed.
#
# These are the objects `helm install catops charts/catops -n catops-system
# --set auth.existingSecret=catops` creates, with the same names.
# The pods mount the node's /proc, /sys, / and /dev read-only (hostPath): a
# namespace that enforces the "baseline" or "restricted" Pod Security
# Standard rejects them; use the chart with hostMetrics.enabled=false there.
# On a node whose / is not a shared or slave mount, use the chart with
# hostMetrics.root.mountPropagation=None (or hostMetrics.root.enabled=false).
EOF
# Drop the "# Source:" lines, the Helm-only labels and the first document
# separator (the header above starts the first document).
grep -v -e '^# Source: ' -e '^ *helm\.sh/chart: ' -e '^ *app\.kubernetes\.io/managed-by: ' <<<"$rendered" |
	awk 'NR == 1 && $0 == "---" { next } { print }'
