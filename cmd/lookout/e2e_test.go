package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"
)

const (
	e2eToken    = "e2e-ingest-token-0123456789"
	e2ePassword = "e2e-admin-password"
)

func TestMain(m *testing.M) {
	// The crash test re-runs this binary as a lookout server, so that it
	// can be killed with SIGKILL.
	if os.Getenv("LOOKOUT_TEST_CHILD") == "1" {
		os.Exit(run(strings.Fields(os.Getenv("LOOKOUT_TEST_ARGS")), os.Getenv, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func testEnv(extra map[string]string) func(string) string {
	env := map[string]string{"LOOKOUT_INGEST_TOKEN": e2eToken, "LOOKOUT_ADMIN_PASSWORD": e2ePassword}
	for k, v := range extra {
		env[k] = v
	}
	return func(k string) string { return env[k] }
}

// server is a lookout started in-process on free ports.
type server struct {
	addr listening
	stop func() error
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func startServer(t *testing.T, dir string, args ...string) *server {
	t.Helper()
	args = append([]string{"--data-dir", dir, "--http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0"}, args...)
	cfg, err := loadConfig("serve", args, testEnv(nil), io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	return startServerConfig(t, cfg)
}

// startServerConfig starts lookout in-process with cfg and stops it when
// the test ends.
func startServerConfig(t *testing.T, cfg config) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan listening, 1)
	done := make(chan error, 1)
	s := &server{logs: &syncBuffer{}}
	go func() { done <- serve(ctx, cfg, s.logs, func(l listening) { started <- l }) }()
	select {
	case s.addr = <-started:
	case err := <-done:
		cancel()
		t.Fatalf("serve: %v\n%s", err, s.logs)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("server did not start")
	}
	var once sync.Once
	var stopErr error
	s.stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case stopErr = <-done:
			case <-time.After(30 * time.Second):
				stopErr = fmt.Errorf("serve did not return after cancel")
			}
		})
		return stopErr
	}
	t.Cleanup(func() {
		if err := s.stop(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	return s
}

// get calls the API as admin and decodes the JSON answer into v.
func apiGet(t *testing.T, base, path string, v any) int {
	t.Helper()
	code, body := apiSend(t, http.MethodGet, base, path, nil)
	if v != nil && code == 200 {
		if err := json.Unmarshal(body, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, body)
		}
	}
	return code
}

// apiSend calls the API as admin with a JSON body and returns the status
// and the answer.
func apiSend(t *testing.T, method, base, path string, body any) (int, []byte) {
	t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, "http://"+base+path, r)
	req.SetBasicAuth("admin", e2ePassword)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// eventually polls f until it returns true or the deadline passes.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type logsResponse struct {
	Records []struct {
		Timestamp  time.Time      `json:"timestamp"`
		Body       any            `json:"body"`
		TraceID    string         `json:"trace_id"`
		SpanID     string         `json:"span_id"`
		Service    string         `json:"service"`
		Severity   string         `json:"severity_text"`
		Attributes map[string]any `json:"attributes"`
		Resource   map[string]any `json:"resource"`
	} `json:"records"`
	Total int `json:"total"`
}

type traceResponse struct {
	TraceID string `json:"trace_id"`
	Spans   []struct {
		TraceID      string         `json:"trace_id"`
		SpanID       string         `json:"span_id"`
		ParentSpanID string         `json:"parent_span_id"`
		Service      string         `json:"service"`
		Name         string         `json:"name"`
		Kind         string         `json:"kind"`
		DurationNS   int64          `json:"duration_ns"`
		Status       map[string]any `json:"status"`
		Attributes   map[string]any `json:"attributes"`
		Events       []any          `json:"events"`
	} `json:"spans"`
}

// emit sends one request's worth of telemetry for service through the
// OpenTelemetry Go SDK over the given transport: a server span with a child,
// and an error log written inside the child.
func emit(t *testing.T, transport, endpoint, service string) {
	t.Helper()
	ctx := context.Background()
	res := resource.NewWithAttributes(semconv.SchemaURL, semconv.ServiceName(service), semconv.ServiceVersion("1.2.3"))
	headers := map[string]string{"Authorization": "Bearer " + e2eToken}
	var texp sdktrace.SpanExporter
	var lexp sdklog.Exporter
	var err error
	switch transport {
	case "grpc":
		texp, err = otlptracegrpc.New(ctx, otlptracegrpc.WithEndpoint(endpoint), otlptracegrpc.WithInsecure(), otlptracegrpc.WithHeaders(headers), otlptracegrpc.WithCompressor("gzip"))
		if err == nil {
			lexp, err = otlploggrpc.New(ctx, otlploggrpc.WithEndpoint(endpoint), otlploggrpc.WithInsecure(), otlploggrpc.WithHeaders(headers))
		}
	case "http":
		texp, err = otlptracehttp.New(ctx, otlptracehttp.WithEndpoint(endpoint), otlptracehttp.WithInsecure(), otlptracehttp.WithHeaders(headers))
		if err == nil {
			lexp, err = otlploghttp.New(ctx, otlploghttp.WithEndpoint(endpoint), otlploghttp.WithInsecure(), otlploghttp.WithHeaders(headers), otlploghttp.WithCompression(otlploghttp.GzipCompression))
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithBatcher(texp))
	lp := sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(sdklog.NewBatchProcessor(lexp)))
	tracer := tp.Tracer("e2e")
	logger := lp.Logger("e2e")

	ctx, root := tracer.Start(ctx, "POST /checkout", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attribute.String("http.route", "/checkout")))
	cctx, child := tracer.Start(ctx, "charge card", trace.WithAttributes(attribute.Int("amount_cents", 4200)))
	var rec otellog.Record
	rec.SetTimestamp(time.Now())
	rec.SetSeverity(otellog.SeverityError)
	rec.SetSeverityText("ERROR")
	rec.SetBody(attribute.StringValue("payment declined by issuer for " + service))
	rec.AddAttributes(attribute.String("payment.provider", "acme"), attribute.Int("attempt", 2))
	logger.Emit(cctx, rec)
	child.SetStatus(codes.Error, "declined")
	child.End()
	root.End()

	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatalf("%s trace export: %v", transport, err)
	}
	if err := lp.Shutdown(context.Background()); err != nil {
		t.Fatalf("%s log export: %v", transport, err)
	}
}

func TestEndToEndOTelSDK(t *testing.T) {
	s := startServer(t, t.TempDir())
	emit(t, "grpc", s.addr.OTLPGRPC, "shop-grpc")
	emit(t, "http", s.addr.OTLPHTTP, "shop-http")

	for _, svc := range []string{"shop-grpc", "shop-http"} {
		t.Run(svc, func(t *testing.T) {
			// The log record, found by the query language.
			var lr logsResponse
			q := "/api/v1/logs?query=" + url.QueryEscape("service:"+svc+" AND declined AND severity:error")
			eventually(t, "log of "+svc, func() bool {
				return apiGet(t, s.addr.HTTP, q, &lr) == 200 && lr.Total == 1
			})
			rec := lr.Records[0]
			if rec.TraceID == "" || rec.SpanID == "" || rec.Attributes["payment.provider"] != "acme" || rec.Resource["service.version"] != "1.2.3" {
				t.Fatalf("log record: %+v", rec)
			}
			// Its trace_id leads to its trace...
			var tr traceResponse
			eventually(t, "trace of "+svc, func() bool {
				return apiGet(t, s.addr.HTTP, "/api/v1/traces/"+rec.TraceID, &tr) == 200 && len(tr.Spans) == 2
			})
			if tr.Spans[0].Name != "POST /checkout" || tr.Spans[0].Kind != "server" || tr.Spans[1].ParentSpanID != tr.Spans[0].SpanID {
				t.Fatalf("trace spans: %+v", tr.Spans)
			}
			if tr.Spans[1].SpanID != rec.SpanID || tr.Spans[1].Status["code"] != "error" {
				t.Fatalf("log span %s is not the erroring child %+v", rec.SpanID, tr.Spans[1])
			}
			// ...and back: the trace's id finds its logs.
			var back logsResponse
			if apiGet(t, s.addr.HTTP, "/api/v1/logs?query=trace_id:"+tr.TraceID, &back) != 200 || back.Total != 1 {
				t.Fatalf("logs by trace_id: %+v", back)
			}
			// The trace search finds it by service, operation and error.
			var ts struct {
				Traces []struct {
					TraceID     string   `json:"trace_id"`
					RootService string   `json:"root_service"`
					RootName    string   `json:"root_name"`
					SpanCount   int      `json:"span_count"`
					ErrorCount  int      `json:"error_count"`
					Services    []string `json:"services"`
				} `json:"traces"`
			}
			path := "/api/v1/traces?service=" + svc + "&operation=" + url.QueryEscape("charge card") + "&error=true"
			if apiGet(t, s.addr.HTTP, path, &ts) != 200 || len(ts.Traces) != 1 {
				t.Fatalf("trace search: %+v", ts)
			}
			if got := ts.Traces[0]; got.TraceID != rec.TraceID || got.RootName != "POST /checkout" || got.SpanCount != 2 || got.ErrorCount != 1 {
				t.Fatalf("trace summary: %+v", got)
			}
		})
	}
	var svcs struct {
		Services []struct {
			Name       string   `json:"name"`
			Operations []string `json:"operations"`
		} `json:"services"`
	}
	if apiGet(t, s.addr.HTTP, "/api/v1/services", &svcs) != 200 || len(svcs.Services) != 2 || len(svcs.Services[0].Operations) != 2 {
		t.Fatalf("services: %+v", svcs)
	}
	if err := s.stop(); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
}
