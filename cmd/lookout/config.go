package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/internal/diskguard"
	"github.com/lookout-dev/lookout/internal/yamlerr"
)

// config is everything a user can set, resolved once from flags, then
// LOOKOUT_* environment variables, then the optional YAML file, then
// defaults, and split into each package's Config by serve.
type config struct {
	DataDir      string   `yaml:"data_dir"`
	HTTPAddr     string   `yaml:"http_addr"`
	OTLPGRPCAddr string   `yaml:"otlp_grpc_addr"`
	OTLPHTTPAddr string   `yaml:"otlp_http_addr"`
	RetLogs      duration `yaml:"retention_logs"`
	RetTraces    duration `yaml:"retention_traces"`
	RetMetrics   duration `yaml:"retention_metrics"`
	// PromoteResourceAttributes are OTLP resource attributes copied onto
	// every metric series of their resource as labels.
	PromoteResourceAttributes listValue `yaml:"promote_resource_attributes"`
	LogLevel                  string    `yaml:"log_level"`
	LogFormat                 string    `yaml:"log_format"`
	// InsecureIngest turns OTLP ingest authentication off.
	InsecureIngest bool `yaml:"insecure_ingest"`
	// MaxRequestSize bounds one OTLP request after decompression.
	MaxRequestSize byteSize `yaml:"max_request_size"`
	// MaxMemory is the process's memory budget: the Go runtime's soft
	// memory limit, and the whole that ingest's admission budget is a share
	// of. 0 means the default (fits a 1 GiB container); a lower cgroup
	// limit wins.
	MaxMemory byteSize `yaml:"max_memory"`
	// MaxInflight is ingest's budget for requests being decoded and stored,
	// counted by their decoded cost; 0 means a share of MaxMemory.
	MaxInflight byteSize `yaml:"max_inflight"`
	// MaxDisk caps the data directory, all signals together: past it the
	// oldest day of data goes first, whatever the retention. 0: no cap.
	MaxDisk byteSize `yaml:"max_disk"`
	// MinFreeDisk is the free space on the data directory's file system
	// that ingest never eats into: below it requests are refused with 503 /
	// UNAVAILABLE until space returns. -1 (the default) means 1 GiB or 5%
	// of the file system, whichever is smaller; 0 turns the check off.
	MinFreeDisk byteSize `yaml:"min_free_disk"`
	// ShutdownTimeout bounds graceful shutdown.
	ShutdownTimeout duration `yaml:"shutdown_timeout"`
	QueryTimeout    duration `yaml:"query_timeout"`

	// Rules and LogRules are globs of Prometheus rule files and of
	// lookout's log rule files.
	Rules              listValue `yaml:"rules"`
	LogRules           listValue `yaml:"log_rules"`
	AlertmanagerConfig string    `yaml:"alertmanager_config"`
	// ExternalURL is where users reach lookout, the base of the links in
	// alerts; empty means http://<hostname>:<HTTP port> (https:// when
	// lookout serves TLS).
	ExternalURL string `yaml:"external_url"`
	// TrustedProxies are the reverse proxies (addresses or CIDR ranges)
	// whose X-Forwarded-For lookout believes, to count sign-in failures
	// per client rather than per proxy.
	TrustedProxies     listValue `yaml:"trusted_proxies"`
	BuiltinRules       bool      `yaml:"builtin_rules"`
	EvaluationInterval duration  `yaml:"evaluation_interval"`

	// TLSCertFile and TLSKeyFile serve every listener over TLS, reloaded
	// when the files change; TLSClientCAFile asks OTLP senders for a
	// certificate signed by one of its CAs.
	TLSCertFile     string `yaml:"tls_cert_file"`
	TLSKeyFile      string `yaml:"tls_key_file"`
	TLSClientCAFile string `yaml:"tls_client_ca_file"`

	// Prometheus' --rules.alert.* settings.
	ForGracePeriod  duration `yaml:"rules_for_grace_period"`
	OutageTolerance duration `yaml:"rules_outage_tolerance"`
	ResendDelay     duration `yaml:"rules_resend_delay"`

	// Secrets: only from the environment, never flags or the file.
	AdminPassword string `yaml:"-"`
	IngestToken   string `yaml:"-"`

	ConfigFile string `yaml:"-"`
}

func defaultConfig() config {
	return config{
		DataDir:         "./lookout-data",
		HTTPAddr:        ":8080",
		OTLPGRPCAddr:    ":4317",
		OTLPHTTPAddr:    ":4318",
		RetLogs:         duration(7 * 24 * time.Hour),
		RetTraces:       duration(7 * 24 * time.Hour),
		RetMetrics:      duration(30 * 24 * time.Hour),
		LogLevel:        "info",
		LogFormat:       "json",
		MaxRequestSize:  16 << 20,
		MinFreeDisk:     diskguard.Auto,
		ShutdownTimeout: duration(20 * time.Second),
		QueryTimeout:    duration(30 * time.Second),

		BuiltinRules:       true,
		EvaluationInterval: duration(time.Minute),
		ForGracePeriod:     duration(10 * time.Minute),
		OutageTolerance:    duration(time.Hour),
		ResendDelay:        duration(time.Minute),
	}
}

// option is one setting with its flag, environment variable and help.
type option struct {
	flag, env, help string
	value           flag.Value
}

func (c *config) options() []option {
	return []option{
		{"data-dir", "LOOKOUT_DATA_DIR", "directory for all data", (*strValue)(&c.DataDir)},
		{"http-addr", "LOOKOUT_HTTP_ADDR", "address of the UI, API, health and self-metrics", (*strValue)(&c.HTTPAddr)},
		{"otlp-grpc-addr", "LOOKOUT_OTLP_GRPC_ADDR", "OTLP/gRPC listen address (empty: off)", (*strValue)(&c.OTLPGRPCAddr)},
		{"otlp-http-addr", "LOOKOUT_OTLP_HTTP_ADDR", "OTLP/HTTP listen address (empty: off)", (*strValue)(&c.OTLPHTTPAddr)},
		{"retention-logs", "LOOKOUT_RETENTION_LOGS", "how long log records are kept (e.g. 7d, 36h)", &c.RetLogs},
		{"retention-traces", "LOOKOUT_RETENTION_TRACES", "how long spans are kept", &c.RetTraces},
		{"retention-metrics", "LOOKOUT_RETENTION_METRICS", "how long metric samples are kept", &c.RetMetrics},
		{"promote-resource-attributes", "LOOKOUT_PROMOTE_RESOURCE_ATTRIBUTES", "comma-separated OTLP resource attributes to add as labels to every metric series (e.g. deployment.environment,k8s.namespace.name)", &c.PromoteResourceAttributes},
		{"log-level", "LOOKOUT_LOG_LEVEL", "debug, info, warn or error", (*strValue)(&c.LogLevel)},
		{"log-format", "LOOKOUT_LOG_FORMAT", "json or text", (*strValue)(&c.LogFormat)},
		{"insecure-ingest", "LOOKOUT_INSECURE_INGEST", "accept OTLP without an ingest token (not for production)", (*boolValue)(&c.InsecureIngest)},
		{"max-request-size", "LOOKOUT_MAX_REQUEST_SIZE", "largest OTLP request, after decompression (e.g. 16MiB)", &c.MaxRequestSize},
		{"max-memory", "LOOKOUT_MAX_MEMORY", "memory budget: the Go soft memory limit, and what OTLP ingest refuses with 429 to stay under (default 768MiB; 3/4 of a lower cgroup limit wins)", &c.MaxMemory},
		{"max-inflight", "LOOKOUT_MAX_INFLIGHT", "memory OTLP requests being decoded and stored may hold, by decoded cost (default 40% of --max-memory)", &c.MaxInflight},
		{"max-disk", "LOOKOUT_MAX_DISK", "most the data directory may hold, all signals together: past it the oldest day of logs, spans or metrics is dropped first, whatever the retention; the newest day is never dropped (e.g. 20GiB; default: no cap)", &c.MaxDisk},
		{"min-free-disk", "LOOKOUT_MIN_FREE_DISK", "free space kept on the data directory's file system: below it OTLP ingest is refused with 503 (retryable) until space returns (default 1GiB or 5% of the file system, whichever is smaller; 0: off)", &c.MinFreeDisk},
		{"shutdown-timeout", "LOOKOUT_SHUTDOWN_TIMEOUT", "how long a graceful shutdown may take", &c.ShutdownTimeout},
		{"query-timeout", "LOOKOUT_QUERY_TIMEOUT", "how long one API query may run", &c.QueryTimeout},
		{"rules", "LOOKOUT_RULES", "comma-separated globs of Prometheus rule files (alerting and recording rules)", &c.Rules},
		{"log-rules", "LOOKOUT_LOG_RULES", "comma-separated globs of log rule files", &c.LogRules},
		{"alertmanager-config", "LOOKOUT_ALERTMANAGER_CONFIG", "a standard alertmanager.yml (empty: alerts stay in lookout and notify no one)", (*strValue)(&c.AlertmanagerConfig)},
		{"external-url", "LOOKOUT_EXTERNAL_URL", "the URL users reach lookout at, for links in alerts (default http://<hostname>:<port>, https:// with TLS)", (*strValue)(&c.ExternalURL)},
		{"trusted-proxies", "LOOKOUT_TRUSTED_PROXIES", "comma-separated addresses or CIDR ranges of reverse proxies whose X-Forwarded-For names the client (for the sign-in limit)", &c.TrustedProxies},
		{"tls-cert-file", "LOOKOUT_TLS_CERT_FILE", "PEM certificate (and intermediates) to serve HTTPS and OTLP over TLS with; reloaded when the file changes (needs --tls-key-file)", (*strValue)(&c.TLSCertFile)},
		{"tls-key-file", "LOOKOUT_TLS_KEY_FILE", "PEM private key of --tls-cert-file", (*strValue)(&c.TLSKeyFile)},
		{"tls-client-ca-file", "LOOKOUT_TLS_CLIENT_CA_FILE", "PEM CA certificates: OTLP senders must present a client certificate signed by one (mTLS; needs --tls-cert-file)", (*strValue)(&c.TLSClientCAFile)},
		{"builtin-rules", "LOOKOUT_BUILTIN_RULES", "evaluate lookout's rules about itself (stalled or refused ingestion, full disk, failing rules)", (*boolValue)(&c.BuiltinRules)},
		{"evaluation-interval", "LOOKOUT_EVALUATION_INTERVAL", "interval of rule groups that set none", &c.EvaluationInterval},
		{"rules-for-grace-period", "LOOKOUT_RULES_FOR_GRACE_PERIOD", "after a restart, the least time a restored pending alert waits before firing (Prometheus' rules.alert.for-grace-period)", &c.ForGracePeriod},
		{"rules-outage-tolerance", "LOOKOUT_RULES_OUTAGE_TOLERANCE", "the longest downtime after which pending alerts' for state is still restored", &c.OutageTolerance},
		{"rules-resend-delay", "LOOKOUT_RULES_RESEND_DELAY", "how often firing alerts are re-sent to the Alertmanager", &c.ResendDelay},
	}
}

// loadConfig resolves the configuration: flags > environment > file >
// defaults. getenv is os.Getenv outside tests. extra registers a
// subcommand's own flags (lookout demo's) beside the serve flags.
func loadConfig(name string, args []string, getenv func(string) string, stderr io.Writer, extra ...func(*flag.FlagSet)) (config, error) {
	c := defaultConfig()
	// Parse flags into a scratch config first, to learn which were set and
	// where the config file is.
	var fromFlags config
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&fromFlags.ConfigFile, "config", "", "optional YAML configuration file (env LOOKOUT_CONFIG)")
	for _, o := range fromFlags.options() {
		fs.Var(o.value, o.flag, o.help+" (env "+o.env+")")
	}
	for _, register := range extra {
		register(fs)
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: lookout %s [flags]\n\nFlags (each also settable by its environment variable):\n", name)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if fs.NArg() > 0 {
		return c, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })

	c.ConfigFile = fromFlags.ConfigFile
	if c.ConfigFile == "" {
		c.ConfigFile = getenv("LOOKOUT_CONFIG")
	}
	if c.ConfigFile != "" {
		if err := c.readFile(c.ConfigFile); err != nil {
			return c, err
		}
	}
	for _, o := range c.options() {
		if v := getenv(o.env); v != "" && !set[o.flag] {
			if err := o.value.Set(v); err != nil {
				return c, fmt.Errorf("environment %s: %w", o.env, err)
			}
		}
	}
	// Copy set flags over.
	flagOpts := fromFlags.options()
	for i, o := range c.options() {
		if set[o.flag] {
			if err := o.value.Set(flagOpts[i].value.String()); err != nil {
				return c, fmt.Errorf("flag -%s: %w", o.flag, err)
			}
		}
	}
	c.AdminPassword = getenv("LOOKOUT_ADMIN_PASSWORD")
	c.IngestToken = getenv("LOOKOUT_INGEST_TOKEN")
	return c, c.validate()
}

// readFile overlays the YAML file on c. Unknown keys are errors, reported
// with the file and line.
func (c *config) readFile(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return yamlerr.Locate(path, err)
	}
	return nil
}

func (c config) validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("data-dir must not be empty"))
	}
	if c.HTTPAddr == "" {
		errs = append(errs, errors.New("http-addr must not be empty"))
	}
	if time.Duration(c.RetLogs) < time.Hour {
		errs = append(errs, fmt.Errorf("retention-logs %s is shorter than 1h", c.RetLogs))
	}
	if time.Duration(c.RetTraces) < time.Hour {
		errs = append(errs, fmt.Errorf("retention-traces %s is shorter than 1h", c.RetTraces))
	}
	if time.Duration(c.RetMetrics) < time.Hour {
		errs = append(errs, fmt.Errorf("retention-metrics %s is shorter than 1h", c.RetMetrics))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		errs = append(errs, fmt.Errorf("log-level %q is not debug, info, warn or error", c.LogLevel))
	}
	switch c.LogFormat {
	case "json", "text":
	default:
		errs = append(errs, fmt.Errorf("log-format %q is not json or text", c.LogFormat))
	}
	if _, err := parsePrefixes(c.TrustedProxies); err != nil {
		errs = append(errs, fmt.Errorf("trusted-proxies: %w", err))
	}
	if c.MaxRequestSize < 1024 {
		errs = append(errs, fmt.Errorf("max-request-size %d is below 1KiB", c.MaxRequestSize))
	}
	if c.MaxInflight != 0 && c.MaxInflight < c.MaxRequestSize {
		errs = append(errs, fmt.Errorf("max-inflight %d is below max-request-size %d", c.MaxInflight, c.MaxRequestSize))
	}
	if c.MaxMemory != 0 && c.MaxMemory < 64<<20 {
		errs = append(errs, fmt.Errorf("max-memory %d is below 64MiB", c.MaxMemory))
	}
	if c.MaxDisk != 0 && c.MaxDisk < 64<<20 {
		errs = append(errs, fmt.Errorf("max-disk %d is below 64MiB", c.MaxDisk))
	}
	if time.Duration(c.ShutdownTimeout) < time.Second {
		errs = append(errs, fmt.Errorf("shutdown-timeout %s is below 1s", c.ShutdownTimeout))
	}
	if time.Duration(c.QueryTimeout) < time.Second {
		errs = append(errs, fmt.Errorf("query-timeout %s is below 1s", c.QueryTimeout))
	}
	if time.Duration(c.ResendDelay) < time.Second || time.Duration(c.OutageTolerance) < time.Second || c.ForGracePeriod < 0 {
		errs = append(errs, errors.New("rules-resend-delay and rules-outage-tolerance must be at least 1s, rules-for-grace-period not negative"))
	}
	if time.Duration(c.EvaluationInterval) < time.Second {
		errs = append(errs, fmt.Errorf("evaluation-interval %s is below 1s", c.EvaluationInterval))
	}
	if (c.TLSCertFile == "") != (c.TLSKeyFile == "") {
		errs = append(errs, errors.New("tls-cert-file and tls-key-file must be set together"))
	}
	if c.TLSClientCAFile != "" && c.TLSCertFile == "" {
		errs = append(errs, errors.New("tls-client-ca-file needs tls-cert-file and tls-key-file: client certificates are asked for over TLS"))
	}
	errs = append(errs, c.validateSecrets()...)
	if c.ExternalURL != "" {
		if u, err := url.Parse(c.ExternalURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("external-url %q is not an absolute http(s) URL", c.ExternalURL))
		}
	}
	return errors.Join(errs...)
}

// validateSecrets checks the secrets from the environment by auth's rules
// before anything opens, so that a bad one is refused with the variable to
// fix and what it needs, never with its value.
func (c config) validateSecrets() []error {
	var errs []error
	if c.AdminPassword != "" {
		if utf8.RuneCountInString(c.AdminPassword) < auth.MinPasswordLen {
			errs = append(errs, fmt.Errorf("LOOKOUT_ADMIN_PASSWORD is shorter than %d characters: set a password of at least %d, or unset it and lookout generates one into <data-dir>/initial-admin-password",
				auth.MinPasswordLen, auth.MinPasswordLen))
		} else if err := (auth.Config{DataDir: c.DataDir, AdminPassword: c.AdminPassword}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("LOOKOUT_ADMIN_PASSWORD: %w", err))
		}
	}
	if c.IngestToken != "" {
		if utf8.RuneCountInString(c.IngestToken) < auth.MinIngestTokenLen {
			errs = append(errs, fmt.Errorf("LOOKOUT_INGEST_TOKEN is shorter than %d characters: set a token of at least %d printable characters without spaces (e.g. from openssl rand -hex 16), or unset it and lookout generates one into <data-dir>/ingest-token",
				auth.MinIngestTokenLen, auth.MinIngestTokenLen))
		} else if err := (auth.Config{DataDir: c.DataDir, IngestToken: c.IngestToken}).Validate(); err != nil {
			errs = append(errs, fmt.Errorf("LOOKOUT_INGEST_TOKEN: %w", err))
		}
	}
	return errs
}

type strValue string

func (s *strValue) String() string     { return string(*s) }
func (s *strValue) Set(v string) error { *s = strValue(v); return nil }

type boolValue bool

func (b *boolValue) String() string { return strconv.FormatBool(bool(*b)) }
func (b *boolValue) Set(v string) error {
	x, err := strconv.ParseBool(v)
	if err != nil {
		return fmt.Errorf("%q is not true or false", v)
	}
	*b = boolValue(x)
	return nil
}
func (b *boolValue) IsBoolFlag() bool { return true }

// listValue is a list of strings, comma-separated on the command line and
// in the environment, a YAML sequence in the file.
type listValue []string

func (l listValue) String() string { return strings.Join(l, ",") }

func (l *listValue) Set(v string) error {
	*l = nil
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// parsePrefixes reads addresses ("10.0.0.7") and CIDR ranges
// ("10.0.0.0/8") as prefixes.
func parsePrefixes(list []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, s := range list {
		if p, err := netip.ParsePrefix(s); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address or a CIDR range", s)
		}
		out = append(out, netip.PrefixFrom(a, a.BitLen()))
	}
	return out, nil
}

// duration is a time.Duration that also takes days and weeks ("7d", "2w").
type duration time.Duration

func (d duration) String() string {
	td := time.Duration(d)
	if td >= 24*time.Hour && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

func (d *duration) Set(v string) error {
	x, err := parseDuration(v)
	if err != nil {
		return err
	}
	*d = duration(x)
	return nil
}

func (d *duration) UnmarshalYAML(n *yaml.Node) error {
	if err := d.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func parseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	for suffix, unit := range map[string]time.Duration{"d": 24 * time.Hour, "w": 7 * 24 * time.Hour} {
		if n, ok := strings.CutSuffix(v, suffix); ok {
			f, err := strconv.ParseFloat(n, 64)
			if err != nil || f < 0 || f > 1e5 {
				return 0, fmt.Errorf("%q is not a duration such as 7d or 36h", v)
			}
			return time.Duration(f * float64(unit)), nil
		}
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("%q is not a duration such as 7d or 36h", v)
	}
	return d, nil
}

// byteSize is a size in bytes that takes KiB, MiB, GiB (and KB, MB, GB).
type byteSize int64

func (b byteSize) String() string { return strconv.FormatInt(int64(b), 10) }

func (b *byteSize) Set(v string) error {
	x, err := parseBytes(v)
	if err != nil {
		return err
	}
	*b = byteSize(x)
	return nil
}

func (b *byteSize) UnmarshalYAML(n *yaml.Node) error {
	if err := b.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

func parseBytes(v string) (int64, error) {
	s := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{
		{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40},
		{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1},
	}
	mult := int64(1)
	for _, u := range units {
		if n, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(n), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("%q is not a size such as 16MiB", v)
	}
	return int64(f * float64(mult)), nil
}
