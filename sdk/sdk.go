package sdk

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc/credentials"
)

// Protocols Config.Protocol accepts, named as OTEL_EXPORTER_OTLP_PROTOCOL
// names them.
const (
	ProtocolGRPC         = "grpc"
	ProtocolHTTPProtobuf = "http/protobuf"
)

// scope is the instrumentation scope of everything this package records.
const scope = "github.com/lookout-dev/lookout/sdk"

// Config says where telemetry goes and what it describes. The zero value
// works: every empty field falls back to the standard OpenTelemetry
// environment variable, then to a default that reaches a lookout on
// localhost.
type Config struct {
	// ServiceName is service.name, the name lookout lists the service under.
	// Default: OTEL_SERVICE_NAME, then service.name in
	// OTEL_RESOURCE_ATTRIBUTES, then "unknown_service:<executable>".
	ServiceName string
	// ServiceVersion is service.version.
	ServiceVersion string
	// Environment is deployment.environment.name, e.g. "production".
	Environment string
	// Attributes are added to the resource of every signal.
	Attributes map[string]string

	// Endpoint is the base URL of lookout's OTLP receiver:
	// "http://lookout:4318" for HTTP or "http://lookout:4317" for gRPC
	// ("https://" for TLS). Default: OTEL_EXPORTER_OTLP_ENDPOINT (and the
	// per-signal variables), then localhost on the protocol's port.
	Endpoint string
	// Protocol is ProtocolHTTPProtobuf or ProtocolGRPC. Default:
	// OTEL_EXPORTER_OTLP_PROTOCOL, then http/protobuf.
	Protocol string
	// Token is the ingest token, sent as "Authorization: Bearer <token>".
	// Default: LOOKOUT_INGEST_TOKEN. Headers in OTEL_EXPORTER_OTLP_HEADERS
	// are sent as well.
	Token string
	// TLS is the client side of TLS for an https:// endpoint: the CAs to
	// trust (RootCAs) when lookout's certificate is from a private CA, and
	// a client certificate (Certificates) when lookout asks senders for
	// one. Default: OTEL_EXPORTER_OTLP_CERTIFICATE,
	// OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and
	// OTEL_EXPORTER_OTLP_CLIENT_KEY (file paths), then the system's CAs.
	TLS *tls.Config

	// QueueSize bounds the spans, and separately the log records, waiting
	// to be sent. When a queue is full new items are dropped and counted,
	// so a slow or absent lookout never holds up the app. Default 2048.
	QueueSize int
	// MetricInterval is how often metrics are sent. Default:
	// OTEL_METRIC_EXPORT_INTERVAL, then 15s.
	MetricInterval time.Duration
	// Timeout bounds one export, its retries included. Default:
	// OTEL_EXPORTER_OTLP_TIMEOUT, then 10s.
	Timeout time.Duration

	// LogLevel is the lowest level Logger sends. Default slog.LevelInfo.
	LogLevel slog.Leveler
	// LogJSON, when set, also receives every record Logger sends, as a
	// line of JSON with its trace_id and span_id.
	LogJSON io.Writer
	// ErrorLog receives the SDK's own problems (lookout unreachable, items
	// dropped), at most one line per signal a minute. Default: text on
	// standard error.
	ErrorLog *slog.Logger

	// KeepGlobals leaves the OpenTelemetry globals (otel.SetTracerProvider
	// and friends, and the propagator) alone. By default Start installs its
	// providers there, so libraries that use the globals report too. Set it
	// when one process runs several Telemetry values.
	KeepGlobals bool
}

// Telemetry is one service's tracer, meter and logger providers, sending to
// lookout over OTLP. Its methods wrap servers and clients so that they
// record spans and golden signals.
type Telemetry struct {
	tp    *sdktrace.TracerProvider
	mp    *sdkmetric.MeterProvider
	lp    *sdklog.LoggerProvider
	prop  propagation.TextMapPropagator
	log   *slog.Logger
	stats *stats

	tracer trace.Tracer
	meter  metric.Meter

	instOnce sync.Once
	inst     *instruments

	shutdownOnce sync.Once
	shutdownErr  error
}

// Start sets up tracer, meter and logger providers for a service from cfg
// and starts the Go runtime metrics. Nothing is sent until there is
// something to send; Start does not wait for lookout, and lookout being
// down later costs the app only dropped telemetry (see Stats). Call
// Shutdown before the process exits to send what is buffered.
func Start(ctx context.Context, cfg Config) (*Telemetry, error) {
	ex, err := resolveExport(cfg)
	if err != nil {
		return nil, err
	}
	res, err := newResource(ctx, cfg)
	if err != nil {
		return nil, err
	}
	errLog := cfg.ErrorLog
	if errLog == nil {
		errLog = slog.New(slog.NewTextHandler(os.Stderr, nil))
	}
	queue := cfg.QueueSize
	if queue <= 0 {
		queue = 2048
	}
	st := newStats(errLog.With("service", serviceName(res)))

	spanExp, err := ex.spanExporter(ctx)
	if err != nil {
		return nil, err
	}
	logExp, err := ex.logExporter(ctx)
	if err != nil {
		return nil, err
	}
	metricExp, err := ex.metricExporter(ctx)
	if err != nil {
		return nil, err
	}

	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(countSpans(st, spanExp, queue)))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(countLogs(st, logExp, queue)))

	readerOpts := []sdkmetric.PeriodicReaderOption{
		sdkmetric.WithProducer(newRuntimeProducer()),
	}
	if d := cfg.MetricInterval; d > 0 {
		readerOpts = append(readerOpts, sdkmetric.WithInterval(d))
	} else if os.Getenv("OTEL_METRIC_EXPORT_INTERVAL") == "" {
		readerOpts = append(readerOpts, sdkmetric.WithInterval(15*time.Second))
	}
	mp := sdkmetric.NewMeterProvider(
		sdkmetric.WithResource(res),
		sdkmetric.WithReader(sdkmetric.NewPeriodicReader(&countedMetricExporter{Exporter: metricExp, stats: st}, readerOpts...)),
		// Bounds memory when an attribute turns out to have unbounded
		// values; the overflow goes to one otel.metric.overflow series.
		sdkmetric.WithCardinalityLimit(2000),
	)

	t := newTelemetry(tp, mp, lp, st, cfg.LogLevel, cfg.LogJSON)
	if err := startRuntimeMetrics(mp); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if err := st.register(t.meter); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	if !cfg.KeepGlobals {
		otel.SetTracerProvider(tp)
		otel.SetMeterProvider(mp)
		otel.SetLoggerProvider(lp)
		otel.SetTextMapPropagator(t.prop)
	}
	return t, nil
}

// newTelemetry wraps the providers; Start and the tests' Telemetry values
// are built by it alike.
func newTelemetry(tp *sdktrace.TracerProvider, mp *sdkmetric.MeterProvider, lp *sdklog.LoggerProvider, st *stats, level slog.Leveler, jsonOut io.Writer) *Telemetry {
	return &Telemetry{
		tp:     tp,
		mp:     mp,
		lp:     lp,
		prop:   propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		log:    slog.New(newHandler(lp, level, jsonOut)),
		stats:  st,
		tracer: tp.Tracer(scope),
		meter:  mp.Meter(scope),
	}
}

// Shutdown sends everything buffered and stops the providers. It returns
// when all is sent or ctx is done, whichever comes first, with an error
// naming what could not be sent. Later calls return the first result.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	t.shutdownOnce.Do(func() {
		before := t.stats.snapshot()
		// Traces first: spans still open end up as log lines' parents, and
		// the metrics' last export carries the drop counts of the others.
		err := errors.Join(t.tp.Shutdown(ctx), t.lp.Shutdown(ctx), t.mp.Shutdown(ctx))
		after := t.stats.snapshot()
		if n := after.SpansDropped - before.SpansDropped; n > 0 {
			err = errors.Join(err, fmt.Errorf("lookout sdk: %d spans not sent at shutdown", n))
		}
		if n := after.LogsDropped - before.LogsDropped; n > 0 {
			err = errors.Join(err, fmt.Errorf("lookout sdk: %d log records not sent at shutdown", n))
		}
		if n := after.MetricExportsFailed - before.MetricExportsFailed; n > 0 {
			err = errors.Join(err, errors.New("lookout sdk: last metrics not sent at shutdown"))
		}
		t.shutdownErr = err
	})
	return t.shutdownErr
}

// TracerProvider is the provider of the service's tracers.
func (t *Telemetry) TracerProvider() trace.TracerProvider { return t.tp }

// MeterProvider is the provider of the service's meters.
func (t *Telemetry) MeterProvider() metric.MeterProvider { return t.mp }

// LoggerProvider is the provider of the service's OpenTelemetry loggers,
// for log bridges other than slog.
func (t *Telemetry) LoggerProvider() log.LoggerProvider { return t.lp }

// Propagator carries trace context (W3C traceparent) and baggage across
// process boundaries.
func (t *Telemetry) Propagator() propagation.TextMapPropagator { return t.prop }

// Logger is a slog.Logger that sends every record to lookout with the
// trace_id and span_id of the context it is given (use the ...Context
// methods, e.g. InfoContext), and writes it to Config.LogJSON if set.
func (t *Telemetry) Logger() *slog.Logger { return t.log }

// Stats counts what has been sent and what was dropped so far.
func (t *Telemetry) Stats() Stats { return t.stats.snapshot() }

func newResource(ctx context.Context, cfg Config) (*resource.Resource, error) {
	attrs := make([]resource.Option, 0, 6)
	attrs = append(attrs, resource.WithTelemetrySDK(), resource.WithProcessRuntimeName(),
		resource.WithProcessRuntimeVersion(), resource.WithHost(), resource.WithFromEnv())
	var kv []attribute.KeyValue
	if cfg.ServiceName != "" {
		kv = append(kv, semconv.ServiceName(cfg.ServiceName))
	}
	if cfg.ServiceVersion != "" {
		kv = append(kv, semconv.ServiceVersion(cfg.ServiceVersion))
	}
	if cfg.Environment != "" {
		kv = append(kv, semconv.DeploymentEnvironmentNameKey.String(cfg.Environment))
	}
	for k, v := range cfg.Attributes {
		kv = append(kv, attribute.String(k, v))
	}
	// Later options win: what the code sets overrides the environment.
	attrs = append(attrs, resource.WithAttributes(kv...))
	res, err := resource.New(ctx, attrs...)
	if err != nil && !errors.Is(err, resource.ErrSchemaURLConflict) && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("lookout sdk: resource: %w", err)
	}
	// resource.New leaves service.name out when nothing set it; Default
	// holds the spec's unknown_service:<executable>.
	merged, err := resource.Merge(resource.Default(), res)
	if err != nil {
		// Only a schema URL conflict; the attributes are merged regardless.
		return res, nil
	}
	return merged, nil
}

func serviceName(res *resource.Resource) string {
	v, _ := res.Set().Value(semconv.ServiceNameKey)
	return v.AsString()
}

// export is where and how the exporters send, resolved once from Config
// and the environment.
type export struct {
	grpc bool
	// base is the endpoint URL from Config or, when neither Config nor the
	// environment names one, lookout's default; empty lets each exporter
	// read OTEL_EXPORTER_OTLP_*_ENDPOINT itself.
	base    *url.URL
	headers map[string]string
	timeout time.Duration
	// client is the OTLP/HTTP exporters' client, nil when they build their
	// own (see retryingClient).
	client *http.Client
	// creds is the gRPC exporters' TLS, from Config.TLS; nil lets them
	// build their own from the endpoint and the environment.
	creds credentials.TransportCredentials
}

func resolveExport(cfg Config) (export, error) {
	var ex export
	proto := cfg.Protocol
	if proto == "" {
		proto = os.Getenv("OTEL_EXPORTER_OTLP_PROTOCOL")
	}
	switch proto {
	case "", ProtocolHTTPProtobuf:
	case ProtocolGRPC:
		ex.grpc = true
	default:
		return ex, fmt.Errorf("lookout sdk: protocol %q: want %q or %q", proto, ProtocolGRPC, ProtocolHTTPProtobuf)
	}
	endpoint := cfg.Endpoint
	if endpoint == "" && !endpointFromEnv() {
		endpoint = "http://localhost:4318"
		if ex.grpc {
			endpoint = "http://localhost:4317"
		}
	}
	if endpoint != "" {
		u, err := url.Parse(endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return ex, fmt.Errorf("lookout sdk: endpoint %q: want a URL such as http://lookout:4318", endpoint)
		}
		ex.base = u
	}
	token := cfg.Token
	if token == "" {
		token = os.Getenv("LOOKOUT_INGEST_TOKEN")
	}
	if token != "" {
		// The exporters' header option replaces the headers they read from
		// the environment, so those are carried over here.
		ex.headers = parseHeaders(os.Getenv("OTEL_EXPORTER_OTLP_HEADERS"))
		ex.headers["Authorization"] = "Bearer " + token
	}
	ex.timeout = cfg.Timeout
	if ex.timeout == 0 && os.Getenv("OTEL_EXPORTER_OTLP_TIMEOUT") == "" {
		ex.timeout = 10 * time.Second
	}
	switch {
	case ex.grpc && cfg.TLS != nil:
		ex.creds = credentials.NewTLS(cfg.TLS)
	case !ex.grpc:
		ex.client = retryingClient(ex.timeout, cfg.TLS)
	}
	return ex, nil
}

// retryingClient is an HTTP client whose failures to connect count as
// temporary, so the OTLP/HTTP exporters retry them with backoff as they
// retry a 503: without it a batch sent while lookout restarts is dropped
// at once. A client of our own replaces the exporters' TLS and timeout
// settings from the environment, so when certificates are configured there
// (OTEL_EXPORTER_OTLP_*CERTIFICATE, *CLIENT_KEY) and not in tlsConfig it
// is not used.
func retryingClient(timeout time.Duration, tlsConfig *tls.Config) *http.Client {
	if tlsConfig == nil && certificatesFromEnv() {
		return nil
	}
	if timeout == 0 {
		ms, err := strconv.Atoi(os.Getenv("OTEL_EXPORTER_OTLP_TIMEOUT"))
		if err != nil || ms <= 0 {
			ms = 10000
		}
		timeout = time.Duration(ms) * time.Millisecond
	}
	base, ok := http.DefaultTransport.(*http.Transport)
	if !ok {
		return nil
	}
	tr := base.Clone()
	if tlsConfig != nil {
		tr.TLSClientConfig = tlsConfig.Clone()
	}
	return &http.Client{Transport: dialRetry{tr}, Timeout: timeout}
}

func certificatesFromEnv() bool {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "OTEL_EXPORTER_OTLP_") && (strings.HasSuffix(k, "CERTIFICATE") || strings.HasSuffix(k, "CLIENT_KEY")) {
			return true
		}
	}
	return false
}

type dialRetry struct{ http.RoundTripper }

func (d dialRetry) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.RoundTripper.RoundTrip(r)
	var op *net.OpError
	if err != nil && errors.As(err, &op) && op.Op == "dial" {
		return nil, temporaryError{err}
	}
	return resp, err
}

// temporaryError is what url.Error.Temporary, which the exporters ask,
// looks for.
type temporaryError struct{ error }

func (temporaryError) Temporary() bool { return true }
func (e temporaryError) Unwrap() error { return e.error }

func endpointFromEnv() bool {
	for _, k := range []string{"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
		"OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"} {
		if os.Getenv(k) != "" {
			return true
		}
	}
	return false
}

// parseHeaders reads OTEL_EXPORTER_OTLP_HEADERS: comma-separated key=value
// pairs, values percent-encoded (W3C Baggage format, as the spec says).
func parseHeaders(s string) map[string]string {
	h := make(map[string]string)
	for pair := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(pair, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		if uv, err := url.PathUnescape(strings.TrimSpace(v)); err == nil && k != "" {
			h[k] = uv
		}
	}
	return h
}

// signalURL is the base URL with the signal's OTLP/HTTP path appended, as
// the spec builds per-signal URLs from OTEL_EXPORTER_OTLP_ENDPOINT.
func (ex export) signalURL(path string) string {
	u := *ex.base
	u.Path = strings.TrimSuffix(u.Path, "/") + path
	return u.String()
}

// retry makes exports ride out a restart of lookout or a 429 without
// keeping a batch past the export timeout.
const (
	retryInitial = 500 * time.Millisecond
	retryMax     = 5 * time.Second
	retryElapsed = time.Minute
)

func (ex export) spanExporter(ctx context.Context) (sdktrace.SpanExporter, error) {
	if ex.grpc {
		opts := []otlptracegrpc.Option{
			otlptracegrpc.WithCompressor("gzip"),
			otlptracegrpc.WithRetry(otlptracegrpc.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
		}
		if ex.base != nil {
			opts = append(opts, otlptracegrpc.WithEndpointURL(ex.base.String()))
		}
		if ex.headers != nil {
			opts = append(opts, otlptracegrpc.WithHeaders(ex.headers))
		}
		if ex.creds != nil {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(ex.creds))
		}
		if ex.timeout > 0 {
			opts = append(opts, otlptracegrpc.WithTimeout(ex.timeout))
		}
		return otlptracegrpc.New(ctx, opts...)
	}
	opts := []otlptracehttp.Option{
		otlptracehttp.WithCompression(otlptracehttp.GzipCompression),
		otlptracehttp.WithRetry(otlptracehttp.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
	}
	if ex.base != nil {
		opts = append(opts, otlptracehttp.WithEndpointURL(ex.signalURL("/v1/traces")))
	}
	if ex.headers != nil {
		opts = append(opts, otlptracehttp.WithHeaders(ex.headers))
	}
	if ex.client != nil {
		opts = append(opts, otlptracehttp.WithHTTPClient(ex.client))
	}
	if ex.timeout > 0 {
		opts = append(opts, otlptracehttp.WithTimeout(ex.timeout))
	}
	return otlptracehttp.New(ctx, opts...)
}

func (ex export) logExporter(ctx context.Context) (sdklog.Exporter, error) {
	if ex.grpc {
		opts := []otlploggrpc.Option{
			otlploggrpc.WithCompressor("gzip"),
			otlploggrpc.WithRetry(otlploggrpc.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
		}
		if ex.base != nil {
			opts = append(opts, otlploggrpc.WithEndpointURL(ex.base.String()))
		}
		if ex.headers != nil {
			opts = append(opts, otlploggrpc.WithHeaders(ex.headers))
		}
		if ex.creds != nil {
			opts = append(opts, otlploggrpc.WithTLSCredentials(ex.creds))
		}
		if ex.timeout > 0 {
			opts = append(opts, otlploggrpc.WithTimeout(ex.timeout))
		}
		return otlploggrpc.New(ctx, opts...)
	}
	opts := []otlploghttp.Option{
		otlploghttp.WithCompression(otlploghttp.GzipCompression),
		otlploghttp.WithRetry(otlploghttp.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
	}
	if ex.base != nil {
		opts = append(opts, otlploghttp.WithEndpointURL(ex.signalURL("/v1/logs")))
	}
	if ex.headers != nil {
		opts = append(opts, otlploghttp.WithHeaders(ex.headers))
	}
	if ex.client != nil {
		opts = append(opts, otlploghttp.WithHTTPClient(ex.client))
	}
	if ex.timeout > 0 {
		opts = append(opts, otlploghttp.WithTimeout(ex.timeout))
	}
	return otlploghttp.New(ctx, opts...)
}

func (ex export) metricExporter(ctx context.Context) (sdkmetric.Exporter, error) {
	if ex.grpc {
		opts := []otlpmetricgrpc.Option{
			otlpmetricgrpc.WithCompressor("gzip"),
			otlpmetricgrpc.WithRetry(otlpmetricgrpc.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
		}
		if ex.base != nil {
			opts = append(opts, otlpmetricgrpc.WithEndpointURL(ex.base.String()))
		}
		if ex.headers != nil {
			opts = append(opts, otlpmetricgrpc.WithHeaders(ex.headers))
		}
		if ex.creds != nil {
			opts = append(opts, otlpmetricgrpc.WithTLSCredentials(ex.creds))
		}
		if ex.timeout > 0 {
			opts = append(opts, otlpmetricgrpc.WithTimeout(ex.timeout))
		}
		return otlpmetricgrpc.New(ctx, opts...)
	}
	opts := []otlpmetrichttp.Option{
		otlpmetrichttp.WithCompression(otlpmetrichttp.GzipCompression),
		otlpmetrichttp.WithRetry(otlpmetrichttp.RetryConfig{Enabled: true, InitialInterval: retryInitial, MaxInterval: retryMax, MaxElapsedTime: retryElapsed}),
	}
	if ex.base != nil {
		opts = append(opts, otlpmetrichttp.WithEndpointURL(ex.signalURL("/v1/metrics")))
	}
	if ex.headers != nil {
		opts = append(opts, otlpmetrichttp.WithHeaders(ex.headers))
	}
	if ex.client != nil {
		opts = append(opts, otlpmetrichttp.WithHTTPClient(ex.client))
	}
	if ex.timeout > 0 {
		opts = append(opts, otlpmetrichttp.WithTimeout(ex.timeout))
	}
	return otlpmetrichttp.New(ctx, opts...)
}
