package sdk

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

type discardSpans struct{}

func (discardSpans) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardSpans) Shutdown(context.Context) error                             { return nil }

type discardLogs struct{}

func (discardLogs) Export(context.Context, []sdklog.Record) error { return nil }
func (discardLogs) Shutdown(context.Context) error                { return nil }
func (discardLogs) ForceFlush(context.Context) error              { return nil }

// benchTelemetry is a Telemetry with the batching and counting of Start
// but exporters that discard, to measure what the app pays per request.
func benchTelemetry(b *testing.B) *Telemetry {
	st := newStats(slog.New(slog.DiscardHandler))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(countSpans(st, discardSpans{}, 2048)))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(countLogs(st, discardLogs{}, 2048)))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	t := newTelemetry(tp, mp, lp, st, slog.LevelInfo, nil)
	b.Cleanup(func() { _ = t.Shutdown(context.Background()) })
	return t
}

// BenchmarkMiddleware is the cost the middleware adds to a request: a
// server span, the in-flight counter, the latency histogram and one log
// line, against the bare mux.
func BenchmarkMiddleware(b *testing.B) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {})
	tel := benchTelemetry(b)
	logged := http.NewServeMux()
	logged.HandleFunc("GET /items/{id}", func(w http.ResponseWriter, r *http.Request) {
		tel.Logger().InfoContext(r.Context(), "item read", "id", r.PathValue("id"))
	})
	for _, c := range []struct {
		name string
		h    http.Handler
	}{
		{"bare", mux},
		{"middleware", tel.Middleware(mux)},
		{"middleware+log", tel.Middleware(logged)},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			req := httptest.NewRequest("GET", "/items/42", nil)
			w := httptest.NewRecorder()
			for b.Loop() {
				c.h.ServeHTTP(w, req)
			}
		})
	}
}
