package config

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"go.uber.org/zap/zapcore"

	"github.com/catops/cli/pkg/backendclient"
	"github.com/catops/cli/pkg/token"
	"github.com/catops/cli/pkg/wire"
)

// Wire formats, WatchList modes and pod metrics sources.
const (
	FormatDelta    = "delta"
	FormatSnapshot = "snapshot"

	WatchListAuto = "auto"
	WatchListOn   = "on"
	WatchListOff  = "off"

	SourceMetricsAPI = "metrics-api"
	SourceKubelet    = "kubelet"
	SourceNone       = "none"

	// The throttling sources (CATOPS_THROTTLING_SOURCE): the node's
	// cgroups under HOST_SYS, the kubelet's /metrics/cadvisor, or none.
	ThrottlingCgroup   = "cgroup"
	ThrottlingCadvisor = "cadvisor"
	ThrottlingNone     = "none"

	// HostSourceProc and HostSourceKubelet are the host sources
	// (CATOPS_HOST_SOURCE): gopsutil through the host paths, or the
	// kubelet summary's node section.
	HostSourceProc    = "proc"
	HostSourceKubelet = "kubelet"

	// MinInterval is the shortest collection interval: shorter ones would
	// read the Metrics API faster than metrics-server can refresh it.
	MinInterval = 10 * time.Second
)

// Config is the validated, typed configuration.
type Config struct {
	BackendURL    string // without a trailing slash
	AuthToken     string
	AuthTokenFile string
	// BackendCAFile, BackendCertFile and BackendKeyFile are the backend's
	// CA bundle and the client certificate and key (mTLS); empty: unset.
	BackendCAFile      string
	BackendCertFile    string
	BackendKeyFile     string
	NodeName           string
	Namespace          string
	CollectionInterval time.Duration
	SnapshotInterval   time.Duration
	Kubeconfig         string
	LogLevel           zapcore.Level
	HealthAddr         string // empty: off
	WireFormat         string
	PodMetricsSource   string
	WatchList          string // auto, on or off
	MetricsConcurrency int
	// KubeletURL overrides the kubelet resource metrics URL (empty: from
	// the Node); KubeletCAFile and KubeletInsecureSkipVerify choose how
	// its certificate is checked; HostIP is the address fallback.
	KubeletURL                string
	KubeletCAFile             string
	KubeletInsecureSkipVerify bool
	// KubeletSummary also reads the kubelet's /stats/summary (source
	// kubelet only).
	KubeletSummary bool
	// ThrottlingSource is where containers' CPU throttling comes from:
	// ThrottlingCgroup (under HostSys), ThrottlingCadvisor (the kubelet
	// source reads /metrics/cadvisor) or ThrottlingNone.
	ThrottlingSource string
	HostIP           string
	QueueMaxBytes    int
	BatchMaxBytes    int
	FlushDelay       time.Duration
	ShutdownTimeout  time.Duration
	SpoolDir         string // the disk spool's directory; empty: off, memory only
	SpoolMaxBytes    int
	// HostSource is where the host figures come from: HostSourceProc
	// (HostProc, HostSys, HostRoot, HostDev) or HostSourceKubelet (the
	// summary the kubelet usage source reads; then the host paths are
	// empty).
	HostSource string
	HostProc   string
	HostSys    string
	HostRoot   string
	HostDev    string
	// HostEtc is the host's /etc (the host agent's os-release and
	// machine-id).
	HostEtc string
	// HostIncludeInterfaces and HostExcludeInterfaces are path.Match
	// patterns that override which network interfaces host figures count.
	HostIncludeInterfaces []string
	HostExcludeInterfaces []string

	// The cluster reporter's (RoleCluster): its identity in the election
	// (POD_NAME, else the host name), the cluster's name, and the Lease
	// (in Namespace) with client-go's timings.
	PodName       string
	ClusterName   string
	LeaseName     string
	LeaseDuration time.Duration
	RenewDeadline time.Duration
	RetryPeriod   time.Duration

	// The host agent's (RoleHost): its machine ID (empty: read from the
	// host) and the config file it read (empty: none).
	MachineID  string
	ConfigFile string
}

// Error is a configuration mistake: one line that names the setting and
// says what to fix. It never contains the auth token.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

// errorf formats an Error. It escapes control characters: an os error
// wrapped in one holds the file name as given, a line break included.
func errorf(format string, args ...any) error {
	return &Error{msg: escapeControls(fmt.Sprintf(format, args...))}
}

// Validate checks every setting and returns the typed Config, or the first
// mistake found.
func (o *Options) Validate() (*Config, error) {
	if len(o.retired) > 0 {
		return nil, errorf("%s", o.retired[0])
	}
	c := &Config{
		AuthToken:     o.get(authToken).raw,
		AuthTokenFile: o.get(authTokenFile).raw,
		NodeName:      o.get(nodeName).raw,
		Namespace:     o.get(namespace).raw,
		Kubeconfig:    o.get(kubeconfig).raw,
		HostProc:      o.get(hostProc).raw,
		HostSys:       o.get(hostSys).raw,
		HostRoot:      o.get(hostRoot).raw,
		HostDev:       o.get(hostDev).raw,
		HostEtc:       o.get(hostEtc).raw,
		MachineID:     o.get(machineID).raw,
		ConfigFile:    o.configPath,
	}
	switch {
	case o.role == RoleCluster:
		if err := o.election(c); err != nil {
			return nil, err
		}
	case o.role == RoleHost:
		if err := o.host(c); err != nil {
			return nil, err
		}
	case c.NodeName == "":
		return nil, errorf("%s is not set: set it to the name of the node to watch (in a pod: the downward API field spec.nodeName)", o.get(nodeName).source)
	}
	if c.AuthToken == "" && c.AuthTokenFile == "" {
		if o.role == RoleHost && o.credentials != "" {
			return nil, errorf("no auth token: the service's credentials (%s) have no file token: does /etc/catops/token exist (the unit's LoadCredential=token:/etc/catops/token)? Or set CATOPS_AUTH_TOKEN_FILE or CATOPS_AUTH_TOKEN", o.credentials)
		}
		if o.role == RoleHost {
			return nil, errorf("no auth token: set CATOPS_AUTH_TOKEN_FILE to a file holding it (the systemd unit passes /etc/catops/token as the credential \"token\"), or CATOPS_AUTH_TOKEN")
		}
		return nil, errorf("no auth token: set CATOPS_AUTH_TOKEN, or CATOPS_AUTH_TOKEN_FILE to a file holding it (the Helm chart mounts its Secret)")
	}
	if c.AuthToken == "" {
		if _, err := token.NewFile(c.AuthTokenFile); err != nil {
			source := o.get(authTokenFile).source
			if !o.get(authTokenFile).set {
				source = "the systemd credential \"token\" (LoadCredential=token:/etc/catops/token)"
			}
			return nil, errorf("%s: %v", source, err)
		}
	}
	if err := o.backend(c); err != nil {
		return nil, err
	}
	var err error
	if c.CollectionInterval, err = o.duration(collectionInterval, MinInterval); err != nil {
		return nil, err
	}
	if c.SnapshotInterval, err = o.duration(snapshotInterval, time.Minute); err != nil {
		return nil, err
	}
	if c.SnapshotInterval < c.CollectionInterval {
		return nil, errorf("%s (%s) must not be shorter than %s (%s)", o.get(snapshotInterval).source, c.SnapshotInterval, o.get(collectionInterval).source, c.CollectionInterval)
	}
	if c.FlushDelay, err = o.duration(flushDelay, 10*time.Millisecond); err != nil {
		return nil, err
	}
	if c.FlushDelay > 10*time.Second {
		return nil, errorf("%s must be at most 10s (pod changes should reach the backend within seconds), got %s", o.get(flushDelay).source, c.FlushDelay)
	}
	if c.ShutdownTimeout, err = o.duration(shutdownTimeout, time.Second); err != nil {
		return nil, err
	}
	if c.QueueMaxBytes, err = o.bytes(queueMaxBytes, 1<<20); err != nil {
		return nil, err
	}
	if c.BatchMaxBytes, err = o.bytes(batchMaxBytes, 4<<10); err != nil {
		return nil, err
	}
	if c.BatchMaxBytes > c.QueueMaxBytes {
		return nil, errorf("%s (%d) must not be larger than %s (%d)", o.get(batchMaxBytes).source, c.BatchMaxBytes, o.get(queueMaxBytes).source, c.QueueMaxBytes)
	}
	if c.SpoolMaxBytes, err = o.bytes(spoolMaxBytes, 1<<20); err != nil {
		return nil, err
	}
	if c.MetricsConcurrency, err = strconv.Atoi(o.get(metricsConcurrency).raw); err != nil || c.MetricsConcurrency < 1 || c.MetricsConcurrency > 64 {
		return nil, errorf("%s must be a whole number from 1 to 64, got %q", o.get(metricsConcurrency).source, o.get(metricsConcurrency).raw)
	}
	if c.LogLevel, err = zapcore.ParseLevel(o.get(logLevel).raw); err != nil || c.LogLevel < zapcore.DebugLevel || c.LogLevel > zapcore.ErrorLevel {
		return nil, errorf("%s must be debug, info, warn or error, got %q", o.get(logLevel).source, o.get(logLevel).raw)
	}
	if c.WireFormat, err = o.oneOf(wireFormat, FormatDelta, FormatSnapshot); err != nil {
		return nil, err
	}
	if err := o.spool(c); err != nil {
		return nil, err
	}
	if c.WatchList, err = o.oneOf(watchList, WatchListAuto, WatchListOn, WatchListOff); err != nil {
		return nil, err
	}
	if c.PodMetricsSource, err = o.oneOf(podMetricsSource, SourceMetricsAPI, SourceKubelet, SourceNone); err != nil {
		return nil, err
	}
	if err := o.kubelet(c); err != nil {
		return nil, err
	}
	if err := o.hostSource(c); err != nil {
		return nil, err
	}
	if err := o.throttlingSource(c); err != nil {
		return nil, err
	}
	if c.HealthAddr, err = o.healthAddr(); err != nil {
		return nil, err
	}
	if c.HostIncludeInterfaces, err = o.patterns(includeInterfaces); err != nil {
		return nil, err
	}
	if c.HostExcludeInterfaces, err = o.patterns(excludeInterfaces); err != nil {
		return nil, err
	}
	return c, nil
}

// host checks the host agent's own settings. Without a token setting, the
// token is the systemd credential "token" ($CREDENTIALS_DIRECTORY/token,
// LoadCredential=token:/etc/catops/token) when there is one.
func (o *Options) host(c *Config) error {
	if c.MachineID != "" && !wire.ValidMachineID(c.MachineID) {
		return errorf("%s must be 32 lowercase hex digits, as /etc/machine-id holds, got %q", o.get(machineID).source, c.MachineID)
	}
	if c.AuthToken == "" && c.AuthTokenFile == "" && o.credentials != "" {
		if p := filepath.Join(o.credentials, "token"); fileExists(p) {
			c.AuthTokenFile = p
		}
	}
	return nil
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && st.Mode().IsRegular()
}

// election checks the cluster reporter's leader election settings.
func (o *Options) election(c *Config) error {
	c.PodName, c.ClusterName, c.LeaseName = o.get(podName).raw, o.get(clusterName).raw, o.get(leaseName).raw
	if c.Namespace == "" {
		return errorf("%s is not set: set it to the namespace the reporter runs in, where its Lease lives (in a pod: the downward API field metadata.namespace)", o.get(namespace).source)
	}
	if c.PodName == "" {
		// A random suffix: two reporters on one host must not share an
		// identity, or both would take themselves for the holder.
		h, err := os.Hostname()
		if err != nil || h == "" {
			return errorf("%s is not set and the host name cannot be read: set it to this replica's pod name (downward API field metadata.name)", o.get(podName).source)
		}
		var b [4]byte
		_, _ = rand.Read(b[:])
		c.PodName = h + "_" + hex.EncodeToString(b[:])
	}
	for _, k := range []key{namespace, leaseName} {
		if v := o.get(k); !dnsSubdomain.MatchString(v.raw) || len(v.raw) > 253 {
			return errorf("%s must be a Kubernetes object name (lowercase letters, digits, '-' and '.'), got %q", v.source, v.raw)
		}
	}
	var err error
	if c.LeaseDuration, err = o.duration(leaseDuration, 2*time.Second); err != nil {
		return err
	}
	if c.RenewDeadline, err = o.duration(renewDeadline, time.Second); err != nil {
		return err
	}
	if c.RetryPeriod, err = o.duration(retryPeriod, 100*time.Millisecond); err != nil {
		return err
	}
	if c.LeaseDuration%time.Second != 0 {
		return errorf("%s must be whole seconds (the Lease stores seconds), got %s", o.get(leaseDuration).source, c.LeaseDuration)
	}
	// client-go's rule: the retry period, jittered up to 1.2 times, must
	// fit in the renew deadline.
	if c.RenewDeadline >= c.LeaseDuration || float64(c.RenewDeadline) <= 1.2*float64(c.RetryPeriod) {
		return errorf("leader election needs %s (%s) > %s (%s) > 1.2 × %s (%s)", o.get(leaseDuration).source, c.LeaseDuration,
			o.get(renewDeadline).source, c.RenewDeadline, o.get(retryPeriod).source, c.RetryPeriod)
	}
	return nil
}

// dnsSubdomain is a Kubernetes object name (RFC 1123 subdomain).
var dnsSubdomain = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

func (o *Options) backend(c *Config) error {
	v := o.get(backendURL)
	u, err := url.Parse(v.raw)
	if err != nil {
		// The text may hold credentials: do not echo it.
		return errorf("%s is not a valid URL: set it to an absolute http(s) URL such as https://api.catops.io", v.source)
	}
	if u.User != nil {
		return errorf("%s must not hold credentials (user:password@); set the token with CATOPS_AUTH_TOKEN", v.source)
	}
	if u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return errorf("%s must be an absolute http(s) URL such as https://api.catops.io, got %q", v.source, v.raw)
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return errorf("%s must be a base URL without query or fragment, got %s", v.source, u.Redacted())
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return errorf("%s has port %q: use a port from 1 to 65535", v.source, p)
		}
	}
	insecure, err := strconv.ParseBool(o.get(allowInsecureHTTP).raw)
	if err != nil {
		return errorf("%s must be true or false, got %q", o.get(allowInsecureHTTP).source, o.get(allowInsecureHTTP).raw)
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		if !insecure {
			return errorf("%s uses plain http to %q, which would send the token unencrypted: use https, or set CATOPS_ALLOW_INSECURE_HTTP=true", v.source, u.Host)
		}
	}
	c.BackendURL = strings.TrimRight(u.String(), "/")
	if err := o.backendTLS(c); err != nil {
		return err
	}
	return o.proxy()
}

// backendTLS checks the backend's CA bundle and client certificate: they
// must load now, as they will at every change.
func (o *Options) backendTLS(c *Config) error {
	ca, cert, key := o.get(backendCAFile), o.get(backendCertFile), o.get(backendKeyFile)
	if ca.raw != "" {
		if _, err := backendclient.LoadCA(ca.raw); err != nil {
			return errorf("%s: %v: set it to the PEM bundle of the CA that signed the backend's certificate", ca.source, err)
		}
		c.BackendCAFile = ca.raw
	}
	switch {
	case cert.raw == "" && key.raw == "":
		return nil
	case key.raw == "":
		return errorf("%s is set but %s is not: set both (the client certificate and its key) or neither", cert.source, key.source)
	case cert.raw == "":
		return errorf("%s is set but %s is not: set both (the client certificate and its key) or neither", key.source, cert.source)
	}
	if _, err := backendclient.LoadKeyPair(cert.raw, key.raw); err != nil {
		return errorf("%s and %s: %v", cert.source, key.source, err)
	}
	c.BackendCertFile, c.BackendKeyFile = cert.raw, key.raw
	return nil
}

// proxy checks the proxy variables: an http, https or socks5 URL with a
// host, or host:port, which Go's transport takes as http://host:port.
// Their text may hold credentials: it is never echoed.
func (o *Options) proxy() error {
	for _, v := range o.proxies {
		raw := v.raw
		if strings.IndexFunc(raw, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0 {
			return errorf("%s holds a space or a line break (a Secret made with --from-file keeps the file's newline), which makes Go ignore the proxy: remove it", v.source)
		}
		if !strings.Contains(raw, "://") {
			raw = "http://" + raw
		}
		u, err := url.Parse(raw)
		ok := err == nil && (u.Scheme == "http" || u.Scheme == "https" || u.Scheme == "socks5" || u.Scheme == "socks5h") &&
			u.Hostname() != "" && (u.Path == "" || u.Path == "/") && u.RawQuery == ""
		if ok && u.Port() != "" {
			n, perr := strconv.Atoi(u.Port())
			ok = perr == nil && n >= 1 && n <= 65535
		}
		if !ok {
			return errorf("%s is not a valid proxy URL: set it to http://host:port (or http://user:password@host:port), or unset it", v.source)
		}
	}
	return nil
}

// kubelet checks the settings of the kubelet source.
func (o *Options) kubelet(c *Config) error {
	var err error
	insecure := o.get(kubeletInsecure)
	if c.KubeletInsecureSkipVerify, err = strconv.ParseBool(insecure.raw); err != nil {
		return errorf("%s must be true or false, got %q", insecure.source, insecure.raw)
	}
	summary := o.get(kubeletSummary)
	if c.KubeletSummary, err = strconv.ParseBool(summary.raw); err != nil {
		return errorf("%s must be true or false, got %q", summary.source, summary.raw)
	}
	if v := o.get(hostIP); v.raw != "" {
		if net.ParseIP(v.raw) == nil {
			return errorf("%s must be an IP address (the downward API field status.hostIP), got %q", v.source, v.raw)
		}
		c.HostIP = v.raw
	}
	u, ca := o.get(kubeletURL), o.get(kubeletCAFile)
	if c.PodMetricsSource != SourceKubelet {
		for _, v := range []value{u, ca} {
			if v.raw != "" {
				return errorf("%s is set but %s is %s: set %s=kubelet to read the kubelet, or unset it", v.source, o.get(podMetricsSource).source, c.PodMetricsSource, o.get(podMetricsSource).source)
			}
		}
		if c.KubeletInsecureSkipVerify {
			return errorf("%s is set but %s is %s: set %s=kubelet to read the kubelet, or unset it", insecure.source, o.get(podMetricsSource).source, c.PodMetricsSource, o.get(podMetricsSource).source)
		}
		return nil
	}
	if u.raw != "" {
		parsed, err := url.Parse(u.raw)
		if err != nil || parsed.Scheme != "https" || parsed.Host == "" || parsed.User != nil {
			// The text may hold credentials: echo it only when it parsed without.
			shown := ""
			if err == nil && parsed.User == nil {
				shown = fmt.Sprintf(", got %q", u.raw)
			}
			return errorf("%s must be an absolute https URL without credentials such as https://10.0.0.5:10250/metrics/resource%s", u.source, shown)
		}
		c.KubeletURL = u.raw
	}
	if ca.raw != "" {
		if c.KubeletInsecureSkipVerify {
			return errorf("%s and %s are both set: verify with the CA file, or skip verification, not both", ca.source, insecure.source)
		}
		data, err := os.ReadFile(ca.raw)
		if err != nil {
			return errorf("%s: cannot read %q: %v", ca.source, ca.raw, errors.Unwrap(err))
		}
		if !x509.NewCertPool().AppendCertsFromPEM(data) {
			return errorf("%s: %q holds no PEM certificate: set it to the CA bundle that signed the kubelet's serving certificate", ca.source, ca.raw)
		}
		c.KubeletCAFile = ca.raw
	}
	return nil
}

// hostSource checks where the host figures come from: the kubelet source
// needs the kubelet usage source with its summary, whose read it shares,
// and reads no host directory.
func (o *Options) hostSource(c *Config) error {
	var err error
	if c.HostSource, err = o.oneOf(hostSource, HostSourceProc, HostSourceKubelet); err != nil {
		return err
	}
	if c.HostSource != HostSourceKubelet {
		return nil
	}
	hs, src, summary := o.get(hostSource).source, o.get(podMetricsSource).source, o.get(kubeletSummary).source
	if c.PodMetricsSource != SourceKubelet || !c.KubeletSummary {
		return errorf("%s=kubelet takes the node's figures from the kubelet summary the usage source reads: set %s=kubelet and %s=true (they are %s and %t), or %s=proc",
			hs, src, summary, c.PodMetricsSource, c.KubeletSummary, hs)
	}
	for _, k := range []key{hostProc, hostSys, hostRoot, hostDev} {
		if v := o.get(k); v.raw != "" {
			return errorf("%s is set but %s is kubelet, which reads no host directory: unset %s (chart: hostMetrics.enabled=false), or set %s=proc", v.source, hs, v.source, hs)
		}
	}
	return nil
}

// throttlingSource checks where containers' throttling comes from: the
// cAdvisor metrics are the kubelet source's, and the cgroups are read under
// HOST_SYS, which the kubelet host source leaves unset (no host mount):
// there the default is none.
func (o *Options) throttlingSource(c *Config) error {
	var err error
	if c.ThrottlingSource, err = o.oneOf(throttlingSource, ThrottlingCgroup, ThrottlingCadvisor, ThrottlingNone); err != nil {
		return err
	}
	ts, src := o.get(throttlingSource), o.get(podMetricsSource).source
	switch {
	case c.ThrottlingSource == ThrottlingCadvisor && c.PodMetricsSource != SourceKubelet:
		return errorf("%s=cadvisor reads the kubelet's /metrics/cadvisor beside its resource metrics: set %s=kubelet (it is %s), or %s=cgroup",
			ts.source, src, c.PodMetricsSource, ts.source)
	case c.ThrottlingSource == ThrottlingCgroup && c.HostSource == HostSourceKubelet && !ts.set:
		c.ThrottlingSource = ThrottlingNone
	case c.ThrottlingSource == ThrottlingCgroup && c.HostSource == HostSourceKubelet:
		return errorf("%s=cgroup reads the node's cgroups under HOST_SYS, which %s=kubelet goes without: set %s=none, or cadvisor (the kubelet's /metrics/cadvisor)",
			ts.source, o.get(hostSource).source, ts.source)
	}
	return nil
}

// spool checks the disk spool's directory (the spool creates it when it
// does not exist yet) and, when the spool is on, its bound against the
// queue's: with the spool off, a queue above 64Mi needs no spool setting.
func (o *Options) spool(c *Config) error {
	dir := o.get(spoolDir)
	if dir.raw == "" {
		return nil
	}
	if !filepath.IsAbs(dir.raw) {
		return errorf("%s must be an absolute path such as /var/lib/catops/spool (an emptyDir mount), got %q", dir.source, dir.raw)
	}
	switch fi, err := os.Stat(dir.raw); {
	case err == nil && !fi.IsDir():
		return errorf("%s: %q is not a directory: set it to a directory (an emptyDir mount), or unset it to keep events in memory only", dir.source, dir.raw)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return errorf("%s: cannot use %q: %v: set it to a directory the agent can write (an emptyDir mount), or unset it", dir.source, dir.raw, errors.Unwrap(err))
	}
	if c.WireFormat == FormatSnapshot {
		wf := o.get(wireFormat).source
		return errorf("%s is set but %s is snapshot: the legacy snapshot format has no send queue to spool; set %s=delta, or unset %s", dir.source, wf, wf, dir.source)
	}
	// A bbolt file holding a full queue takes up to about three times its
	// bytes (half-full pages for small events, whole overflow pages for
	// large ones, the freelist) plus 1 MiB growth steps: pkg/spool's
	// TestSpoolHoldsAFullQueueAtFourTimesItsBound.
	if c.SpoolMaxBytes < 4*c.QueueMaxBytes {
		return errorf("%s (%d) must be at least 4 times %s (%d): the spool file needs that room to hold a full queue", o.get(spoolMaxBytes).source, c.SpoolMaxBytes, o.get(queueMaxBytes).source, c.QueueMaxBytes)
	}
	c.SpoolDir = dir.raw
	return nil
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func (o *Options) duration(k key, minimum time.Duration) (time.Duration, error) {
	v := o.get(k)
	d, ok := durationOrSeconds(v.raw)
	if !ok {
		return 0, errorf("%s must be a number of seconds or a duration such as 30s, got %q", v.source, v.raw)
	}
	if d < minimum {
		return 0, errorf("%s must be at least %s, got %s", v.source, minimum, d)
	}
	return d, nil
}

// bytes parses a byte count, also as a quantity such as 8Mi.
func (o *Options) bytes(k key, minimum int) (int, error) {
	v := o.get(k)
	n, ok := parseBytes(v.raw)
	if !ok {
		return 0, errorf("%s must be a number of bytes such as 8388608 or 8Mi, got %q", v.source, v.raw)
	}
	if n < int64(minimum) {
		return 0, errorf("%s must be at least %d bytes, got %d", v.source, minimum, n)
	}
	return int(n), nil
}

func (o *Options) oneOf(k key, allowed ...string) (string, error) {
	v := o.get(k)
	for _, a := range allowed {
		if v.raw == a {
			return a, nil
		}
	}
	return "", errorf("%s must be one of %s, got %q", v.source, strings.Join(allowed, ", "), v.raw)
}

// patterns splits a comma-separated list of path.Match patterns, leaving
// out empty items; nil when there is none.
func (o *Options) patterns(k key) ([]string, error) {
	v := o.get(k)
	var out []string
	for p := range strings.SplitSeq(v.raw, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		if _, err := path.Match(p, ""); err != nil {
			return nil, errorf("%s has a malformed pattern %q (%v): use shell patterns such as veth* or eth[0-9], separated by commas", v.source, p, err)
		}
		out = append(out, p)
	}
	return out, nil
}

func (o *Options) healthAddr() (string, error) {
	v := o.get(healthAddr)
	if v.raw == "" || v.raw == "off" || v.raw == "0" {
		return "", nil
	}
	_, port, err := net.SplitHostPort(v.raw)
	if n, perr := strconv.Atoi(port); err != nil || perr != nil || n < 0 || n > 65535 {
		return "", errorf("%s must be host:port or :port with a port from 0 to 65535 (or \"off\"), got %q", v.source, v.raw)
	}
	return v.raw, nil
}
