# CatOps Kubernetes connector. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

# The Go toolchain of go.mod's toolchain line (fetched from the module proxy
# once); hack/go-env.sh does the same for the scripts.
export GOTOOLCHAIN := $(shell sed -n 's/^toolchain //p' go.mod)

# git describe without the tag's "v", as a release image stamps it (0.1.0,
# 0.1.0-3-gabc1234); hack/release.sh computes a release's version the same way.
VERSION ?= $(shell v=$$(git describe --tags --always --dirty 2>/dev/null) && echo "$${v#v}" || echo dev)
# The exact flags of the image build (Dockerfile.k8s runs `make build`).
GO_LDFLAGS := -s -w -X main.version=$(VERSION)
GO_BUILD := CGO_ENABLED=0 go build -trimpath -ldflags "$(GO_LDFLAGS)"
PKGS := ./cmd/... ./pkg/... ./test/node/...

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

# `catops-k8s cluster` execs catops-k8s-cluster from the directory of the
# running catops-k8s, so the two are built, and shipped, side by side (a
# separate binary keeps client-go's clientset out of every node's agent).
.PHONY: build
build: ## build ./catops-k8s (node agent) and ./catops-k8s-cluster (cluster reporter, run by `catops-k8s cluster`), static, as in the image
	$(GO_BUILD) -o catops-k8s ./cmd/kubernetes
	$(GO_BUILD) -o catops-k8s-cluster ./cmd/kubernetes-cluster

# catops is built without net/http's bundled HTTP/2 (the nethttpomithttp2
# build tag): it sends one small batch an interval, over HTTP/1.1 as well,
# and the bundled copy cost it 0.5 MiB of resident memory
# (docs/benchmarks.md, "The host agent"). HOST_OUT: where the binary goes.
# `make build-host HOST_TAGS=` builds it with HTTP/2, to compare.
HOST_TAGS := nethttpomithttp2
HOST_OUT ?= catops
.PHONY: build-host
build-host: ## build ./catops, the host agent of servers without Kubernetes (Dockerfile runs this), static
	$(GO_BUILD) -tags '$(HOST_TAGS)' -o $(HOST_OUT) ./cmd/catops

# -race needs cgo, hence a C compiler (`go env CC`, gcc by default). Without
# one, `make test` says so in one line and runs the tests with cgo off (as
# the shipped binary is built) and without the race detector.
HAVE_CC = $(shell command -v "$$(GOTOOLCHAIN=$(GOTOOLCHAIN) go env CC)" >/dev/null 2>&1 && echo yes)
NO_CGO = $(if $(HAVE_CC),,CGO_ENABLED=0 )

.PHONY: test
test: ## unit tests with -race (without it if there is no C compiler), then a short fuzz of the usage parsers, the settings and the receiver's decoder (~45 s more)
	$(if $(HAVE_CC),,@echo "make test: no C compiler ($(shell GOTOOLCHAIN=$(GOTOOLCHAIN) go env CC)), which -race needs (cgo): running the tests with CGO_ENABLED=0, without the race detector")
	$(NO_CGO)go test $(if $(HAVE_CC),-race )-count=1 $(PKGS)
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzKubeletScrape$$' -fuzztime 8s -fuzzminimizetime 2s ./pkg/usage/kubelet/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzMetricsAPI$$' -fuzztime 8s -fuzzminimizetime 2s ./pkg/usage/metricsapi/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzKubeletSummary$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/usage/kubelet/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzKubeletCadvisor$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/usage/kubelet/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzConfig$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/config/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzParseBytes$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/config/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzHostConfigFileNeverQuotesTheToken$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/config/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzHandleBatch$$' -fuzztime 5s -fuzzminimizetime 2s ./pkg/receiver/
	$(NO_CGO)go test -run '^$$' -fuzz '^FuzzParseCPUStat$$' -fuzztime 3s -fuzzminimizetime 2s ./pkg/usage/cgroup/

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint, actionlint
	@out=$$(gofmt -l cmd pkg test hack); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKGS) ./test/...
	go vet -tags integration,e2e ./test/...
	hack/build-tools.sh golangci-lint actionlint
	.cache/bin/golangci-lint run ./cmd/... ./pkg/... ./test/...
	.cache/bin/golangci-lint run --build-tags integration,e2e ./cmd/... ./pkg/... ./test/...
	.cache/bin/actionlint

.PHONY: vuln
vuln: ## govulncheck against the pinned offline database (golang.org/x/vulndb)
	hack/vuln.sh

.PHONY: check-image
check-image: ## check Dockerfile.k8s without an engine; build linux/amd64+arm64 as it would
	hack/check-image.sh

.PHONY: bench
bench: bench-micro bench-load ## every figure of docs/benchmarks.md: micro-benchmarks, then the load harness (~15 min)

.PHONY: bench-micro
bench-micro: ## micro-benchmarks of the hot paths (transform, join, encode, compress)
	go test -run '^$$' -bench . -benchmem -count 1 ./pkg/podcache/ ./pkg/joiner/ ./pkg/sender/ ./pkg/usage/metricsapi/ ./pkg/usage/kubelet/ ./pkg/usage/cgroup/ ./test/bench/

# BENCH_ARGS are passed to the harness, e.g. BENCH_ARGS="-scenarios requests,latency -window 20s".
.PHONY: bench-load
bench-load: ## the connector vs a polling baseline on a local control plane; report in .rig/bench/
	hack/build-tools.sh etcd kube-apiserver kwok metrics-server
	$(GO_BUILD) -o bin/catops-k8s ./cmd/kubernetes
	$(GO_BUILD) -o bin/catops-k8s-cluster ./cmd/kubernetes-cluster
	go run ./test/bench/cmd/bench -agent bin/catops-k8s -out .rig/bench $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: ## the load harness at a small size (~3 min), so CI keeps it working; figures are not for the docs
	hack/build-tools.sh etcd kube-apiserver kwok metrics-server
	$(GO_BUILD) -o bin/catops-k8s ./cmd/kubernetes
	$(GO_BUILD) -o bin/catops-k8s-cluster ./cmd/kubernetes-cluster
	go run ./test/bench/cmd/bench -agent bin/catops-k8s -out .rig/bench-smoke -timeout 10m \
	  -scenarios requests,latency,reporter,many -window 10s -pods 20 -namespaces 4 -events 40 -many-nodes 5 -many-pods 10 \
	  -scale-nodes 5 -scale-pods 50 -deployments 20 -pending-pods 5

# AGENT_GO_BUILD: the agent and the cluster reporter are built as `make build` builds them.
.PHONY: node-images
node-images: ## the real node's images without Docker (agent + cluster reporter as Dockerfile.k8s packs them, pause, box) -> .cache/node/images/*.tar
	AGENT_GO_BUILD='$(GO_BUILD)' hack/node-images.sh

.PHONY: tools
tools: ## build the pinned control-plane binaries into .cache/bin (slow the first time)
	hack/build-tools.sh

# The kubelet must say the version hack/tools/kube pins (its ldflags are
# build-tools.sh's, kept by hand).
KUBE_VERSION = $(shell sed -n 's|^require k8s.io/kubernetes ||p' hack/tools/kube/go.mod)

.PHONY: node-tools
node-tools: ## the real node's binaries (not in `tools`): kubelet into .cache/bin (40-90 s after `make tools`), containerd, runc, CNI plugins (Debian packages, unpacked) into .cache/node/root; checks their versions
	hack/build-tools.sh kubelet
	hack/get-runtime.sh
	@got="$$(.cache/bin/kubelet --version)"; echo "  kubelet          $$got"; \
	  [ "$$got" = "Kubernetes $(KUBE_VERSION)" ] || { echo "node-tools: .cache/bin/kubelet says '$$got', want 'Kubernetes $(KUBE_VERSION)' (hack/tools/kube/go.mod)"; exit 1; }

.PHONY: node-up
node-up: ## (root) one real node in the background: control plane + containerd + kubelet in private mount and network namespaces; state in .rig/node, kubectl/helm wrappers in .rig/node/bin (needs node-tools, node-images, tools)
	go run ./test/node/cmd/node up

.PHONY: node-down
node-down: ## stop what node-up started (by PID), remove its cgroups and .rig/node
	go run ./test/node/cmd/node down

.PHONY: test-e2e
test-e2e: tools node-tools node-images ## (root) e2e tests on the real node: host state unchanged; the agent (a process, then helm install of the chart) vs real pod lifecycles, the node's /proc and statfs, the kubelet's /stats/summary; helm upgrade and uninstall (~3 min once the tools are built)
	go test -race -count=1 -tags e2e -timeout 20m -v -run . ./test/e2e/

.PHONY: cluster-up
cluster-up: ## start etcd + kube-apiserver (+ kwok) on loopback; kubeconfig in .rig/kubeconfig
	hack/build-tools.sh etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl
	go run ./test/rig/cmd/rig up

.PHONY: cluster-down
cluster-down: ## stop everything cluster-up started
	go run ./test/rig/cmd/rig down

.PHONY: helm-lint
helm-lint: ## lint the chart with the pinned helm
	hack/build-tools.sh helm
	.cache/bin/helm lint --strict charts/catops
	.cache/bin/helm lint --strict charts/catops --set auth.token=lint

.PHONY: test-chart
test-chart: ## render the chart with the pinned helm and check it (no cluster needed)
	hack/build-tools.sh helm
	go test -race -count=1 ./test/chart/

.PHONY: manifests
manifests: ## regenerate deploy/catops.yaml from charts/catops
	hack/build-tools.sh helm
	hack/manifests.sh > deploy/catops.yaml.tmp && mv deploy/catops.yaml.tmp deploy/catops.yaml

.PHONY: demo
demo: ## run the real job locally: control plane + kwok nodes, dev receiver, one connector per node
	hack/demo.sh

.PHONY: demo-down
demo-down: ## stop what a crashed `make demo` left running
	hack/demo.sh down

.PHONY: test-integration
test-integration: tools ## integration tests against a real control plane on loopback (builds the tools first)
	go test -race -count=1 -tags integration -timeout 30m ./test/...

# The integration tests whose outcome depends on the API server: node scoping,
# no polling (with the LISTs at start the server's WatchList answer implies),
# watch loss, least privilege, WatchList refused.
COMPAT_TESTS := ^(TestNodeScoping|TestNoPolling|TestWatchLossAfterAPIServerRestartAndCompaction|TestLeastPrivilege|TestWatchListRefusedByServer)$$

.PHONY: test-compat
test-compat: ## the API-server-dependent integration tests against the oldest supported kube-apiserver, v1.34 (its cold build: ~12 min more)
	hack/build-tools.sh etcd kube-apiserver-1.34 kwok
	RIG_KUBE_APISERVER=kube-apiserver-1.34 go test -race -count=1 -tags integration -timeout 20m -run '$(COMPAT_TESTS)' ./test/integration/

.PHONY: release-check
release-check: ## chart, deploy/, workflow, image build and README agree on the release's names and version (hack/release.sh)
	hack/build-tools.sh helm
	go test -count=1 -run '^TestRelease' ./test/chart/

# `make first-hour FIRST_HOUR_SRC=.` runs it on this working tree rather than the last commit.
.PHONY: first-hour
first-hour: tools ## a new user's first hour on a clean clone: README's commands, make demo + Ctrl-C, helm on the rig, the by-hand recipe (~3 min)
	hack/first-hour.sh

.PHONY: clean
clean: ## remove build outputs (keeps .cache/bin and Go's caches)
	rm -f catops-k8s catops-k8s-cluster catops-receiver
