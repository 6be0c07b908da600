// Command bench runs the benchmark harness of package bench against a
// local control plane and prints the figures of docs/benchmarks.md as
// Markdown (also written, with a JSON copy, to -out).
//
//	go run ./test/bench/cmd/bench -agent bin/catops-k8s
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/catops/cli/test/bench"
	"github.com/catops/cli/test/rig"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: "+err.Error())
		os.Exit(1)
	}
}

func run() error {
	cfg := bench.DefaultConfig()
	out := flag.String("out", ".rig/bench", "folder for report.md, figures.json and the agents' logs")
	scenarios := flag.String("scenarios", "", "comma-separated subset of: requests,bytes,detail,latency,memory,scale,reporter,many (default: all)")
	timeout := flag.Duration("timeout", 40*time.Minute, "stop the whole run after this long")
	flag.StringVar(&cfg.Agent, "agent", "bin/catops-k8s", "the catops-k8s binary to measure")
	flag.StringVar(&cfg.AgentBefore, "agent-before", "", "an earlier catops-k8s binary the detail scenario also runs (kubelet source, resource metrics only), for a before/after row")
	flag.DurationVar(&cfg.Interval, "interval", cfg.Interval, "collection interval of agents and baseline")
	flag.DurationVar(&cfg.Window, "window", cfg.Window, "length of each steady-state measurement")
	flag.IntVar(&cfg.Pods, "pods", cfg.Pods, "pods on the measured node")
	flag.IntVar(&cfg.Namespaces, "namespaces", cfg.Namespaces, "namespaces the node's pods are spread over")
	flag.IntVar(&cfg.BigPods, "big-pods", cfg.BigPods, "pods on the node for the large-node memory figure")
	flag.IntVar(&cfg.ScaleNodes, "scale-nodes", cfg.ScaleNodes, "other nodes in the cluster-scale scenario")
	flag.IntVar(&cfg.ScalePods, "scale-pods", cfg.ScalePods, "pods on those nodes")
	flag.IntVar(&cfg.Events, "events", cfg.Events, "pod events in the latency scenario")
	flag.IntVar(&cfg.ManyNodes, "many-nodes", cfg.ManyNodes, "agents (one node each) in the many-nodes scenario")
	flag.IntVar(&cfg.ManyPods, "many-pods", cfg.ManyPods, "pods per node in the many-nodes scenario")
	flag.StringVar(&cfg.Reporter, "reporter", "", "the catops-k8s-cluster binary (default: beside -agent)")
	flag.IntVar(&cfg.Deployments, "deployments", cfg.Deployments, "Deployments in the reporter scenario")
	flag.IntVar(&cfg.PendingPods, "pending-pods", cfg.PendingPods, "pods with no node in the reporter scenario")
	flag.Float64Var(&cfg.WarningRate, "warning-rate", cfg.WarningRate, "Warning events a second in the reporter scenario")
	flag.Parse()
	if *scenarios != "" {
		cfg.Scenarios = strings.Split(*scenarios, ",")
	}
	if _, err := os.Stat(cfg.Agent); err != nil {
		return fmt.Errorf("no agent binary at %s (build it with `make build-bench` or pass -agent)", cfg.Agent)
	}
	if abs, err := filepath.Abs(cfg.Agent); err == nil {
		cfg.Agent = abs
	}
	if cfg.Reporter == "" {
		cfg.Reporter = filepath.Join(filepath.Dir(cfg.Agent), "catops-k8s-cluster")
	}
	if _, err := os.Stat(cfg.Reporter); err != nil && (len(cfg.Scenarios) == 0 || slices.Contains(cfg.Scenarios, "reporter")) {
		return fmt.Errorf("no cluster reporter binary at %s (make bench-load builds it beside the agent; or pass -reporter)", cfg.Reporter)
	}
	if abs, err := filepath.Abs(cfg.Reporter); err == nil {
		cfg.Reporter = abs
	}
	if cfg.AgentBefore != "" {
		if _, err := os.Stat(cfg.AgentBefore); err != nil {
			return fmt.Errorf("no binary at -agent-before %s", cfg.AgentBefore)
		}
		if abs, err := filepath.Abs(cfg.AgentBefore); err == nil {
			cfg.AgentBefore = abs
		}
	}
	cfg.LogDir = filepath.Join(*out, "logs")
	if err := os.MkdirAll(cfg.LogDir, 0o755); err != nil {
		return err
	}
	mdFile, err := os.Create(filepath.Join(*out, "report.md"))
	if err != nil {
		return err
	}
	defer mdFile.Close()
	start := time.Now()
	cfg.Logf = func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "[%5.0fs] %s\n", time.Since(start).Seconds(), fmt.Sprintf(format, args...))
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, *timeout)
	defer cancelT()
	defer rig.StopAll()
	// client-go's own logs (e.g. reads cut short when a run ends) would
	// drown the report; the figures carry the errors that matter.
	klog.SetOutput(io.Discard)
	klog.LogToStderr(false)

	r := bench.NewReport(io.MultiWriter(os.Stdout, mdFile))
	r.Printf("## Benchmark run %s\n", start.UTC().Format(time.RFC3339))
	err = bench.New(cfg, r).Run(ctx)
	r.Printf("\nWhole run: %s.", time.Since(start).Round(time.Second))
	if jerr := r.WriteJSON(filepath.Join(*out, "figures.json")); jerr != nil && err == nil {
		err = jerr
	}
	return err
}
