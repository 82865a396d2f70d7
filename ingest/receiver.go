package ingest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/keepalive"

	"github.com/lookout-dev/lookout/internal/drain"
)

// Config is what a user sets for ingest.
type Config struct {
	// GRPCAddr and HTTPAddr are the OTLP listen addresses; empty disables
	// that transport.
	GRPCAddr string
	HTTPAddr string
	// MaxRequestBytes bounds one request, after decompression.
	MaxRequestBytes int64
	// MaxInFlightBytes is ingest's memory budget: what the requests being
	// received, decoded and stored at once are estimated to hold, counted
	// by their decoded cost (see cost.go), not their size on the wire. A
	// request that does not fit now is refused with 429 /
	// RESOURCE_EXHAUSTED; one that could never fit, with 413.
	MaxInFlightBytes int64
	// RetryAfter is the delay suggested to refused clients.
	RetryAfter time.Duration
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.MaxRequestBytes < 1024 {
		errs = append(errs, fmt.Errorf("max request size %d is below 1 KiB", c.MaxRequestBytes))
	}
	if c.MaxInFlightBytes < c.MaxRequestBytes {
		errs = append(errs, fmt.Errorf("max in-flight bytes %d is below the max request size %d", c.MaxInFlightBytes, c.MaxRequestBytes))
	}
	if c.RetryAfter < time.Second {
		errs = append(errs, fmt.Errorf("retry-after %s is below 1s", c.RetryAfter))
	}
	return errors.Join(errs...)
}

// DefaultConfig returns the defaults: the standard OTLP ports, 16 MiB
// requests, 256 MiB of decoded requests in flight.
func DefaultConfig() Config {
	return Config{
		GRPCAddr:         ":4317",
		HTTPAddr:         ":4318",
		MaxRequestBytes:  16 << 20,
		MaxInFlightBytes: 256 << 20,
		RetryAfter:       2 * time.Second,
	}
}

// Authenticator checks the Authorization header of an ingest request.
type Authenticator interface {
	AuthenticateIngest(ctx context.Context, authorization string) error
}

// DiskSpace admits a request by the space its data may take on disk,
// before it is decoded, so that the stores never find the disk full.
type DiskSpace interface {
	// Admit reserves what a request of n decoded bytes may write, or
	// returns why there is no room now; a refusal is retryable (space may
	// return), answered 503 / UNAVAILABLE with a retry delay.
	Admit(n int64) error
}

// Options is what code sets for ingest. Logs and Traces are required;
// a nil Metrics answers metrics requests with 501 / UNIMPLEMENTED. Auth nil
// means every request is accepted (tests, --insecure-ingest); Disk nil, that
// no request is refused for disk space.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	Auth    Authenticator
	Disk    DiskSpace
	Logs    LogsConsumer
	Traces  TracesConsumer
	Metric  MetricsConsumer
	// TLS, when set, serves both listeners over TLS with it: its
	// GetCertificate lets the certificate change while serving, and its
	// ClientAuth asks senders for certificates (mTLS). It must offer h2
	// by ALPN, which gRPC needs.
	TLS *tls.Config
}

// A consumer error is classified by the methods it has, so that stores do
// not import ingest: Overloaded() true is answered 429 / RESOURCE_EXHAUSTED,
// InvalidInput() true is answered 400 / INVALID_ARGUMENT, anything else is
// 503 / UNAVAILABLE (retryable), logged once with a request id.
type overloaded interface{ Overloaded() bool }
type invalidInput interface{ InvalidInput() bool }

// Receiver serves OTLP over gRPC and HTTP.
type Receiver struct {
	cfg  Config
	log  *slog.Logger
	auth Authenticator
	disk DiskSpace
	set  *metrics.Set

	logs, traces, metrics *signal

	budget budget

	grpcLn, httpLn net.Listener
	grpcSrv        *grpc.Server
	httpSrv        *http.Server
	httpDrain      *drain.Server
	handler        http.Handler
	// fresh holds the OTLP/HTTP connections that have not sent a request
	// yet. Shutdown waits up to 5 s for those (net/http treats them as
	// active), and exporters' connection pools open spares that never do;
	// they are closed at shutdown instead.
	freshMu sync.Mutex
	fresh   map[net.Conn]struct{}
}

// Open binds the listeners; Run serves on them.
func Open(ctx context.Context, cfg Config, opts Options) (*Receiver, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	r := &Receiver{
		cfg:     cfg,
		log:     opts.Logger,
		auth:    opts.Auth,
		disk:    opts.Disk,
		set:     opts.Metrics,
		logs:    logsSignal(opts.Logs),
		traces:  tracesSignal(opts.Traces),
		metrics: metricsSignal(opts.Metric),
	}
	r.budget.limit = cfg.MaxInFlightBytes
	r.set.NewGauge("lookout_ingest_inflight_bytes", func() float64 { return float64(r.budget.used.Load()) })
	r.set.NewGauge("lookout_ingest_memory_budget_bytes", func() float64 { return float64(r.budget.limit) })
	r.handler = r.httpHandler()
	registerGRPCCompressors()
	var lc net.ListenConfig
	if cfg.GRPCAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.GRPCAddr)
		if err != nil {
			return nil, fmt.Errorf("listen OTLP/gRPC on %s: %w", cfg.GRPCAddr, err)
		}
		r.grpcLn = ln
		r.grpcSrv = r.newGRPCServer(opts.TLS)
	}
	if cfg.HTTPAddr != "" {
		ln, err := lc.Listen(ctx, "tcp", cfg.HTTPAddr)
		if err != nil {
			if r.grpcLn != nil {
				r.grpcLn.Close()
			}
			return nil, fmt.Errorf("listen OTLP/HTTP on %s: %w", cfg.HTTPAddr, err)
		}
		if opts.TLS != nil {
			// net/http does the handshake (bounded by ReadHeaderTimeout)
			// and speaks HTTP/2 when the client asks by ALPN.
			ln = tls.NewListener(ln, opts.TLS)
		}
		r.httpLn = ln
		r.httpSrv = &http.Server{
			Handler:           r.handler,
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       time.Minute,
			WriteTimeout:      time.Minute,
			IdleTimeout:       2 * time.Minute,
			MaxHeaderBytes:    64 << 10,
			ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
			ConnState:         r.trackFresh,
		}
		r.httpDrain = drain.New(r.httpSrv)
	}
	return r, nil
}

// GRPCAddr is the bound gRPC address (useful with port 0).
func (r *Receiver) GRPCAddr() net.Addr {
	if r.grpcLn == nil {
		return nil
	}
	return r.grpcLn.Addr()
}

// HTTPAddr is the bound HTTP address (useful with port 0).
func (r *Receiver) HTTPAddr() net.Addr {
	if r.httpLn == nil {
		return nil
	}
	return r.httpLn.Addr()
}

// Handler is the OTLP/HTTP handler.
func (r *Receiver) Handler() http.Handler { return r.handler }

// Run serves until ctx is done, then stops accepting, lets in-flight
// requests finish (they are acknowledged only once durable) for up to
// drain, and returns.
func (r *Receiver) Run(ctx context.Context, drain time.Duration) error {
	errc := make(chan error, 2)
	var wg sync.WaitGroup
	if r.grpcSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.grpcSrv.Serve(r.grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
				errc <- fmt.Errorf("serve OTLP/gRPC: %w", err)
			}
		}()
	}
	if r.httpSrv != nil {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.httpDrain.Serve(r.httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve OTLP/HTTP: %w", err)
			}
		}()
	}
	var err error
	select {
	case <-ctx.Done():
	case err = <-errc:
	}
	sctx, cancel := context.WithTimeout(context.Background(), drain)
	defer cancel()
	if r.httpSrv != nil {
		// Answer what kept-alive exporters have already sent before any
		// connection closes; Shutdown alone closed idle ones under a
		// request just written (an EOF the exporter cannot retry safely).
		r.httpDrain.Drain(sctx, min(2*time.Second, drain/4))
		r.closeFresh()
		if serr := r.httpSrv.Shutdown(sctx); serr != nil && !errors.Is(serr, net.ErrClosed) { // Drain closed the listener
			r.httpSrv.Close()
		}
	}
	if r.grpcSrv != nil {
		done := make(chan struct{})
		go func() { r.grpcSrv.GracefulStop(); close(done) }()
		select {
		case <-done:
		case <-sctx.Done():
			r.grpcSrv.Stop()
		}
	}
	wg.Wait()
	return err
}

func (r *Receiver) trackFresh(c net.Conn, state http.ConnState) {
	r.freshMu.Lock()
	defer r.freshMu.Unlock()
	if state == http.StateNew {
		if r.fresh == nil {
			r.fresh = make(map[net.Conn]struct{})
		}
		r.fresh[c] = struct{}{}
		return
	}
	delete(r.fresh, c)
}

// closeFresh closes the connections that have not sent a request. One
// whose first request is still arriving fails unacknowledged, and its
// sender retries it.
func (r *Receiver) closeFresh() {
	r.freshMu.Lock()
	defer r.freshMu.Unlock()
	for c := range r.fresh {
		c.Close()
		delete(r.fresh, c)
	}
}

func (r *Receiver) newGRPCServer(tlsConfig *tls.Config) *grpc.Server {
	opts := []grpc.ServerOption{
		grpc.MaxRecvMsgSize(int(r.cfg.MaxRequestBytes)),
		grpc.ForceServerCodecV2(rawCodec{proto: encoding.GetCodecV2("proto")}),
		grpc.InTapHandle(r.grpcTap),
		grpc.MaxConcurrentStreams(64),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute}),
		grpc.ChainUnaryInterceptor(r.grpcAuth),
	}
	if tlsConfig != nil {
		opts = append(opts, grpc.Creds(credentials.NewTLS(tlsConfig)))
	}
	srv := grpc.NewServer(opts...)
	registerGRPC(srv, r)
	return srv
}

// admit resizes res to what a request of wire bytes with the given decoded
// cost will hold until its consumer returns: the body while it is decoded,
// the decoded request, and what the store builds from it (its encoded
// copy, about the size of the body, and per-item work). It answers
// codes.OK, Unavailable (no room on disk now: 503), ResourceExhausted (no
// room in memory now: 429) or InvalidArgument (no room ever: 413) with a
// message. Disk comes first: a request refused for it holds no memory.
func (r *Receiver) admit(res *reservation, sig *signal, transport string, wire int64, cost requestCost) (codes.Code, string) {
	if r.disk != nil {
		if err := r.disk.Admit(wire); err != nil {
			r.count(sig, transport, "refused", cost.items)
			return codes.Unavailable, err.Error()
		}
	}
	need := 2*wire + cost.bytes + int64(cost.items)*sig.storeItemBytes
	r.set.GetOrCreateHistogram(`lookout_ingest_request_cost_bytes{signal="` + sig.name + `"}`).Update(float64(need))
	if need > r.budget.limit {
		return codes.InvalidArgument, fmt.Sprintf("request would hold about %d bytes of memory once decoded "+
			"(%d resources, %d scopes, %d items, %d attributes), more than lookout's ingest budget of %d bytes: send smaller batches",
			need, cost.resources, cost.scopes, cost.items, cost.attributes, r.budget.limit)
	}
	if !res.resize(need) {
		return codes.ResourceExhausted, refusedMsg
	}
	return codes.OK, ""
}

// outcome is how one export ended, for metrics and the response.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeInvalid
	outcomeOverloaded
	outcomeUnavailable
	outcomeUnimplemented
)

// export hands a decoded request to its consumer and classifies the result.
func (r *Receiver) export(ctx context.Context, sig *signal, transport string, req exportRequest) (exportResponse, outcome, string) {
	start := time.Now()
	items, rejected, why, err := sig.consume(ctx, req)
	r.set.GetOrCreateHistogram(`lookout_ingest_request_duration_seconds{signal="` + sig.name + `",transport="` + transport + `"}`).UpdateDuration(start)
	if rejected > 0 {
		r.count(sig, transport, "rejected", rejected)
	}
	if err == nil {
		r.count(sig, transport, "accepted", items-rejected)
		r.countServices(sig, req) // rejected points included: the service is sending
		return sig.newResponse(rejected, why), outcomeOK, ""
	}
	var ov overloaded
	if errors.As(err, &ov) && ov.Overloaded() {
		r.count(sig, transport, "refused", items-rejected)
		return nil, outcomeOverloaded, "lookout is busy; retry later"
	}
	var inv invalidInput
	if errors.As(err, &inv) && inv.InvalidInput() {
		r.count(sig, transport, "rejected", items-rejected)
		return nil, outcomeInvalid, err.Error()
	}
	id := requestID()
	r.log.Error("store_export", "signal", sig.name, "transport", transport, "request_id", id, "err", err)
	r.count(sig, transport, "refused", items-rejected)
	return nil, outcomeUnavailable, "lookout could not store the data (request id " + id + "); retry later"
}

func (r *Receiver) count(sig *signal, transport, outcome string, n int) {
	if n <= 0 {
		return
	}
	r.set.GetOrCreateCounter(`lookout_ingest_items_total{signal="` + sig.name + `",transport="` + transport + `",outcome="` + outcome + `"}`).Add(n)
}

// maxServices bounds the services counted by name per signal; the rest
// share one series, so a flood of generated service names cannot grow
// /metrics without bound.
const maxServices = 1000

// countServices counts an accepted request's items per service.name in
// lookout_ingest_service_items_total, which the built-in "ingestion
// stalled" alert watches.
func (r *Receiver) countServices(sig *signal, req exportRequest) {
	sig.perService(req, func(service string, n int) {
		if n == 0 {
			return
		}
		service = labelValue(service)
		c, ok := sig.services.Load(service)
		if !ok {
			if sig.serviceCount.Load() >= maxServices {
				// Past the cap nothing is stored: a client sending endless
				// new names costs no memory.
				r.set.GetOrCreateCounter(`lookout_ingest_service_items_total{signal="` + sig.name + `",service="other"}`).Add(n)
				return
			}
			var loaded bool
			c, loaded = sig.services.LoadOrStore(service, r.set.GetOrCreateCounter(`lookout_ingest_service_items_total{signal="`+sig.name+`",service="`+service+`"}`))
			if !loaded {
				sig.serviceCount.Add(1)
			}
		}
		c.(*metrics.Counter).Add(n)
	})
}

// labelValue makes s safe inside a quoted label value of a metric name:
// valid UTF-8, no quote, backslash or control character, at most 128 bytes.
func labelValue(s string) string {
	s = strings.Map(func(c rune) rune {
		if c == '"' || c == '\\' || c < ' ' {
			return '_'
		}
		return c
	}, strings.ToValidUTF8(s, "_"))
	for len(s) > 128 {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}

func (r *Receiver) countBytes(sig *signal, transport string, n int) {
	r.set.GetOrCreateCounter(`lookout_ingest_bytes_total{signal="` + sig.name + `",transport="` + transport + `"}`).Add(n)
}

func (r *Receiver) countRequest(sig *signal, transport, code string) {
	r.set.GetOrCreateCounter(`lookout_ingest_requests_total{signal="` + sig.name + `",transport="` + transport + `",code="` + code + `"}`).Inc()
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
