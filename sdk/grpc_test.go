package sdk

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otelcodes "go.opentelemetry.io/otel/codes"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// probe is a test service whose handlers do what the request's Service
// field says (see outcome). It borrows the health messages so that it
// needs no generated code of its own.
type probe struct {
	mu   sync.Mutex
	md   metadata.MD       // incoming metadata of the last Check
	span trace.SpanContext // what the last handler found in its context
}

func (p *probe) saw(ctx context.Context) {
	p.mu.Lock()
	p.span = trace.SpanContextFromContext(ctx)
	p.mu.Unlock()
}

func (p *probe) seen() trace.SpanContext {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.span
}

const (
	probeCheck   = "/lookout.test.Probe/Check"
	probeWatch   = "/lookout.test.Probe/Watch"
	probeCollect = "/lookout.test.Probe/Collect"
)

// outcome ends a call as what asks: "" succeeds, "not_found" and
// "internal" fail with that code, "panic" panics.
func (p *probe) outcome(what string) error {
	switch what {
	case "not_found":
		return status.Error(codes.NotFound, "no such probe")
	case "internal":
		return status.Error(codes.Internal, "probe broke")
	case "panic":
		panic("secret: do not leak")
	}
	return nil
}

func probeService() *grpc.ServiceDesc {
	return &grpc.ServiceDesc{
		ServiceName: "lookout.test.Probe",
		HandlerType: (*any)(nil),
		Methods: []grpc.MethodDesc{{
			MethodName: "Check",
			Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
				req := new(healthpb.HealthCheckRequest)
				if err := dec(req); err != nil {
					return nil, err
				}
				p := srv.(*probe)
				handler := func(ctx context.Context, req any) (any, error) {
					md, _ := metadata.FromIncomingContext(ctx)
					p.mu.Lock()
					p.md = md
					p.mu.Unlock()
					p.saw(ctx)
					if err := p.outcome(req.(*healthpb.HealthCheckRequest).Service); err != nil {
						return nil, err
					}
					return &healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}, nil
				}
				if interceptor == nil {
					return handler(ctx, req)
				}
				return interceptor(ctx, req, &grpc.UnaryServerInfo{Server: srv, FullMethod: probeCheck}, handler)
			},
		}},
		Streams: []grpc.StreamDesc{{
			// Watch sends three responses, then ends as the request asks.
			StreamName:    "Watch",
			ServerStreams: true,
			Handler: func(srv any, stream grpc.ServerStream) error {
				srv.(*probe).saw(stream.Context())
				req := new(healthpb.HealthCheckRequest)
				if err := stream.RecvMsg(req); err != nil {
					return err
				}
				for range 3 {
					if err := stream.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING}); err != nil {
						return err
					}
				}
				return srv.(*probe).outcome(req.Service)
			},
		}, {
			// Collect reads requests until the client is done, then
			// answers once.
			StreamName:    "Collect",
			ClientStreams: true,
			Handler: func(_ any, stream grpc.ServerStream) error {
				for {
					err := stream.RecvMsg(new(healthpb.HealthCheckRequest))
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						return err
					}
				}
				return stream.SendMsg(&healthpb.HealthCheckResponse{Status: healthpb.HealthCheckResponse_SERVING})
			},
		}},
	}
}

// startGRPC serves the probe and the health service on a real port with
// r's server interceptors, and returns a client with r's client
// interceptors.
func startGRPC(t *testing.T, r *recorded) (*grpc.ClientConn, *probe) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(r.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(r.StreamServerInterceptor()),
	)
	p := &probe{}
	srv.RegisterService(probeService(), p)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})

	cc, err := grpc.NewClient(lis.Addr().String(),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithChainUnaryInterceptor(r.UnaryClientInterceptor()),
		grpc.WithChainStreamInterceptor(r.StreamClientInterceptor()),
	)
	if err != nil {
		t.Fatalf("new client: %v", err)
	}
	t.Cleanup(func() { _ = cc.Close() })
	return cc, p
}

// watch calls probe Watch and reads it to the end, returning the number of
// responses and the final error (nil for io.EOF).
func watch(ctx context.Context, cc *grpc.ClientConn, what string) (int, error) {
	cs, err := cc.NewStream(ctx, &grpc.StreamDesc{ServerStreams: true}, probeWatch)
	if err != nil {
		return 0, err
	}
	if err := cs.SendMsg(&healthpb.HealthCheckRequest{Service: what}); err != nil {
		return 0, err
	}
	if err := cs.CloseSend(); err != nil {
		return 0, err
	}
	n := 0
	for {
		err := cs.RecvMsg(new(healthpb.HealthCheckResponse))
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		n++
	}
}

// span returns the one span with name and kind.
func (r *recorded) span(t *testing.T, name string, kind trace.SpanKind) tracetest.SpanStub {
	t.Helper()
	var found []tracetest.SpanStub
	for _, s := range r.spans.GetSpans() {
		if s.Name == name && s.SpanKind == kind {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		var all []string
		for _, s := range r.spans.GetSpans() {
			all = append(all, s.SpanKind.String()+" "+s.Name)
		}
		t.Fatalf("%d %s spans named %q, want 1 (all spans: %q)", len(found), kind, name, all)
	}
	return found[0]
}

// hasSpan says whether a span with name and kind has ended.
func (r *recorded) hasSpan(name string, kind trace.SpanKind) bool {
	_, ok := findSpan(r.spans.GetSpans(), kind, name)
	return ok
}

func kvAttr(attrs []attribute.KeyValue, key string) string {
	for _, kv := range attrs {
		if string(kv.Key) == key {
			return kv.Value.String()
		}
	}
	return ""
}

// point returns the one data point of histogram name whose rpc.method is
// method.
func (r *recorded) point(t *testing.T, name, method string) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	var found []metricdata.HistogramDataPoint[float64]
	for _, dp := range r.histogram(t, name) {
		if attr(dp.Attributes, "rpc.method") == method {
			found = append(found, dp)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d %s points for rpc.method %q, want 1", len(found), name, method)
	}
	return found[0]
}

// active returns rpc.server.active_requests for method.
func (r *recorded) active(t *testing.T, method string) int64 {
	t.Helper()
	var n int64
	for _, dp := range r.sum(t, "rpc.server.active_requests") {
		if attr(dp.Attributes, "rpc.method") == method {
			n += dp.Value
		}
	}
	return n
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// checkLinked fails unless server continues client's trace as its child.
func checkLinked(t *testing.T, client, server tracetest.SpanStub) {
	t.Helper()
	if got, want := server.SpanContext.TraceID(), client.SpanContext.TraceID(); got != want {
		t.Errorf("server span trace id = %s, want the client's %s", got, want)
	}
	if got, want := server.Parent.SpanID(), client.SpanContext.SpanID(); got != want {
		t.Errorf("server span parent = %s, want the client span %s", got, want)
	}
	if !server.Parent.IsRemote() {
		t.Errorf("server span parent is not remote, want it extracted from metadata")
	}
}

func TestGRPCTrace(t *testing.T) {
	r := newRecorded(t)
	cc, _ := startGRPC(t, r)
	const method = "grpc.health.v1.Health/Check"

	resp, err := healthpb.NewHealthClient(cc).Check(t.Context(), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("Check status = %v, want SERVING", resp.Status)
	}

	client := r.span(t, method, trace.SpanKindClient)
	server := r.span(t, method, trace.SpanKindServer)
	checkLinked(t, client, server)
	for _, c := range []struct {
		span      string
		s         tracetest.SpanStub
		key, want string
	}{
		{"client", client, "rpc.system.name", "grpc"},
		{"client", client, "rpc.method", method},
		{"client", client, "rpc.response.status_code", "OK"},
		{"client", client, "server.address", "127.0.0.1"},
		{"client", client, "error.type", ""},
		{"server", server, "rpc.system.name", "grpc"},
		{"server", server, "rpc.method", method},
		{"server", server, "rpc.response.status_code", "OK"},
		{"server", server, "network.peer.address", "127.0.0.1"},
		{"server", server, "server.address", "127.0.0.1"},
		{"server", server, "error.type", ""},
	} {
		if got := kvAttr(c.s.Attributes, c.key); got != c.want {
			t.Errorf("%s span %s = %q, want %q", c.span, c.key, got, c.want)
		}
	}
	for _, s := range []tracetest.SpanStub{client, server} {
		if s.Status.Code != otelcodes.Unset {
			t.Errorf("%s span status = %v, want Unset", s.SpanKind, s.Status)
		}
	}
	if kvAttr(client.Attributes, "server.port") == "" {
		t.Errorf("client span has no server.port")
	}
}

func TestGRPCStatus(t *testing.T) {
	cases := []struct {
		name   string
		stream bool
		what   string // the probe's outcome
		code   codes.Code
		// error.type on each side; "" when the call is no error there.
		serverError, clientError string
	}{
		{"unary ok", false, "", codes.OK, "", ""},
		{"unary not found", false, "not_found", codes.NotFound, "", "NOT_FOUND"},
		{"unary internal", false, "internal", codes.Internal, "INTERNAL", "INTERNAL"},
		{"unary panic", false, "panic", codes.Internal, "panic", "INTERNAL"},
		{"stream ok", true, "", codes.OK, "", ""},
		{"stream not found", true, "not_found", codes.NotFound, "", "NOT_FOUND"},
		{"stream internal", true, "internal", codes.Internal, "INTERNAL", "INTERNAL"},
		{"stream panic", true, "panic", codes.Internal, "panic", "INTERNAL"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newRecorded(t)
			cc, p := startGRPC(t, r)
			method := strings.TrimPrefix(probeCheck, "/")
			var err error
			if c.stream {
				method = strings.TrimPrefix(probeWatch, "/")
				var n int
				n, err = watch(t.Context(), cc, c.what)
				if n != 3 {
					t.Errorf("Watch(%q) got %d responses, want 3", c.what, n)
				}
			} else {
				err = cc.Invoke(t.Context(), probeCheck, &healthpb.HealthCheckRequest{Service: c.what}, new(healthpb.HealthCheckResponse))
			}
			if got := status.Code(err); got != c.code {
				t.Fatalf("%s(%q) code = %v (%v), want %v", method, c.what, got, err, c.code)
			}
			if c.what == "panic" && status.Convert(err).Message() != "internal error" {
				t.Errorf("%s(%q) message = %q, want %q: the panic value must stay on the server",
					method, c.what, status.Convert(err).Message(), "internal error")
			}

			// The client span ends before the call returns to the caller,
			// and the server span before the server sends the status.
			client := r.span(t, method, trace.SpanKindClient)
			server := r.span(t, method, trace.SpanKindServer)
			checkLinked(t, client, server)
			if got, want := p.seen(), server.SpanContext; !got.Equal(want) {
				t.Errorf("handler's context has span %s, want the server span %s", got.SpanID(), want.SpanID())
			}
			want := codeName(c.code)
			for _, s := range []struct {
				side      string
				span      tracetest.SpanStub
				errorType string
				histogram string
			}{
				{"client", client, c.clientError, "rpc.client.call.duration"},
				{"server", server, c.serverError, "rpc.server.call.duration"},
			} {
				if got := kvAttr(s.span.Attributes, "rpc.response.status_code"); got != want {
					t.Errorf("%s span rpc.response.status_code = %q, want %q", s.side, got, want)
				}
				if got := kvAttr(s.span.Attributes, "error.type"); got != s.errorType {
					t.Errorf("%s span error.type = %q, want %q", s.side, got, s.errorType)
				}
				wantStatus := otelcodes.Unset
				if s.errorType != "" {
					wantStatus = otelcodes.Error
				}
				if s.span.Status.Code != wantStatus {
					t.Errorf("%s span status = %v, want %v", s.side, s.span.Status.Code, wantStatus)
				}

				dp := r.point(t, s.histogram, method)
				if dp.Count != 1 {
					t.Errorf("%s count = %d, want 1", s.histogram, dp.Count)
				}
				for key, want := range map[string]string{
					"rpc.system.name":          "grpc",
					"rpc.response.status_code": want,
					"error.type":               s.errorType,
				} {
					if got := attr(dp.Attributes, key); got != want {
						t.Errorf("%s %s = %q, want %q", s.histogram, key, got, want)
					}
				}
			}
			if got := attr(r.point(t, "rpc.client.call.duration", method).Attributes, "server.address"); got != "127.0.0.1" {
				t.Errorf("rpc.client.call.duration server.address = %q, want 127.0.0.1", got)
			}
			if n := r.active(t, method); n != 0 {
				t.Errorf("rpc.server.active_requests after the call = %d, want 0", n)
			}
		})
	}
}

func TestGRPCPanic(t *testing.T) {
	for _, stream := range []bool{false, true} {
		name := "unary"
		if stream {
			name = "stream"
		}
		t.Run(name, func(t *testing.T) {
			r := newRecorded(t)
			cc, _ := startGRPC(t, r)
			method := strings.TrimPrefix(probeCheck, "/")
			var err error
			if stream {
				method = strings.TrimPrefix(probeWatch, "/")
				_, err = watch(t.Context(), cc, "panic")
			} else {
				err = cc.Invoke(t.Context(), probeCheck, &healthpb.HealthCheckRequest{Service: "panic"}, new(healthpb.HealthCheckResponse))
			}
			if status.Code(err) != codes.Internal || strings.Contains(err.Error(), "secret") {
				t.Fatalf("%s panicking: err = %v, want INTERNAL without the panic value", method, err)
			}

			server := r.span(t, method, trace.SpanKindServer)
			var exceptions int
			for _, e := range server.Events {
				if e.Name != "exception" {
					continue
				}
				exceptions++
				msg, stack := kvAttr(e.Attributes, "exception.message"), kvAttr(e.Attributes, "exception.stacktrace")
				if !strings.Contains(msg, "secret: do not leak") || !strings.Contains(stack, "grpc_test.go") {
					t.Errorf("exception event message %q, stack %q: want the panic value and a stack through grpc_test.go", msg, stack)
				}
			}
			if exceptions != 1 {
				t.Errorf("server span has %d exception events, want 1", exceptions)
			}

			var rec *sdklog.Record
			for _, l := range r.logs.all() {
				if l.Body().AsString() == "panic recovered" {
					rec = &l
				}
			}
			if rec == nil {
				t.Fatalf("no %q log record among %d", "panic recovered", len(r.logs.all()))
			}
			if got, want := rec.TraceID(), server.SpanContext.TraceID(); got != want {
				t.Errorf("log trace id = %s, want the server span's %s", got, want)
			}
			if got, want := rec.SpanID(), server.SpanContext.SpanID(); got != want {
				t.Errorf("log span id = %s, want the server span's %s", got, want)
			}
			attrs := logAttrs(*rec)
			if !strings.Contains(attrs["stack"], "grpc_test.go") {
				t.Errorf("log stack = %q, want a stack through grpc_test.go", attrs["stack"])
			}
			if got := attrs["panic"]; got != "secret: do not leak" {
				t.Errorf("log panic = %q, want %q", got, "secret: do not leak")
			}
			if got := attrs["rpc.method"]; got != method {
				t.Errorf("log rpc.method = %q, want %q", got, method)
			}
			if rec.Severity() != otellog.SeverityError {
				t.Errorf("log severity = %v, want ERROR", rec.Severity())
			}
		})
	}
}

func logAttrs(rec sdklog.Record) map[string]string {
	m := make(map[string]string)
	rec.WalkAttributes(func(kv attribute.KeyValue) bool {
		m[string(kv.Key)] = kv.Value.String()
		return true
	})
	return m
}

// TestGRPCClientStream checks the end rule for a stream whose server
// answers once: the span ends when that answer is received.
func TestGRPCClientStream(t *testing.T) {
	r := newRecorded(t)
	cc, _ := startGRPC(t, r)
	method := strings.TrimPrefix(probeCollect, "/")

	cs, err := cc.NewStream(t.Context(), &grpc.StreamDesc{ClientStreams: true}, probeCollect)
	if err != nil {
		t.Fatalf("NewStream: %v", err)
	}
	for range 2 {
		if err := cs.SendMsg(&healthpb.HealthCheckRequest{}); err != nil {
			t.Fatalf("SendMsg: %v", err)
		}
	}
	if err := cs.CloseSend(); err != nil {
		t.Fatalf("CloseSend: %v", err)
	}
	if r.hasSpan(method, trace.SpanKindClient) {
		t.Errorf("client span ended before the answer")
	}
	if err := cs.RecvMsg(new(healthpb.HealthCheckResponse)); err != nil {
		t.Fatalf("RecvMsg: %v", err)
	}

	client := r.span(t, method, trace.SpanKindClient)
	server := r.span(t, method, trace.SpanKindServer)
	checkLinked(t, client, server)
	if got := kvAttr(client.Attributes, "rpc.response.status_code"); got != "OK" {
		t.Errorf("client span rpc.response.status_code = %q, want OK", got)
	}
	if dp := r.point(t, "rpc.client.call.duration", method); dp.Count != 1 {
		t.Errorf("rpc.client.call.duration count = %d, want 1", dp.Count)
	}
}

// TestGRPCStreamCanceled watches the health service, which streams until
// the client goes away, and cancels: the client's span ends as CANCELLED,
// an error on the client and not on the server.
func TestGRPCStreamCanceled(t *testing.T) {
	r := newRecorded(t)
	cc, _ := startGRPC(t, r)
	const method = "grpc.health.v1.Health/Watch"

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := healthpb.NewHealthClient(cc).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Watch: %v", err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatalf("Watch Recv: %v", err)
	}
	if n := r.active(t, method); n != 1 {
		t.Errorf("rpc.server.active_requests during Watch = %d, want 1", n)
	}
	cancel()

	waitFor(t, "the client span", func() bool { return r.hasSpan(method, trace.SpanKindClient) })
	waitFor(t, "the server span", func() bool { return r.hasSpan(method, trace.SpanKindServer) })
	client := r.span(t, method, trace.SpanKindClient)
	server := r.span(t, method, trace.SpanKindServer)
	checkLinked(t, client, server)
	for _, c := range []struct {
		side      string
		s         tracetest.SpanStub
		errorType string
		status    otelcodes.Code
	}{
		{"client", client, "CANCELLED", otelcodes.Error},
		{"server", server, "", otelcodes.Unset},
	} {
		if got := kvAttr(c.s.Attributes, "rpc.response.status_code"); got != "CANCELLED" {
			t.Errorf("%s span rpc.response.status_code = %q, want CANCELLED", c.side, got)
		}
		if got := kvAttr(c.s.Attributes, "error.type"); got != c.errorType {
			t.Errorf("%s span error.type = %q, want %q", c.side, got, c.errorType)
		}
		if c.s.Status.Code != c.status {
			t.Errorf("%s span status = %v, want %v", c.side, c.s.Status.Code, c.status)
		}
	}
	if n := r.active(t, method); n != 0 {
		t.Errorf("rpc.server.active_requests after Watch = %d, want 0", n)
	}
	dp := r.point(t, "rpc.server.call.duration", method)
	if got := attr(dp.Attributes, "rpc.response.status_code"); dp.Count != 1 || got != "CANCELLED" {
		t.Errorf("rpc.server.call.duration count %d, status %q; want 1, CANCELLED", dp.Count, got)
	}
}

// TestGRPCMetadata checks that the caller's metadata reaches the server
// beside traceparent, and that the caller's MD is left as it was.
func TestGRPCMetadata(t *testing.T) {
	r := newRecorded(t)
	cc, p := startGRPC(t, r)

	md := metadata.Pairs("x-tenant", "acme")
	ctx := metadata.NewOutgoingContext(t.Context(), md)
	ctx = metadata.AppendToOutgoingContext(ctx, "x-request-id", "r1")
	if err := cc.Invoke(ctx, probeCheck, &healthpb.HealthCheckRequest{}, new(healthpb.HealthCheckResponse)); err != nil {
		t.Fatalf("Check: %v", err)
	}
	if len(md) != 1 || len(md.Get("traceparent")) != 0 {
		t.Errorf("caller's metadata after the call = %v, want only x-tenant", md)
	}
	p.mu.Lock()
	got := p.md
	p.mu.Unlock()
	for _, key := range []string{"x-tenant", "x-request-id", "traceparent"} {
		if len(got.Get(key)) != 1 {
			t.Errorf("server metadata %s = %q, want one value", key, got.Get(key))
		}
	}
}

func TestCodeName(t *testing.T) {
	f := func(in codes.Code, want string) {
		t.Helper()
		if got := codeName(in); got != want {
			t.Errorf("codeName(%d) = %q, want %q", in, got, want)
		}
	}
	f(codes.OK, "OK")
	f(codes.Canceled, "CANCELLED")
	f(codes.DeadlineExceeded, "DEADLINE_EXCEEDED")
	f(codes.Unauthenticated, "UNAUTHENTICATED")
	f(codes.Code(17), "_OTHER")
	f(codes.Code(1<<31), "_OTHER")
}

func TestTargetAttrs(t *testing.T) {
	f := func(in, wantAddr, wantPort string) {
		t.Helper()
		var addr, port string
		for _, kv := range targetAttrs(in) {
			switch kv.Key {
			case "server.address":
				addr = kv.Value.String()
			case "server.port":
				port = kv.Value.String()
			}
		}
		if addr != wantAddr || port != wantPort {
			t.Errorf("targetAttrs(%q) = address %q, port %q; want %q, %q", in, addr, port, wantAddr, wantPort)
		}
	}
	f("dns:///lookout:4317", "lookout", "4317")
	f("dns://8.8.8.8/example.com:42", "example.com", "42")
	f("dns:///lookout", "lookout", "")
	f("passthrough:///[::1]:50051", "::1", "50051")
	f("unix:///run/app.sock", "/run/app.sock", "")
	f("", "", "")
}
