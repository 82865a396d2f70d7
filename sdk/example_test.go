package sdk_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"time"

	"github.com/lookout-dev/lookout/sdk"
)

// A service instrumented in a few lines. Without an endpoint in Config or
// OTEL_EXPORTER_OTLP_ENDPOINT, telemetry goes to a lookout on localhost;
// the token comes from LOOKOUT_INGEST_TOKEN.
func Example() {
	ctx := context.Background()
	tel, err := sdk.Start(ctx, sdk.Config{ServiceName: "checkout", ServiceVersion: "1.4.2", Environment: "production"})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer func() {
		// Send what is buffered, but do not hold up the exit for long.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_ = tel.Shutdown(ctx)
	}()
	slog.SetDefault(tel.Logger())

	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders/{id}/pay", func(w http.ResponseWriter, r *http.Request) {
		// Logged with the request's trace_id and span_id.
		slog.InfoContext(r.Context(), "payment accepted", "order_id", r.PathValue("id"))
		fmt.Fprintln(w, "paid")
	})
	// Every request: a span named "POST /orders/{id}/pay", and latency,
	// traffic, errors and in-flight requests for that route.
	handler := tel.Middleware(mux)

	rec := httptest.NewRecorder()
	handler.ServeHTTP(rec, httptest.NewRequest("POST", "/orders/1001/pay", nil))
	fmt.Print(rec.Code, " ", rec.Body.String())
	// Output: 200 paid
}

// Calls to other services carry the trace, so lookout shows one trace
// across both, and are measured per method, server and status.
func ExampleTelemetry_Transport() {
	tel, err := sdk.Start(context.Background(), sdk.Config{ServiceName: "storefront", KeepGlobals: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(tel)

	inventory := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The traceparent header the transport added.
		fmt.Fprint(w, len(r.Header.Get("traceparent")) > 0)
	}))
	defer inventory.Close()

	client := &http.Client{Transport: tel.Transport(nil)}
	resp, err := client.Get(inventory.URL + "/stock/sku-1")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println("traceparent sent:", string(body))
	// Output: traceparent sent: true
}

// Logger writes JSON locally when Config.LogJSON is set, and sends every
// record to lookout with the trace of its context.
func ExampleTelemetry_Logger() {
	tel, err := sdk.Start(context.Background(), sdk.Config{
		ServiceName: "worker",
		LogJSON:     os.Stderr,
		LogLevel:    slog.LevelDebug,
		KeepGlobals: true,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer shutdown(tel)

	ctx, span := tel.TracerProvider().Tracer("worker").Start(context.Background(), "process batch")
	tel.Logger().DebugContext(ctx, "batch started", "size", 128)
	span.End()
	fmt.Println("logged with trace", span.SpanContext().TraceID().IsValid())
	// Output: logged with trace true
}

func shutdown(tel *sdk.Telemetry) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_ = tel.Shutdown(ctx)
}
