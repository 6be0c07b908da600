// Command catops is the CatOps host agent for servers without Kubernetes
// (VMs, bare metal): every interval it samples the host with the sampler
// the Kubernetes connector uses (pkg/hostsample) and ships the host stream
// (docs/protocol.md §10) through the same sender, queue, spool and TLS
// settings. It links no Kubernetes package (TestLinksNoKubernetesPackage).
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/catops/cli/pkg/backendclient"
	"github.com/catops/cli/pkg/config"
	"github.com/catops/cli/pkg/health"
	"github.com/catops/cli/pkg/hostagent"
	"github.com/catops/cli/pkg/hostsample"
	"github.com/catops/cli/pkg/logging"
	"github.com/catops/cli/pkg/sender"
	"github.com/catops/cli/pkg/spool"
	"github.com/catops/cli/pkg/telemetry"
	"github.com/catops/cli/pkg/telemetry/victoria"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

// version is set at build time: -ldflags "-X main.version=…".
var version = "dev"

const prog = "catops"

// defaultGCPercent is the agent's GOGC unless the GOGC variable sets one,
// as catops-k8s's: the heap grows by half of what is live between
// collections, 0.7 MiB less resident at a 10 s interval
// (docs/benchmarks.md, "The host agent").
const defaultGCPercent = 50

func main() {
	if _, set := os.LookupEnv("GOGC"); !set {
		debug.SetGCPercent(defaultGCPercent)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	code := run(ctx, os.Args[1:], os.Getenv, hup, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: exit code 2 for a configuration it
// cannot use (one plain line on stderr), 1 for a failure once running
// (logged as JSON), 0 after a clean shutdown, --help or --version. Each
// value on hup re-reads the auth token.
func run(ctx context.Context, args []string, getenv func(string) string, hup <-chan os.Signal, stdout, stderr io.Writer) int {
	cfg, code, done := config.Load(prog, config.RoleHost, version, args, getenv, stdout, stderr)
	if done {
		return code
	}
	hostOpts := hostsample.Options{
		HostProc: cfg.HostProc, HostSys: cfg.HostSys, HostRoot: cfg.HostRoot, HostDev: cfg.HostDev, HostEtc: cfg.HostEtc,
		IncludeInterfaces: cfg.HostIncludeInterfaces, ExcludeInterfaces: cfg.HostExcludeInterfaces,
	}
	machineID := cfg.MachineID
	if machineID == "" {
		id, err := hostsample.MachineID(hostOpts)
		if err != nil {
			return config.Fail(stderr, prog, fmt.Errorf("cannot read this host's machine ID (%w): set CATOPS_MACHINE_ID to a stable ID of 32 lowercase hex digits (systemd-machine-id-setup writes /etc/machine-id)", err))
		}
		machineID = id
	}
	hostname, err := os.Hostname()
	if err == nil && hostname == "" {
		err = errors.New("it is empty")
	}
	if err != nil {
		return config.Fail(stderr, prog, fmt.Errorf("cannot read the host name: %w", err))
	}
	tok, err := newReloadable(cfg)
	if err != nil {
		return config.Fail(stderr, prog, err)
	}
	log := logging.New(stderr, cfg.LogLevel)
	// The metrics package logs a /proc file it cannot read with the
	// standard logger: as JSON lines like the rest.
	defer zap.RedirectStdLog(log.Named("metrics"))()
	defer func() { _ = log.Sync() }()
	log.Info("Starting catops", zap.String("version", version), zap.String("host", hostname), zap.String("machineID", machineID),
		zap.String("config", cfg.ConfigFile), zap.Duration("interval", cfg.CollectionInterval))
	reload := func() { tok.reload(args, getenv, log) }
	if err := serve(ctx, cfg, hostOpts, hostname, machineID, tok.token, hup, reload, log); err != nil {
		log.Error("Cannot start", zap.Error(err))
		return 1
	}
	log.Info("Stopped")
	return 0
}

func serve(ctx context.Context, cfg *config.Config, hostOpts hostsample.Options, hostname, machineID string, tok token.Func,
	hup <-chan os.Signal, reload func(), log *zap.Logger) error {
	httpClient, err := backendclient.New(backendclient.Options{
		CAFile: cfg.BackendCAFile, CertFile: cfg.BackendCertFile, KeyFile: cfg.BackendKeyFile, Logger: log.Named("backend"),
	})
	if err != nil {
		return fmt.Errorf("backend client: %w", err)
	}
	groups := telemetry.Common
	if cfg.SpoolDir != "" {
		groups |= telemetry.Spool
	}
	reg := victoria.NewRegistry(version)
	metrics := victoria.New(reg, groups)
	sender.InitMetrics(metrics, []wire.EventType{wire.EventHost, wire.EventHostInfo, wire.EventFilesystem, wire.EventInterface})

	status := health.NewStatus(3*cfg.CollectionInterval+30*time.Second, nil)
	if cfg.HealthAddr != "" {
		stop, err := health.Serve(cfg.HealthAddr, health.Handler(status, reg.Handler()), log)
		if err != nil {
			return err
		}
		defer stop()
	}
	var sp *spool.Spool
	if cfg.SpoolDir != "" {
		if sp, err = spool.Open(cfg.SpoolDir, spool.Options{MaxBytes: cfg.SpoolMaxBytes, Logger: log.Named("spool"), Metrics: metrics}); err != nil {
			return fmt.Errorf("CATOPS_SPOOL_DIR: %w", err)
		}
		defer func() { _ = sp.Close() }() // also on the early returns; a second Close is a no-op
	}
	snd := sender.New(sender.Options{
		BackendURL:    cfg.BackendURL,
		Stream:        wire.HostStream,
		Token:         tok,
		Host:          hostname,
		MachineID:     machineID,
		AgentVersion:  version,
		Session:       newSession(),
		MaxQueueBytes: cfg.QueueMaxBytes,
		MaxBatchBytes: cfg.BatchMaxBytes,
		FlushDelay:    cfg.FlushDelay,
		Client:        httpClient,
		Logger:        log.Named("sender"),
		Metrics:       metrics,
		Answered:      status.BackendAnswered,
		Spool:         sp,
	})
	status.SetReady(true)

	senderCtx, stopSender := context.WithCancel(context.Background())
	senderDone := make(chan struct{})
	go func() { defer close(senderDone); snd.Run(senderCtx) }()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				reload()
			}
		}
	}()

	hostagent.Run(ctx, hostagent.Options{
		Sampler:          hostsample.New(hostOpts, log.Named("host")),
		Describer:        hostsample.NewDescriber(hostOpts, machineID),
		Sender:           snd,
		Interval:         cfg.CollectionInterval,
		SnapshotInterval: cfg.SnapshotInterval,
		Logger:           log,
		Metrics:          metrics,
		Status:           status,
	})

	// Shutdown: stop the retry loop, then flush with a fresh deadline.
	stopSender()
	<-senderDone
	sender.FinalFlush(snd, sp, cfg.ShutdownTimeout, cfg.SpoolDir, log)
	return nil
}

// newSession is a fresh session ID: 16 random hex digits.
func newSession() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reloadable is the auth token, swapped on SIGHUP: the configuration is
// read again (flags, environment, config file) and its token taken if it
// is valid; otherwise the token in use stays.
type reloadable struct {
	mu  sync.Mutex
	cur token.Func
}

func newReloadable(cfg *config.Config) (*reloadable, error) {
	r := &reloadable{}
	return r, r.set(cfg)
}

func (r *reloadable) set(cfg *config.Config) error {
	if cfg.AuthToken != "" {
		r.mu.Lock()
		r.cur = token.Static(cfg.AuthToken)
		r.mu.Unlock()
		return nil
	}
	// A new File reads the file now, even when its size and time did not
	// change.
	f, err := token.NewFile(cfg.AuthTokenFile)
	if err != nil {
		return fmt.Errorf("CATOPS_AUTH_TOKEN_FILE: %w", err)
	}
	r.mu.Lock()
	r.cur = f.Token
	r.mu.Unlock()
	return nil
}

func (r *reloadable) token() (string, error) {
	r.mu.Lock()
	cur := r.cur
	r.mu.Unlock()
	return cur()
}

// reload reads the configuration again for its token. The token itself is
// never logged.
func (r *reloadable) reload(args []string, getenv func(string) string, log *zap.Logger) {
	var msg strings.Builder
	cfg, _, done := config.Load(prog, config.RoleHost, version, args, getenv, io.Discard, &msg)
	if done {
		log.Warn("SIGHUP: the configuration is no longer valid; keeping the auth token in use", zap.String("error", strings.TrimSpace(msg.String())))
		return
	}
	if err := r.set(cfg); err != nil {
		log.Warn("SIGHUP: cannot read the auth token; keeping the one in use", zap.Error(err))
		return
	}
	if cfg.AuthToken != "" {
		log.Info("SIGHUP: auth token read again", zap.String("from", "a value (CATOPS_AUTH_TOKEN or --auth-token)"))
		return
	}
	if dir := getenv("CREDENTIALS_DIRECTORY"); dir != "" && filepath.Dir(cfg.AuthTokenFile) == filepath.Clean(dir) {
		log.Warn("SIGHUP: the auth token is a systemd credential, which systemd copied when the service started: restart the service (systemctl restart catops) to use a new one",
			zap.String("file", cfg.AuthTokenFile))
		return
	}
	log.Info("SIGHUP: auth token read again", zap.String("from", cfg.AuthTokenFile))
}
