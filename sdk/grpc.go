package sdk

import (
	"context"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/semconv/v1.43.0/rpcconv"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// The interceptors follow the RPC and gRPC semantic conventions of
// semconv v1.43.0:
// https://github.com/open-telemetry/semantic-conventions/blob/v1.43.0/docs/rpc/grpc.md
//
// A call is named by rpc.method, the full method without its leading slash
// ("grpc.health.v1.Health/Check"). The method comes from the service
// definition, so the number of series stays bounded, with one exception: a
// server with grpc.UnknownServiceHandler (a proxy) sees whatever method a
// client sends; the meter provider's cardinality limit caps the series then.

// UnaryServerInterceptor returns a gRPC server interceptor for unary calls
// that gives every call a server span (continuing the caller's trace from
// its traceparent metadata) and records the four golden signals per
// method: latency (rpc.server.call.duration), traffic (its count), errors
// (error.type) and saturation (rpc.server.active_requests).
//
// Only the codes the conventions count as server faults (UNKNOWN,
// DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL, UNAVAILABLE, DATA_LOSS) mark
// the span as failed and set error.type to the code; NOT_FOUND and the
// like are the caller's problem and are only in rpc.response.status_code.
//
// A panic in the handler is recovered: it is logged with its stack through
// Logger, recorded on the span, counted with error.type "panic", and
// answered with INTERNAL and the message "internal error", never the panic
// value.
//
// Put it first in grpc.ChainUnaryInterceptor, so that the interceptors
// after it run inside the span and their panics are recovered too.
func (t *Telemetry) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	in := t.instruments()
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (resp any, err error) {
		ctx, call := t.startServerCall(ctx, in, info.FullMethod)
		defer func() {
			if v := recover(); v != nil {
				resp, err = nil, call.recovered(v)
			}
			call.end(err)
		}()
		return handler(ctx, req)
	}
}

// StreamServerInterceptor returns a gRPC server interceptor for streaming
// calls that records what UnaryServerInterceptor records, over the whole
// stream: the span and the duration run until the handler returns, and
// the handler sees the span in its stream's Context. A panic in the
// handler is recovered as UnaryServerInterceptor recovers it.
func (t *Telemetry) StreamServerInterceptor() grpc.StreamServerInterceptor {
	in := t.instruments()
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) (err error) {
		ctx, call := t.startServerCall(ss.Context(), in, info.FullMethod)
		defer func() {
			if v := recover(); v != nil {
				err = call.recovered(v)
			}
			call.end(err)
		}()
		return handler(srv, &serverStream{ServerStream: ss, ctx: ctx})
	}
}

// UnaryClientInterceptor returns a gRPC client interceptor for unary calls
// that gives every call a client span, carries the trace to the server in
// traceparent metadata, and records rpc.client.call.duration per method,
// server and status code. Any code but OK marks the span as failed and is
// set as error.type.
func (t *Telemetry) UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	in := t.instruments()
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		ctx, call := t.startClientCall(ctx, in, cc, method)
		err := invoker(ctx, method, req, reply, cc, opts...)
		call.end(err)
		return err
	}
}

// StreamClientInterceptor returns a gRPC client interceptor for streaming
// calls that records what UnaryClientInterceptor records, over the whole
// stream.
//
// The span ends and the duration is recorded when gRPC finishes the call
// (it tells interceptors through grpc.OnFinish): when RecvMsg returns
// io.EOF or an error, when a stream whose server sends one message has
// received it, when the call's context is done, or when the ClientConn
// closes. A stream the caller abandons without any of these leaks in gRPC
// itself, and its span never ends; cancel the context to avoid both.
func (t *Telemetry) StreamClientInterceptor() grpc.StreamClientInterceptor {
	in := t.instruments()
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		ctx, call := t.startClientCall(ctx, in, cc, method)
		var once sync.Once
		finish := func(err error) { once.Do(func() { call.end(err) }) }
		// A full slice: appending must not write into the caller's array.
		opts = append(opts[:len(opts):len(opts)], grpc.OnFinish(finish))
		cs, err := streamer(ctx, desc, cc, method, opts...)
		if err != nil {
			// gRPC has called finish already, unless an interceptor after
			// this one failed without reaching gRPC.
			finish(err)
			return nil, err
		}
		return cs, nil
	}
}

// serverCall is one call a server interceptor records.
type serverCall struct {
	t        *Telemetry
	in       *instruments
	ctx      context.Context
	span     trace.Span
	start    time.Time
	method   attribute.KeyValue
	active   metric.AddOption
	panicked bool
}

func (t *Telemetry) startServerCall(ctx context.Context, in *instruments, fullMethod string) (context.Context, *serverCall) {
	start := time.Now()
	md, _ := metadata.FromIncomingContext(ctx)
	ctx = t.prop.Extract(ctx, metadataCarrier(md))
	name := strings.TrimPrefix(fullMethod, "/")
	method := semconv.RPCMethod(name)
	attrs := make([]attribute.KeyValue, 0, 6)
	attrs = append(attrs, semconv.RPCSystemNameGRPC, method)
	if auth := md.Get(":authority"); len(auth) > 0 {
		host, port := splitHostPort(auth[0])
		attrs = append(attrs, semconv.ServerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.ServerPort(port))
		}
	}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		host, port := splitHostPort(p.Addr.String())
		attrs = append(attrs, semconv.NetworkPeerAddress(host))
		if port > 0 {
			attrs = append(attrs, semconv.NetworkPeerPort(port))
		}
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(attrs...))
	c := &serverCall{
		t:      t,
		in:     in,
		ctx:    ctx,
		span:   span,
		start:  start,
		method: method,
		active: metric.WithAttributeSet(attribute.NewSet(semconv.RPCSystemNameGRPC, method)),
	}
	in.rpcServerActive.Add(ctx, 1, c.active)
	return ctx, c
}

// recovered records a panic of the handler and returns what the client
// gets instead.
func (c *serverCall) recovered(v any) error {
	c.panicked = true
	c.t.recovered(c.ctx, c.span, v, c.method)
	return status.Error(codes.Internal, "internal error")
}

func (c *serverCall) end(err error) {
	st := statusOf(err)
	code := codeName(st.Code())
	result := []attribute.KeyValue{semconv.RPCResponseStatusCode(code)}
	switch {
	case c.panicked:
		// recovered has set the span's status, with the panic value.
		result = append(result, semconv.ErrorTypeKey.String("panic"))
	case serverFault(st.Code()):
		result = append(result, semconv.ErrorTypeKey.String(code))
		c.span.SetStatus(otelcodes.Error, st.Message())
	}
	c.span.SetAttributes(result...)
	c.in.rpcServerActive.Add(c.ctx, -1, c.active)
	c.in.rpcServerDuration.Record(c.ctx, time.Since(c.start).Seconds(), rpcconv.SystemNameGRPC, append(result, c.method)...)
	c.span.End()
}

// serverStream hands the handler the context that carries the span.
type serverStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *serverStream) Context() context.Context { return s.ctx }

// clientCall is one call a client interceptor records.
type clientCall struct {
	in    *instruments
	ctx   context.Context
	span  trace.Span
	start time.Time
	attrs []attribute.KeyValue // rpc.method, server.address, server.port
}

func (t *Telemetry) startClientCall(ctx context.Context, in *instruments, cc *grpc.ClientConn, fullMethod string) (context.Context, *clientCall) {
	start := time.Now()
	name := strings.TrimPrefix(fullMethod, "/")
	attrs := make([]attribute.KeyValue, 0, 5)
	attrs = append(attrs, semconv.RPCMethod(name))
	if cc != nil {
		attrs = append(attrs, targetAttrs(cc.CanonicalTarget())...)
	}
	ctx, span := t.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(semconv.RPCSystemNameGRPC), trace.WithAttributes(attrs...))
	// FromOutgoingContext returns a copy, so setting traceparent on it
	// leaves the caller's metadata alone, and replaces a traceparent an
	// outer instrumentation set rather than sending two.
	md, _ := metadata.FromOutgoingContext(ctx)
	if md == nil {
		md = metadata.MD{}
	}
	t.prop.Inject(ctx, metadataCarrier(md))
	ctx = metadata.NewOutgoingContext(ctx, md)
	return ctx, &clientCall{in: in, ctx: ctx, span: span, start: start, attrs: attrs}
}

func (c *clientCall) end(err error) {
	st := statusOf(err)
	code := codeName(st.Code())
	attrs := make([]attribute.KeyValue, 0, len(c.attrs)+2)
	attrs = append(attrs, c.attrs...)
	attrs = append(attrs, semconv.RPCResponseStatusCode(code))
	if st.Code() != codes.OK {
		attrs = append(attrs, semconv.ErrorTypeKey.String(code))
		c.span.SetStatus(otelcodes.Error, st.Message())
	}
	c.span.SetAttributes(attrs[len(c.attrs):]...)
	c.in.rpcClientDuration.Record(c.ctx, time.Since(c.start).Seconds(), rpcconv.SystemNameGRPC, attrs...)
	c.span.End()
}

// statusOf is the status a call ended with, as gRPC sends it: an error
// that is not a status is UNKNOWN, unless it is a context error.
func statusOf(err error) *status.Status {
	if st, ok := status.FromError(err); ok {
		return st
	}
	return status.FromContextError(err)
}

// serverFault says whether a server's code counts as an error of the
// server, as the gRPC conventions list them.
func serverFault(c codes.Code) bool {
	switch c {
	case codes.Unknown, codes.DeadlineExceeded, codes.Unimplemented,
		codes.Internal, codes.Unavailable, codes.DataLoss:
		return true
	}
	return false
}

// codeNames are the codes as the gRPC spec spells them, which is how the
// conventions want rpc.response.status_code; codes.Code.String spells them
// differently ("DeadlineExceeded").
var codeNames = [...]string{
	codes.OK:                 "OK",
	codes.Canceled:           "CANCELLED",
	codes.Unknown:            "UNKNOWN",
	codes.InvalidArgument:    "INVALID_ARGUMENT",
	codes.DeadlineExceeded:   "DEADLINE_EXCEEDED",
	codes.NotFound:           "NOT_FOUND",
	codes.AlreadyExists:      "ALREADY_EXISTS",
	codes.PermissionDenied:   "PERMISSION_DENIED",
	codes.ResourceExhausted:  "RESOURCE_EXHAUSTED",
	codes.FailedPrecondition: "FAILED_PRECONDITION",
	codes.Aborted:            "ABORTED",
	codes.OutOfRange:         "OUT_OF_RANGE",
	codes.Unimplemented:      "UNIMPLEMENTED",
	codes.Internal:           "INTERNAL",
	codes.Unavailable:        "UNAVAILABLE",
	codes.DataLoss:           "DATA_LOSS",
	codes.Unauthenticated:    "UNAUTHENTICATED",
}

// codeName names c; a code outside the spec is "_OTHER", so that a server
// sending made-up codes cannot add series.
func codeName(c codes.Code) string {
	if int(c) < len(codeNames) {
		return codeNames[c]
	}
	return "_OTHER"
}

// targetAttrs are server.address and server.port of a client's canonical
// target: "dns:///lookout:4317", "unix:///run/app.sock".
func targetAttrs(target string) []attribute.KeyValue {
	u, err := url.Parse(target)
	if err != nil {
		return nil
	}
	if u.Scheme == "unix" || u.Scheme == "unix-abstract" {
		return []attribute.KeyValue{semconv.ServerAddress(u.Path)}
	}
	endpoint := strings.TrimPrefix(u.Path, "/")
	if endpoint == "" {
		endpoint = u.Opaque
	}
	if endpoint == "" {
		return nil
	}
	host, port := splitHostPort(endpoint)
	if port == 0 {
		return []attribute.KeyValue{semconv.ServerAddress(host)}
	}
	return []attribute.KeyValue{semconv.ServerAddress(host), semconv.ServerPort(port)}
}

// splitHostPort splits "host:port"; port is 0 when there is none.
func splitHostPort(addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		return addr, 0
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// metadataCarrier lets a propagator read and write gRPC metadata.
type metadataCarrier metadata.MD

func (c metadataCarrier) Get(key string) string {
	if v := metadata.MD(c).Get(key); len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c metadataCarrier) Set(key, value string) { metadata.MD(c).Set(key, value) }

func (c metadataCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
