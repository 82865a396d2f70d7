package sdk

import (
	"context"
	"fmt"
	"runtime/debug"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/semconv/v1.43.0/httpconv"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
)

// instruments are the golden-signal instruments of the HTTP and gRPC
// wrappers, named as the OpenTelemetry semantic conventions name them, so
// that dashboards written for them work. In PromQL they are
// http_server_request_duration_seconds (latency; its _count is traffic;
// error_type marks errors) and http_server_active_requests (saturation),
// and the rpc_ and http_client_ equivalents.
type instruments struct {
	httpServerDuration httpconv.ServerRequestDuration
	httpServerActive   httpconv.ServerActiveRequests
	httpClientDuration httpconv.ClientRequestDuration
	rpcServerDuration  rpcconv.ServerCallDuration
	rpcServerActive    metric.Int64UpDownCounter
	rpcClientDuration  rpcconv.ClientCallDuration
}

// instruments makes the instruments on first use. The constructors only
// fail on invalid names, and then return no-op instruments.
func (t *Telemetry) instruments() *instruments {
	t.instOnce.Do(func() {
		in := &instruments{}
		in.httpServerDuration, _ = httpconv.NewServerRequestDuration(t.meter)
		in.httpServerActive, _ = httpconv.NewServerActiveRequests(t.meter)
		in.httpClientDuration, _ = httpconv.NewClientRequestDuration(t.meter)
		in.rpcServerDuration, _ = rpcconv.NewServerCallDuration(t.meter)
		in.rpcClientDuration, _ = rpcconv.NewClientCallDuration(t.meter)
		active, err := t.meter.Int64UpDownCounter("rpc.server.active_requests",
			metric.WithUnit("{request}"),
			metric.WithDescription("Number of RPCs the server is handling."))
		if err != nil {
			active = noop.Int64UpDownCounter{}
		}
		in.rpcServerActive = active
		t.inst = in
	})
	return t.inst
}

// recovered records a panic that a server wrapper recovered: on the span,
// as an exception event with its stack and an error status, and as an
// error log line with the stack, tied to the span.
func (t *Telemetry) recovered(ctx context.Context, span trace.Span, v any, attrs ...attribute.KeyValue) {
	stack := string(debug.Stack())
	err := fmt.Errorf("panic: %v", v)
	span.RecordError(err, trace.WithAttributes(attribute.String("exception.stacktrace", stack)))
	span.SetStatus(codes.Error, err.Error())
	args := make([]any, 0, 2*len(attrs)+4)
	args = append(args, "panic", fmt.Sprint(v), "stack", stack)
	for _, a := range attrs {
		args = append(args, string(a.Key), a.Value.String())
	}
	t.log.ErrorContext(ctx, "panic recovered", args...)
}
