// Package config holds every setting of the agent: one table binds each to
// a flag and an environment variable with its default, Validate checks them
// and says what to fix, and the result is a typed Config.
package config

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/joho/godotenv"
	"github.com/spf13/pflag"
)

// A key names one setting, as an index into the table below: a misspelt
// setting is a compile error, not an empty value.
type key int

// The settings, in the order of the FlagSet.
const (
	backendURL key = iota
	authToken
	authTokenFile
	nodeName
	namespace
	collectionInterval
	snapshotInterval
	kubeconfig
	logLevel
	healthAddr
	wireFormat
	watchList
	podMetricsSource
	metricsConcurrency
	kubeletURL
	kubeletCAFile
	kubeletInsecure
	kubeletSummary
	throttlingSource
	hostIP
	queueMaxBytes
	batchMaxBytes
	flushDelay
	spoolDir
	spoolMaxBytes
	backendCAFile
	backendCertFile
	backendKeyFile
	allowInsecureHTTP
	shutdownTimeout
	hostProc
	hostSys
	hostRoot
	hostDev
	includeInterfaces
	excludeInterfaces
	hostSource
	podName
	clusterName
	leaseName
	leaseDuration
	renewDeadline
	retryPeriod
	configFile
	machineID
	hostEtc

	numSettings // not a setting: the size of the table
)

// Role is which command a set of options is for: the node agent
// (catops-k8s) or the cluster reporter (catops-k8s cluster).
type Role int

// The roles.
const (
	RoleNode Role = iota
	RoleCluster
	// RoleHost is catops, the host agent of plain servers.
	RoleHost
)

// clusterKeys are the settings the cluster reporter reads, in the order of
// its FlagSet; clusterOnly those the node agent does not.
var (
	clusterKeys = []key{backendURL, authToken, authTokenFile, backendCAFile, backendCertFile, backendKeyFile, allowInsecureHTTP,
		namespace, podName, clusterName, leaseName, leaseDuration, renewDeadline, retryPeriod, kubeconfig,
		collectionInterval, snapshotInterval, queueMaxBytes, batchMaxBytes, flushDelay, shutdownTimeout, healthAddr, logLevel}
	clusterOnly = []key{podName, clusterName, leaseName, leaseDuration, renewDeadline, retryPeriod}
	hostKeys    = []key{configFile, backendURL, authToken, authTokenFile, backendCAFile, backendCertFile, backendKeyFile, allowInsecureHTTP,
		machineID, collectionInterval, snapshotInterval, hostProc, hostSys, hostRoot, hostDev, hostEtc, includeInterfaces, excludeInterfaces,
		queueMaxBytes, batchMaxBytes, flushDelay, spoolDir, spoolMaxBytes, shutdownTimeout, healthAddr, logLevel}
	hostOnly = []key{configFile, machineID, hostEtc}
)

// roleDefaults are the defaults a role has of its own: a server's agent
// opens no port unless asked.
var roleDefaults = map[Role]map[key]string{RoleHost: {healthAddr: "off"}}

// roleHelp is the help a setting has in a role where the table's, written
// for the node agent, would mislead.
var roleHelp = map[Role]map[key]string{RoleHost: {
	collectionInterval: "seconds between host samples (minimum 10); also takes a duration such as 30s",
	healthAddr:         "address of /healthz, /readyz and /metrics (host:port, e.g. 127.0.0.1:9810); off: no server, the default",
	spoolDir:           "directory of the optional disk spool: events not yet acknowledged by the backend are kept there and delivered after a restart (the systemd unit's: /var/lib/catops/spool); empty: memory only",
	authTokenFile:      "file holding the auth token, re-read when it changes and on SIGHUP; empty, with no CATOPS_AUTH_TOKEN: $CREDENTIALS_DIRECTORY/token (the systemd unit's credential \"token\")",
}}

// helpOf is the help of k in role r.
func helpOf(r Role, k key) string {
	if h, ok := roleHelp[r][k]; ok {
		return h
	}
	return settings[k].help
}

// def is the default of k in role r.
func def(r Role, k key) string {
	if d, ok := roleDefaults[r][k]; ok {
		return d
	}
	return settings[k].def
}

// keys are the settings of role, in the order of its FlagSet.
func keys(r Role) []key {
	switch r {
	case RoleCluster:
		return clusterKeys
	case RoleHost:
		return hostKeys
	}
	var out []key
	for k := range numSettings {
		if !slices.Contains(clusterOnly, k) && !slices.Contains(hostOnly, k) {
			out = append(out, k)
		}
	}
	return out
}

// setting is one row of the table: the flag, its environment variable, the
// default, the value it takes in --help (none for a boolean) and its help.
type setting struct {
	name, env, def, arg, help string
	boolean                   bool
}

// settings is the one table of flags, environment variables, defaults and
// help; TestEveryKeyHasARow checks that every key has its row.
var settings = [numSettings]setting{
	backendURL:         {"backend-url", "CATOPS_BACKEND_URL", "https://api.catops.io", "URL", "CatOps backend base URL; batches are POSTed to a path under it: /api/cli/kubernetes/metrics (a node), /api/cli/kubernetes/cluster (the cluster reporter), /api/cli/host/metrics (catops, a host)", false},
	authToken:          {"auth-token", "CATOPS_AUTH_TOKEN", "", "TOKEN", "backend auth token (prefer the file: a flag is visible in the process list)", false},
	authTokenFile:      {"auth-token-file", "CATOPS_AUTH_TOKEN_FILE", "", "PATH", "file holding the auth token, re-read when it changes (a mounted Secret); used when no token is given", false},
	nodeName:           {"node-name", "NODE_NAME", "", "NAME", "name of the node this agent watches (downward API spec.nodeName); required", false},
	namespace:          {"namespace", "NAMESPACE", "", "NAME", "namespace the agent runs in, reported with every batch", false},
	collectionInterval: {"collection-interval", "COLLECTION_INTERVAL", "60", "SECONDS|DURATION", "seconds between host samples and usage reads (minimum 10); also takes a duration such as 30s", false},
	snapshotInterval:   {"snapshot-interval", "CATOPS_SNAPSHOT_INTERVAL", "10m", "DURATION", "how often a full snapshot is sent so the backend can resynchronise (delta format)", false},
	kubeconfig:         {"kubeconfig", "KUBECONFIG", "", "PATH", "kubeconfig file; empty: in-cluster config in a pod, else ~/.kube/config", false},
	logLevel:           {"log-level", "CATOPS_LOG_LEVEL", "info", "debug|info|warn|error", "log level: debug, info, warn or error", false},
	healthAddr:         {"health-addr", "CATOPS_HEALTH_ADDR", ":8080", "HOST:PORT|off", "address of /healthz, /readyz and /metrics; \"off\" turns the server off. The default listens on every interface: in a pod, the kubelet's probes and Prometheus reach it on the pod IP; run by hand, use 127.0.0.1:8080", false},
	wireFormat:         {"wire-format", "CATOPS_WIRE_FORMAT", "delta", "delta|snapshot", "wire format: delta (catops.k8s/v1 batches) or snapshot (the full node every interval, legacy shape)", false},
	watchList:          {"watch-list", "CATOPS_WATCH_LIST", "auto", "auto|on|off", "how the pod and node caches load: auto (a streaming initial list, WatchList, falling back to LIST + WATCH when the API server or a proxy in front of it does not complete it within 30s), on (WatchList only) or off (LIST + WATCH)", false},
	podMetricsSource:   {"pod-metrics-source", "CATOPS_POD_METRICS_SOURCE", "metrics-api", "metrics-api|kubelet|none", "where pod CPU/memory usage comes from: metrics-api (metrics-server, through the API server), kubelet (this node's kubelet /metrics/resource directly: no API server request; needs RBAC get on nodes/metrics) or none", false},
	metricsConcurrency: {"metrics-api-concurrency", "CATOPS_METRICS_API_CONCURRENCY", "4", "N", "most Metrics API requests in flight at once", false},
	kubeletURL:         {"kubelet-url", "CATOPS_KUBELET_URL", "", "URL", "kubelet resource metrics URL (source kubelet); empty: https://<Node InternalIP, else HOST_IP>:<Node's kubelet port>/<Node's metrics.k8s.io/resource-metrics-path annotation, else metrics/resource>", false},
	kubeletCAFile:      {"kubelet-ca-file", "CATOPS_KUBELET_CA_FILE", "", "PATH", "CA bundle that verifies the kubelet's serving certificate (source kubelet); empty: the API server's CA (in a pod: the ServiceAccount's ca.crt)", false},
	kubeletInsecure:    {"kubelet-insecure-skip-verify", "CATOPS_KUBELET_INSECURE_SKIP_VERIFY", "false", "", "do not verify the kubelet's serving certificate (source kubelet; for self-signed kubelet certificates, like metrics-server's --kubelet-insecure-tls)", true},
	throttlingSource:   {"throttling-source", "CATOPS_THROTTLING_SOURCE", "cgroup", "cgroup|cadvisor|none", "where each CPU-limited container's throttling comes from: cgroup (its cgroup's cpu.stat in the node's cgroup tree under HOST_SYS: no API server or kubelet request), cadvisor (the kubelet's /metrics/cadvisor, keeping only its CFS series: source kubelet, RBAC get on nodes/metrics; the kubelet spent 67 ms of CPU per read with 20 pods) or none; throttling goes with the containers' usage, so none is read with CATOPS_POD_METRICS_SOURCE=none", false},
	kubeletSummary:     {"kubelet-summary", "CATOPS_KUBELET_SUMMARY", "true", "", "also read the kubelet's /stats/summary each interval (source kubelet; RBAC get on nodes/stats): pods' network traffic, ephemeral storage and volumes, containers' RSS, the node's filesystems", true},
	hostIP:             {"host-ip", "HOST_IP", "", "IP", "this node's IP (downward API status.hostIP); the kubelet's address when the Node has no InternalIP (source kubelet)", false},
	queueMaxBytes:      {"queue-max-bytes", "CATOPS_QUEUE_MAX_BYTES", "8388608", "BYTES", "bound of the send queue in bytes (minimum 1048576; 8Mi also works); samples are dropped first when full", false},
	batchMaxBytes:      {"batch-max-bytes", "CATOPS_BATCH_MAX_BYTES", "524288", "BYTES", "most uncompressed event bytes in one batch (minimum 4096; 512Ki also works)", false},
	flushDelay:         {"flush-delay", "CATOPS_FLUSH_DELAY", "1s", "DURATION", "longest a change waits to be batched with others", false},
	spoolDir:           {"spool-dir", "CATOPS_SPOOL_DIR", "", "PATH", "directory of the optional disk spool: events not yet acknowledged by the backend are kept there and delivered after an agent restart (an emptyDir survives container restarts, not pod replacement); empty: memory only", false},
	spoolMaxBytes:      {"spool-max-bytes", "CATOPS_SPOOL_MAX_BYTES", "67108864", "BYTES", "most bytes the spool file may take on disk; when reached, or when the disk is full, events are kept in memory only until the queue drains (catops_spool_degraded)", false},
	backendCAFile:      {"backend-ca-file", "CATOPS_BACKEND_CA_FILE", "", "PATH", "PEM CA bundle trusted in place of the system roots for the backend's certificate, re-read when it changes; empty: the system roots", false},
	backendCertFile:    {"backend-cert-file", "CATOPS_BACKEND_CERT_FILE", "", "PATH", "PEM client certificate shown to a backend that asks for one (mTLS), re-read when it changes; needs CATOPS_BACKEND_KEY_FILE", false},
	backendKeyFile:     {"backend-key-file", "CATOPS_BACKEND_KEY_FILE", "", "PATH", "PEM private key of CATOPS_BACKEND_CERT_FILE", false},
	allowInsecureHTTP:  {"allow-insecure-http", "CATOPS_ALLOW_INSECURE_HTTP", "false", "", "allow plain http:// to a non-loopback backend (sends the token unencrypted)", true},
	shutdownTimeout:    {"shutdown-timeout", "CATOPS_SHUTDOWN_TIMEOUT", "10s", "DURATION", "longest the final flush of pending events may take on SIGTERM; a backend that fails or refuses is not retried then", false},
	hostProc:           {"host-proc", "HOST_PROC", "", "PATH", "host /proc mount for node-level host figures (e.g. /host/proc); empty: /proc", false},
	hostSys:            {"host-sys", "HOST_SYS", "", "PATH", "host /sys mount (e.g. /host/sys); empty: /sys", false},
	hostRoot:           {"host-root", "HOST_ROOT", "", "PATH", "host / mount, for filesystem usage (e.g. /host/root); empty: /", false},
	hostDev:            {"host-dev", "HOST_DEV", "", "PATH", "host /dev mount, to name /dev/mapper devices (optional, e.g. /host/dev); empty: /dev", false},
	includeInterfaces:  {"host-include-interfaces", "CATOPS_HOST_INCLUDE_INTERFACES", "", "PATTERNS", "comma-separated shell patterns (weird0,eth*) of network interfaces always counted in host figures, even virtual ones; empty: none (see docs/host-metrics.md)", false},
	excludeInterfaces:  {"host-exclude-interfaces", "CATOPS_HOST_EXCLUDE_INTERFACES", "", "PATTERNS", "comma-separated shell patterns of network interfaces never counted in host figures; win over the include patterns; empty: none", false},
	podName:            {"pod-name", "POD_NAME", "", "NAME", "this replica's identity in the leader election: its pod's name (downward API metadata.name); empty: the host name, which is the pod's name in a pod", false},
	clusterName:        {"cluster-name", "CATOPS_CLUSTER_NAME", "", "NAME", "a name for the cluster, sent with every batch beside the cluster's ID (the UID of its kube-system namespace); empty: none", false},
	leaseName:          {"lease-name", "CATOPS_LEASE_NAME", "catops-cluster", "NAME", "the coordination.k8s.io Lease the replicas elect their leader on, in NAMESPACE; only its holder watches the cluster and sends", false},
	leaseDuration:      {"lease-duration", "CATOPS_LEASE_DURATION", "15s", "DURATION", "how long the lease lasts unrenewed: the longest the cluster stream stops when the leader dies without letting go", false},
	renewDeadline:      {"renew-deadline", "CATOPS_RENEW_DEADLINE", "10s", "DURATION", "how long the leader tries to renew before it steps down; it sends nothing once this long has passed since its last renewal began (shorter than the lease duration)", false},
	retryPeriod:        {"retry-period", "CATOPS_RETRY_PERIOD", "2s", "DURATION", "how often replicas try to take or renew the lease (shorter than the renew deadline)", false},
	configFile:         {"config", "CATOPS_CONFIG", "", "PATH", "a file of KEY=VALUE lines setting any of these variables, read as a dotenv file (a # at the start or after a space starts a comment; $VAR is expanded in values unless they are 'single-quoted'); the environment and flags win over it; read again on SIGHUP for the auth token", false},
	machineID:          {"machine-id", "CATOPS_MACHINE_ID", "", "ID", "this host's stable ID, sent with every batch; empty: HOST_ETC/machine-id (else HOST_ROOT/var/lib/dbus/machine-id)", false},
	hostEtc:            {"host-etc", "HOST_ETC", "", "PATH", "host /etc mount, for os-release and machine-id (e.g. /host/etc); empty: /etc", false},
	hostSource:         {"host-source", "CATOPS_HOST_SOURCE", "proc", "proc|kubelet", "where the node's host figures come from: proc (its /proc, /sys and / through HOST_PROC, HOST_SYS, HOST_ROOT and HOST_DEV, mounted from the node) or kubelet (the node section of the kubelet's /stats/summary that the usage source reads, and the Node's capacity: no host mount, fewer figures; needs CATOPS_POD_METRICS_SOURCE=kubelet and CATOPS_KUBELET_SUMMARY=true; see docs/host-metrics.md)", false},
}

// retired are variables earlier builds read. Set to its off value (what
// earlier charts wrote by default), one is ignored: that is what the
// agent does anyway. Set to anything else, it is refused with what
// replaces it, rather than ignored.
var retired = []struct{ env, off, instead string }{
	{"CATOPS_KUBELET_THROTTLING", "false", "set CATOPS_THROTTLING_SOURCE=cadvisor (with CATOPS_POD_METRICS_SOURCE=kubelet) to read the kubelet's /metrics/cadvisor, or leave the default, cgroup, which reads the node's cgroups at no cost to the kubelet"},
}

// value is a setting's raw text and where it came from, for error messages.
type value struct {
	raw    string
	source string // "--flag" or "ENV"
	set    bool   // given as a flag or variable, not the default
}

// Options are the raw settings, before validation.
type Options struct {
	role    Role
	bound   [numSettings]bool // the settings of role
	values  [numSettings]value
	fs      *pflag.FlagSet
	flags   [numSettings]*pflag.Flag
	version *bool
	// retired are the errors of retired variables set to what they no
	// longer do (reported by Validate, so that --version still works).
	retired []string
	// proxies are the proxy variables Go's transport reads, as getenv
	// gave them (only those set).
	proxies []value
	// configPath is the config file read (--config, CATOPS_CONFIG);
	// empty: none.
	configPath string
	// credentials is $CREDENTIALS_DIRECTORY, where systemd puts a
	// service's credentials (the host role's token).
	credentials string
}

// NewOptions binds every setting of the node agent to a flag on a new
// FlagSet named prog.
func NewOptions(prog string) *Options { return NewRoleOptions(prog, RoleNode) }

// NewRoleOptions binds every setting of role to a flag on a new FlagSet
// named prog. The settings of the other role keep their defaults and are
// not read from the environment.
func NewRoleOptions(prog string, role Role) *Options {
	o := &Options{role: role, fs: pflag.NewFlagSet(prog, pflag.ContinueOnError)}
	for _, k := range keys(role) {
		o.bound[k] = true
		s := settings[k]
		help := fmt.Sprintf("%s (env %s)", helpOf(role, k), s.env)
		if d := def(role, k); s.boolean {
			o.fs.Bool(s.name, d == "true", help)
		} else {
			o.fs.String(s.name, d, help)
		}
		o.flags[k] = o.fs.Lookup(s.name)
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
		return oneLine(err)
	}
	if o.fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: every setting is a --flag or an environment variable (see --help)", o.fs.Arg(0))
	}
	o.credentials = getenv("CREDENTIALS_DIRECTORY")
	file, err := o.readConfigFile(getenv)
	if err != nil {
		return err
	}
	for k, s := range settings {
		d := def(o.role, key(k))
		switch {
		case !o.bound[k]:
			o.values[k] = value{raw: d, source: s.env}
		case o.flags[k].Changed:
			o.values[k] = value{raw: strings.TrimSpace(o.flags[k].Value.String()), source: "--" + s.name, set: true}
		case getenv(s.env) != "":
			o.values[k] = value{raw: strings.TrimSpace(getenv(s.env)), source: s.env, set: true}
		case file[s.env] != "":
			o.values[k] = value{raw: strings.TrimSpace(file[s.env]), source: s.env + " in " + o.configPath, set: true}
		default:
			o.values[k] = value{raw: d, source: s.env}
		}
	}
	for _, r := range retired {
		if v := strings.TrimSpace(getenv(r.env)); v != "" && v != r.off {
			o.retired = append(o.retired, fmt.Sprintf("%s=%s is no longer read: %s, and unset %s", r.env, v, r.instead, r.env))
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

func (o *Options) get(k key) value { return o.values[k] }

// oneLine returns a flag parsing error as one line: pflag echoes the
// argument as given, which may hold a line break or a terminal escape.
func oneLine(err error) error {
	if msg := escapeControls(err.Error()); msg != err.Error() {
		return errors.New(msg)
	}
	return err
}

// escapeControls writes control characters as Go escapes (\n, \x1b).
func escapeControls(s string) string {
	if strings.IndexFunc(s, unicode.IsControl) < 0 {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			q := strconv.QuoteRune(r) // '\n'
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// usageGroups orders --help: each setting of a role in one of its groups.
var usageGroups = []struct {
	title string
	keys  []key
	roles []Role // the roles that show the group
}{
	{"Configuration file", []key{configFile}, []Role{RoleHost}},
	{"Backend", []key{backendURL, authToken, authTokenFile, backendCAFile, backendCertFile, backendKeyFile, allowInsecureHTTP, wireFormat}, []Role{RoleNode, RoleCluster, RoleHost}},
	{"This host", []key{machineID}, []Role{RoleHost}},
	{"This node", []key{nodeName, namespace, kubeconfig, watchList}, []Role{RoleNode}},
	{"Leader election", []key{namespace, podName, leaseName, leaseDuration, renewDeadline, retryPeriod}, []Role{RoleCluster}},
	{"This cluster", []key{clusterName, kubeconfig}, []Role{RoleCluster}},
	{"Collection", []key{collectionInterval, snapshotInterval}, []Role{RoleNode, RoleCluster, RoleHost}},
	{"Pod usage", []key{podMetricsSource, metricsConcurrency, kubeletURL, kubeletCAFile, kubeletInsecure, kubeletSummary, throttlingSource, hostIP}, []Role{RoleNode}},
	{"Host figures", []key{hostSource, hostProc, hostSys, hostRoot, hostDev, hostEtc, includeInterfaces, excludeInterfaces}, []Role{RoleNode, RoleHost}},
	{"Delivery", []key{queueMaxBytes, batchMaxBytes, flushDelay, spoolDir, spoolMaxBytes, shutdownTimeout}, []Role{RoleNode, RoleCluster, RoleHost}},
	{"Health and logs", []key{healthAddr, logLevel}, []Role{RoleNode, RoleCluster, RoleHost}},
}

// usageWidth is the width --help wraps its text at.
const usageWidth = 80

// Usage returns the --help text: the settings by group, each with the
// value it takes, its help wrapped to 80 columns, its environment variable
// and its default.
func (o *Options) Usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Usage: %s [flags]\n\n", o.fs.Name())
	switch o.role {
	case RoleHost:
		b.WriteString("catops samples this host (CPU, memory, filesystems, disks, network) and\n")
		b.WriteString("ships its figures and changes to the CatOps backend; it is the agent of\n")
		b.WriteString("servers without Kubernetes (catops-k8s is the one of Kubernetes nodes).\n")
	case RoleCluster:
		b.WriteString("catops-k8s cluster is the cluster reporter: of its replicas, the one that\n")
		b.WriteString("holds the lease watches the cluster's workloads, pods without a node,\n")
		b.WriteString("namespaces, nodes and Warning events and ships them to the CatOps backend.\n")
	default:
		b.WriteString("catops-k8s watches the pods of one Kubernetes node and ships their state,\n")
		b.WriteString("usage and host samples to the CatOps backend (\"catops-k8s cluster --help\"\n")
		b.WriteString("for the cluster reporter).\n")
	}
	b.WriteString("Every flag can also be set through its environment variable; a flag wins\n")
	b.WriteString("over the variable.\n")
	const indent = "      "
	for _, g := range usageGroups {
		if !slices.Contains(g.roles, o.role) {
			continue
		}
		var ks []key
		for _, k := range g.keys {
			if o.bound[k] {
				ks = append(ks, k)
			}
		}
		fmt.Fprintf(&b, "\n%s:\n", g.title)
		for _, k := range ks {
			s := settings[k]
			flag := "  --" + s.name
			if !s.boolean {
				flag += " " + s.arg
			}
			b.WriteString(flag + "\n")
			for _, line := range wrap(helpOf(o.role, k), usageWidth-len(indent)) {
				b.WriteString(indent + line + "\n")
			}
			tail := "env " + s.env
			switch d := def(o.role, k); {
			case d != "" && d != "false":
				tail += ", default " + d
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

// readConfigFile reads the config file the role takes (--config, else
// CATOPS_CONFIG), if one is given: KEY=VALUE lines, read by godotenv as a
// dotenv file. A variable it sets that no setting of the role reads is
// refused, so that a typo is not ignored. The file may hold the token: an
// error names a line by its number and quotes no text of it but a
// variable's name, and only a name of the agent's kind (CATOPS_*, HOST_*,
// the proxy variables); a value that runs over several lines (a quote left
// open, which would swallow the next lines, the token's among them) is
// refused.
func (o *Options) readConfigFile(getenv func(string) string) (map[string]string, error) {
	if !o.bound[configFile] {
		return nil, nil
	}
	path, source := getenv(settings[configFile].env), settings[configFile].env
	if f := o.flags[configFile]; f.Changed {
		path, source = f.Value.String(), "--"+settings[configFile].name
	}
	path = strings.TrimSpace(path)
	if path == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(path) //nolint:gosec // the config file the user named
	if err != nil {
		return nil, fmt.Errorf("%s: cannot read %q: %w", source, path, err)
	}
	vars, err := godotenv.UnmarshalBytes(raw)
	if err != nil {
		// godotenv's message quotes the file's text, which may hold the
		// token: only the line is named.
		return nil, fmt.Errorf("%s: %q: %s is not KEY=VALUE, or opens a quote it does not close", source, path, badLine(raw))
	}
	known := map[string]bool{}
	for _, k := range keys(o.role) {
		known[settings[k].env] = true
	}
	for _, name := range slices.Sorted(maps.Keys(vars)) {
		line := lineOf(raw, name)
		switch {
		case !envName.MatchString(name):
			return nil, fmt.Errorf("%s: %q: %s is not KEY=VALUE (KEY: letters, digits and _)", source, path, line)
		case strings.ContainsAny(vars[name], "\r\n"):
			return nil, fmt.Errorf("%s: %q: the value of %s (%s) runs over several lines: close its quote", source, path, name, line)
		case name == settings[configFile].env:
			return nil, fmt.Errorf("%s: %q sets %s (%s): a config file cannot name another", source, path, name, line)
		case isProxyVariable(name):
			return nil, fmt.Errorf("%s: %q sets %s (%s): proxy variables are read from the environment only (systemd: Environment=%s=…)", source, path, name, line, name)
		case known[name]:
		case strings.HasPrefix(name, "CATOPS_") || strings.HasPrefix(name, "HOST_") || slices.Contains(EnvNames(), name):
			return nil, fmt.Errorf("%s: %q sets %s (%s), which %s does not read (see --help for the variables it does)", source, path, name, line, o.fs.Name())
		default:
			return nil, fmt.Errorf("%s: %q: %s sets a variable %s does not read (see --help for the variables it does)", source, path, line, o.fs.Name())
		}
	}
	o.configPath = path
	return vars, nil
}

// envName is a variable's name.
var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// lineOf names the first line of a config file that sets name ("line 3"),
// as godotenv reads a line: the name after an optional "export ", then =
// or :.
func lineOf(raw []byte, name string) string {
	for i, line := range strings.Split(string(raw), "\n") {
		t := strings.TrimSpace(line)
		t = strings.TrimSpace(strings.TrimPrefix(t, "export "))
		if rest, ok := strings.CutPrefix(t, name); ok && (strings.HasPrefix(strings.TrimSpace(rest), "=") || strings.HasPrefix(strings.TrimSpace(rest), ":")) {
			return fmt.Sprintf("line %d", i+1)
		}
	}
	return "a line"
}

// badLine names the first line of a config file godotenv cannot read on
// its own ("line 3"), or "a value" when every line reads alone (a quote
// left open runs over the lines after it).
func badLine(raw []byte) string {
	for i, line := range strings.Split(string(raw), "\n") {
		if t := strings.TrimSpace(line); t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if _, err := godotenv.Unmarshal(line); err != nil {
			return fmt.Sprintf("line %d", i+1)
		}
	}
	return "a value"
}

// isProxyVariable: the proxy variables Go's transport reads from the
// process environment, which a config file cannot set.
func isProxyVariable(name string) bool {
	switch strings.ToUpper(name) {
	case "HTTPS_PROXY", "HTTP_PROXY", "NO_PROXY":
		return true
	}
	return false
}

// ConfigFile is the config file Parse read; empty: none.
func (o *Options) ConfigFile() string { return o.configPath }

// EnvNames lists every environment variable the node agent reads, sorted.
func EnvNames() []string { return RoleEnvNames(RoleNode) }

// RoleEnvNames lists every environment variable role reads, sorted.
func RoleEnvNames(r Role) []string {
	out := make([]string, 0, len(settings))
	for _, k := range keys(r) {
		out = append(out, settings[k].env)
	}
	sort.Strings(out)
	return out
}

// durationOrSeconds parses "60" as seconds and "1m" as a duration.
func durationOrSeconds(raw string) (time.Duration, bool) {
	if secs, err := strconv.ParseInt(raw, 10, 64); err == nil && strconv.FormatInt(secs, 10) == raw {
		// Beyond about 292 years a Duration wraps around.
		if secs > math.MaxInt64/int64(time.Second) || secs < math.MinInt64/int64(time.Second) {
			return 0, false
		}
		return time.Duration(secs) * time.Second, true
	}
	d, err := time.ParseDuration(raw)
	return d, err == nil
}
