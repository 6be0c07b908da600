package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	metricsclientset "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/catops/cli/pkg/agent"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/hostsample"
	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/usage"
)

// start builds the agent's dependencies from cfg and runs it; from here on
// every line on stderr is a JSON log line.
func start(ctx context.Context, cfg *config.Config, stderr io.Writer) int {
	logger := logging.New(stderr, cfg.LogLevel)
	defer func() { _ = logger.Sync() }()
	logging.RouteKlog(logger, cfg.LogLevel)
	logger.Info("Starting catops-k8s", zap.String("version", version), zap.String("node", cfg.NodeName))

	restCfg, mode, err := kubeConfig(cfg.Kubeconfig)
	if err != nil {
		logger.Error("Cannot reach Kubernetes", zap.Error(err))
		return 1
	}
	restCfg.UserAgent = "catops-k8s/" + version
	logger.Info("Kubernetes access", zap.String("mode", mode), zap.String("host", restCfg.Host))
	kube, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		logger.Error("Cannot build the Kubernetes client", zap.Error(err))
		return 1
	}

	host := hostsample.NewOptions()
	host.HostProc = orDefault(cfg.HostProc, host.HostProc)
	host.HostSys = orDefault(cfg.HostSys, host.HostSys)
	host.HostRoot = orDefault(cfg.HostRoot, host.HostRoot)
	host.HostDev = orDefault(cfg.HostDev, host.HostDev)
	if err := host.Validate(); err != nil {
		logger.Error("Bad host sampler settings", zap.Error(err))
		return 2
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	deps := agent.Deps{
		Kube:     kube,
		Host:     hostsample.New(host, logger.Named("host")),
		Logger:   logger,
		Registry: reg,
		Client:   &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Version:  version,
	}
	if cfg.PodMetricsSource == config.SourceMetricsAPI {
		mc, err := metricsclientset.NewForConfig(restCfg)
		if err != nil {
			logger.Error("Cannot build the Metrics API client", zap.Error(err))
			return 1
		}
		src := usage.NewMetricsAPI(mc, cfg.NodeName, usage.WithConcurrency(cfg.MetricsConcurrency), usage.WithLogger(logger.Named("usage")))
		deps.Usage = usage.NewCollector(src, logger.Named("usage"), usage.CollectorOptions{Interval: cfg.CollectionInterval})
	}
	if err := agent.Run(ctx, cfg, deps); err != nil {
		logger.Error("Agent stopped", zap.Error(err))
		return 1
	}
	logger.Info("Stopped")
	return 0
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// kubeConfig picks the Kubernetes access: an explicit kubeconfig, else the
// in-cluster config inside a pod, else ~/.kube/config.
func kubeConfig(path string) (*rest.Config, string, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, "", fmt.Errorf("load kubeconfig %q (KUBECONFIG / --kubeconfig): %w", path, err)
		}
		return c, "kubeconfig", nil
	}
	if os.Getenv("KUBERNETES_SERVICE_HOST") != "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster config: %w", err)
		}
		return c, "in-cluster", nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	c, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("not in a pod and no usable kubeconfig (set KUBECONFIG or --kubeconfig): %w", err)
	}
	return c, "kubeconfig", nil
}
