package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/lookout-dev/lookout/logstore"
)

func (h *Handler) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz runs every readiness check; 503 names what is not ready.
func (h *Handler) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 5*time.Second)
	defer cancel()
	reasons := map[string]string{}
	for _, c := range h.opts.Ready {
		if err := c.Func(ctx); err != nil {
			reasons[c.Name] = err.Error()
		}
	}
	if len(reasons) > 0 {
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "not ready", "reasons": reasons})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (h *Handler) metrics(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	if h.opts.Metrics != nil {
		h.opts.Metrics(w)
	}
}

func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, "not_found", "no such API endpoint: "+r.URL.Path)
}

func (h *Handler) queryContext(r *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(r.Context(), h.opts.QueryTimeout)
}

// logs serves GET /api/v1/logs?query=&start=&end=&limit=&direction=.
func (h *Handler) logs(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "malformed form: "+err.Error())
		return
	}
	var p params
	q := logstore.LogQuery{
		Query: r.Form.Get("query"),
		Start: p.time(r, "start"),
		End:   p.time(r, "end"),
		Limit: p.int(r, "limit"),
	}
	switch d := r.Form.Get("direction"); d {
	case "", "backward", "desc":
	case "forward", "asc":
		q.Forward = true
	default:
		p.fail("direction", d, "backward or forward")
	}
	if p.err != "" {
		writeError(w, http.StatusBadRequest, "bad_data", p.err)
		return
	}
	ctx, cancel := h.queryContext(r)
	defer cancel()
	res, err := h.opts.Logs.SearchLogs(ctx, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// trace serves GET /api/v1/traces/{trace_id}.
func (h *Handler) trace(w http.ResponseWriter, r *http.Request) {
	id, err := logstore.ParseTraceID(r.PathValue("trace_id"))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	ctx, cancel := h.queryContext(r)
	defer cancel()
	spans, err := h.opts.Logs.Trace(ctx, id)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if len(spans) == 0 {
		writeError(w, http.StatusNotFound, "not_found", "trace "+id+" not found")
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"trace_id": id, "spans": spans})
}

// traces serves GET /api/v1/traces?service=&operation=&min_duration=&
// max_duration=&error=&query=&start=&end=&limit=.
func (h *Handler) traces(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		writeError(w, http.StatusBadRequest, "bad_data", "malformed form: "+err.Error())
		return
	}
	var p params
	q := p.traceQuery(r)
	q.Start, q.End = p.time(r, "start"), p.time(r, "end")
	if p.err != "" {
		writeError(w, http.StatusBadRequest, "bad_data", p.err)
		return
	}
	ctx, cancel := h.queryContext(r)
	defer cancel()
	res, err := h.opts.Logs.SearchTraces(ctx, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, res)
}

// traceQuery parses the trace search filters that the API and the traces
// page share: service, operation, min_duration, max_duration, error,
// query and limit. The time range is the caller's (start and end for the
// API, from and to for the page).
func (p *params) traceQuery(r *http.Request) logstore.TraceQuery {
	return logstore.TraceQuery{
		Service:     r.Form.Get("service"),
		Operation:   r.Form.Get("operation"),
		MinDuration: p.duration(r, "min_duration"),
		MaxDuration: p.duration(r, "max_duration"),
		Error:       strings.ToLower(r.Form.Get("error")),
		Query:       r.Form.Get("query"),
		Limit:       p.int(r, "limit"),
	}
}

// services serves GET /api/v1/services.
func (h *Handler) services(w http.ResponseWriter, r *http.Request) {
	res, err := h.opts.Logs.Services(r.Context())
	if err != nil {
		h.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"services": res})
}

// params parses query parameters, keeping the first error.
type params struct{ err string }

func (p *params) fail(name, value, want string) {
	if p.err == "" {
		p.err = fmt.Sprintf("invalid parameter %q: %q is not %s", name, value, want)
	}
}

// time parses RFC 3339 or Unix seconds (with a fraction), as Prometheus'
// API does.
func (p *params) time(r *http.Request, name string) time.Time {
	v := r.Form.Get(name)
	if v == "" {
		return time.Time{}
	}
	t, err := ParseTime(v)
	if err != nil {
		p.fail(name, v, "an RFC 3339 time or Unix seconds")
	}
	return t
}

// ParseTime parses an RFC 3339 time or Unix seconds with an optional
// fraction.
func ParseTime(v string) (time.Time, error) {
	if f, err := strconv.ParseFloat(v, 64); err == nil {
		if math.IsNaN(f) || math.IsInf(f, 0) || f < -1e12 || f > 1e12 {
			return time.Time{}, fmt.Errorf("time %q out of range", v)
		}
		sec, frac := math.Modf(f)
		return time.Unix(int64(sec), int64(math.Round(frac*1e9))).UTC(), nil
	}
	return time.Parse(time.RFC3339Nano, v)
}

func (p *params) int(r *http.Request, name string) int {
	v := r.Form.Get(name)
	if v == "" {
		return 0
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		p.fail(name, v, "a non-negative integer")
	}
	return n
}

// duration parses a Go duration ("250ms") or a number of seconds.
func (p *params) duration(r *http.Request, name string) time.Duration {
	v := r.Form.Get(name)
	if v == "" {
		return 0
	}
	if d, err := time.ParseDuration(v); err == nil && d >= 0 {
		return d
	}
	if f, err := strconv.ParseFloat(v, 64); err == nil && f >= 0 && f < 1e9 {
		return time.Duration(f * float64(time.Second))
	}
	p.fail(name, v, "a duration such as 250ms or 1.5s")
	return 0
}

func requestID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
