// Package bench is the benchmark harness behind `make bench`: it runs the
// connector (as the real binary, one process per agent) and a polling
// baseline side by side against one real control plane on loopback
// (test/rig), and measures what docs/benchmarks.md publishes: API-server
// requests, node scoping at cluster scale, memory, CPU, bytes on the wire,
// event latency, and many agents against one API server.
//
// The baseline is not part of the product. It does, every interval, what a
// polling connector does: LIST the pods of its node by field selector
// without a resourceVersion (a quorum read from etcd), GET the PodMetrics of
// each of those pods, and LIST every node and every pod of the cluster.
package bench
