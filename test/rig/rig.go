package rig

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Addresses the rig gives the cluster. Nothing is routed: these only appear
// in Service and Pod objects.
const (
	serviceClusterIPRange = "10.96.0.0/16"
	serviceClusterFirstIP = "10.96.0.1"
	podCIDR               = "10.244.0.0/16"
)

// Options chooses what Start runs. The zero value runs etcd and
// kube-apiserver only.
type Options struct {
	// ControllerManager runs kube-controller-manager (Deployments,
	// ReplicaSets, DaemonSets, namespace deletion, garbage collection,
	// default ServiceAccounts and their tokens).
	ControllerManager bool
	// Scheduler runs kube-scheduler, so pods without spec.nodeName get bound.
	Scheduler bool
	// Kwok runs kwok, which manages the nodes carrying the annotation
	// kwok.x-k8s.io/node=fake (see CreateNode) and their pods: nodes become
	// Ready, pods bound to them go Running, deleted pods go away.
	Kwok bool
	// MetricsServer runs metrics-server scraping kwok's simulated kubelets
	// and registers it as the metrics.k8s.io APIService (see
	// RegisterMetricsAPI), so `kubectl top` and the Metrics API work. Needs
	// Kwok. Pods appear in the Metrics API ~2 scrapes (~20 s) after start.
	MetricsServer bool
	// Nodes is how many kwok nodes Start creates, named kwok-node-1..N, and
	// waits Ready for. Needs Kwok.
	Nodes int

	// Dir is the data folder (etcd data, certificates, kubeconfig, logs).
	// Empty: a fresh temporary folder, removed by Stop.
	Dir string
	// KeepDir keeps Dir after Stop (also when RIG_KEEP=1 is set).
	KeepDir bool
	// BinDir overrides where binaries are looked up (default: BinDir()).
	BinDir string
	// Detach starts processes that outlive this Go process (for the shell
	// entry test/rig/cmd/rig); their PIDs are in <Dir>/state.json.
	Detach bool
	// APIServerArgs are extra kube-apiserver flags (--name=value), appended
	// last so they win.
	APIServerArgs []string
	// APIServerBinary is the kube-apiserver binary's name in the bin folder
	// (e.g. "kube-apiserver-1.34"). Empty: $RIG_KUBE_APISERVER, else
	// "kube-apiserver". Every other component keeps its one pinned version.
	APIServerBinary string
	// APIServerPort is kube-apiserver's --secure-port; 0: a free port.
	// (test/node runs the control plane in its own network namespace and
	// serves on 443 there, the kubernetes Service's port.)
	APIServerPort int
	// Dial, if set, opens every connection the rig's own clients make (its
	// health checks, HTTPClient, RESTConfig), e.g. into the network
	// namespace the components run in. Nil: net.Dialer.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Logf, if set, receives progress lines ("etcd ready in 0.4s").
	Logf func(format string, args ...any)
}

// Cluster is a running rig.
type Cluster struct {
	// Dir is the data folder; logs are in Dir/logs/<component>.log.
	Dir string
	// Kubeconfig is the admin kubeconfig (user rig-admin in system:masters),
	// with certificates embedded.
	Kubeconfig string
	// APIServerURL is https://127.0.0.1:<port>.
	APIServerURL string
	// EtcdURL is http://127.0.0.1:<port> (no TLS, loopback only).
	EtcdURL string
	// KwokURL is kwok's own server (https, serving cert), when Kwok is on.
	KwokURL string
	// PKI holds the certificate and key files.
	PKI *PKI

	opts   Options
	binDir string
	// apiServerBin is the binary run as CompAPIServer (see
	// Options.APIServerBinary).
	apiServerBin string
	ports        map[string]int
	t0           time.Time

	mu      sync.Mutex
	procs   map[string]*process
	order   []string // start order; stopped in reverse
	stopped bool     // also set for Attach handles, whose Stop does nothing
	httpc   *http.Client
	// healthc is the client of the calls that need no identity: health
	// checks, etcd's gateway, kwok's metrics (no client certificate, the
	// serving certificates not verified).
	healthc *http.Client

	stopOnce sync.Once
	stopErr  error
}

// Component names, also the log file names.
const (
	CompEtcd              = "etcd"
	CompAPIServer         = "kube-apiserver"
	CompControllerManager = "kube-controller-manager"
	CompScheduler         = "kube-scheduler"
	CompKwok              = "kwok"
)

var (
	liveMu sync.Mutex
	live   = map[*Cluster]struct{}{}
)

// StopAll stops every cluster this process started and has not stopped yet.
func StopAll() {
	liveMu.Lock()
	cs := make([]*Cluster, 0, len(live))
	for c := range live {
		cs = append(cs, c)
	}
	liveMu.Unlock()
	for _, c := range cs {
		_ = c.Stop()
	}
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// Start runs a new control plane as chosen by opts and returns once it
// serves requests (and, with Nodes, once the nodes are Ready). On error
// everything started is stopped again.
func Start(ctx context.Context, opts Options) (_ *Cluster, err error) {
	t0 := time.Now()
	if (opts.Nodes > 0 || opts.MetricsServer) && !opts.Kwok {
		return nil, errors.New("rig: Options.Nodes and Options.MetricsServer need Options.Kwok")
	}
	binDir := opts.BinDir
	if binDir == "" {
		if binDir, err = BinDir(); err != nil {
			return nil, err
		}
	}
	apiServerBin := opts.APIServerBinary
	if apiServerBin == "" {
		if apiServerBin, err = APIServerBinary(); err != nil {
			return nil, err
		}
	}
	needed := []string{BinEtcd, apiServerBin}
	if opts.ControllerManager {
		needed = append(needed, BinControllerManager)
	}
	if opts.Scheduler {
		needed = append(needed, BinScheduler)
	}
	if opts.Kwok {
		needed = append(needed, BinKwok)
	}
	if opts.MetricsServer {
		needed = append(needed, BinMetricsServer)
	}
	for _, b := range needed {
		if _, err := binaryIn(binDir, b); err != nil {
			return nil, err
		}
	}

	dir := opts.Dir
	if dir == "" {
		removeOrphanDirs()
		if dir, err = os.MkdirTemp("", tempPrefix); err != nil {
			return nil, err
		}
		// Records who owns the folder, so that a later Start can remove it
		// if this process dies without cleaning up (SIGKILL, test timeout).
		if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
			return nil, err
		}
	} else {
		if dir, err = filepath.Abs(dir); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, err
		}
	}
	if os.Getenv("RIG_KEEP") == "1" {
		opts.KeepDir = true
	}
	c := &Cluster{
		Dir:          dir,
		opts:         opts,
		binDir:       binDir,
		apiServerBin: apiServerBin,
		ports:        map[string]int{},
		procs:        map[string]*process{},
		t0:           t0,
	}
	if apiServerBin != BinKubeAPIServer {
		c.logf("rig: %s runs %s", CompAPIServer, apiServerBin)
		if opts.ControllerManager || opts.Scheduler {
			// Measured with kube-apiserver-1.34: the controller-manager
			// starts but keeps failing to watch APIs the older server lacks.
			c.logf("rig: warning: %s and %s stay at their pinned version, newer than %s: outside Kubernetes' version skew policy",
				CompControllerManager, CompScheduler, apiServerBin)
		}
	}
	liveMu.Lock()
	live[c] = struct{}{}
	liveMu.Unlock()
	defer func() {
		if err != nil {
			err = fmt.Errorf("%w%s", err, c.logTails(40))
			_ = c.Stop()
		}
	}()

	for _, d := range []string{"logs", "etcd"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	if c.PKI, err = generatePKI(filepath.Join(dir, "pki")); err != nil {
		return nil, fmt.Errorf("rig: certificates: %w", err)
	}
	for _, name := range []string{"etcd-client", "etcd-peer", "apiserver", "controller-manager", "scheduler", "kwok", "metrics-server"} {
		if c.ports[name], err = freePort(); err != nil {
			return nil, err
		}
	}
	if opts.APIServerPort != 0 {
		c.ports["apiserver"] = opts.APIServerPort
	}
	c.EtcdURL = fmt.Sprintf("http://127.0.0.1:%d", c.ports["etcd-client"])
	c.APIServerURL = fmt.Sprintf("https://127.0.0.1:%d", c.ports["apiserver"])
	c.Kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := c.writeKubeconfig(); err != nil {
		return nil, err
	}
	if err := c.initHTTPClient(); err != nil {
		return nil, err
	}

	// etcd, then the API server: they must come up in order.
	if err := c.startAndWait(ctx, CompEtcd, c.etcdArgs(), 30*time.Second, c.etcdHealthy); err != nil {
		return nil, err
	}
	if err := c.startAndWait(ctx, CompAPIServer, c.apiServerArgs(), 90*time.Second, c.apiServerReady); err != nil {
		return nil, err
	}

	// The rest only needs the API server; start them together.
	type comp struct {
		name  string
		args  []string
		ready func(context.Context) error
	}
	var comps []comp
	if opts.ControllerManager {
		comps = append(comps, comp{CompControllerManager, c.controllerManagerArgs(), c.httpsHealthz(c.ports["controller-manager"])})
	}
	if opts.Scheduler {
		comps = append(comps, comp{CompScheduler, c.schedulerArgs(), c.httpsHealthz(c.ports["scheduler"])})
	}
	if opts.Kwok {
		kwokArgs, err := c.kwokArgs()
		if err != nil {
			return nil, err
		}
		c.KwokURL = fmt.Sprintf("https://127.0.0.1:%d", c.ports["kwok"])
		comps = append(comps, comp{CompKwok, kwokArgs, c.httpsHealthz(c.ports["kwok"])})
	}
	if opts.MetricsServer {
		comps = append(comps, comp{CompMetricsServer, c.metricsServerArgs(), c.httpsPath(c.ports["metrics-server"], "/livez")})
	}
	for _, cp := range comps {
		if err := c.startProc(cp.name, cp.args); err != nil {
			return nil, err
		}
	}
	for _, cp := range comps {
		if err := c.waitReady(ctx, cp.name, 60*time.Second, cp.ready); err != nil {
			return nil, err
		}
	}
	if opts.ControllerManager {
		// Pods can only be created once the namespace's default
		// ServiceAccount exists (ServiceAccount admission).
		if err := c.waitFor(ctx, 60*time.Second, "default ServiceAccount", func(ctx context.Context) error {
			_, err := c.get(ctx, "/api/v1/namespaces/default/serviceaccounts/default")
			return err
		}); err != nil {
			return nil, err
		}
	}
	if opts.MetricsServer {
		t := time.Now()
		if err := c.RegisterMetricsAPI(ctx, c.ports["metrics-server"]); err != nil {
			return nil, err
		}
		c.logf("rig: metrics.k8s.io APIService Available in %.1fs", time.Since(t).Seconds())
	}
	if opts.Nodes > 0 {
		names := make([]string, opts.Nodes)
		for i := range names {
			names[i] = fmt.Sprintf("kwok-node-%d", i+1)
			if _, err := c.CreateNode(ctx, NodeOptions{Name: names[i]}); err != nil {
				return nil, err
			}
		}
		for _, n := range names {
			if err := c.WaitNodeReady(ctx, n, 60*time.Second); err != nil {
				return nil, err
			}
		}
		c.logf("rig: %d kwok nodes Ready", opts.Nodes)
	}
	if opts.Detach {
		if err := c.writeState(true); err != nil {
			return nil, err
		}
	}
	c.logf("rig: cluster up in %.1fs at %s (kubeconfig %s)", time.Since(t0).Seconds(), c.APIServerURL, c.Kubeconfig)
	return c, nil
}

// Stop stops every process of the cluster (reverse start order; SIGTERM to
// the process group, SIGKILL after a grace period) and removes the data
// folder unless it is kept. Safe to call more than once.
func (c *Cluster) Stop() error {
	// Concurrent callers (a test's cleanup and Main's signal handler) all
	// wait for the one real stop.
	c.stopOnce.Do(func() { c.stopErr = c.stop() })
	return c.stopErr
}

func (c *Cluster) stop() error {
	c.mu.Lock()
	if c.stopped {
		c.mu.Unlock()
		return nil
	}
	c.stopped = true
	order := append([]string(nil), c.order...)
	procs := c.procs
	c.mu.Unlock()

	var errs []error
	for i := len(order) - 1; i >= 0; i-- {
		if err := procs[order[i]].stop(stopGrace(order[i])); err != nil {
			errs = append(errs, err)
		}
	}
	liveMu.Lock()
	delete(live, c)
	liveMu.Unlock()
	if c.httpc != nil {
		c.httpc.CloseIdleConnections()
	}
	if !c.opts.KeepDir && c.opts.Dir == "" && len(errs) == 0 {
		if err := os.RemoveAll(c.Dir); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

const (
	tempPrefix = "catops-rig-"
	ownerFile  = "owner.pid"
)

// removeOrphanDirs removes temporary rig folders whose owning process is
// gone. Their processes died with the owner (parent-death signal).
func removeOrphanDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), tempPrefix+"*"))
	for _, d := range dirs {
		data, err := os.ReadFile(filepath.Join(d, ownerFile))
		if err != nil {
			continue
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
		if err != nil || pidAlive(pid) {
			continue
		}
		_ = os.RemoveAll(d)
	}
}

func stopGrace(name string) time.Duration {
	switch name {
	case CompAPIServer:
		// kube-apiserver stops listening at once on SIGTERM but then waits
		// (20 s and more, measured) for open watch connections to drain;
		// nothing in the rig needs that drain.
		return 3 * time.Second
	case CompEtcd:
		return 10 * time.Second
	}
	return 10 * time.Second
}

// Running reports whether the named component's process is alive.
func (c *Cluster) Running(component string) bool {
	c.mu.Lock()
	p := c.procs[component]
	c.mu.Unlock()
	return p != nil && p.running()
}

// PID returns the PID of the named component (0 if it never ran).
func (c *Cluster) PID(component string) int {
	c.mu.Lock()
	p := c.procs[component]
	c.mu.Unlock()
	if p == nil {
		return 0
	}
	return p.pid()
}

// LogPath returns the log file of the named component.
func (c *Cluster) LogPath(component string) string {
	return filepath.Join(c.Dir, "logs", component+".log")
}

// LogTails returns the last n lines of every component's log, for test
// failure output.
func (c *Cluster) LogTails(n int) string { return c.logTails(n) }

func (c *Cluster) logTails(n int) string {
	c.mu.Lock()
	order := append([]string(nil), c.order...)
	c.mu.Unlock()
	var b strings.Builder
	for _, name := range order {
		fmt.Fprintf(&b, "\n---- last lines of %s ----\n%s\n", c.LogPath(name), logTail(c.LogPath(name), n))
	}
	return b.String()
}

func (c *Cluster) startProc(name string, args []string) error {
	binName := name
	if name == CompAPIServer && c.apiServerBin != "" {
		binName = c.apiServerBin
	}
	bin, err := binaryIn(c.binDir, binName)
	if err != nil {
		return err
	}
	c.mu.Lock()
	p := c.procs[name]
	if p == nil {
		p = &process{name: name, bin: bin, logPath: c.LogPath(name), detach: c.opts.Detach}
		c.procs[name] = p
		c.order = append(c.order, name)
	}
	p.args = args
	c.mu.Unlock()
	if err := p.start(); err != nil {
		return err
	}
	if c.opts.Detach {
		// Record every PID as soon as it exists, so `rig down` can stop a
		// half-started rig whose `up` died.
		return c.writeState(false)
	}
	return nil
}

func (c *Cluster) startAndWait(ctx context.Context, name string, args []string, timeout time.Duration, ready func(context.Context) error) error {
	if err := c.startProc(name, args); err != nil {
		return err
	}
	return c.waitReady(ctx, name, timeout, ready)
}

// waitReady polls ready until it succeeds, the process dies, or timeout.
func (c *Cluster) waitReady(ctx context.Context, name string, timeout time.Duration, ready func(context.Context) error) error {
	t0 := time.Now()
	err := c.waitFor(ctx, timeout, name, func(ctx context.Context) error {
		if !c.Running(name) {
			c.mu.Lock()
			p := c.procs[name]
			c.mu.Unlock()
			exit := p.exitError()
			if exit == nil {
				exit = errors.New("exit status 0")
			}
			return fmt.Errorf("%w: %s exited (%w); see %s", errStop, name, exit, c.LogPath(name))
		}
		return ready(ctx)
	})
	if err == nil {
		c.logf("rig: %s ready in %.1fs (pid %d)", name, time.Since(t0).Seconds(), c.PID(name))
	}
	return err
}

var errStop = errors.New("rig: stopped waiting")

func (c *Cluster) waitFor(ctx context.Context, timeout time.Duration, what string, cond func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error
	for {
		cctx, ccancel := context.WithTimeout(ctx, 5*time.Second)
		last = cond(cctx)
		ccancel()
		if last == nil {
			return nil
		}
		if errors.Is(last, errStop) {
			return last
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("rig: waiting for %s: %w (last error: %w)", what, ctx.Err(), last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func freePort() (int, error) { return FreePort() }

// FreePort returns a loopback TCP port free now, for a process started
// later to listen on. It is drawn below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range): a port from inside it, as port 0 gives,
// can be taken meanwhile as the local end of any outgoing connection (the
// API server's to etcd, say), and the process's bind then fails with
// "address already in use". Without that range (not Linux), port 0.
func FreePort() (int, error) {
	lo := ephemeralLow()
	const floor = 10000 // above the well-known and registered ports commonly in use
	if lo-floor >= 1000 {
		for range 200 {
			port := floor + rand.IntN(lo-floor)
			l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
			if err != nil {
				continue // in use: draw again
			}
			_ = l.Close()
			return port, nil
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// ephemeralLow is the first port of the kernel's ephemeral range, 0 when
// it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	lo, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return lo
}

// ---- component flags ----

func (c *Cluster) etcdArgs() []string {
	client := c.EtcdURL
	peer := fmt.Sprintf("http://127.0.0.1:%d", c.ports["etcd-peer"])
	return []string{
		"--name=rig",
		"--data-dir=" + filepath.Join(c.Dir, "etcd"),
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=rig=" + peer,
		"--initial-cluster-state=new",
		"--unsafe-no-fsync", // test data only: much faster on slow disks
		"--log-level=warn",
	}
}

func (c *Cluster) apiServerArgs() []string {
	p := c.PKI
	args := []string{
		"--etcd-servers=" + c.EtcdURL,
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(c.ports["apiserver"]),
		// On loopback the "kubernetes" Service endpoints cannot point at the
		// server (127.0.0.1 is rejected in Endpoints); don't reconcile them.
		"--endpoint-reconciler-type=none",
		"--service-cluster-ip-range=" + serviceClusterIPRange,
		"--cert-dir=" + filepath.Join(c.Dir, "pki"),
		"--tls-cert-file=" + p.APIServerCert,
		"--tls-private-key-file=" + p.APIServerKey,
		"--client-ca-file=" + p.CACert,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + p.ServiceAccountPub,
		"--service-account-signing-key-file=" + p.ServiceAccountKey,
		"--allow-privileged=true",
		"--profiling=false",
		// Aggregation layer (metrics.k8s.io through an APIService).
		"--requestheader-client-ca-file=" + p.FrontProxyCACert,
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-username-headers=X-Remote-User",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--proxy-client-cert-file=" + p.FrontProxyClientCert,
		"--proxy-client-key-file=" + p.FrontProxyClientKey,
	}
	if !c.opts.ControllerManager {
		// Without the controller-manager no namespace gets its "default"
		// ServiceAccount, and ServiceAccount admission would refuse pods.
		args = append(args, "--disable-admission-plugins=ServiceAccount")
	}
	return append(args, c.opts.APIServerArgs...)
}

// componentArgs are the flags the controller-manager, the scheduler and
// metrics-server share: admin kubeconfig for the API and for delegated
// authn/authz, and HTTPS on 127.0.0.1:port with the rig's serving cert.
func (c *Cluster) componentArgs(port int) []string {
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--authentication-kubeconfig=" + c.Kubeconfig,
		"--authorization-kubeconfig=" + c.Kubeconfig,
		"--bind-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + c.PKI.ServingCert,
		"--tls-private-key-file=" + c.PKI.ServingKey,
	}
}

func (c *Cluster) controllerManagerArgs() []string {
	p := c.PKI
	return append(c.componentArgs(c.ports["controller-manager"]),
		"--leader-elect=false",
		"--cluster-name=catops-rig",
		"--service-account-private-key-file="+p.ServiceAccountKey,
		"--root-ca-file="+p.CACert,
		"--cluster-signing-cert-file="+p.CACert,
		"--cluster-signing-key-file="+p.CAKey,
		"--use-service-account-credentials=false",
	)
}

func (c *Cluster) schedulerArgs() []string {
	return append(c.componentArgs(c.ports["scheduler"]), "--leader-elect=false")
}

func (c *Cluster) kwokArgs() ([]string, error) {
	cfg := filepath.Join(c.Dir, "kwok.yaml")
	if err := os.WriteFile(cfg, []byte(KwokConfig+kwokMetricsConfig), 0o644); err != nil {
		return nil, err
	}
	p := c.PKI
	return []string{
		"--kubeconfig=" + c.Kubeconfig,
		"--config=" + cfg,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + KwokNodeAnnotation + "=fake",
		"--node-ip=127.0.0.1",
		"--node-port=" + strconv.Itoa(c.ports["kwok"]),
		"--server-address=127.0.0.1:" + strconv.Itoa(c.ports["kwok"]),
		"--tls-cert-file=" + p.ServingCert,
		"--tls-private-key-file=" + p.ServingKey,
		"--cidr=" + podCIDR,
		// Renew node Leases so the node lifecycle controller keeps the
		// nodes Ready (and does not taint and evict).
		"--node-lease-duration-seconds=40",
	}, nil
}

// ---- readiness ----

func (c *Cluster) etcdHealthy(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.EtcdURL+"/health", nil)
	resp, err := c.healthc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return err
	}
	if h.Health != "true" {
		return fmt.Errorf("etcd health %q", h.Health)
	}
	return nil
}

func (c *Cluster) apiServerReady(ctx context.Context) error {
	body, err := c.get(ctx, "/readyz")
	if err != nil {
		return err
	}
	if strings.TrimSpace(string(body)) != "ok" {
		return fmt.Errorf("readyz: %s", body)
	}
	return nil
}

func (c *Cluster) httpsHealthz(port int) func(context.Context) error {
	return c.httpsPath(port, "/healthz")
}

func (c *Cluster) httpsPath(port int, path string) func(context.Context) error {
	return func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("https://127.0.0.1:%d%s", port, path), nil)
		resp, err := c.healthc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("healthz %d: %s", resp.StatusCode, body)
		}
		return nil
	}
}

// ---- admin HTTP access ----

func (c *Cluster) initHTTPClient() error {
	cert, err := tls.LoadX509KeyPair(c.PKI.AdminCert, c.PKI.AdminKey)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(c.PKI.CACert)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return errors.New("rig: bad CA PEM")
	}
	c.httpc = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool},
			MaxIdleConnsPerHost: 4,
			DialContext:         c.opts.Dial,
		},
		Timeout: 30 * time.Second,
	}
	c.healthc = &http.Client{
		Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // the rig's own health checks only
			DialContext:     c.opts.Dial,
		},
		Timeout: 5 * time.Second,
	}
	return nil
}

// HTTPClient returns an http.Client that authenticates to the API server as
// the admin (system:masters) and trusts its CA.
func (c *Cluster) HTTPClient() *http.Client { return c.httpc }

// get fetches an API server path as admin; non-2xx is an error.
func (c *Cluster) get(ctx context.Context, path string) ([]byte, error) {
	return httpGet(ctx, c.httpc, c.APIServerURL, path)
}

// httpGet GETs base+path; a non-2xx answer is an *HTTPError carrying the body.
func httpGet(ctx context.Context, client *http.Client, base, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return body, &HTTPError{Path: path, Status: resp.StatusCode, Body: strings.TrimSpace(string(body))}
	}
	return body, nil
}

// Get fetches an API server path (e.g. "/version", "/metrics") as admin.
func (c *Cluster) Get(ctx context.Context, path string) ([]byte, error) { return c.get(ctx, path) }

// HTTPError is a non-2xx answer from the API server.
type HTTPError struct {
	Path   string
	Status int
	Body   string
}

func (e *HTTPError) Error() string {
	b := e.Body
	if len(b) > 300 {
		b = b[:300] + "…"
	}
	return fmt.Sprintf("GET %s: HTTP %d: %s", e.Path, e.Status, b)
}
