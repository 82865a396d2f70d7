package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/logstore"
)

// Authenticator says who a request is from.
type Authenticator interface {
	AuthenticateRequest(r *http.Request) (auth.Principal, error)
}

// LogSearcher answers log and trace queries.
type LogSearcher interface {
	SearchLogs(ctx context.Context, q logstore.LogQuery) (logstore.LogResult, error)
	Trace(ctx context.Context, traceID string) ([]logstore.Span, error)
	SearchTraces(ctx context.Context, q logstore.TraceQuery) ([]logstore.TraceSummary, error)
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
	// QueryTimeout bounds one API query.
	QueryTimeout time.Duration
}

// Handler serves lookout's HTTP API (and, later, UI) on the main port.
type Handler struct {
	opts Options
	log  *slog.Logger
	mux  *http.ServeMux
}

// New builds the handler; its routes are listed in routes.go.
func New(opts Options) (*Handler, error) {
	if opts.Auth == nil || opts.Logs == nil {
		return nil, errors.New("web: Auth and Logs are required")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.QueryTimeout <= 0 {
		opts.QueryTimeout = 30 * time.Second
	}
	h := &Handler{opts: opts, log: opts.Logger, mux: http.NewServeMux()}
	h.routes()
	return h, nil
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Content-Type-Options", "nosniff")
	h.mux.ServeHTTP(w, r)
}

// authed wraps a handler so that it runs only for a principal holding need.
func (h *Handler) authed(need auth.Role, next http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := h.opts.Auth.AuthenticateRequest(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Basic realm="lookout", charset="UTF-8"`)
			writeError(w, http.StatusUnauthorized, "unauthorized", "authentication required: sign in, or send an API key (Authorization: Bearer ...) or HTTP Basic credentials")
			return
		}
		if !p.Role.Allows(need) {
			writeError(w, http.StatusForbidden, "forbidden", fmt.Sprintf("role %s may not do this; it needs %s", p.Role, need))
			return
		}
		next(w, r.WithContext(withPrincipal(r.Context(), p)))
	})
}

type principalKey struct{}

func withPrincipal(ctx context.Context, p auth.Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// writeJSON writes v as a JSON response.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
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
		id := requestID()
		h.log.Error("api_request", "path", r.URL.Path, "request_id", id, "err", err)
		writeError(w, http.StatusInternalServerError, "internal", "internal error (request id "+id+")")
	}
}
