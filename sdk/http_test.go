package sdk

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

func findSpan(spans tracetest.SpanStubs, kind trace.SpanKind, name string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if s.SpanKind == kind && s.Name == name {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func spanAttr(s tracetest.SpanStub, key string) string { return kvAttr(s.Attributes, key) }

func TestMiddleware(t *testing.T) {
	r := newRecorded(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, req *http.Request) {
		fmt.Fprint(w, req.PathValue("id"))
	})
	mux.HandleFunc("POST /fail", func(w http.ResponseWriter, req *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("GET /boom", func(w http.ResponseWriter, req *http.Request) {
		panic("boom")
	})
	srv := httptest.NewServer(r.Middleware(mux))
	defer srv.Close()
	client := &http.Client{Transport: r.Transport(nil)}

	cases := []struct {
		method, path string
		wantStatus   int
		wantSpan     string
		wantRoute    string
		wantError    string
	}{
		{"GET", "/items/1", 200, "GET /items/{id}", "/items/{id}", ""},
		{"GET", "/items/2", 200, "GET /items/{id}", "/items/{id}", ""},
		{"POST", "/fail", 503, "POST /fail", "/fail", "503"},
		{"GET", "/boom", 500, "GET /boom", "/boom", "panic"},
		{"GET", "/nowhere", 404, "GET", "", ""},
	}
	for _, c := range cases {
		r.spans.Reset()
		req, _ := http.NewRequest(c.method, srv.URL+c.path, nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.wantStatus {
			t.Errorf("%s %s: status %d, want %d", c.method, c.path, resp.StatusCode, c.wantStatus)
		}
		spans := r.spans.GetSpans()
		server, ok := findSpan(spans, trace.SpanKindServer, c.wantSpan)
		if !ok {
			t.Fatalf("%s %s: no server span %q in %v", c.method, c.path, c.wantSpan, spanNames(spans))
		}
		clientSpan, ok := findSpan(spans, trace.SpanKindClient, c.method)
		if !ok {
			t.Fatalf("%s %s: no client span in %v", c.method, c.path, spanNames(spans))
		}
		if server.Parent.SpanID() != clientSpan.SpanContext.SpanID() || server.SpanContext.TraceID() != clientSpan.SpanContext.TraceID() {
			t.Errorf("%s %s: server span is not the client span's child", c.method, c.path)
		}
		if got := spanAttr(server, "http.route"); got != c.wantRoute {
			t.Errorf("%s %s: http.route %q, want %q", c.method, c.path, got, c.wantRoute)
		}
		if got := spanAttr(server, "error.type"); got != c.wantError {
			t.Errorf("%s %s: error.type %q, want %q", c.method, c.path, got, c.wantError)
		}
		wantCode := codes.Unset
		if c.wantError != "" {
			wantCode = codes.Error
		}
		if server.Status.Code != wantCode {
			t.Errorf("%s %s: span status %v, want %v", c.method, c.path, server.Status.Code, wantCode)
		}
	}

	// Latency per route: both /items requests fall in one series.
	counts := map[string]uint64{}
	for _, dp := range r.histogram(t, "http.server.request.duration") {
		key := attr(dp.Attributes, "http.request.method") + " " + attr(dp.Attributes, "http.route") + " " +
			attr(dp.Attributes, "http.response.status_code") + " " + attr(dp.Attributes, "error.type")
		counts[key] += dp.Count
	}
	want := map[string]uint64{"GET /items/{id} 200 ": 2, "POST /fail 503 503": 1, "GET /boom 500 panic": 1, "GET  404 ": 1}
	if fmt.Sprint(counts) != fmt.Sprint(want) {
		t.Errorf("request counts by method, route, status, error: %v, want %v", counts, want)
	}
	for _, dp := range r.sum(t, "http.server.active_requests") {
		if dp.Value != 0 {
			t.Errorf("in-flight %v = %d after all requests ended, want 0", dp.Attributes.ToSlice(), dp.Value)
		}
	}
	clientCounts := uint64(0)
	for _, dp := range r.histogram(t, "http.client.request.duration") {
		clientCounts += dp.Count
	}
	if clientCounts != uint64(len(cases)) {
		t.Errorf("client requests recorded %d, want %d", clientCounts, len(cases))
	}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.SpanKind.String()+" "+s.Name)
	}
	return names
}

// TestMiddlewarePanic checks what a recovered panic leaves: a log line
// with the stack tied to the span, an exception event, and a 500.
func TestMiddlewarePanic(t *testing.T) {
	r := newRecorded(t)
	mux := http.NewServeMux()
	mux.HandleFunc("/orders/{id}", func(w http.ResponseWriter, req *http.Request) {
		var items []int
		_ = items[len(req.PathValue("id"))] // index out of range: a runtime panic
	})
	rec := httptest.NewRecorder()
	r.Middleware(mux).ServeHTTP(rec, httptest.NewRequest("GET", "/orders/7", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d, want 500", rec.Code)
	}
	spans := r.spans.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("spans: %v", spanNames(spans))
	}
	span := spans[0]
	if len(span.Events) != 1 || span.Events[0].Name != "exception" {
		t.Fatalf("span events %+v, want one exception", span.Events)
	}
	logs := r.logs.all()
	if len(logs) != 1 {
		t.Fatalf("%d log records, want 1", len(logs))
	}
	lr := logs[0]
	if lr.TraceID() != span.SpanContext.TraceID() || lr.SpanID() != span.SpanContext.SpanID() {
		t.Errorf("panic log trace %s span %s, want %s %s", lr.TraceID(), lr.SpanID(), span.SpanContext.TraceID(), span.SpanContext.SpanID())
	}
	var stack, route string
	lr.WalkAttributes(func(kv attribute.KeyValue) bool {
		switch kv.Key {
		case "stack":
			stack = kv.Value.AsString()
		case "http.route":
			route = kv.Value.AsString()
		}
		return true
	})
	if !strings.Contains(stack, "TestMiddlewarePanic") || route != "/orders/{id}" {
		t.Errorf("panic log: stack %q, route %q; want the handler's stack and /orders/{id}", stack, route)
	}
}

// TestMiddlewareAbortHandler: http.ErrAbortHandler still aborts the
// response, as net/http documents, and is still recorded.
func TestMiddlewareAbortHandler(t *testing.T) {
	r := newRecorded(t)
	h := r.Middleware(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		panic(http.ErrAbortHandler)
	}))
	func() {
		defer func() {
			if v := recover(); v != http.ErrAbortHandler {
				t.Errorf("recovered %v, want http.ErrAbortHandler re-panicked", v)
			}
		}()
		h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/", nil))
	}()
	if spans := r.spans.GetSpans(); len(spans) != 1 || spans[0].Status.Code != codes.Error {
		t.Errorf("spans after abort: %+v", spans)
	}
}

// TestMiddlewareWrapped: with another wrapper between the middleware and
// the mux the route is still the mux's pattern, read after serving.
func TestMiddlewareWrapped(t *testing.T) {
	r := newRecorded(t)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /users/{name}/posts", func(w http.ResponseWriter, req *http.Request) {})
	other := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { mux.ServeHTTP(w, req) })
	r.Middleware(other).ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/users/ann/posts", nil))
	spans := r.spans.GetSpans()
	if len(spans) != 1 || spans[0].Name != "GET /users/{name}/posts" || spanAttr(spans[0], "http.route") != "/users/{name}/posts" {
		t.Errorf("spans: %v", spanNames(spans))
	}
}

// TestMiddlewareContinuesTrace: a traceparent from outside is the parent.
func TestMiddlewareContinuesTrace(t *testing.T) {
	r := newRecorded(t)
	req := httptest.NewRequest("GET", "/", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	r.Middleware(http.NotFoundHandler()).ServeHTTP(httptest.NewRecorder(), req)
	spans := r.spans.GetSpans()
	if len(spans) != 1 || spans[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
		spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("span %+v does not continue the incoming trace", spans)
	}
}

func TestTransportError(t *testing.T) {
	r := newRecorded(t)
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	client := &http.Client{Transport: r.Transport(nil)}
	for _, c := range []struct {
		ctx  context.Context
		want string
	}{{context.Background(), "connection"}, {ctx, "canceled"}} {
		r.spans.Reset()
		req, _ := http.NewRequestWithContext(c.ctx, "GET", url+"/x?token=secret", nil)
		if _, err := client.Do(req); err == nil {
			t.Fatal("request to a closed server succeeded")
		}
		spans := r.spans.GetSpans()
		if len(spans) != 1 || spanAttr(spans[0], "error.type") != c.want || spans[0].Status.Code != codes.Error {
			t.Fatalf("span %+v, want error.type %s", spans, c.want)
		}
		if full := spanAttr(spans[0], "url.full"); strings.Contains(full, "secret") {
			t.Errorf("url.full %q carries the query", full)
		}
	}
}

func TestRouteOf(t *testing.T) {
	f := func(pattern, want string) {
		t.Helper()
		if got := routeOf(pattern); got != want {
			t.Errorf("routeOf(%q) = %q, want %q", pattern, got, want)
		}
	}
	f("GET /items/{id}", "/items/{id}")
	f("/static/", "/static/")
	f("POST example.com/a/{b...}", "/a/{b...}")
	f("", "")
}
