// Package kubelet is the usage.Source that reads this node's kubelet
// directly, with no API server request: the resource metrics endpoint
// (/metrics/resource, Prometheus text) for CPU and memory, and optionally
// the stats summary (/stats/summary, JSON, read as a stream) for network,
// storage, volume, RSS and node filesystem figures, and the node's own
// figures of the host sample (usage.NodeStats); its client, the parsers
// of the answers, the rates across two reads, and errors that say what to
// fix.
package kubelet

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"

	"github.com/catops/cli/pkg/usage"
)

// The kubelet endpoint when the Node does not say otherwise.
const (
	DefaultPort = 10250
	DefaultPath = "/metrics/resource"
	// ResourceMetricsPathAnnotation on a Node overrides the path of its
	// resource metrics, as metrics-server v0.8 honours it (kwok serves
	// every node's metrics on one server, each under its own path).
	ResourceMetricsPathAnnotation = "metrics.k8s.io/resource-metrics-path"
)

// maxBody bounds /metrics/resource: parsed as it arrives, but every series
// is held until the end of the answer; it is about 1 KiB per container,
// so this is far above any real node. (Variables, so
// tests can lower them.)
var maxBody int64 = 32 << 20

// maxCadvisor bounds the cAdvisor text, read as a stream and filtered
// line by line as it arrives: memory does not grow with it (only the CFS
// lines are kept, at most maxCFSText), only the time to read it. The real
// node's cAdvisor text is about 53 KB per two-container pod (1,000 pods:
// ~53 MB).
var maxCadvisor int64 = 512 << 20

// maxSummary bounds the summary: read as a stream, but one pod's entry (or
// the node's section) is held whole while it is decoded, so a summary is
// bounded as /metrics/resource is; a real one is about 3.6 KB per pod.
var maxSummary int64 = 32 << 20

// Options configures a kubelet Source.
type Options struct {
	// URL, when set, is the whole resource metrics URL; otherwise it is
	// derived from the Node (see URL).
	URL string
	// HostIP is this node's IP (downward API status.hostIP), used when the
	// Node has no InternalIP address.
	HostIP string
	// CAFile verifies the kubelet's serving certificate; empty: the CA of
	// the rest.Config (in a pod, the ServiceAccount's ca.crt).
	CAFile string
	// InsecureSkipVerify turns off verification of the kubelet's serving
	// certificate.
	InsecureSkipVerify bool
	// Summary also reads the kubelet's stats summary (SummaryPath, at the
	// same scheme, host and port; RBAC get on nodes/stats) each Fetch and
	// adds its figures to the readings: the pods' network traffic,
	// ephemeral storage and volumes, the containers' RSS, the node's
	// filesystems. A failed summary read leaves those figures out and the
	// readings as they are.
	Summary bool
	// NodeStats also keeps the node's own figures of each summary read
	// (CPU, memory, swap, network interfaces, filesystems, boot time) on
	// Reading.NodeStats, for a host sample taken from the kubelet
	// (CATOPS_HOST_SOURCE=kubelet); they come from the same read, with no
	// request of their own. It needs Summary. A failed or held-off summary
	// read leaves Reading.NodeStats nil.
	NodeStats bool
	// Throttling also reads the kubelet's cAdvisor metrics (CadvisorPath,
	// same scheme, host and port; RBAC get on nodes/metrics) each Fetch,
	// keeping only the CFS series while reading, and adds each
	// container's CPU throttling to its ContainerUsage. A failed read leaves
	// those figures out.
	Throttling bool
	// Logger logs the endpoint when it changes (default: no logging).
	Logger *zap.Logger
	// Now is the scrape time of samples the kubelet writes without a
	// timestamp, and the clock a sample's timestamp may not be more than
	// usage.MaxClockSkew ahead of (default time.Now).
	Now func() time.Time
}

// Source reads usage from this node's kubelet resource metrics endpoint
// (Prometheus text) and, with Options.Summary, its stats summary, so reading
// usage makes no API server request at all.
// CPU is a counter there: a reading needs two scrapes of the same series
// (the same container instance, told by container_start_time_seconds), so
// the first Fetch returns no readings (not even memory) and they start with
// the second.
//
// Fetch must be called from one goroutine (the Collector's).
type Source struct {
	client *http.Client
	opts   Options
	logger *zap.Logger
	node   atomic.Pointer[usage.NodeFunc]

	lastURL string
	rates   rates
	net     netRates
	cfs     cfsState
	// The reads beside /metrics/resource.
	summary, cadvisor extra
}

// New returns a Source reading the kubelet with restCfg's credentials: its
// bearer token (a token file is re-read as client-go does) or client
// certificate, verified against opts.CAFile or restCfg's CA. It logs a
// warning when verification is off.
func New(restCfg *rest.Config, opts Options) (*Source, error) {
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.NodeStats && !opts.Summary {
		return nil, errors.New("the kubelet source keeps the node's figures of its summary read (NodeStats) only when it reads the summary: set Summary too")
	}
	cfg := rest.CopyConfig(restCfg)
	// The transport ignores Host; a kubelet does not honour impersonation,
	// and the API server's TLS server name is not the kubelet's.
	cfg.Host = ""
	cfg.Impersonate = rest.ImpersonationConfig{}
	tlsCfg := &cfg.TLSClientConfig
	tlsCfg.ServerName = ""
	inherited := tlsCfg.Insecure
	switch {
	case opts.InsecureSkipVerify:
		tlsCfg.Insecure, tlsCfg.CAFile, tlsCfg.CAData = true, "", nil
		opts.Logger.Warn("TLS verification of the kubelet is off (CATOPS_KUBELET_INSECURE_SKIP_VERIFY=true): usage readings could come from anyone on the path to the kubelet; set CATOPS_KUBELET_CA_FILE instead where you can")
	case opts.CAFile != "":
		tlsCfg.Insecure, tlsCfg.CAFile, tlsCfg.CAData = false, opts.CAFile, nil
	case inherited:
		opts.Logger.Warn("TLS verification of the kubelet is off because the API server connection skips it (insecure-skip-tls-verify in the kubeconfig); set CATOPS_KUBELET_CA_FILE to verify the kubelet")
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, fmt.Errorf("build the kubelet client: %w", err)
	}
	client := *hc // HTTPClientFor may return http.DefaultClient: never modify that
	// A redirect would carry the token elsewhere.
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &Source{client: &client, opts: opts, logger: opts.Logger, rates: newRates(),
		net: netRates{last: map[usage.PodKey]netCounter{}},
		summary: extra{what: "the kubelet summary", lost: "pod network, storage and volume figures, container RSS and the node's filesystems",
			rbac: "nodes/stats", off: "CATOPS_KUBELET_SUMMARY=false", chartOff: "podMetrics.kubelet.summary=false",
			granted: "podMetrics.kubelet.summary, the default"},
		cadvisor: extra{what: "the kubelet's cAdvisor metrics", lost: "the containers' CPU throttling figures",
			rbac: "nodes/metrics", off: "CATOPS_THROTTLING_SOURCE=cgroup", chartOff: "podMetrics.throttling=cgroup",
			granted: "podMetrics.source=kubelet"},
	}, nil
}

// UseNode sets where the Node object comes from (the pod cache's node
// informer), read at every Fetch unless Options.URL is set.
func (k *Source) UseNode(f usage.NodeFunc) { k.node.Store(&f) }

// Name implements usage.Source: usage.KubeletName.
func (k *Source) Name() string { return usage.KubeletName }

// Fetch implements usage.Source with one GET of the kubelet's resource
// metrics and, with Options.Summary, one of its summary (see addSummary,
// and Options.NodeStats for the node's own figures of it;
// not after the kubelet refused one, for summaryRetryAfter). Reading.Requests
// (API server requests) is always 0; KubeletRequests counts the requests
// sent (1 or 2), Errors a failed summary read (the readings go out without
// its figures). Only the given pods are
// reported, and only those with two successive samples of the same series
// (the same container instance) for every CPU counter they need: a pod just
// started, or whose container restarted, has no reading this time. A
// reading that cannot be true (see parseScrape and rates.readings) is left
// out and listed in Reading.Rejected.
func (k *Source) Fetch(ctx context.Context, pods []usage.PodKey) (usage.Reading, error) {
	var r usage.Reading
	u, err := k.endpoint()
	if err != nil {
		return r, err
	}
	if u != k.lastURL {
		k.logger.Info("Reading usage from the kubelet", zap.String("url", u))
		k.lastURL = u
	}
	// Parsed as it arrives: the answer is never held whole (at 1,000 pods
	// it is ~800 KB, and reading it into a buffer first allocated ~2 MB).
	// Samples without a timestamp are taken as of when its headers arrived.
	err = k.stream(ctx, u, acceptText, "metrics", maxBody, func(body io.Reader) error {
		var rerr error
		r, rerr = k.read(body, k.opts.Now(), u, pods)
		return rerr
	})
	r.KubeletRequests = 1
	if err != nil {
		return r, err
	}
	if k.opts.Summary {
		k.extraRead(ctx, &k.summary, &r, func() error { return k.addSummary(ctx, u, &r, pods) })
	}
	if k.opts.Throttling {
		k.extraRead(ctx, &k.cadvisor, &r, func() error { return k.addThrottling(ctx, u, &r) })
	}
	return r, nil
}

// extraRetryAfter is how long a read the kubelet refuses (401/403: RBAC;
// 404: not served) is not asked for again: each refusal costs the kubelet
// an access review by the API server.
const extraRetryAfter = 5 * time.Minute

// extra is one of the kubelet reads beside /metrics/resource (the summary,
// cAdvisor's metrics): a failure costs only its figures.
type extra struct {
	what, lost    string // "the kubelet summary"; the figures left out while it fails
	rbac          string // "nodes/stats"
	off, chartOff string // the variable and the chart value that stop the read: "CATOPS_KUBELET_SUMMARY=false"
	granted       string // which chart value grants rbac
	failed        string // the reason of the last failed read ("" when it worked)
	retryAt       time.Time
}

// extraRead runs read (the request x makes, adding its figures to r) unless
// x is held off after a refusal; a failure is counted in r.Errors and
// warned about once per reason, with the fix.
func (k *Source) extraRead(ctx context.Context, x *extra, r *usage.Reading, read func() error) {
	if k.opts.Now().Before(x.retryAt) {
		return
	}
	r.KubeletRequests++
	err := read()
	if err == nil {
		if x.failed != "" {
			k.logger.Info("Reading "+x.what+" again", zap.String("was", x.failed))
			x.failed = ""
		}
		return
	}
	r.Errors++
	if ctx.Err() != nil {
		return // shutting down
	}
	reason := usage.Reason(err)
	var ke *kubeletError
	refused := errors.As(err, &ke) && (ke.status == http.StatusForbidden || ke.status == http.StatusUnauthorized || ke.status == http.StatusNotFound)
	if refused {
		x.retryAt = k.opts.Now().Add(extraRetryAfter)
	}
	if reason == x.failed {
		return
	}
	x.failed = reason
	fix := "the next read tries again"
	switch {
	case refused && ke.status == http.StatusNotFound:
		fix = fmt.Sprintf("set %s (chart: %s) for a kubelet that does not serve it", x.off, x.chartOff)
	case refused:
		fix = fmt.Sprintf("grant the agent get on %s (the chart does with %s), or set %s", x.rbac, x.granted, x.off)
	case reason == "kubelet answer too large":
		fix = fmt.Sprintf("check CATOPS_KUBELET_URL, or set %s (chart: %s)", x.off, x.chartOff)
	}
	fields := []zap.Field{zap.String("reason", reason), zap.Error(err), zap.String("fix", fix)}
	if refused {
		fields = append(fields, zap.Duration("retryIn", extraRetryAfter))
	}
	k.logger.Warn("Cannot read "+x.what+": "+x.lost+" are left out until it works", fields...)
}

// siblingURL is the URL of the kubelet endpoint path on the same kubelet as
// the resource metrics URL u: u with its /metrics/resource ending replaced
// by path (keeping a proxy prefix), else u's host with path.
func siblingURL(u, path string) (string, error) {
	p, err := url.Parse(u)
	if err != nil {
		return "", err
	}
	if prefix, ok := strings.CutSuffix(p.Path, DefaultPath); ok {
		path = prefix + path
	}
	return (&url.URL{Scheme: p.Scheme, Host: p.Host, Path: path}).String(), nil
}

// addThrottling reads the kubelet's cAdvisor metrics, keeping only the CFS
// series as they stream in, and puts each container's throttling on r.
func (k *Source) addThrottling(ctx context.Context, resourceURL string, r *usage.Reading) error {
	u, err := siblingURL(resourceURL, CadvisorPath)
	if err != nil {
		return &kubeletError{reason: "kubelet request failed", msg: fmt.Sprintf("bad kubelet URL %q: %v", resourceURL, err)}
	}
	var text []byte
	err = k.stream(ctx, u, acceptText, "metrics", maxCadvisor, func(body io.Reader) error {
		var ferr error
		text, ferr = filterCFS(body)
		switch {
		case errors.Is(ferr, errTooLarge):
			return tooLargeError(u, maxCFSText)
		case ferr != nil:
			return transportError(u, ferr)
		}
		return nil
	})
	if err != nil {
		return err
	}
	now := k.opts.Now()
	cur, err := parseCFS(text, now)
	if err != nil {
		return &kubeletError{reason: "kubelet answer not understood", msg: fmt.Sprintf("parse the cAdvisor metrics of the kubelet at %s: %v", u, oneLine(err))}
	}
	addThrottling(k.cfs.throttling(cur, now.Add(usage.MaxClockSkew)), r.Pods)
	return nil
}

// summaryURL is the summary's URL on the same kubelet as the resource
// metrics URL u (see siblingURL).
func summaryURL(u string) (string, error) { return siblingURL(u, SummaryPath) }

// addSummary reads the kubelet summary as a stream and adds its figures to
// r's readings.
func (k *Source) addSummary(ctx context.Context, resourceURL string, r *usage.Reading, pods []usage.PodKey) error {
	u, err := summaryURL(resourceURL)
	if err != nil {
		return &kubeletError{reason: "kubelet request failed", msg: fmt.Sprintf("bad kubelet URL %q: %v", resourceURL, err)}
	}
	want := make(map[usage.PodKey]struct{}, len(pods))
	for _, p := range pods {
		want[p] = struct{}{}
	}
	var s *summary
	err = k.stream(ctx, u, "application/json", "stats", maxSummary, func(body io.Reader) error {
		var perr error
		s, perr = parseSummary(body, want)
		var syntax *json.SyntaxError
		switch {
		case perr == nil:
			return nil
		case errors.Is(perr, errSummaryShape) || errors.As(perr, &syntax) || errors.Is(perr, io.ErrUnexpectedEOF):
			return &kubeletError{reason: "kubelet answer not understood", msg: fmt.Sprintf("parse the summary of the kubelet at %s: %v", u, oneLine(perr))}
		default:
			return transportError(u, perr)
		}
	})
	if err != nil {
		return err
	}
	for k2, why := range s.dropped {
		k.logger.Debug("Kubelet summary entry left out", zap.String("pod", k2.Namespace+"/"+k2.Name), zap.String("why", why))
	}
	now := k.opts.Now()
	k.net.addSummary(s, r.Node, r.Pods, now.Add(usage.MaxClockSkew))
	if k.opts.NodeStats {
		r.NodeStats = s.nodeStats(now)
	}
	return nil
}

// acceptText asks for the Prometheus text format, and anything as a last
// resort: a server that routes by Accept (go-restful, as in kwok) answers
// 406 to text/plain alone.
const acceptText = "text/plain;version=0.0.4;q=1,*/*;q=0.1"

// errRecorder passes reads through and keeps the first error that is not
// the end of the answer: a connection cut mid-answer is a transport
// failure, not an answer that was not understood.
type errRecorder struct {
	r   io.Reader
	err error
}

func (e *errRecorder) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// read turns body, the answer of the kubelet at u whose headers arrived at
// scraped, into the readings of pods, and remembers its CPU counters for
// the next one. A body that could not be read to its end (cut, or past its
// bound) changes nothing: its counters are not remembered.
func (k *Source) read(body io.Reader, scraped time.Time, u string, pods []usage.PodKey) (usage.Reading, error) {
	var r usage.Reading
	in := &errRecorder{r: body}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(in)
	switch {
	case in.err != nil:
		return r, transportError(u, in.err)
	case err != nil:
		return r, &kubeletError{reason: "kubelet answer not understood",
			msg: fmt.Sprintf("parse the resource metrics of the kubelet at %s: %v; check CATOPS_KUBELET_URL (the kubelet's /metrics/resource, or the Node's %s annotation)", u, oneLine(err), ResourceMetricsPathAnnotation)}
	}
	want := make(map[usage.PodKey]struct{}, len(pods))
	for _, p := range pods {
		want[p] = struct{}{}
	}
	r.Node, r.Pods, r.Rejected = k.rates.readings(parseScrape(fams, scraped), want)
	return r, nil
}

// endpoint is the URL to scrape now.
func (k *Source) endpoint() (string, error) {
	if k.opts.URL != "" {
		return k.opts.URL, nil
	}
	var node *corev1.Node
	if f := k.node.Load(); f != nil {
		node, _ = (*f)()
	}
	return URL(node, k.opts.HostIP)
}

// URL is the resource metrics URL of node's kubelet:
// https://<InternalIP, else hostIP>:<status.daemonEndpoints.kubeletEndpoint
// port, else 10250><the metrics.k8s.io/resource-metrics-path annotation,
// else /metrics/resource>. node may be nil (not cached yet).
func URL(node *corev1.Node, hostIP string) (string, error) {
	host, port, path := hostIP, DefaultPort, DefaultPath
	if node != nil {
		for _, a := range node.Status.Addresses {
			if a.Type == corev1.NodeInternalIP && a.Address != "" {
				host = a.Address
				break
			}
		}
		if p := node.Status.DaemonEndpoints.KubeletEndpoint.Port; p > 0 {
			port = int(p)
		}
		if p := node.Annotations[ResourceMetricsPathAnnotation]; p != "" {
			path = "/" + strings.TrimLeft(p, "/")
		}
	}
	if host == "" {
		return "", &kubeletError{reason: "kubelet address unknown",
			msg: "no address for the kubelet: the Node has no InternalIP address and HOST_IP is not set; set HOST_IP from the downward API (status.hostIP) or CATOPS_KUBELET_URL"}
	}
	u := url.URL{Scheme: "https", Host: net.JoinHostPort(host, strconv.Itoa(port)), Path: path}
	return u.String(), nil
}

// stream GETs u (RBAC get on nodes/<subresource>) and hands its body (at
// most limit bytes: past them, read fails and stream returns a "kubelet
// answer too large" error) to read.
func (k *Source) stream(ctx context.Context, u, accept, subresource string, limit int64, read func(io.Reader) error) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &kubeletError{reason: "kubelet request failed", msg: fmt.Sprintf("bad kubelet URL %q: %v", u, err)}
	}
	req.Header.Set("Accept", accept)
	resp, err := k.client.Do(req)
	if err != nil {
		return transportError(u, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
		return statusError(u, resp.StatusCode, subresource)
	}
	body := &boundedReader{r: resp.Body, left: limit}
	err = read(body)
	if body.over {
		return tooLargeError(u, limit)
	}
	return err
}

// boundedReader reads at most left bytes of r; past them it fails (and
// sets over) instead of ending, so a cut answer is never taken as whole.
type boundedReader struct {
	r    io.Reader
	left int64
	over bool
}

// errTooLarge is what a boundedReader returns past its bound.
var errTooLarge = errors.New("answer larger than the bound")

func (b *boundedReader) Read(p []byte) (int, error) {
	if b.left <= 0 {
		var one [1]byte
		if n, err := b.r.Read(one[:]); n == 0 {
			return 0, err
		}
		b.over = true
		return 0, errTooLarge
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}
