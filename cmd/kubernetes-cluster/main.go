// Command catops-k8s-cluster is the CatOps cluster reporter, run as
// "catops-k8s cluster" (a Deployment of the chart): its replicas elect a
// leader on a coordination.k8s.io Lease, and the leader watches the
// cluster's workloads, pods without a node, namespaces, nodes and Warning
// events and ships them as the cluster stream (docs/protocol.md §9).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	clientfeatures "k8s.io/client-go/features"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/backendclient"
	"github.com/catops/cli/pkg/cluster"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/health"
	"github.com/catops/cli/pkg/kubeaccess"
	"github.com/catops/cli/pkg/leader"
	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/logging/klogroute"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/clientgo"
	"github.com/catops/cli/pkg/telemetry/prom"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const prog = "catops-k8s cluster"

// listThenWatch turns client-go's WatchListClient feature off in this
// process: the reporter's informers LIST, then WATCH. With it on (client-go's
// default), an API server or proxy that ignores sendInitialEvents would
// leave a term's caches unsynced; the node agent falls back by itself
// (CATOPS_WATCH_LIST), the reporter lists once per term.
type listThenWatch struct{ clientfeatures.Gates }

func (g listThenWatch) Enabled(f clientfeatures.Feature) bool {
	return f != clientfeatures.WatchListClient && g.Gates.Enabled(f)
}

func main() {
	clientfeatures.ReplaceFeatureGates(listThenWatch{clientfeatures.FeatureGates()})
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process. Exit codes as catops-k8s's: 2 for a
// configuration it cannot use, printed as one plain line; 1 for a failure
// once running, logged as JSON; 0 after a clean shutdown, --help or
// --version.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cfg, code, done := config.Load(prog, config.RoleCluster, version, args, getenv, stdout, stderr)
	if done {
		return code
	}
	access, err := kubeaccess.Find(cfg.Kubeconfig, getenv)
	if err != nil {
		return config.Fail(stderr, prog, err)
	}
	return start(ctx, cfg, access, stderr)
}

// start builds the reporter from cfg and campaigns until ctx ends; from
// here on every line on stderr is a JSON log line.
func start(ctx context.Context, cfg *config.Config, access kubeaccess.Access, stderr io.Writer) int {
	log := logging.New(stderr, cfg.LogLevel)
	defer func() { _ = log.Sync() }()
	klogroute.Route(log, cfg.LogLevel)
	log = log.With(zap.String("identity", cfg.PodName))
	log.Info("Starting the cluster reporter", zap.String("version", version), zap.String("lease", cfg.Namespace+"/"+cfg.LeaseName))
	log.Info("Kubernetes access", zap.String("mode", access.Mode), zap.String("host", access.Config.Host))
	if err := serve(ctx, cfg, access.Config, log); err != nil {
		log.Error("Cannot start", zap.Error(err))
		return 1
	}
	log.Info("Stopped")
	return 0
}

func serve(ctx context.Context, cfg *config.Config, restCfg *rest.Config, log *zap.Logger) error {
	restCfg = rest.CopyConfig(restCfg)
	restCfg.UserAgent = "catops-k8s-cluster/" + version
	// Protobuf: every kind the reporter reads is built in, and protobuf
	// decodes in a fraction of JSON's CPU.
	restCfg.ContentType = "application/vnd.kubernetes.protobuf"
	restCfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	client, err := kubernetes.NewForConfig(restCfg)
	if err != nil {
		return fmt.Errorf("build the Kubernetes client: %w", err)
	}
	tok, err := token.Source(cfg.AuthToken, cfg.AuthTokenFile)
	if err != nil {
		return err
	}
	httpClient, err := backendclient.New(backendclient.Options{
		CAFile: cfg.BackendCAFile, CertFile: cfg.BackendCertFile, KeyFile: cfg.BackendKeyFile, Logger: log.Named("backend"),
	})
	if err != nil {
		return fmt.Errorf("backend client: %w", err)
	}
	reg := prom.NewRegistry(version)
	metrics := prom.New(reg, telemetry.Common|telemetry.Kubernetes)
	clientgo.Register(reg)
	leading := prometheus.NewGauge(prometheus.GaugeOpts{Name: "catops_cluster_leader",
		Help: "1 while this replica holds the cluster reporter's lease (and sends), 0 otherwise."})
	reg.MustRegister(leading)
	sender.InitMetrics(metrics, cluster.EventTypes)

	status := health.NewStatus(3*cfg.CollectionInterval+30*time.Second, nil)
	if cfg.HealthAddr != "" {
		stop, err := health.Serve(cfg.HealthAddr, health.Handler(status, prom.Handler(reg)), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	r := cluster.New(cluster.Options{
		Client: client,
		Sender: sender.Options{
			BackendURL:    cfg.BackendURL,
			Token:         tok,
			Namespace:     cfg.Namespace,
			AgentVersion:  version,
			Cluster:       cfg.ClusterName,
			MaxQueueBytes: cfg.QueueMaxBytes,
			MaxBatchBytes: cfg.BatchMaxBytes,
			FlushDelay:    cfg.FlushDelay,
			Client:        httpClient,
			Logger:        log.Named("sender"),
			Metrics:       metrics,
			Answered:      status.BackendAnswered,
		},
		Interval:         cfg.CollectionInterval,
		SnapshotInterval: cfg.SnapshotInterval,
		ShutdownTimeout:  cfg.ShutdownTimeout,
		Logger:           log,
		Tick:             status.Tick,
	})
	status.SetReady(true)
	log.Info("Campaigning for the lease", zap.String("url", cfg.BackendURL+wire.ClusterPath))
	return leader.Run(ctx, leader.Config{
		Leases:        client.CoordinationV1(),
		Namespace:     cfg.Namespace,
		Name:          cfg.LeaseName,
		Identity:      cfg.PodName,
		LeaseDuration: cfg.LeaseDuration,
		RenewDeadline: cfg.RenewDeadline,
		RetryPeriod:   cfg.RetryPeriod,
		Logger:        log,
		Leading: func(on bool) {
			if on {
				leading.Set(1)
			} else {
				leading.Set(0)
			}
		},
		Following: status.Tick,
	}, r.Lead)
}
