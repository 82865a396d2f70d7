package main

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
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sync"
	"syscall"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/alerts"
	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/ingest"
	"github.com/lookout-dev/lookout/internal/certreload"
	"github.com/lookout-dev/lookout/internal/diskguard"
	"github.com/lookout-dev/lookout/internal/drain"
	"github.com/lookout-dev/lookout/internal/private"
	"github.com/lookout-dev/lookout/internal/selfscrape"
	"github.com/lookout-dev/lookout/internal/spanmetrics"
	"github.com/lookout-dev/lookout/logstore"
	"github.com/lookout-dev/lookout/metricstore"
	"github.com/lookout-dev/lookout/query"
	"github.com/lookout-dev/lookout/web"
)

// listening reports the bound addresses once everything serves.
type listening struct {
	HTTP, OTLPGRPC, OTLPHTTP string
}

func newLogger(cfg config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(cfg.LogLevel))
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// serve runs lookout until ctx is done, then shuts down gracefully within
// cfg.ShutdownTimeout: stop accepting, finish in-flight requests (each is
// acknowledged only once durable), close the stores.
func serve(ctx context.Context, cfg config, logOut io.Writer, started func(listening)) error {
	log := newLogger(cfg, logOut)
	log.Info("starting", "version", buildVersion(), "data_dir", cfg.DataDir)
	// Owner-only, also when it already existed: it holds password hashes,
	// token digests and all the telemetry.
	if err := private.MkdirAll(cfg.DataDir); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	set := metrics.NewSet()
	registerDiskMetrics(set, cfg.DataDir)
	cgroup, err := cgroupMemoryLimit(os.ReadFile)
	if err != nil {
		log.Warn("cgroup_memory_limit", "err", err)
	}
	memBudget := memoryBudget(int64(cfg.MaxMemory), cgroup)
	if cfg.MaxMemory != 0 && memBudget < int64(cfg.MaxMemory) {
		log.Warn("max_memory_capped_by_cgroup", "max_memory", int64(cfg.MaxMemory), "cgroup_limit", cgroup, "budget", memBudget)
	}
	// The soft limit makes the collector work harder near the budget and
	// give memory back after a burst, instead of the heap settling at twice
	// its peak live size (GOGC=100). It is process-wide, hence here.
	debug.SetMemoryLimit(memBudget)
	set.NewGauge("lookout_memory_budget_bytes", func() float64 { return float64(memBudget) })
	log.Info("memory_budget", "bytes", memBudget, "cgroup_limit", cgroup)
	reg := prometheus.NewRegistry()
	// The registry holds what Prometheus' packages register (the PromQL
	// engine); Go runtime metrics come from WriteProcessMetrics, so no Go
	// collector here: two go_* families would make /metrics unparsable.

	authSvc, err := auth.Open(ctx, auth.Config{
		DataDir:        cfg.DataDir,
		AdminPassword:  cfg.AdminPassword,
		IngestToken:    cfg.IngestToken,
		InsecureIngest: cfg.InsecureIngest,
	}, auth.Options{Logger: log.With("component", "auth"), Metrics: set})
	if err != nil {
		return fmt.Errorf("open auth: %w", err)
	}
	defer authSvc.Close()

	start := time.Now()
	store, err := logstore.Open(ctx, logstore.Config{
		Dir:             filepath.Join(cfg.DataDir, "logs"),
		LogsRetention:   time.Duration(cfg.RetLogs),
		TracesRetention: time.Duration(cfg.RetTraces),
	}, logstore.Options{Logger: log.With("component", "logstore"), Metrics: set})
	if err != nil {
		return fmt.Errorf("open log store: %w", err)
	}
	log.Info("log_store_open", "duration", time.Since(start).String())
	defer func() {
		if err := store.Close(); err != nil {
			log.Error("close_log_store", "err", err)
		}
	}()

	start = time.Now()
	mstore, err := metricstore.Open(ctx, metricstore.Config{
		Dir:                       filepath.Join(cfg.DataDir, "metrics"),
		Retention:                 time.Duration(cfg.RetMetrics),
		PromoteResourceAttributes: cfg.PromoteResourceAttributes,
	}, metricstore.Options{Logger: log.With("component", "metricstore"), Metrics: set})
	if err != nil {
		return fmt.Errorf("open metric store: %w", err)
	}
	log.Info("metric_store_open", "duration", time.Since(start).String())
	defer func() {
		if err := mstore.Close(); err != nil {
			log.Error("close_metric_store", "err", err)
		}
	}()
	red, err := spanmetrics.New(spanmetrics.Config{}, spanmetrics.Options{
		Logger:  log.With("component", "spanmetrics"),
		Metrics: set,
		Next:    mstore,
	})
	if err != nil {
		return err
	}
	writeMetrics := func(w io.Writer) {
		metrics.WriteProcessMetrics(w)
		set.WritePrometheus(w)
		writeRegistry(w, reg)
	}

	certs, err := openTLS(cfg, log.With("component", "tls"), set)
	if err != nil {
		return err
	}
	icfg := ingest.DefaultConfig()
	icfg.GRPCAddr, icfg.HTTPAddr = cfg.OTLPGRPCAddr, cfg.OTLPHTTPAddr
	icfg.MaxRequestBytes = int64(cfg.MaxRequestSize)
	icfg.MaxInFlightBytes = ingestBudget(memBudget, int64(cfg.MaxInflight))
	if icfg.MaxInFlightBytes < icfg.MaxRequestBytes {
		return fmt.Errorf("ingest's share of the memory budget (%d bytes of %d) is below max-request-size %d: raise --max-memory or lower --max-request-size",
			icfg.MaxInFlightBytes, memBudget, icfg.MaxRequestBytes)
	}
	// Ingest asks the guard before each request, so that SQLite and bleve
	// never find the disk full; /readyz says why while it refuses.
	guard, err := diskguard.Open(ctx, diskguard.Config{Dir: cfg.DataDir, MinFree: int64(cfg.MinFreeDisk)},
		diskguard.Options{Logger: log.With("component", "diskguard"), Metrics: set})
	if err != nil {
		return err
	}
	iopts := ingest.Options{
		Logger:  log.With("component", "ingest"),
		Metrics: set,
		Disk:    guard,
		Logs:    store,
		Traces:  tracesTee{store: store, red: red},
		Metric:  mstore,
	}
	if !cfg.InsecureIngest {
		iopts.Auth = authSvc
	}
	if certs != nil {
		// Client certificates (with --tls-client-ca-file) only for OTLP
		// senders: browsers and Grafana sign in on the HTTP port.
		iopts.TLS = certs.MutualConfig()
	}
	recv, err := ingest.Open(ctx, icfg, iopts)
	if err != nil {
		return err
	}

	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
	if err != nil {
		return fmt.Errorf("listen HTTP on %s: %w", cfg.HTTPAddr, err)
	}
	defer ln.Close()
	if certs != nil {
		ln = tls.NewListener(ln, certs.ServerConfig())
	}

	ext, err := externalURL(cfg.ExternalURL, ln.Addr(), certs != nil)
	if err != nil {
		return err
	}
	// One PromQL engine, with one set of bounds, for the query API, the
	// pages and the rules.
	concurrent := 2 * runtime.GOMAXPROCS(0)
	engine, err := query.NewEngine(query.Config{
		Timeout:       time.Duration(cfg.QueryTimeout),
		SubqueryStep:  time.Duration(cfg.EvaluationInterval),
		MaxConcurrent: concurrent,
		MaxSamples:    querySampleLimit(memBudget, concurrent),
	}, query.Options{Logger: log.With("component", "promql"), Registerer: reg})
	if err != nil {
		return err
	}
	acfg := alerts.DefaultConfig()
	acfg.RuleFiles, acfg.LogRuleFiles = cfg.Rules, cfg.LogRules
	acfg.AlertmanagerConfig = cfg.AlertmanagerConfig
	acfg.DataDir = filepath.Join(cfg.DataDir, "alertmanager")
	acfg.ExternalURL = ext
	acfg.BuiltinRules = cfg.BuiltinRules
	acfg.EvaluationInterval = time.Duration(cfg.EvaluationInterval)
	acfg.ForGracePeriod = time.Duration(cfg.ForGracePeriod)
	acfg.OutageTolerance = time.Duration(cfg.OutageTolerance)
	acfg.ResendDelay = time.Duration(cfg.ResendDelay)
	alerting, err := alerts.Open(ctx, acfg, alerts.Options{
		Logger:     log.With("component", "alerts"),
		Metrics:    set,
		Registerer: reg,
		Queryable:  mstore,
		Appendable: mstore,
		Exemplars:  mstore,
		Logs:       store,
		Engine:     engine,
	})
	if err != nil {
		return fmt.Errorf("open alerting: %w", err)
	}
	defer func() {
		if err := alerting.Close(); err != nil {
			log.Error("close_alerting", "err", err)
		}
	}()
	log.Info("alerting_open", "external_url", ext.String())

	proxies, err := parsePrefixes(cfg.TrustedProxies)
	if err != nil {
		return fmt.Errorf("trusted-proxies: %w", err)
	}
	handler, err := web.New(web.Options{
		Logger:         log.With("component", "web"),
		Auth:           authSvc,
		Sessions:       authSvc,
		Accounts:       authSvc,
		SecureCookies:  ext.Scheme == "https",
		TrustedProxies: proxies,
		Logs:           store,
		Ready: []web.Check{
			{Name: "metadata", Func: authSvc.Ping},
			{Name: "logstore", Func: store.Ping},
			{Name: "metricstore", Func: mstore.Ping},
			{Name: "disk", Func: guard.Check},
		},
		Metrics:      func(w http.ResponseWriter) { writeMetrics(w) },
		QueryTimeout: time.Duration(cfg.QueryTimeout),
		PromQL: &web.PromQLOptions{
			Engine:    engine,
			Queryable: mstore,
			Metadata:  mstore,
			Exemplars: mstore,
			BuildInfo: web.BuildInfo{Version: buildVersion()},
		},
		Alerts:       alerting,
		Alertmanager: alerting.AlertmanagerAPI(),
		Silences:     alerting,
	})
	if err != nil {
		return err
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       time.Minute,
		WriteTimeout:      2 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// Streams (the logs' live tail) end when shutdown starts, instead of
	// holding it for its whole timeout; other requests finish.
	srv.RegisterOnShutdown(handler.Close)
	drainer := drain.New(srv)

	// Background loops that write into the metric store stop before it
	// closes (deferred above): span metrics flush a last time.
	var bg sync.WaitGroup
	defer bg.Wait()
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	bg.Go(func() {
		if err := red.Run(runCtx); err != nil {
			log.Warn("span_metrics_final_flush", "err", err)
		}
	})
	bg.Go(func() { _ = alerting.Run(runCtx) })
	bg.Go(func() { reloadOnHangup(runCtx, alerting, log) })
	bg.Go(func() { _ = guard.Run(runCtx) })
	if cfg.MaxDisk > 0 {
		dc := newDiskCap(cfg.DataDir, int64(cfg.MaxDisk), log.With("component", "diskcap"), set,
			capSignal{"logs", func(ctx context.Context) (time.Time, bool, error) { return store.OldestDay("logs") },
				func(ctx context.Context, t time.Time) error { return store.EvictBefore(ctx, "logs", t) }},
			capSignal{"spans", func(ctx context.Context) (time.Time, bool, error) { return store.OldestDay("spans") },
				func(ctx context.Context, t time.Time) error { return store.EvictBefore(ctx, "spans", t) }},
			capSignal{"metrics", mstore.OldestTime, mstore.EvictBefore})
		bg.Go(func() { dc.Run(runCtx) })
	}
	errc := make(chan error, 2)
	go func() { errc <- recv.Run(runCtx, time.Duration(cfg.ShutdownTimeout)) }()
	go func() {
		if err := drainer.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			errc <- fmt.Errorf("serve HTTP: %w", err)
			return
		}
		errc <- nil
	}()
	l := listening{HTTP: ln.Addr().String()}
	if a := recv.GRPCAddr(); a != nil {
		l.OTLPGRPC = a.String()
	}
	if a := recv.HTTPAddr(); a != nil {
		l.OTLPHTTP = a.String()
	}
	log.Info("listening", "http", l.HTTP, "otlp_grpc", l.OTLPGRPC, "otlp_http", l.OTLPHTTP)
	scraper := selfscrape.New(selfscrape.Config{Instance: l.HTTP}, selfscrape.Options{
		Logger: log.With("component", "selfscrape"),
		Write:  writeMetrics,
		Store:  mstore,
	})
	bg.Go(func() { scraper.Run(runCtx) })
	if started != nil {
		started(l)
	}

	var runErr error
	pending := 2
	select {
	case <-ctx.Done():
		log.Info("shutting_down")
	case runErr = <-errc:
		pending--
		log.Error("server_stopped", "err", runErr)
	}
	cancel()
	sctx, scancel := context.WithTimeout(context.Background(), time.Duration(cfg.ShutdownTimeout))
	defer scancel()
	// Stop accepting, answer what each open connection sends with
	// "Connection: close" until its client has gone (see drain), then wait
	// for requests still running. The stores close after, deferred.
	_ = drainer.Shutdown(sctx, drainGrace(time.Duration(cfg.ShutdownTimeout)))
	// Wait for the receiver to drain (it bounds itself by the same timeout).
	for ; pending > 0; pending-- {
		select {
		case err := <-errc:
			if err != nil && runErr == nil {
				runErr = err
			}
		case <-sctx.Done():
			pending = 0
		}
	}
	log.Info("stopped")
	return runErr
}

// drainGrace is how long shutdown waits for kept-alive clients to send
// their next request (and get an answer that closes the connection) before
// closing connections that stay silent: a browser's idle connection should
// not hold shutdown for its whole timeout.
func drainGrace(timeout time.Duration) time.Duration { return min(2*time.Second, timeout/4) }

// externalURL is the configured external URL, or http://<hostname>:<port>
// as Prometheus defaults it (https:// when lookout serves TLS itself).
func externalURL(configured string, addr net.Addr, https bool) (*url.URL, error) {
	if configured == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "localhost"
		}
		_, port, _ := net.SplitHostPort(addr.String())
		scheme := "http://"
		if https {
			scheme = "https://"
		}
		configured = scheme + net.JoinHostPort(host, port)
	}
	u, err := url.Parse(configured)
	if err != nil {
		return nil, fmt.Errorf("external-url: %w", err)
	}
	return u, nil
}

// openTLS loads the certificate, key and client CA files, or returns nil
// when TLS is not configured.
func openTLS(cfg config, log *slog.Logger, set *metrics.Set) (*certreload.Reloader, error) {
	if cfg.TLSCertFile == "" && cfg.TLSKeyFile == "" {
		return nil, nil
	}
	r, err := certreload.Open(certreload.Config{
		CertFile:     cfg.TLSCertFile,
		KeyFile:      cfg.TLSKeyFile,
		ClientCAFile: cfg.TLSClientCAFile,
	}, certreload.Options{Logger: log, Metrics: set})
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	return r, nil
}

// reloadOnHangup reloads the rules and the Alertmanager configuration on
// each SIGHUP, as Prometheus and Alertmanager do; a bad file keeps the old
// configuration and is logged with its file and line.
func reloadOnHangup(ctx context.Context, a *alerts.Manager, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	for {
		select {
		case <-ctx.Done():
			return
		case <-hup:
			if err := a.Reload(ctx); err != nil {
				log.Error("reload_rejected", "err", err)
			}
		}
	}
}

// writeRegistry appends a client_golang registry in the text format, for
// the parts (PromQL, rules, Alertmanager) that register there.
func writeRegistry(w io.Writer, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		return
	}
	enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
	for _, mf := range mfs {
		_ = enc.Encode(mf)
	}
}

// tracesTee stores spans and then counts them into the span metrics, so a
// refused request is not counted (the client will send it again). Spans
// the store refused one by one are gone from td and not counted either;
// the rest is.
type tracesTee struct {
	store ingest.TracesConsumer
	red   *spanmetrics.Connector
}

func (t tracesTee) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	err := t.store.ConsumeTraces(ctx, td)
	var partial *logstore.PartialError
	if err != nil && !errors.As(err, &partial) {
		return err
	}
	if rerr := t.red.ConsumeTraces(ctx, td); rerr != nil {
		return rerr
	}
	return err
}
