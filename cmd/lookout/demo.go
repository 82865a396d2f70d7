package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/baggage"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/sdk"
)

// lookout demo runs a small shop built with the SDK: a storefront that
// serves product pages and checkouts by calling inventory, shipping and
// payments over HTTP, and a load generator playing its customers. Each
// service has its own sdk.Telemetry and HTTP server, as separate processes
// would, so lookout shows several services, traces that cross them, logs
// tied to those traces and golden-signal metrics per route. Faults are
// injected both at random and on a counter (every n-th call), so even a
// ten-second run has errors, slow traces and a recovered panic.

const (
	demoScope        = "github.com/lookout-dev/lookout/cmd/lookout/demo"
	demoCatalogSize  = 100              // products 1..100 exist
	demoMaxInflight  = 256              // concurrent visits; more are skipped
	demoVisitTimeout = 15 * time.Second // one customer visit, end to end
	demoDrainTimeout = 10 * time.Second // visits in flight when the load stops
	demoFlushTimeout = 15 * time.Second // Telemetry.Shutdown of every service
	demoMaxRate      = 1000
)

// demoOptions are the demo's own flags, beside every serve flag.
type demoOptions struct {
	target   string
	duration time.Duration
	rate     float64
}

func (o *demoOptions) register(fs *flag.FlagSet) {
	fs.StringVar(&o.target, "target", "", "demo only: OTLP/HTTP base URL of a running lookout (e.g. http://localhost:4318) to send to instead of starting one; the ingest token comes from LOOKOUT_INGEST_TOKEN")
	fs.DurationVar(&o.duration, "duration", 0, "demo only: stop after this long (0: run until interrupted)")
	fs.Float64Var(&o.rate, "rate", 20, "demo only: customer requests per second the load generator sends")
}

func (o demoOptions) validate() error {
	var errs []error
	if !(o.rate > 0 && o.rate <= demoMaxRate) {
		errs = append(errs, fmt.Errorf("rate %v is not above 0 and at most %d", o.rate, demoMaxRate))
	}
	if o.duration < 0 {
		errs = append(errs, fmt.Errorf("duration %s is negative", o.duration))
	}
	if o.target != "" {
		u, err := url.Parse(o.target)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.User != nil {
			errs = append(errs, fmt.Errorf("target %q is not an OTLP/HTTP base URL such as http://localhost:4318", o.target))
		}
	}
	return errors.Join(errs...)
}

// demoCmd runs "lookout demo": lookout in-process (or, with --target, a
// lookout running elsewhere) and the demo shop sending to it, until
// SIGINT, SIGTERM or --duration.
func demoCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	var o demoOptions
	cfg, err := loadConfig("demo", args, getenv, stderr, o.register)
	if err != nil {
		return configError(stderr, err)
	}
	if err := o.validate(); err != nil {
		return configError(stderr, err)
	}
	if o.target == "" {
		// As for serve: the in-process lookout reloads on SIGHUP.
		signal.Ignore(syscall.SIGHUP)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// After the first signal the demo stops gracefully; a second one
	// gets the default action and ends the process at once.
	context.AfterFunc(ctx, stop)
	if err := runDemo(ctx, cfg, o, stdout, stderr); err != nil {
		fmt.Fprintf(stderr, "lookout: %v\n", err)
		return 1
	}
	return 0
}

// runDemo starts lookout unless o.target names one, then the shop; when ctx
// is done or o.duration has passed it stops the load, flushes every
// service's telemetry to lookout, and stops lookout.
func runDemo(ctx context.Context, cfg config, o demoOptions, stdout, stderr io.Writer) error {
	ex := demoExport{
		token:  cfg.IngestToken,
		errLog: slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	var lk *demoLookout
	// fail returns err, after stopping lookout when the demo started it.
	fail := func(err error) error {
		if lk != nil {
			err = errors.Join(err, lk.stop())
		}
		return err
	}
	if o.target != "" {
		ex.endpoint, ex.protocol = strings.TrimSuffix(o.target, "/"), sdk.ProtocolHTTPProtobuf
		if ex.token == "" {
			fmt.Fprintln(stderr, "lookout demo: LOOKOUT_INGEST_TOKEN is not set; sending without an ingest token")
		}
	} else {
		var err error
		if lk, err = startDemoLookout(ctx, cfg, stderr); err != nil || lk == nil {
			return err // lk is nil when interrupted while starting
		}
		scheme := "http://"
		if cfg.TLSCertFile != "" {
			if ex.tls, err = demoTLS(cfg); err != nil {
				return fail(err)
			}
			scheme = "https://"
		}
		switch {
		case lk.addr.OTLPHTTP != "":
			ex.endpoint, ex.protocol = scheme+dialAddr(lk.addr.OTLPHTTP, "127.0.0.1"), sdk.ProtocolHTTPProtobuf
		case lk.addr.OTLPGRPC != "":
			ex.endpoint, ex.protocol = scheme+dialAddr(lk.addr.OTLPGRPC, "127.0.0.1"), sdk.ProtocolGRPC
		default:
			return fail(errors.New("the demo needs an OTLP listener: --otlp-http-addr and --otlp-grpc-addr are both empty"))
		}
		if ex.token == "" && !cfg.InsecureIngest {
			// The auth package generated it at lookout's first start.
			b, err := os.ReadFile(filepath.Join(cfg.DataDir, "ingest-token"))
			if err != nil {
				return fail(fmt.Errorf("read the ingest token (or set LOOKOUT_INGEST_TOKEN): %w", err))
			}
			ex.token = strings.TrimSpace(string(b))
		}
	}
	if ex.protocol == sdk.ProtocolHTTPProtobuf {
		if err := probeIngest(ctx, ex.endpoint, ex.token, ex.tls); err != nil {
			return fail(err)
		}
	}

	sys, err := startDemoSystem(ctx, ex, o.rate)
	if err != nil {
		return fail(err)
	}
	printDemoIntro(stdout, cfg, o, lk, ex.endpoint)

	var deadline <-chan time.Time
	if o.duration > 0 {
		t := time.NewTimer(o.duration)
		defer t.Stop()
		deadline = t.C
	}
	var lookoutDone <-chan error
	if lk != nil {
		lookoutDone = lk.done
	}
	var runErr error
	flush := demoFlushTimeout
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "lookout demo: stopping; sending what is buffered (Ctrl-C again to quit at once)")
	case <-deadline:
	case err := <-lookoutDone:
		lk.exited, lk.err = true, err
		runErr = errors.New("lookout stopped while the demo ran")
		if err != nil {
			runErr = fmt.Errorf("lookout stopped while the demo ran: %w", err)
		}
		flush = time.Second // nobody is listening any more
	}
	sum, err := sys.stop(flush)
	if err != nil {
		fmt.Fprintf(stderr, "lookout demo: %v\n", err)
	}
	if lk != nil {
		if err := lk.stop(); err != nil && runErr == nil {
			runErr = err
		}
	}
	fmt.Fprintln(stdout, sum)
	if lk != nil && runErr == nil {
		fmt.Fprintf(stdout, "lookout demo: the data stays in %s; run `lookout --data-dir %s` to look at it again\n", absPath(cfg.DataDir), cfg.DataDir)
	}
	return runErr
}

// demoLookout is lookout served in-process for the demo.
type demoLookout struct {
	addr   listening
	cancel context.CancelFunc
	done   chan error // serve's result
	exited bool       // done has been read, into err
	err    error
}

// startDemoLookout runs serve until stop. It returns nil and no error when
// ctx is done before lookout listens.
func startDemoLookout(ctx context.Context, cfg config, logOut io.Writer) (*demoLookout, error) {
	// Not derived from ctx: lookout stops only after the services have
	// flushed their telemetry to it.
	sctx, cancel := context.WithCancel(context.Background())
	lk := &demoLookout{cancel: cancel, done: make(chan error, 1)}
	started := make(chan listening, 1)
	go func() { lk.done <- serve(sctx, cfg, logOut, func(l listening) { started <- l }) }()
	select {
	case lk.addr = <-started:
		return lk, nil
	case err := <-lk.done:
		cancel()
		if err == nil {
			err = errors.New("lookout stopped while starting")
		}
		return nil, err
	case <-ctx.Done():
		cancel()
		return nil, <-lk.done
	}
}

// stop shuts lookout down gracefully and returns serve's result.
func (l *demoLookout) stop() error {
	l.cancel()
	if !l.exited {
		l.err, l.exited = <-l.done, true
	}
	return l.err
}

// dialAddr makes a listener's address dialable: an unspecified host
// (":4318", "0.0.0.0:4318", "[::]:4318") becomes host.
func dialAddr(addr, host string) string {
	h, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if ip := net.ParseIP(h); h == "" || (ip != nil && ip.IsUnspecified()) {
		h = host
	}
	return net.JoinHostPort(h, port)
}

func absPath(p string) string {
	if a, err := filepath.Abs(p); err == nil {
		return a
	}
	return p
}

// probeIngest sends an empty OTLP/HTTP trace export, so that an
// unreachable lookout or a refused token is reported at once rather than
// as dropped telemetry later.
func probeIngest(ctx context.Context, endpoint, token string, tlsConfig *tls.Config) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/v1/traces", http.NoBody)
	if err != nil {
		return fmt.Errorf("OTLP endpoint %s: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/x-protobuf")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("reach lookout's OTLP endpoint: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	switch {
	case resp.StatusCode == http.StatusUnauthorized && token == "":
		return fmt.Errorf("%s needs an ingest token: set LOOKOUT_INGEST_TOKEN", endpoint)
	case resp.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("%s refused the ingest token (LOOKOUT_INGEST_TOKEN or <data-dir>/ingest-token)", endpoint)
	case resp.StatusCode/100 != 2:
		return fmt.Errorf("%s answered %s to an empty OTLP/HTTP export; is it lookout's OTLP/HTTP address?", endpoint, resp.Status)
	}
	return nil
}

// demoTLS is what the demo's services trust to reach the lookout it
// started over TLS: the certificate lookout serves, whoever issued it,
// under the first name it is for, as they dial the loopback address. A
// lookout that asks senders for client certificates is refused: the demo
// has none.
func demoTLS(cfg config) (*tls.Config, error) {
	if cfg.TLSClientCAFile != "" {
		return nil, errors.New("the demo's services have no client certificate for --tls-client-ca-file: run the demo without it, or send to a lookout with --target and the SDK's OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE and OTEL_EXPORTER_OTLP_CLIENT_KEY")
	}
	return localTLS(cfg)
}

// localTLS trusts the certificate this host's lookout serves, whoever
// issued it, under the first name it is for: what a client on the same
// host (the demo's services, the healthcheck) dials loopback with.
func localTLS(cfg config) (*tls.Config, error) {
	pair, err := tls.LoadX509KeyPair(cfg.TLSCertFile, cfg.TLSKeyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: %w", err)
	}
	leaf := pair.Leaf
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	name := ""
	switch {
	case len(leaf.DNSNames) > 0:
		name = leaf.DNSNames[0]
	case len(leaf.IPAddresses) > 0:
		name = leaf.IPAddresses[0].String()
	default:
		return nil, fmt.Errorf("tls: the certificate in %s names no host (no DNS or IP subject alternative name)", cfg.TLSCertFile)
	}
	if rest, ok := strings.CutPrefix(name, "*."); ok {
		name = "lookout." + rest // a name the wildcard covers
	}
	return &tls.Config{RootCAs: pool, ServerName: name, MinVersion: tls.VersionTLS12}, nil
}

// printDemoIntro says where to look. It never prints a secret, only where
// one is kept.
func printDemoIntro(w io.Writer, cfg config, o demoOptions, lk *demoLookout, endpoint string) {
	stop := "Ctrl-C"
	if o.duration > 0 {
		stop = fmt.Sprintf("after %s, or Ctrl-C", o.duration)
	}
	services := fmt.Sprintf("storefront, inventory, payments, shipping; loadgen sends %g requests/s", o.rate)
	if lk == nil {
		fmt.Fprintf(w, "lookout demo: a demo shop is sending logs, traces and metrics to %s\n", endpoint)
		fmt.Fprintf(w, "  services  %s\n  stops     %s\n", services, stop)
		return
	}
	ui := "http://" + dialAddr(lk.addr.HTTP, "localhost")
	if cfg.TLSCertFile != "" {
		ui = "https://" + dialAddr(lk.addr.HTTP, "localhost")
	}
	signIn := "user admin"
	if pw := filepath.Join(absPath(cfg.DataDir), "initial-admin-password"); fileExists(pw) {
		signIn = "user admin, password in " + pw
	} else if cfg.AdminPassword != "" {
		signIn = "user admin, password from LOOKOUT_ADMIN_PASSWORD"
	}
	fmt.Fprintf(w, "lookout demo: lookout is running, and a demo shop is sending it logs, traces and metrics\n")
	fmt.Fprintf(w, "  UI        %s/\n", ui)
	fmt.Fprintf(w, "  API       %s/api/v1/services, %s/api/v1/traces?error=true\n", ui, ui)
	fmt.Fprintf(w, "  sign in   %s\n", signIn)
	fmt.Fprintf(w, "  data      %s\n", absPath(cfg.DataDir))
	fmt.Fprintf(w, "  services  %s\n  stops     %s\n", services, stop)
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// demoExport is where the services send their telemetry.
type demoExport struct {
	endpoint, protocol, token string
	// errLog receives the SDK's own problems (lookout unreachable, items
	// dropped).
	errLog *slog.Logger
	// tls trusts the in-process lookout's certificate; nil for plain HTTP
	// or --target (the SDK's OTEL_EXPORTER_OTLP_CERTIFICATE applies).
	tls *tls.Config
}

// demoService is one service of the shop, with its own telemetry, HTTP
// client and (except the load generator) HTTP server.
type demoService struct {
	tel       *sdk.Telemetry
	log       *slog.Logger
	tracer    trace.Tracer
	transport *http.Transport
	client    *http.Client

	srv    *http.Server
	base   string     // "http://127.0.0.1:port"
	served chan error // srv.Serve's result
}

func newDemoService(ctx context.Context, ex demoExport, name, version string) (*demoService, error) {
	tel, err := sdk.Start(ctx, sdk.Config{
		ServiceName:    name,
		ServiceVersion: version,
		Environment:    "demo",
		Attributes:     map[string]string{"service.instance.id": name + "-1"},
		Endpoint:       ex.endpoint,
		Protocol:       ex.protocol,
		Token:          ex.token,
		TLS:            ex.tls,
		MetricInterval: 5 * time.Second,
		LogLevel:       slog.LevelDebug,
		ErrorLog:       ex.errLog.With("demo_service", name),
		KeepGlobals:    true, // five services share the process
	})
	if err != nil {
		return nil, fmt.Errorf("start telemetry of %s: %w", name, err)
	}
	tr := &http.Transport{
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	return &demoService{
		tel:       tel,
		log:       tel.Logger(),
		tracer:    tel.TracerProvider().Tracer(demoScope),
		transport: tr,
		client:    &http.Client{Transport: tel.Transport(tr), Timeout: 10 * time.Second},
	}, nil
}

// listen serves mux, wrapped in the service's middleware, on a free
// loopback port.
func (s *demoService) listen(ctx context.Context, mux *http.ServeMux, errLog *slog.Logger) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	s.base = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s.tel.Middleware(mux),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          slog.NewLogLogger(errLog.Handler(), slog.LevelWarn),
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.srv.Serve(ln) }()
	return nil
}

func (s *demoService) stopServing(ctx context.Context) {
	if s.srv == nil {
		return
	}
	if err := s.srv.Shutdown(ctx); err != nil {
		s.srv.Close()
	}
	<-s.served
}

// demoSystem is the shop and its customers.
type demoSystem struct {
	rate                           float64
	store, inv, pay, ship, loadgen *demoService
	orders                         metric.Int64Counter

	// Calls so far, for the faults injected every n-th call.
	stockLookups, reserves, charges, quotes atomic.Int64

	// What the load generator saw.
	started                           time.Time
	visits, failed, rejected, skipped atomic.Int64

	stopLoad     context.CancelFunc
	loadDone     chan struct{}
	cancelVisits context.CancelFunc
	visiting     sync.WaitGroup
}

func startDemoSystem(ctx context.Context, ex demoExport, rate float64) (*demoSystem, error) {
	s := &demoSystem{rate: rate}
	for _, d := range []struct {
		svc           **demoService
		name, version string
	}{
		{&s.store, "storefront", "1.8.2"},
		{&s.inv, "inventory", "2.3.0"},
		{&s.pay, "payments", "0.9.4"},
		{&s.ship, "shipping", "1.1.0"},
		{&s.loadgen, "loadgen", buildVersion()},
	} {
		svc, err := newDemoService(ctx, ex, d.name, d.version)
		if err != nil {
			return nil, errors.Join(err, s.close(time.Second))
		}
		*d.svc = svc
	}
	var err error
	s.orders, err = s.store.tel.MeterProvider().Meter(demoScope).Int64Counter("shop.orders",
		metric.WithUnit("{order}"),
		metric.WithDescription("Checkouts by outcome: placed, out_of_stock, declined, failed."))
	if err != nil {
		return nil, errors.Join(err, s.close(time.Second))
	}

	store := http.NewServeMux()
	store.HandleFunc("GET /products/{id}", s.product)
	store.HandleFunc("POST /checkout", s.checkout)
	inv := http.NewServeMux()
	inv.HandleFunc("GET /stock/{sku}", s.stock)
	inv.HandleFunc("POST /reserve", s.reserve)
	pay := http.NewServeMux()
	pay.HandleFunc("POST /charge", s.charge)
	ship := http.NewServeMux()
	ship.HandleFunc("POST /quote", s.quote)
	for _, l := range []struct {
		svc *demoService
		mux *http.ServeMux
	}{{s.store, store}, {s.inv, inv}, {s.pay, pay}, {s.ship, ship}} {
		if err := l.svc.listen(ctx, l.mux, ex.errLog); err != nil {
			return nil, errors.Join(err, s.close(time.Second))
		}
	}

	// Neither is derived from ctx: stop ends the load, then lets the
	// visits in flight finish so their traces are whole.
	var loadCtx, visitCtx context.Context
	loadCtx, s.stopLoad = context.WithCancel(context.Background())
	visitCtx, s.cancelVisits = context.WithCancel(context.Background())
	s.loadDone = make(chan struct{})
	s.started = time.Now()
	go func() {
		defer close(s.loadDone)
		s.generate(loadCtx, visitCtx)
	}()
	return s, nil
}

// services are the services started so far.
func (s *demoSystem) services() []*demoService {
	var out []*demoService
	for _, svc := range []*demoService{s.loadgen, s.store, s.inv, s.pay, s.ship} {
		if svc != nil {
			out = append(out, svc)
		}
	}
	return out
}

// stop ends the load, waits for the visits in flight, stops the servers
// and sends every service's buffered telemetry, within flush.
func (s *demoSystem) stop(flush time.Duration) (demoSummary, error) {
	s.stopLoad()
	<-s.loadDone
	drained := make(chan struct{})
	go func() {
		s.visiting.Wait()
		close(drained)
	}()
	t := time.NewTimer(demoDrainTimeout)
	select {
	case <-drained:
	case <-t.C:
		s.cancelVisits()
		<-drained
	}
	t.Stop()
	s.cancelVisits()
	sum := demoSummary{
		elapsed:  time.Since(s.started),
		visits:   s.visits.Load(),
		failed:   s.failed.Load(),
		rejected: s.rejected.Load(),
		skipped:  s.skipped.Load(),
	}
	err := s.close(flush)
	for _, svc := range s.services() {
		st := svc.tel.Stats()
		sum.stats.SpansExported += st.SpansExported
		sum.stats.SpansDropped += st.SpansDropped
		sum.stats.LogsExported += st.LogsExported
		sum.stats.LogsDropped += st.LogsDropped
		sum.stats.MetricExports += st.MetricExports
		sum.stats.MetricExportsFailed += st.MetricExportsFailed
	}
	return sum, err
}

// close stops the servers, then shuts every service's telemetry down at
// once, so that everything buffered is sent.
func (s *demoSystem) close(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	svcs := s.services()
	for _, svc := range svcs {
		svc.stopServing(ctx)
	}
	errs := make([]error, len(svcs))
	var wg sync.WaitGroup
	for i, svc := range svcs {
		wg.Go(func() {
			errs[i] = svc.tel.Shutdown(ctx)
			svc.transport.CloseIdleConnections()
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// demoSummary is the one line the demo ends with.
type demoSummary struct {
	elapsed                           time.Duration
	visits, failed, rejected, skipped int64
	stats                             sdk.Stats // of all services
}

func (d demoSummary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "lookout demo: %d requests in %s (%d failed, %d rejected with 4xx", d.visits, d.elapsed.Round(100*time.Millisecond), d.failed, d.rejected)
	if d.skipped > 0 {
		fmt.Fprintf(&b, ", %d not sent: too many in flight", d.skipped)
	}
	fmt.Fprintf(&b, "); exported %d spans and %d log records, dropped %d spans and %d log records",
		d.stats.SpansExported, d.stats.LogsExported, d.stats.SpansDropped, d.stats.LogsDropped)
	if d.stats.MetricExportsFailed > 0 {
		fmt.Fprintf(&b, "; %d of %d metric exports failed", d.stats.MetricExportsFailed, d.stats.MetricExports+d.stats.MetricExportsFailed)
	}
	return b.String()
}

// generate starts customer visits at s.rate a second, as a Poisson
// process, until ctx is done. Visits run under visitCtx.
func (s *demoSystem) generate(ctx, visitCtx context.Context) {
	inflight := make(chan struct{}, demoMaxInflight)
	next := time.Now()
	for {
		next = next.Add(time.Duration(rand.ExpFloat64() / s.rate * float64(time.Second)))
		if behind := time.Since(next); behind > time.Second {
			next = time.Now() // after a stall, no burst to catch up
		}
		if sleepCtx(ctx, time.Until(next)) != nil {
			return
		}
		select {
		case inflight <- struct{}{}:
		default:
			s.skipped.Add(1)
			continue
		}
		s.visiting.Go(func() {
			defer func() { <-inflight }()
			vctx, cancel := context.WithTimeout(visitCtx, demoVisitTimeout)
			defer cancel()
			s.visit(vctx)
		})
	}
}

// visit is one customer's request: mostly product pages, some checkouts.
// The customer travels in baggage, so every service can log it.
func (s *demoSystem) visit(ctx context.Context) {
	user := fmt.Sprintf("user-%03d", rand.N(40)+1)
	if m, err := baggage.NewMember("user.id", user); err == nil {
		if b, err := baggage.New(m); err == nil {
			ctx = baggage.ContextWithBaggage(ctx, b)
		}
	}
	s.visits.Add(1)
	if rand.Float64() < 0.3 {
		items := make([]demoItem, 1+rand.N(3))
		for i := range items {
			items[i] = demoItem{SKU: demoSKU(1 + rand.N(demoCatalogSize)), Qty: 1 + rand.N(2)}
		}
		ctx, span := s.loadgen.tracer.Start(ctx, "buy", trace.WithAttributes(
			attribute.String("enduser.id", user), attribute.Int("cart.items", len(items))))
		code, err := s.call(ctx, s.loadgen, http.MethodPost, s.store.base+"/checkout",
			demoCheckout{Items: items, Zip: fmt.Sprintf("%05d", 1000+rand.N(99000))}, nil)
		s.visited(ctx, span, "buy", code, err)
		return
	}
	id := 1 + rand.N(demoCatalogSize)
	if rand.Float64() < 0.02 {
		id = 900 + rand.N(100) // a stale link to a product that is gone
	}
	ctx, span := s.loadgen.tracer.Start(ctx, "browse", trace.WithAttributes(
		attribute.String("enduser.id", user), attribute.Int("product.id", id)))
	code, err := s.call(ctx, s.loadgen, http.MethodGet, s.store.base+"/products/"+strconv.Itoa(id), nil, nil)
	s.visited(ctx, span, "browse", code, err)
}

func (s *demoSystem) visited(ctx context.Context, span trace.Span, action string, code int, err error) {
	defer span.End()
	if code > 0 {
		span.SetAttributes(semconv.HTTPResponseStatusCode(code))
	}
	switch {
	case err != nil || code >= 500:
		s.failed.Add(1)
		span.SetStatus(codes.Error, action+" failed")
		s.loadgen.log.ErrorContext(ctx, "visit failed", "action", action, callFailure(code, err))
	case code >= 400:
		s.rejected.Add(1)
		s.loadgen.log.InfoContext(ctx, "visit rejected", "action", action, "status", code)
	default:
		s.loadgen.log.DebugContext(ctx, "visit done", "action", action, "status", code)
	}
}

// The shop's messages.
type (
	demoItem struct {
		SKU string `json:"sku"`
		Qty int    `json:"qty"`
	}
	demoCheckout struct {
		Items []demoItem `json:"items"`
		Zip   string     `json:"zip"`
	}
	demoStock struct {
		SKU        string `json:"sku"`
		Qty        int    `json:"qty"`
		PriceCents int    `json:"price_cents"`
	}
	demoReserve struct {
		OrderID string     `json:"order_id"`
		Items   []demoItem `json:"items"`
	}
	demoQuoteRequest struct {
		OrderID string     `json:"order_id"`
		Items   []demoItem `json:"items"`
		Zip     string     `json:"zip"`
	}
	demoQuote struct {
		CostCents int `json:"cost_cents"`
	}
	demoCharge struct {
		OrderID     string `json:"order_id"`
		AmountCents int    `json:"amount_cents"`
	}
	demoPayment struct {
		PaymentID string `json:"payment_id"`
	}
)

// product serves storefront's GET /products/{id}: stock and price from
// inventory, then the page.
func (s *demoSystem) product(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.store.log
	id, err := strconv.Atoi(r.PathValue("id"))
	if err != nil || id <= 0 {
		log.InfoContext(ctx, "bad product id", "id", r.PathValue("id"), "user", demoUser(ctx))
		demoReply(w, http.StatusBadRequest, map[string]string{"error": "bad product id"})
		return
	}
	sku := demoSKU(id)
	if sleepCtx(ctx, lognormal(2*time.Millisecond, 0.5)) != nil {
		return
	}
	var st demoStock
	code, err := s.call(ctx, s.store, http.MethodGet, s.inv.base+"/stock/"+sku, nil, &st)
	switch {
	case code == http.StatusNotFound:
		log.InfoContext(ctx, "product not found", "sku", sku, "user", demoUser(ctx))
		demoReply(w, http.StatusNotFound, map[string]string{"error": "no such product"})
		return
	case err != nil || code != http.StatusOK:
		log.ErrorContext(ctx, "inventory unavailable", "sku", sku, callFailure(code, err))
		demoReply(w, http.StatusBadGateway, map[string]string{"error": "inventory unavailable"})
		return
	}
	rctx, span := s.store.tracer.Start(ctx, "render product page", trace.WithAttributes(attribute.String("product.sku", sku)))
	err = sleepCtx(rctx, lognormal(3*time.Millisecond, 0.5))
	span.End()
	if err != nil {
		return
	}
	if st.Qty < 3 {
		log.InfoContext(ctx, "low stock shown", "sku", sku, "qty", st.Qty)
	}
	log.DebugContext(ctx, "product viewed", "sku", sku, "user", demoUser(ctx), "in_stock", st.Qty > 0)
	demoReply(w, http.StatusOK, map[string]any{"sku": sku, "price_cents": st.PriceCents, "in_stock": st.Qty > 0})
}

// checkout serves storefront's POST /checkout: reserve the stock, quote
// shipping (a flat rate when shipping fails), charge the card.
func (s *demoSystem) checkout(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.store.log
	user := demoUser(ctx)
	var req demoCheckout
	if err := demoRead(r, &req); err != nil || len(req.Items) == 0 {
		log.WarnContext(ctx, "bad checkout request", "user", user, callFailure(0, err))
		demoReply(w, http.StatusBadRequest, map[string]string{"error": "bad checkout request"})
		return
	}
	orderID := fmt.Sprintf("ord-%08x", rand.Uint32())
	trace.SpanFromContext(ctx).SetAttributes(attribute.String("order.id", orderID), attribute.String("enduser.id", user))
	amount := 0
	for _, it := range req.Items {
		amount += demoPrice(it.SKU) * it.Qty
	}
	log.InfoContext(ctx, "checkout started", "order_id", orderID, "user", user, "items", len(req.Items), "amount_cents", amount)
	outcome := func(o string) {
		s.orders.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", o)))
	}

	code, err := s.call(ctx, s.store, http.MethodPost, s.inv.base+"/reserve", demoReserve{OrderID: orderID, Items: req.Items}, nil)
	switch {
	case code == http.StatusConflict:
		outcome("out_of_stock")
		log.WarnContext(ctx, "checkout rejected: out of stock", "order_id", orderID, "user", user)
		demoReply(w, http.StatusConflict, map[string]string{"error": "out of stock", "order_id": orderID})
		return
	case err != nil || code != http.StatusOK:
		outcome("failed")
		log.ErrorContext(ctx, "stock reservation failed", "order_id", orderID, callFailure(code, err))
		demoReply(w, http.StatusBadGateway, map[string]string{"error": "inventory unavailable", "order_id": orderID})
		return
	}

	var q demoQuote
	code, err = s.call(ctx, s.store, http.MethodPost, s.ship.base+"/quote", demoQuoteRequest{OrderID: orderID, Items: req.Items, Zip: req.Zip}, &q)
	if err != nil || code != http.StatusOK {
		q.CostCents = 999
		log.WarnContext(ctx, "shipping quote unavailable, using the flat rate", "order_id", orderID, "flat_rate_cents", q.CostCents, callFailure(code, err))
	}
	amount += q.CostCents

	var p demoPayment
	code, err = s.call(ctx, s.store, http.MethodPost, s.pay.base+"/charge", demoCharge{OrderID: orderID, AmountCents: amount}, &p)
	switch {
	case code == http.StatusPaymentRequired:
		outcome("declined")
		log.WarnContext(ctx, "checkout rejected: card declined", "order_id", orderID, "user", user, "amount_cents", amount)
		demoReply(w, http.StatusPaymentRequired, map[string]string{"error": "card declined", "order_id": orderID})
		return
	case err != nil || code != http.StatusCreated:
		outcome("failed")
		log.ErrorContext(ctx, "payment failed", "order_id", orderID, "user", user, "amount_cents", amount, callFailure(code, err))
		demoReply(w, http.StatusBadGateway, map[string]string{"error": "payment failed", "order_id": orderID})
		return
	}
	outcome("placed")
	log.InfoContext(ctx, "order placed", "order_id", orderID, "user", user, "amount_cents", amount, "payment_id", p.PaymentID)
	demoReply(w, http.StatusCreated, map[string]any{"order_id": orderID, "amount_cents": amount})
}

// stock serves inventory's GET /stock/{sku} from its (simulated) database.
func (s *demoSystem) stock(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.inv.log
	n := s.stockLookups.Add(1)
	sku := r.PathValue("sku")
	id, _ := strconv.Atoi(strings.TrimPrefix(sku, "SKU-"))
	d := lognormal(1500*time.Microsecond, 0.6)
	slow := demoFault(n, 150, 40, 0.005)
	if slow {
		d = 150*time.Millisecond + rand.N(250*time.Millisecond) // waiting on a lock
	}
	rows := 1
	if id <= 0 || id > demoCatalogSize {
		rows = 0
	}
	if s.query(ctx, "SELECT", "SELECT qty, price_cents FROM stock WHERE sku = $1", d, rows, slow) != nil {
		return
	}
	if rows == 0 {
		log.DebugContext(ctx, "unknown sku", "sku", sku)
		demoReply(w, http.StatusNotFound, map[string]string{"error": "unknown sku"})
		return
	}
	qty := (id*7919 + int(time.Now().Unix()/60)) % 40
	log.DebugContext(ctx, "stock looked up", "sku", sku, "qty", qty)
	demoReply(w, http.StatusOK, demoStock{SKU: sku, Qty: qty, PriceCents: demoPrice(sku)})
}

// reserve serves inventory's POST /reserve; 409 when an item is out of
// stock, which is the customer's problem, not a server error.
func (s *demoSystem) reserve(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.inv.log
	n := s.reserves.Add(1)
	var req demoReserve
	if err := demoRead(r, &req); err != nil || len(req.Items) == 0 {
		log.WarnContext(ctx, "bad reservation", callFailure(0, err))
		demoReply(w, http.StatusBadRequest, map[string]string{"error": "bad reservation"})
		return
	}
	d := lognormal(4*time.Millisecond, 0.6)
	slow := demoFault(n, 120, 60, 0.005)
	if slow {
		d = 200*time.Millisecond + rand.N(300*time.Millisecond)
	}
	out := demoFault(n, 30, 7, 0.03)
	rows := len(req.Items)
	if out {
		rows = 0
	}
	if s.query(ctx, "UPDATE", "UPDATE stock SET qty = qty - $1 WHERE sku = $2 AND qty >= $1", d, rows, slow) != nil {
		return
	}
	if out {
		sku := req.Items[rand.N(len(req.Items))].SKU
		log.WarnContext(ctx, "out of stock", "order_id", req.OrderID, "sku", sku, "user", demoUser(ctx))
		demoReply(w, http.StatusConflict, map[string]string{"error": "out of stock", "sku": sku})
		return
	}
	skus := make([]string, len(req.Items))
	for i, it := range req.Items {
		skus[i] = it.SKU
	}
	log.InfoContext(ctx, "stock reserved", "order_id", req.OrderID, "skus", strings.Join(skus, ","))
	demoReply(w, http.StatusOK, map[string]string{"order_id": req.OrderID})
}

// query simulates one database call of inventory as a client span with the
// database semantic conventions' attributes.
func (s *demoSystem) query(ctx context.Context, op, text string, d time.Duration, rows int, slow bool) error {
	ctx, span := s.inv.tracer.Start(ctx, op+" stock", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		semconv.DBSystemNamePostgreSQL,
		semconv.DBNamespace("shop"),
		semconv.DBCollectionName("stock"),
		semconv.DBOperationName(op),
		semconv.DBQueryText(text),
		semconv.ServerAddress("inventory-db"),
		semconv.ServerPort(5432),
	))
	defer span.End()
	err := sleepCtx(ctx, d)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return err
	}
	span.SetAttributes(semconv.DBResponseReturnedRows(rows))
	if slow {
		s.inv.log.WarnContext(ctx, "slow query", "table", "stock", "operation", op, "duration_ms", d.Milliseconds())
	}
	return nil
}

// charge serves payments' POST /charge: a fraud check, then the card
// network, which is now and then slow (1-2.5 s) or failing (502).
func (s *demoSystem) charge(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.pay.log
	n := s.charges.Add(1)
	user := demoUser(ctx)
	var req demoCharge
	if err := demoRead(r, &req); err != nil || req.AmountCents <= 0 {
		log.WarnContext(ctx, "bad charge", "user", user, callFailure(0, err))
		demoReply(w, http.StatusBadRequest, map[string]string{"error": "bad charge"})
		return
	}
	log.DebugContext(ctx, "charge requested", "order_id", req.OrderID, "user", user, "amount_cents", req.AmountCents)

	fctx, fspan := s.pay.tracer.Start(ctx, "fraud check")
	score := math.Round(rand.Float64()*1000) / 10
	fspan.SetAttributes(attribute.Float64("fraud.score", score))
	err := sleepCtx(fctx, lognormal(3*time.Millisecond, 0.4))
	fspan.End()
	if err != nil {
		return
	}
	if score > 97 {
		log.WarnContext(ctx, "high fraud score, flagged for review", "order_id", req.OrderID, "user", user, "fraud_score", score)
	}

	slow := demoFault(n, 40, 5, 0.01)
	failing := demoFault(n, 25, 12, 0.02)
	declined := !failing && rand.Float64() < 0.03
	d := lognormal(35*time.Millisecond, 0.4)
	if slow {
		d = time.Second + rand.N(1500*time.Millisecond)
	}
	actx, aspan := s.pay.tracer.Start(ctx, "card-network authorize", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("peer.service", "card-network"),
		semconv.ServerAddress("auth.cardnet.example"),
		semconv.ServerPort(443),
		attribute.String("order.id", req.OrderID),
		attribute.Int("payment.amount_cents", req.AmountCents),
	))
	err = sleepCtx(actx, d)
	if slow {
		log.WarnContext(actx, "card network slow", "order_id", req.OrderID, "duration_ms", d.Milliseconds())
	}
	switch {
	case err != nil:
		aspan.SetStatus(codes.Error, err.Error())
	case failing:
		ferr := errors.New("issuer unavailable")
		aspan.RecordError(ferr)
		aspan.SetStatus(codes.Error, ferr.Error())
	case declined:
		aspan.SetAttributes(attribute.String("payment.decline_reason", "insufficient_funds"))
	}
	aspan.End()
	switch {
	case err != nil:
		return // the caller is gone
	case failing:
		log.ErrorContext(ctx, "charge failed", "order_id", req.OrderID, "user", user, "amount_cents", req.AmountCents, "err", "card network: issuer unavailable")
		demoReply(w, http.StatusBadGateway, map[string]string{"error": "card network unavailable"})
		return
	case declined:
		log.WarnContext(ctx, "card declined", "order_id", req.OrderID, "user", user, "amount_cents", req.AmountCents, "reason", "insufficient_funds")
		demoReply(w, http.StatusPaymentRequired, map[string]string{"error": "card declined"})
		return
	}
	paymentID := fmt.Sprintf("pay_%012x", rand.Uint64()>>16)
	log.InfoContext(ctx, "charge captured", "order_id", req.OrderID, "user", user, "amount_cents", req.AmountCents, "payment_id", paymentID)
	demoReply(w, http.StatusCreated, demoPayment{PaymentID: paymentID})
}

// quote serves shipping's POST /quote. It has a bug: a zip code of the
// new overseas zone indexes past the rate table and panics, which the
// SDK's middleware recovers, records and answers with 500.
func (s *demoSystem) quote(w http.ResponseWriter, r *http.Request) {
	ctx, log := r.Context(), s.ship.log
	n := s.quotes.Add(1)
	var req demoQuoteRequest
	if err := demoRead(r, &req); err != nil {
		log.WarnContext(ctx, "bad quote request", callFailure(0, err))
		demoReply(w, http.StatusBadRequest, map[string]string{"error": "bad quote request"})
		return
	}
	if sleepCtx(ctx, lognormal(5*time.Millisecond, 0.5)) != nil {
		return
	}
	rates := [...]int{499, 799, 1299, 1999}
	zip, _ := strconv.Atoi(req.Zip)
	zone := zip % len(rates)
	if demoFault(n, 200, 17, 0.005) {
		zone += len(rates) // the overseas zone
	}
	if rand.Float64() < 0.05 {
		log.WarnContext(ctx, "address needs verification", "order_id", req.OrderID, "zip", req.Zip)
	}
	cost := rates[zone] + 150*(len(req.Items)-1)
	log.DebugContext(ctx, "quote computed", "order_id", req.OrderID, "zone", zone, "cost_cents", cost)
	demoReply(w, http.StatusOK, demoQuote{CostCents: cost})
}

// call sends a JSON request from a service through its instrumented
// client and decodes a 2xx answer into out. It returns the status, or an
// error when there was none.
func (s *demoSystem) call(ctx context.Context, from *demoService, method, url string, in, out any) (int, error) {
	var body io.Reader = http.NoBody
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return 0, err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := from.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode/100 == 2 {
		if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(out); err != nil {
			return resp.StatusCode, fmt.Errorf("decode answer: %w", err)
		}
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, nil
}

func demoRead(r *http.Request, v any) error {
	return json.NewDecoder(io.LimitReader(r.Body, 1<<20)).Decode(v)
}

func demoReply(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// callFailure describes a failed call for a log line: its error, or else
// the status it answered.
func callFailure(code int, err error) slog.Attr {
	if err != nil {
		return slog.String("err", err.Error())
	}
	return slog.Int("status", code)
}

// demoUser is the customer the load generator put in the baggage.
func demoUser(ctx context.Context) string {
	return baggage.FromContext(ctx).Member("user.id").Value()
}

func demoSKU(id int) string { return fmt.Sprintf("SKU-%04d", id) }

func demoPrice(sku string) int {
	id, _ := strconv.Atoi(strings.TrimPrefix(sku, "SKU-"))
	return 499 + (id*7919)%15000
}

// demoFault says whether the n-th call fails: every period-th call (at
// phase, so the first comes early) and at random with probability p.
func demoFault(n, period, phase int64, p float64) bool {
	return n%period == phase || rand.Float64() < p
}

// lognormal is a latency around median with a long right tail, as
// service latencies have, clamped to [median/5, 8*median].
func lognormal(median time.Duration, sigma float64) time.Duration {
	f := min(max(math.Exp(sigma*rand.NormFloat64()), 0.2), 8)
	return time.Duration(float64(median) * f)
}

// sleepCtx waits d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
