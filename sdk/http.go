package sdk

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/trace"
)

// patternFinder is what *http.ServeMux offers to find a request's pattern
// before serving it.
type patternFinder interface {
	Handler(r *http.Request) (h http.Handler, pattern string)
}

// Middleware wraps an HTTP server's handler so that every request gets a
// server span (continuing the caller's trace from its traceparent header)
// and the four golden signals are recorded per route: latency
// (http.server.request.duration), traffic (its count), errors (5xx and
// panics, as error.type) and saturation (http.server.active_requests).
//
// The route is the pattern of the Go 1.22+ ServeMux that serves the request
// ("/items/{id}"), never the raw path, so the number of series stays
// bounded. Wrap the mux itself; a request no pattern matches has no route.
//
// A panic in the handler is recovered: it is logged with its stack through
// Logger, recorded on the span, and answered with 500 if nothing was
// written yet. http.ErrAbortHandler is recorded and re-panicked, as
// net/http expects.
func (t *Telemetry) Middleware(next http.Handler) http.Handler {
	in := t.instruments()
	finder, _ := next.(patternFinder)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ctx := t.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		method := methodAttr(r.Method)
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		clientAddr, _ := splitHostPort(r.RemoteAddr)
		var route string
		if finder != nil {
			_, route = finder.Handler(r)
			route = routeOf(route)
		}
		ctx, span := t.tracer.Start(ctx, spanName(string(method), route),
			trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				semconv.HTTPRequestMethodKey.String(string(method)),
				semconv.URLPath(r.URL.Path),
				semconv.URLScheme(scheme),
				semconv.ServerAddress(r.Host),
				semconv.UserAgentOriginal(r.UserAgent()),
				semconv.ClientAddress(clientAddr),
				semconv.NetworkProtocolVersion(protocolVersion(r)),
			))
		var routeAttr []attribute.KeyValue
		if route != "" {
			routeAttr = []attribute.KeyValue{semconv.HTTPRoute(route)}
		}
		// One attribute set for both ends of the in-flight count: the end
		// has to decrement the series the start incremented.
		active := attribute.NewSet(append(routeAttr,
			semconv.HTTPRequestMethodKey.String(string(method)), semconv.URLScheme(scheme))...)
		in.httpServerActive.AddSet(ctx, 1, active)

		rec := &responseRecorder{ResponseWriter: w}
		r = r.WithContext(ctx)
		defer func() {
			v := recover()
			if route == "" && r.Pattern != "" {
				route = routeOf(r.Pattern)
				routeAttr = []attribute.KeyValue{semconv.HTTPRoute(route)}
				span.SetName(spanName(string(method), route))
			}
			in.httpServerActive.AddSet(ctx, -1, active)
			errorType := ""
			if v != nil {
				errorType = "panic"
				t.recovered(ctx, span, v, semconv.HTTPRequestMethodKey.String(string(method)), semconv.HTTPRoute(route))
				if !rec.wroteHeader && v != http.ErrAbortHandler {
					http.Error(rec, http.StatusText(http.StatusInternalServerError), http.StatusInternalServerError)
				}
			}
			status := rec.status
			if status == 0 {
				status = http.StatusOK
			}
			if status >= 500 {
				if errorType == "" {
					errorType = strconv.Itoa(status)
				}
				span.SetStatus(codes.Error, "")
			}
			attrs := append(routeAttr, semconv.HTTPResponseStatusCode(status))
			if errorType != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(errorType))
			}
			span.SetAttributes(attrs...)
			in.httpServerDuration.Record(ctx, time.Since(start).Seconds(), method, scheme, attrs...)
			span.End()
			if v == http.ErrAbortHandler {
				panic(v)
			}
		}()
		next.ServeHTTP(rec, r)
	})
}

// Transport wraps an HTTP client's transport (nil means
// http.DefaultTransport) so that every request gets a client span, carries
// the trace to the server in a traceparent header, and is recorded in
// http.client.request.duration per method, server and status.
func (t *Telemetry) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &transport{t: t, base: base, in: t.instruments()}
}

type transport struct {
	t    *Telemetry
	base http.RoundTripper
	in   *instruments
}

func (tr *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	method := methodAttr(r.Method)
	host := r.URL.Hostname()
	port := 80
	if r.URL.Scheme == "https" {
		port = 443
	}
	if p, err := strconv.Atoi(r.URL.Port()); err == nil {
		port = p
	}
	ctx, span := tr.t.tracer.Start(r.Context(), string(method),
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(string(method)),
			semconv.URLFull(redactURL(r)),
			semconv.ServerAddress(host),
			semconv.ServerPort(port),
		))
	defer span.End()
	// A RoundTripper must not change the request it is given.
	r = r.Clone(ctx)
	tr.t.prop.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := tr.base.RoundTrip(r)
	var attrs []attribute.KeyValue
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
		attrs = append(attrs, semconv.ErrorTypeKey.String(errorTypeOf(err)))
	} else {
		attrs = append(attrs, semconv.HTTPResponseStatusCode(resp.StatusCode))
		if resp.StatusCode >= 400 {
			span.SetStatus(codes.Error, "")
			attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
		}
	}
	span.SetAttributes(attrs...)
	tr.in.httpClientDuration.Record(ctx, time.Since(start).Seconds(), method, host, port, attrs...)
	return resp, err
}

// responseRecorder notes the status a handler writes. Unwrap lets
// http.ResponseController reach the connection's other abilities.
type responseRecorder struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *responseRecorder) WriteHeader(code int) {
	if !w.wroteHeader && code >= 200 {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseRecorder) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	return w.ResponseWriter.Write(p)
}

func (w *responseRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Flush and Hijack are here for handlers that type-assert for them rather
// than use http.ResponseController.
func (w *responseRecorder) Flush() {
	if !w.wroteHeader {
		w.status, w.wroteHeader = http.StatusOK, true
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

func (w *responseRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// routeOf turns a ServeMux pattern ("GET example.com/items/{id}") into an
// http.route ("/items/{id}").
func routeOf(pattern string) string {
	if i := strings.IndexByte(pattern, '/'); i >= 0 {
		return pattern[i:]
	}
	return ""
}

func spanName(method, route string) string {
	if route == "" {
		return method
	}
	return method + " " + route
}

// methodAttr keeps the method's cardinality bounded, as the conventions
// ask: unknown methods are _OTHER.
func methodAttr(m string) httpconv.RequestMethodAttr {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodDelete, http.MethodPatch,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return httpconv.RequestMethodAttr(m)
	}
	return httpconv.RequestMethodOther
}

func protocolVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	return strconv.Itoa(r.ProtoMajor) + "." + strconv.Itoa(r.ProtoMinor)
}

// redactURL leaves out credentials and the query, where tokens often travel.
func redactURL(r *http.Request) string {
	u := *r.URL
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

// errorTypeOf names a transport error with a few bounded values.
func errorTypeOf(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.As(err, new(*net.OpError)):
		return "connection"
	}
	return "error"
}
