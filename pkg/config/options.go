// Package config holds every setting of the agent: one table binds each to
// a flag and an environment variable with its default, Validate checks them
// and says what to fix, and the result is a typed Config.
package config

import (
	"fmt"
	"os"
	"sort"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/spf13/pflag"
)

// Setting names, used as keys of Options.
const (
	BackendURL         = "backend-url"
	AuthToken          = "auth-token"
	AuthTokenFile      = "auth-token-file" //nolint:gosec // G101: a flag name, not a credential
	NodeName           = "node-name"
	Namespace          = "namespace"
	CollectionInterval = "collection-interval"
	SnapshotInterval   = "snapshot-interval"
	Kubeconfig         = "kubeconfig"
	LogLevel           = "log-level"
	HealthAddr         = "health-addr"
	WireFormat         = "wire-format"
	PodMetricsSource   = "pod-metrics-source"
	WatchList          = "watch-list"
	MetricsConcurrency = "metrics-api-concurrency"
	KubeletURL         = "kubelet-url"
	KubeletCAFile      = "kubelet-ca-file"
	KubeletInsecure    = "kubelet-insecure-skip-verify"
	HostIP             = "host-ip"
	QueueMaxBytes      = "queue-max-bytes"
	BatchMaxBytes      = "batch-max-bytes"
	FlushDelay         = "flush-delay"
	AllowInsecureHTTP  = "allow-insecure-http"
	BackendCAFile      = "backend-ca-file"
	BackendCertFile    = "backend-cert-file"
	BackendKeyFile     = "backend-key-file"
	ShutdownTimeout    = "shutdown-timeout"
	HostProc           = "host-proc"
	HostSys            = "host-sys"
	HostRoot           = "host-root"
	HostDev            = "host-dev"
	IncludeInterfaces  = "host-include-interfaces"
	ExcludeInterfaces  = "host-exclude-interfaces"
)

type setting struct {
	name, env, def, help string
	boolean              bool
}

// settings is the one table of flags, environment variables and defaults.
var settings = []setting{
	{BackendURL, "CATOPS_BACKEND_URL", "https://api.catops.io", "CatOps backend base URL; batches are POSTed to <url>/api/cli/kubernetes/metrics", false},
	{AuthToken, "CATOPS_AUTH_TOKEN", "", "backend auth token (prefer the file: a flag is visible in the process list)", false},
	{AuthTokenFile, "CATOPS_AUTH_TOKEN_FILE", "", "file holding the auth token, re-read when it changes (a mounted Secret); used when no token is given", false},
	{NodeName, "NODE_NAME", "", "name of the node this agent watches (downward API spec.nodeName); required", false},
	{Namespace, "NAMESPACE", "", "namespace the agent runs in, reported with every batch", false},
	{CollectionInterval, "COLLECTION_INTERVAL", "60", "seconds between host samples and usage reads (minimum 10); also takes a duration such as 30s", false},
	{SnapshotInterval, "CATOPS_SNAPSHOT_INTERVAL", "10m", "how often a full snapshot is sent so the backend can resynchronise (delta format)", false},
	{Kubeconfig, "KUBECONFIG", "", "kubeconfig file; empty: in-cluster config in a pod, else ~/.kube/config", false},
	{LogLevel, "CATOPS_LOG_LEVEL", "info", "log level: debug, info, warn or error", false},
	{HealthAddr, "CATOPS_HEALTH_ADDR", ":8080", "address of /healthz, /readyz and /metrics; \"off\" turns the server off. The default listens on every interface: in a pod, the kubelet's probes and Prometheus reach it on the pod IP; run by hand, use 127.0.0.1:8080", false},
	{WireFormat, "CATOPS_WIRE_FORMAT", "delta", "wire format: delta (catops.k8s/v1 batches) or snapshot (the full node every interval, legacy shape)", false},
	{WatchList, "CATOPS_WATCH_LIST", "auto", "how the pod and node caches load: auto (a streaming initial list, WatchList, falling back to LIST + WATCH when the API server or a proxy in front of it does not complete it within 30s), on (WatchList only) or off (LIST + WATCH)", false},
	{PodMetricsSource, "CATOPS_POD_METRICS_SOURCE", "metrics-api", "where pod CPU/memory usage comes from: metrics-api (metrics-server, through the API server), kubelet (this node's kubelet /metrics/resource directly: no API server request; needs RBAC get on nodes/metrics) or none", false},
	{MetricsConcurrency, "CATOPS_METRICS_API_CONCURRENCY", "4", "most Metrics API requests in flight at once", false},
	{KubeletURL, "CATOPS_KUBELET_URL", "", "kubelet resource metrics URL (source kubelet); empty: https://<Node InternalIP, else HOST_IP>:<Node's kubelet port>/<Node's metrics.k8s.io/resource-metrics-path annotation, else metrics/resource>", false},
	{KubeletCAFile, "CATOPS_KUBELET_CA_FILE", "", "CA bundle that verifies the kubelet's serving certificate (source kubelet); empty: the API server's CA (in a pod: the ServiceAccount's ca.crt)", false},
	{KubeletInsecure, "CATOPS_KUBELET_INSECURE_SKIP_VERIFY", "false", "do not verify the kubelet's serving certificate (source kubelet; for self-signed kubelet certificates, like metrics-server's --kubelet-insecure-tls)", true},
	{HostIP, "HOST_IP", "", "this node's IP (downward API status.hostIP); the kubelet's address when the Node has no InternalIP (source kubelet)", false},
	{QueueMaxBytes, "CATOPS_QUEUE_MAX_BYTES", "8388608", "bound of the send queue in bytes (minimum 1048576; 8Mi also works); samples are dropped first when full", false},
	{BatchMaxBytes, "CATOPS_BATCH_MAX_BYTES", "524288", "most uncompressed event bytes in one batch (minimum 4096; 512Ki also works)", false},
	{FlushDelay, "CATOPS_FLUSH_DELAY", "1s", "longest a change waits to be batched with others", false},
	{BackendCAFile, "CATOPS_BACKEND_CA_FILE", "", "PEM CA bundle trusted in place of the system roots for the backend's certificate, re-read when it changes; empty: the system roots", false},
	{BackendCertFile, "CATOPS_BACKEND_CERT_FILE", "", "PEM client certificate shown to a backend that asks for one (mTLS), re-read when it changes; needs CATOPS_BACKEND_KEY_FILE", false},
	{BackendKeyFile, "CATOPS_BACKEND_KEY_FILE", "", "PEM private key of CATOPS_BACKEND_CERT_FILE", false},
	{AllowInsecureHTTP, "CATOPS_ALLOW_INSECURE_HTTP", "false", "allow plain http:// to a non-loopback backend (sends the token unencrypted)", true},
	{ShutdownTimeout, "CATOPS_SHUTDOWN_TIMEOUT", "10s", "longest the final flush of pending events may take on SIGTERM; a backend that fails or refuses is not retried then", false},
	{HostProc, "HOST_PROC", "", "host /proc mount for node-level host figures (e.g. /host/proc); empty: /proc", false},
	{HostSys, "HOST_SYS", "", "host /sys mount (e.g. /host/sys); empty: /sys", false},
	{HostRoot, "HOST_ROOT", "", "host / mount, for filesystem usage (e.g. /host/root); empty: /", false},
	{HostDev, "HOST_DEV", "", "host /dev mount, to name /dev/mapper devices (optional, e.g. /host/dev); empty: /dev", false},
	{IncludeInterfaces, "CATOPS_HOST_INCLUDE_INTERFACES", "", "comma-separated shell patterns (weird0,eth*) of network interfaces always counted in host figures, even virtual ones; empty: none (see docs/host-metrics.md)", false},
	{ExcludeInterfaces, "CATOPS_HOST_EXCLUDE_INTERFACES", "", "comma-separated shell patterns of network interfaces never counted in host figures; win over the include patterns; empty: none", false},
}

// value is a setting's raw text and where it came from, for error messages.
type value struct {
	raw    string
	source string // "--flag", "ENV" or "default"
}

// Options are the raw settings, before validation.
type Options struct {
	values  map[string]value
	fs      *pflag.FlagSet
	flags   map[string]*string
	bools   map[string]*bool
	version *bool
	// proxies are the proxy variables Go's transport reads, as getenv
	// gave them (only those set).
	proxies []value
}

// NewOptions binds every setting to a flag on a new FlagSet named prog.
func NewOptions(prog string) *Options {
	o := &Options{
		values: map[string]value{},
		fs:     pflag.NewFlagSet(prog, pflag.ContinueOnError),
		flags:  map[string]*string{},
		bools:  map[string]*bool{},
	}
	for _, s := range settings {
		help := fmt.Sprintf("%s (env %s)", s.help, s.env)
		if s.boolean {
			o.bools[s.name] = o.fs.Bool(s.name, s.def == "true", help)
		} else {
			o.flags[s.name] = o.fs.String(s.name, s.def, help)
		}
	}
	o.version = o.fs.Bool("version", false, "print the version and exit")
	o.fs.SortFlags = false
	return o
}

// VersionRequested reports whether --version was given.
func (o *Options) VersionRequested() bool { return *o.version }

// FlagSet is the flag set, for --help.
func (o *Options) FlagSet() *pflag.FlagSet { return o.fs }

// Parse reads flags from args and environment variables through getenv:
// a flag given on the command line wins over the variable, which wins over
// the default.
func (o *Options) Parse(args []string, getenv func(string) string) error {
	if getenv == nil {
		getenv = os.Getenv
	}
	if err := o.fs.Parse(args); err != nil {
		return err
	}
	if o.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a --flag or an environment variable (see --help)", o.fs.Arg(0))
	}
	for _, s := range settings {
		switch {
		case o.fs.Changed(s.name):
			raw := ""
			if s.boolean {
				raw = fmt.Sprint(*o.bools[s.name])
			} else {
				raw = *o.flags[s.name]
			}
			o.values[s.name] = value{raw: strings.TrimSpace(raw), source: "--" + s.name}
		case getenv(s.env) != "":
			o.values[s.name] = value{raw: strings.TrimSpace(getenv(s.env)), source: s.env}
		default:
			o.values[s.name] = value{raw: s.def, source: s.env}
		}
	}
	// Go's transport takes the first of each pair that is not empty, as
	// it is: untrimmed.
	for _, pair := range [][2]string{{"HTTPS_PROXY", "https_proxy"}, {"HTTP_PROXY", "http_proxy"}} {
		for _, name := range pair {
			if raw := getenv(name); raw != "" {
				o.proxies = append(o.proxies, value{raw: raw, source: name})
				break
			}
		}
	}
	return nil
}

func (o *Options) get(name string) value { return o.values[name] }

// usageGroups orders --help: each setting in one group.
var usageGroups = []struct {
	title string
	names []string
}{
	{"Backend", []string{BackendURL, AuthToken, AuthTokenFile, BackendCAFile, BackendCertFile, BackendKeyFile, AllowInsecureHTTP, WireFormat}},
	{"This node", []string{NodeName, Namespace, Kubeconfig, WatchList}},
	{"Collection", []string{CollectionInterval, SnapshotInterval}},
	{"Pod usage", []string{PodMetricsSource, MetricsConcurrency, KubeletURL, KubeletCAFile, KubeletInsecure, HostIP}},
	{"Host figures", []string{HostProc, HostSys, HostRoot, HostDev, IncludeInterfaces, ExcludeInterfaces}},
	{"Delivery", []string{QueueMaxBytes, BatchMaxBytes, FlushDelay, ShutdownTimeout}},
	{"Health and logs", []string{HealthAddr, LogLevel}},
}

// placeholders name the value each non-boolean flag takes in --help.
var placeholders = map[string]string{
	BackendURL: "URL", AuthToken: "TOKEN", AuthTokenFile: "PATH", WireFormat: "delta|snapshot",
	BackendCAFile: "PATH", BackendCertFile: "PATH", BackendKeyFile: "PATH",
	NodeName: "NAME", Namespace: "NAME", Kubeconfig: "PATH", WatchList: "auto|on|off",
	CollectionInterval: "SECONDS|DURATION", SnapshotInterval: "DURATION",
	PodMetricsSource: "metrics-api|kubelet|none", MetricsConcurrency: "N", KubeletURL: "URL", KubeletCAFile: "PATH", HostIP: "IP",
	HostProc: "PATH", HostSys: "PATH", HostRoot: "PATH", HostDev: "PATH", IncludeInterfaces: "PATTERNS", ExcludeInterfaces: "PATTERNS",
	QueueMaxBytes: "BYTES", BatchMaxBytes: "BYTES", FlushDelay: "DURATION", ShutdownTimeout: "DURATION",
	HealthAddr: "HOST:PORT|off", LogLevel: "debug|info|warn|error",
}

// usageWidth is the width --help wraps its text at.
const usageWidth = 80

// Usage returns the --help text: the settings by group, each with the
// value it takes, its help wrapped to 80 columns, its environment variable
// and its default.
func (o *Options) Usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", o.fs.Name())
	b.WriteString("catops-k8s watches the pods of one Kubernetes node and ships their state,\n")
	b.WriteString("usage and host samples to the CatOps backend. Every flag can also be set\n")
	b.WriteString("through its environment variable; a flag wins over the variable.\n")
	byName := map[string]setting{}
	for _, s := range settings {
		byName[s.name] = s
	}
	const indent = "      "
	for _, g := range usageGroups {
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, name := range g.names {
			s := byName[name]
			flag := "  --" + s.name
			if !s.boolean {
				flag += " " + placeholders[s.name]
			}
			b.WriteString(flag + "\n")
			for _, line := range wrap(s.help, usageWidth-len(indent)) {
				b.WriteString(indent + line + "\n")
			}
			tail := "env " + s.env
			switch {
			case s.def != "" && s.def != "false":
				tail += ", default " + s.def
			case s.boolean:
				tail += ", default false"
			}
			b.WriteString(indent + tail + "\n")
		}
	}
	b.WriteString("\nOther:\n  --help\n" + indent + "print this help and exit\n  --version\n" + indent + "print the version and exit\n")
	return b.String()
}

// wrap breaks text into lines of at most width runes, at spaces.
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		switch {
		case line == "":
			line = word
		case utf8.RuneCountInString(line)+1+utf8.RuneCountInString(word) > width:
			lines = append(lines, line)
			line = word
		default:
			line += " " + word
		}
	}
	if line != "" {
		lines = append(lines, line)
	}
	return lines
}

// EnvNames lists every environment variable the agent reads, sorted.
func EnvNames() []string {
	out := make([]string, 0, len(settings))
	for _, s := range settings {
		out = append(out, s.env)
	}
	sort.Strings(out)
	return out
}

// durationOrSeconds parses "60" as seconds and "1m" as a duration.
func durationOrSeconds(raw string) (time.Duration, bool) {
	var secs int64
	if _, err := fmt.Sscanf(raw, "%d", &secs); err == nil && fmt.Sprint(secs) == raw {
		return time.Duration(secs) * time.Second, true
	}
	d, err := time.ParseDuration(raw)
	return d, err == nil
}
