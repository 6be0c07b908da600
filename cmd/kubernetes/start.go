package main

import (
	"context"
	"io"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/agent"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/kubeaccess"
	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/logging/klogroute"
)

// start builds the agent's dependencies from cfg and runs it; from here on
// every line on stderr is a JSON log line.
func start(ctx context.Context, cfg *config.Config, k kubeaccess.Access, stderr io.Writer) int {
	logger := logging.New(stderr, cfg.LogLevel)
	defer func() { _ = logger.Sync() }()
	klogroute.Route(logger, cfg.LogLevel)
	logger.Info("Starting catops-k8s", zap.String("version", version), zap.String("node", cfg.NodeName))
	logger.Info("Kubernetes access", zap.String("mode", k.Mode), zap.String("host", k.Config.Host))
	restCfg := k.Config
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
