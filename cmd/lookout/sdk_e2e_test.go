package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/lookout-dev/lookout/sdk"
)

// startSDK starts the SDK for service against a lookout at endpoint.
func startSDK(t *testing.T, service, protocol, endpoint string) *sdk.Telemetry {
	t.Helper()
	tel, err := sdk.Start(context.Background(), sdk.Config{
		ServiceName:    service,
		ServiceVersion: "1.0.0",
		Environment:    "test",
		Endpoint:       endpoint,
		Protocol:       protocol,
		Token:          e2eToken,
		KeepGlobals:    true,
	})
	if err != nil {
		t.Fatalf("start sdk for %s: %v", service, err)
	}
	return tel
}

// unusedAddr is a loopback address that nothing listens on, for now.
func unusedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestEndToEndSDK runs two services instrumented with the SDK against a
// real lookout, one exporting over OTLP/HTTP and one over gRPC: a request
// through the middleware leaves one trace across both, log records with its
// trace_id, and golden-signal metrics queryable with PromQL.
func TestEndToEndSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	front := startSDK(t, "sdk-front", sdk.ProtocolHTTPProtobuf, "http://"+s.addr.OTLPHTTP)
	back := startSDK(t, "sdk-back", sdk.ProtocolGRPC, "http://"+s.addr.OTLPGRPC)

	backMux := http.NewServeMux()
	backMux.HandleFunc("GET /stock/{sku}", func(w http.ResponseWriter, r *http.Request) {
		back.Logger().InfoContext(r.Context(), "stock checked", "sku", r.PathValue("sku"))
		if r.PathValue("sku") == "gone" {
			http.Error(w, "stock service down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "7")
	})
	backend := httptest.NewServer(back.Middleware(backMux))
	defer backend.Close()

	client := &http.Client{Transport: front.Transport(nil)}
	frontMux := http.NewServeMux()
	frontMux.HandleFunc("GET /products/{id}", func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		w.Header().Set("Trace-Id", trace.SpanContextFromContext(ctx).TraceID().String())
		front.Logger().WarnContext(ctx, "looking up stock", "product", r.PathValue("id"))
		req, _ := http.NewRequestWithContext(ctx, "GET", backend.URL+"/stock/"+r.PathValue("id"), nil)
		resp, err := client.Do(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			http.Error(w, "no stock", http.StatusBadGateway)
		}
	})
	frontend := httptest.NewServer(front.Middleware(frontMux))
	defer frontend.Close()

	var traceIDs []string
	for _, id := range []string{"a1", "b2", "gone"} {
		resp, err := http.Get(frontend.URL + "/products/" + id)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		traceIDs = append(traceIDs, resp.Header.Get("Trace-Id"))
	}

	// Shutdown flushes everything; nothing was dropped.
	for name, tel := range map[string]*sdk.Telemetry{"front": front, "back": back} {
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatalf("%s shutdown: %v", name, err)
		}
		st := tel.Stats()
		if st.SpansExported == 0 || st.LogsExported == 0 || st.MetricExports == 0 || st.SpansDropped+st.LogsDropped+st.MetricExportsFailed != 0 {
			t.Fatalf("%s stats after shutdown: %+v", name, st)
		}
	}

	// One trace across both services: the front's server and client spans,
	// and the back's server span as the client span's child.
	var tr traceResponse
	eventually(t, "trace "+traceIDs[0], func() bool {
		return apiGet(t, s.addr.HTTP, "/api/v1/traces/"+traceIDs[0], &tr) == 200 && len(tr.Spans) == 3
	})
	byName := map[string]int{}
	for i, sp := range tr.Spans {
		byName[sp.Service+" "+sp.Kind+" "+sp.Name] = i
	}
	root, okRoot := byName["sdk-front server GET /products/{id}"]
	call, okCall := byName["sdk-front client GET"]
	serve, okServe := byName["sdk-back server GET /stock/{sku}"]
	if !okRoot || !okCall || !okServe {
		t.Fatalf("trace spans: want front server, front client and back server spans, got %+v", tr.Spans)
	}
	if tr.Spans[call].ParentSpanID != tr.Spans[root].SpanID || tr.Spans[serve].ParentSpanID != tr.Spans[call].SpanID {
		t.Fatalf("span parents do not chain front server -> front client -> back server: %+v", tr.Spans)
	}
	if got := tr.Spans[serve].Attributes["http.route"]; got != "/stock/{sku}" {
		t.Errorf("back server span http.route = %v, want /stock/{sku}", got)
	}

	// Both services' log lines carry the trace and the span they were
	// written in.
	var lr logsResponse
	eventually(t, "logs of "+traceIDs[0], func() bool {
		return apiGet(t, s.addr.HTTP, "/api/v1/logs?query=trace_id:"+traceIDs[0], &lr) == 200 && lr.Total == 2
	})
	for _, rec := range lr.Records {
		want := map[string]int{"sdk-front": root, "sdk-back": serve}[rec.Service]
		if rec.SpanID != tr.Spans[want].SpanID {
			t.Errorf("%s log %v: span_id %s, want %s", rec.Service, rec.Body, rec.SpanID, tr.Spans[want].SpanID)
		}
	}

	// The failed request's trace is an error trace at both ends.
	var failed traceResponse
	if apiGet(t, s.addr.HTTP, "/api/v1/traces/"+traceIDs[2], &failed) != 200 {
		t.Fatalf("trace %s not found", traceIDs[2])
	}
	for _, sp := range failed.Spans {
		if sp.Kind == "server" && sp.Status["code"] != "error" {
			t.Errorf("failed request: %s server span status %v, want error", sp.Service, sp.Status)
		}
	}

	// Golden signals per route, in PromQL.
	cases := []struct{ q string }{
		{fmt.Sprintf(`sum(http_server_request_duration_seconds_count{job=%q, http_route="/products/{id}"})`, "sdk-front")},
		{fmt.Sprintf(`sum(http_server_request_duration_seconds_count{job=%q, http_route="/stock/{sku}", error_type="503"})`, "sdk-back")},
		{fmt.Sprintf(`sum(http_client_request_duration_seconds_count{job=%q})`, "sdk-front")},
	}
	want := []float64{3, 1, 3}
	for i, c := range cases {
		v, ok := promQuery(t, s.addr.HTTP, c.q, "")
		if !ok || v != want[i] {
			t.Errorf("%s = %v (found %v), want %v", c.q, v, ok, want[i])
		}
	}
	if v, ok := promQuery(t, s.addr.HTTP, `sum(http_server_active_requests{job="sdk-front"})`, ""); !ok || v != 0 {
		t.Errorf("in-flight after the requests = %v (found %v), want 0", v, ok)
	}
	if v, ok := promQuery(t, s.addr.HTTP, `max(go_goroutine_count{job="sdk-back"})`, ""); !ok || v <= 0 {
		t.Errorf("runtime metric go_goroutine_count = %v (found %v), want > 0", v, ok)
	}
	var services struct {
		Services []struct {
			Name string `json:"name"`
		} `json:"services"`
	}
	apiGet(t, s.addr.HTTP, "/api/v1/services", &services)
	var names []string
	for _, svc := range services.Services {
		names = append(names, svc.Name)
	}
	if !slices.Contains(names, "sdk-front") || !slices.Contains(names, "sdk-back") {
		t.Errorf("services = %v, want sdk-front and sdk-back", names)
	}
}

// TestSDKLookoutDown runs an instrumented service while nothing listens at
// its endpoint: requests are served as usual, telemetry past the queue is
// dropped and counted, and Shutdown gives up when its context says so.
func TestSDKLookoutDown(t *testing.T) {
	for _, protocol := range []string{sdk.ProtocolHTTPProtobuf, sdk.ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			endpoint := "http://" + unusedAddr(t) // nothing listens there

			tel, err := sdk.Start(context.Background(), sdk.Config{
				ServiceName: "lonely",
				Endpoint:    endpoint,
				Protocol:    protocol,
				Token:       "t",
				QueueSize:   64,
				KeepGlobals: true,
				ErrorLog:    slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) {
				tel.Logger().InfoContext(r.Context(), "hello")
				fmt.Fprint(w, "hi")
			})
			srv := httptest.NewServer(tel.Middleware(mux))
			defer srv.Close()
			for i := range 500 {
				resp, err := http.Get(srv.URL + "/hello")
				if err != nil || resp.StatusCode != 200 {
					t.Fatalf("request %d: %v %v", i, resp, err)
				}
				resp.Body.Close()
			}
			// The queue holds 64 spans and 64 log records; the rest of
			// the 500 are dropped at once rather than held.
			if st := tel.Stats(); st.SpansDropped < 500-64 || st.LogsDropped < 500-64 {
				t.Fatalf("stats with lookout down: %+v, want at least %d spans and logs dropped", st, 500-64)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			err = tel.Shutdown(ctx)
			if err == nil {
				t.Fatal("shutdown with lookout down returned no error")
			}
			t.Logf("shutdown: %v", err)
		})
	}
}

// TestSDKRetriesUntilLookoutIsUp sends while lookout is not yet listening,
// then starts it: the exporters' retries with backoff deliver everything.
func TestSDKRetriesUntilLookoutIsUp(t *testing.T) {
	for _, protocol := range []string{sdk.ProtocolHTTPProtobuf, sdk.ProtocolGRPC} {
		t.Run(protocol, func(t *testing.T) {
			addr := unusedAddr(t)
			tel, err := sdk.Start(context.Background(), sdk.Config{
				ServiceName: "early-" + protocol[:4],
				Endpoint:    "http://" + addr,
				Protocol:    protocol,
				Token:       e2eToken,
				KeepGlobals: true,
				ErrorLog:    slog.New(slog.DiscardHandler),
			})
			if err != nil {
				t.Fatal(err)
			}
			_, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "before lookout")
			span.End()
			// Shutdown flushes now, while nothing listens, and keeps
			// retrying; lookout comes up during the retries.
			done := make(chan error, 1)
			go func() { done <- tel.Shutdown(context.Background()) }()
			flag := "--otlp-http-addr"
			if protocol == sdk.ProtocolGRPC {
				flag = "--otlp-grpc-addr"
			}
			s := startServer(t, t.TempDir(), flag, addr)
			if err := <-done; err != nil {
				t.Fatalf("shutdown: %v", err)
			}
			if st := tel.Stats(); st.SpansExported != 1 || st.SpansDropped != 0 {
				t.Fatalf("stats: %+v, want the span exported after retries", st)
			}
			var tr struct {
				Traces []struct {
					RootName string `json:"root_name"`
				} `json:"traces"`
			}
			eventually(t, "the early span", func() bool {
				return apiGet(t, s.addr.HTTP, "/api/v1/traces?service=early-"+protocol[:4], &tr) == 200 && len(tr.Traces) == 1
			})
		})
	}
}
