# CatOps Kubernetes connector. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
# The exact flags of the image build (Dockerfile.k8s runs `make build`).
GO_LDFLAGS := -s -w -X main.version=$(VERSION)
GO_BUILD := CGO_ENABLED=0 go build -trimpath -ldflags "$(GO_LDFLAGS)"
PKGS := ./cmd/... ./pkg/...

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

.PHONY: build
build: ## build ./catops-k8s (static, as in the image)
	$(GO_BUILD) -o catops-k8s ./cmd/kubernetes

.PHONY: test
test: ## unit tests with the race detector
	go test -race -count=1 $(PKGS)

.PHONY: lint
lint: ## gofmt, go vet, golangci-lint, actionlint
	@out=$$(gofmt -l cmd pkg test hack); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet $(PKGS) ./test/...
	go vet -tags integration ./test/...
	hack/build-tools.sh golangci-lint actionlint
	.cache/bin/golangci-lint run ./cmd/... ./pkg/... ./test/...
	.cache/bin/golangci-lint run --build-tags integration ./cmd/... ./pkg/... ./test/...
	.cache/bin/actionlint

.PHONY: vuln
vuln: ## govulncheck against the pinned offline database (golang.org/x/vulndb)
	hack/vuln.sh

.PHONY: check-image
check-image: ## check Dockerfile.k8s without an engine; build linux/amd64+arm64 as it would
	hack/check-image.sh

.PHONY: bench
bench: ## micro-benchmarks of the hot paths (join, encode, compress)
	go test -run '^$$' -bench . -benchmem -count 1 ./pkg/joiner/ ./pkg/sender/

.PHONY: tools
tools: ## build the pinned control-plane binaries into .cache/bin (slow the first time)
	hack/build-tools.sh

.PHONY: cluster-up
cluster-up: tools ## start etcd + kube-apiserver (+ kwok) on loopback; kubeconfig in .rig/kubeconfig
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
	-@[ -f .rig/demo.pids ] && xargs -r kill -TERM < .rig/demo.pids 2>/dev/null; true
	go run ./test/rig/cmd/rig down --dir .rig/demo

.PHONY: test-integration
test-integration: tools ## integration tests against a real control plane on loopback (builds the tools first)
	go test -race -count=1 -tags integration -timeout 30m ./test/...

.PHONY: clean
clean: ## remove build outputs (keeps .cache/bin and Go's caches)
	rm -f catops-k8s catops-receiver
