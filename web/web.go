package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/logstore"
	"github.com/lookout-dev/lookout/query"
)

// Authenticator says who a request is from.
type Authenticator interface {
	// AuthenticateRequestFrom checks r's credentials; addr is the
	// client's address, for the limit on failed sign-ins.
	AuthenticateRequestFrom(r *http.Request, addr string) (auth.Principal, error)
}

// LogSearcher answers log and trace queries.
type LogSearcher interface {
	SearchLogs(ctx context.Context, q logstore.LogQuery) (logstore.LogResult, error)
	// CountLogs counts matching records per group (the logs explorer's
	// histogram counts each bar's records by severity).
	CountLogs(ctx context.Context, q logstore.CountQuery) (logstore.CountResult, error)
	Trace(ctx context.Context, traceID string) ([]logstore.Span, error)
	SearchTraces(ctx context.Context, q logstore.TraceQuery) (logstore.TraceResult, error)
	Services(ctx context.Context) ([]logstore.Service, error)
}

// Check is one readiness check: a name and a function that returns nil
// when that part is ready.
type Check struct {
	Name string
	Func func(ctx context.Context) error
}

// Options is what code sets for the web handler.
type Options struct {
	Logger *slog.Logger
	Auth   Authenticator
	Logs   LogSearcher
	// Ready lists the checks /readyz runs.
	Ready []Check
	// Metrics writes lookout's own metrics in the Prometheus text format.
	Metrics func(w http.ResponseWriter)
	// QueryTimeout bounds one API query, PromQL included.
	QueryTimeout time.Duration
	// PromQL serves the Prometheus-compatible query API; nil disables it
	// (its routes answer 404 "metrics are not enabled").
	PromQL *PromQLOptions
	// Alerts serves /api/v1/rules, /api/v1/alerts and /-/reload; nil
	// means alerting is not configured (those routes answer 404).
	Alerts AlertRules
	// Alertmanager serves the embedded Alertmanager's API at paths
	// starting with /alertmanager/ (e.g. /alertmanager/api/v2/alerts),
	// which it receives unchanged; nil answers 404.
	Alertmanager http.Handler
	// Silences lists, creates and expires the embedded Alertmanager's
	// silences and keeps its notification history, for the alerts page;
	// nil leaves the page without them (the silence routes answer 404).
	Silences Silencer
	// Sessions signs users in to the UI; required.
	Sessions Sessions
	// Accounts manages users, API keys and ingest tokens on the settings
	// page; nil leaves that page answering 404.
	Accounts Accounts
	// TrustedProxies are the reverse proxies whose X-Forwarded-For names
	// the client whose failed sign-ins are counted; a request from any
	// other address is counted against that address.
	TrustedProxies []netip.Prefix
	// SecureCookies marks cookies Secure even when a request did not come
	// over TLS here: lookout is behind a TLS-terminating proxy (its
	// external URL is https).
	SecureCookies bool
}

// MetadataSource answers /api/v1/metadata: the type, help and unit of each
// metric family. metric "" means every family; limit <= 0 means no limit
// on the number of families.
type MetadataSource interface {
	Metadata(ctx context.Context, metric string, limit int) (map[string][]metadata.Metadata, error)
}

// PromQLOptions configures the Prometheus-compatible query API
// (https://prometheus.io/docs/prometheus/latest/querying/api/).
type PromQLOptions struct {
	// Engine is the process' PromQL engine, with its bounds; required.
	Engine *query.Engine
	// Queryable is the metric store; required.
	Queryable storage.Queryable
	// Metadata answers /api/v1/metadata; nil answers an empty set.
	Metadata MetadataSource
	// Exemplars answers /api/v1/query_exemplars; nil leaves that route 404.
	Exemplars storage.ExemplarQueryable
	// BuildInfo is what /api/v1/status/buildinfo reports.
	BuildInfo BuildInfo
}

// BuildInfo describes the running binary in the shape of Prometheus'
// /api/v1/status/buildinfo, which Grafana reads to tell Prometheus from
// Mimir (it has no "features").
type BuildInfo struct {
	Version   string `json:"version"`
	Revision  string `json:"revision"`
	Branch    string `json:"branch"`
	BuildUser string `json:"buildUser"`
	BuildDate string `json:"buildDate"`
	GoVersion string `json:"goVersion"`
}

// Handler serves lookout's HTTP API (and, later, UI) on the main port.
type Handler struct {
	opts   Options
	log    *slog.Logger
	mux    *http.ServeMux
	prom   *promAPI // nil when the Prometheus API is disabled
	assets *assets
	// gzip compresses the Prometheus and alerts APIs' answers.
	gzip func(http.Handler) http.HandlerFunc
	// serve is mux behind the cross-origin check.
	serve http.Handler
	// closing is closed by Close: long-lived responses (the logs' live
	// tail) end.
	closing   chan struct{}
	closeOnce sync.Once
}

// New builds the handler; its routes are listed in routes.go.
func New(opts Options) (*Handler, error) {
	if opts.Auth == nil || opts.Logs == nil || opts.Sessions == nil {
		return nil, errors.New("web: Auth, Sessions and Logs are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux(), closing: make(chan struct{})}
	if opts.PromQL != nil {
		p, err := newPromAPI(*opts.PromQL)
		if err != nil {
			return nil, err
		}
		h.prom = p
	}
	a, err := newAssets()
	if err != nil {
		return nil, fmt.Errorf("web: static files: %w", err)
	}
	h.assets = a
	if h.gzip, err = newAPIGzip(); err != nil {
		return nil, fmt.Errorf("web: gzip: %w", err)
	}
	h.routes()
	// Browsers say where a request comes from (Sec-Fetch-Site, Origin);
	// a state-changing request from another site is refused before any
	// handler runs, on top of the CSRF tokens. API clients send neither
	// header and pass.
	h.serve = http.NewCrossOriginProtection().Handler(h.mux)
	return h, nil
}

// Close ends the responses that would otherwise stay open (the logs' live
// tail); requests in flight finish. Call it when the server shuts down
// (http.Server.RegisterOnShutdown).
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.closing) })
}

// ServeHTTP serves r from the route table in routes.go.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.TLS != nil {
		// Served over TLS here, browsers should never come back over plain
		// HTTP (RFC 6797). Over plain HTTP the header would be ignored, and
		// behind a TLS-terminating proxy it is the proxy's to send.
		w.Header().Set("Strict-Transport-Security", "max-age=31536000")
	}
	h.serve.ServeHTTP(w, r)
}

// authed wraps a handler so that it runs only for a principal holding need.
func (h *Handler) authed(need auth.Role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		v, err := h.identify(r)
		refuse := writeError
		if strings.HasPrefix(r.URL.Path, amPrefix) {
			refuse = func(w http.ResponseWriter, code int, _, msg string) { writeAMError(w, code, msg) }
		}
		var limited *auth.RateLimitError
		if errors.As(err, &limited) {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(limited.RetryAfter.Seconds()))))
			refuse(w, http.StatusTooManyRequests, "rate_limited", "too many failed sign-ins; try again later")
			return
		}
		if err != nil && !errors.Is(err, auth.ErrUnauthenticated) {
			h.internal(w, r, err)
			return
		}
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="lookout", charset="UTF-8"`)
			refuse(w, http.StatusUnauthorized, "unauthorized", "authentication required: sign in, or send an API key (Authorization: Bearer ...) or HTTP Basic credentials")
			return
		}
		p := v.principal
		if !p.Role.Allows(need) {
			refuse(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not do this; it needs %s", p.Role, need))
			return
		}
		if !csrfOK(r, v) {
			refuse(w, http.StatusForbidden, "forbidden", "missing or wrong "+csrfHeader+" header for a request made with a session cookie")
			return
		}
		next(w, r.WithContext(withViewer(r.Context(), v)))
	})
}

// writeJSON writes v as a JSON response. v is encoded before the status
// is sent (encoding/json's Encoder holds the whole value in memory anyway),
// so a value it cannot encode answers 500 instead of a 200 with no body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		buf.Reset()
		code = http.StatusInternalServerError
		_ = enc.Encode(map[string]string{"status": "error", "errorType": "internal", "error": "the answer could not be encoded as JSON"})
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(buf.Bytes())
}

// writeError writes an error in Prometheus' API shape.
func writeError(w http.ResponseWriter, code int, errorType, msg string) {
	writeJSON(w, code, map[string]string{"status": "error", "errorType": errorType, "error": msg})
}

// fail answers an error from a store: bad input is 400 with its message,
// a timeout 503, anything else 500 with a request id (logged once, with
// the cause; the response never carries internals).
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	var in *logstore.InputError
	switch {
	case errors.As(err, &in):
		writeError(w, http.StatusBadRequest, "bad_data", in.Error())
	case errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "timeout", "query timed out; narrow the time range or the query")
	case errors.Is(err, context.Canceled):
		writeError(w, 499, "canceled", "request canceled")
	default:
		h.internal(w, r, err)
	}
}

// internal answers 500 with a request id and logs the cause once under
// that id; the response never carries internals.
func (h *Handler) internal(w http.ResponseWriter, r *http.Request, err error) {
	id := h.logInternal(r, "api_request", err)
	writeError(w, http.StatusInternalServerError, "internal", "internal error (request id "+id+")")
}

// logInternal logs an internal error once, under msg and a new request id,
// and returns the id for the answer to show instead of the cause.
func (h *Handler) logInternal(r *http.Request, msg string, err error) string {
	id := requestID()
	h.log.Error(msg, "path", r.URL.Path, "request_id", id, "err", err)
	return id
}
