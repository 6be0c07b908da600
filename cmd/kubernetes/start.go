package main

import (
	"context"
	"fmt"
	"io"

	"go.uber.org/zap"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/catops/cli/pkg/agent"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/logging"
)

// kube is the Kubernetes access the agent uses and how it was found.
type kube struct {
	cfg  *rest.Config
	mode string // "kubeconfig" or "in-cluster"
}

// start builds the agent's dependencies from cfg and runs it; from here on
// every line on stderr is a JSON log line.
func start(ctx context.Context, cfg *config.Config, k kube, stderr io.Writer) int {
	logger := logging.New(stderr, cfg.LogLevel)
	defer func() { _ = logger.Sync() }()
	logging.RouteKlog(logger, cfg.LogLevel)
	logger.Info("Starting catops-k8s", zap.String("version", version), zap.String("node", cfg.NodeName))
	logger.Info("Kubernetes access", zap.String("mode", k.mode), zap.String("host", k.cfg.Host))
	restCfg := k.cfg
	deps, err := agent.NewDeps(cfg, restCfg, logger, version)
	if err != nil {
		logger.Error("Cannot start", zap.Error(err))
		return 1
	}
	a, err := agent.New(cfg, deps)
	if err != nil {
		logger.Error("Cannot start", zap.Error(err))
		return 1
	}
	if err := a.Run(ctx); err != nil {
		logger.Error("Agent stopped", zap.Error(err))
		return 1
	}
	logger.Info("Stopped")
	return 0
}

// kubeConfig picks the Kubernetes access: an explicit kubeconfig, else the
// in-cluster config inside a pod, else ~/.kube/config. It reads files only:
// whether the API server answers is found out later.
func kubeConfig(path string, getenv func(string) string) (*rest.Config, string, error) {
	if path != "" {
		c, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, "", fmt.Errorf("load kubeconfig %q (KUBECONFIG / --kubeconfig): %w", path, err)
		}
		return c, "kubeconfig", nil
	}
	if getenv("KUBERNETES_SERVICE_HOST") != "" {
		c, err := rest.InClusterConfig()
		if err != nil {
			return nil, "", fmt.Errorf("in-cluster config (the pod's ServiceAccount token; is automountServiceAccountToken off?): %w", err)
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
