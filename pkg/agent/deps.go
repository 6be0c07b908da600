package agent

import (
	"fmt"
	"path/filepath"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.uber.org/zap"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/backendclient"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/hostsample"
	"github.com/catops/cli/pkg/hostsample/kubeletsample"
	"github.com/catops/cli/pkg/podcache"
	"github.com/catops/cli/pkg/usage"
	"github.com/catops/cli/pkg/usage/cgroup"
	"github.com/catops/cli/pkg/usage/kubelet"
	"github.com/catops/cli/pkg/usage/metricsapi"
)

// NewDeps builds the real dependencies from cfg: the Kubernetes client and
// the usage source's (Metrics API or kubelet) on restCfg, the host sampler
// on the host paths (or, with the kubelet host source, the kubelet host
// sampler, and the kubelet source keeping the node's figures of its summary
// read), a registry with Go and process metrics.
func NewDeps(cfg *config.Config, restCfg *rest.Config, logger *zap.Logger, version string) (Deps, error) {
	restCfg = rest.CopyConfig(restCfg)
	restCfg.UserAgent = "catops-k8s/" + version
	kube, err := podcache.NewClient(restCfg)
	if err != nil {
		return Deps{}, fmt.Errorf("build the Kubernetes client: %w", err)
	}

	fromKubelet := cfg.HostSource == config.HostSourceKubelet
	host := hostsample.NewOptions()
	host.HostProc = orDefault(cfg.HostProc, host.HostProc)
	host.HostSys = orDefault(cfg.HostSys, host.HostSys)
	host.HostRoot = orDefault(cfg.HostRoot, host.HostRoot)
	host.HostDev = orDefault(cfg.HostDev, host.HostDev)
	host.IncludeInterfaces = cfg.HostIncludeInterfaces
	host.ExcludeInterfaces = cfg.HostExcludeInterfaces
	if err := host.Validate(); err != nil {
		return Deps{}, fmt.Errorf("host sampler: %w", err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	client, err := backendclient.New(backendclient.Options{
		CAFile: cfg.BackendCAFile, CertFile: cfg.BackendCertFile, KeyFile: cfg.BackendKeyFile, Logger: logger.Named("backend"),
	})
	if err != nil {
		return Deps{}, fmt.Errorf("backend client: %w", err)
	}
	d := Deps{
		Kube:     kube,
		Logger:   logger,
		Registry: reg,
		Client:   client,
		Version:  version,
	}
	if fromKubelet {
		// Not the gopsutil sampler: it would warn that HOST_PROC is not
		// the node's, and nothing reads it.
		d.KubeletHost = kubeletsample.New(kubeletsample.Options{
			IncludeInterfaces: cfg.HostIncludeInterfaces, ExcludeInterfaces: cfg.HostExcludeInterfaces,
		}, logger.Named("host"))
	} else {
		d.Host = hostsample.New(host, logger.Named("host"))
	}
	var src usage.Source // none for config.SourceNone
	switch cfg.PodMetricsSource {
	case config.SourceMetricsAPI:
		mc, err := metricsapi.NewClient(restCfg)
		if err != nil {
			return Deps{}, fmt.Errorf("build the Metrics API client: %w", err)
		}
		src = metricsapi.New(mc, cfg.NodeName, metricsapi.WithConcurrency(cfg.MetricsConcurrency), metricsapi.WithLogger(logger.Named("usage")))
	case config.SourceKubelet:
		// The API server's credentials and (unless told otherwise) its CA;
		// the URL comes from the cached Node unless it is set.
		k, err := kubelet.New(restCfg, kubelet.Options{
			URL:                cfg.KubeletURL,
			HostIP:             cfg.HostIP,
			CAFile:             cfg.KubeletCAFile,
			InsecureSkipVerify: cfg.KubeletInsecureSkipVerify,
			Summary:            cfg.KubeletSummary,
			NodeStats:          fromKubelet,
			Throttling:         cfg.ThrottlingSource == config.ThrottlingCadvisor,
			Logger:             logger.Named("usage"),
		})
		if err != nil {
			return Deps{}, err
		}
		src = k
	}
	if src != nil {
		d.Usage = usage.NewCollector(src, logger.Named("usage"), usage.CollectorOptions{Interval: cfg.CollectionInterval})
		if cfg.ThrottlingSource == config.ThrottlingCgroup {
			d.Throttling = cgroup.New(filepath.Join(host.HostSys, "fs", "cgroup"), logger.Named("throttling"))
		}
	}
	return d, nil
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
