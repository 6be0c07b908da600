// Package rig runs a real Kubernetes control plane on loopback for
// integration tests and local demos: etcd and kube-apiserver, optionally
// kube-controller-manager, kube-scheduler and kwok (simulated nodes whose
// pods go Running without containers).
//
// The binaries are built from the Go module proxy by hack/build-tools.sh
// into .cache/bin at the repository root (pins in hack/tools/*/go.mod).
//
// Every process is started in its own process group and stopped by its PID
// (SIGTERM, then SIGKILL). In tests, use StartT (stops on t.Cleanup) and
// Main in TestMain (stops everything on interrupt); processes started by a
// test binary also get SIGKILL from the kernel if the test binary dies.
//
// Everything listens on 127.0.0.1 with free ports, and every run gets a fresh
// data folder with its own certificates, written by this package in Go.
package rig
