package ingest

import (
	"context"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/grpc/tap"
	"google.golang.org/protobuf/types/known/durationpb"
)

// OTLP/gRPC, per https://opentelemetry.io/docs/specs/otlp/#otlpgrpc.

// The three OTLP services are registered with handlers of lookout's own
// rather than pdata's generated ones, so that a request's bytes reach the
// handler undecoded: its cost is estimated from them and reserved before
// pdata builds anything (see cost.go), as on HTTP. The messages travel as
// rawMessage through rawCodec, which the server is forced to use.
//
// Receiving happens before any handler runs: gRPC reads and decompresses a
// whole message (up to MaxRecvMsgSize) first. So each call takes the most a
// message may hold, MaxRequestBytes, of the budget in the server's tap
// (grpcTap), before its message is read; the handler then resizes that to
// the request's decoded cost, and the end of the call's stream gives it
// back, whichever way the call ends.

// rawMessage is an OTLP message as bytes.
type rawMessage struct{ b []byte }

// rawCodec is gRPC's proto codec, except that it passes a rawMessage
// through as its bytes.
type rawCodec struct{ proto encoding.CodecV2 }

func (c rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	if m, ok := v.(*rawMessage); ok {
		return mem.BufferSlice{mem.SliceBuffer(m.b)}, nil
	}
	return c.proto.Marshal(v)
}

func (c rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	if m, ok := v.(*rawMessage); ok {
		m.b = data.Materialize()
		return nil
	}
	return c.proto.Unmarshal(data, v)
}

func (rawCodec) Name() string { return "proto" }

// grpcServices are the OTLP services by full name.
var grpcServices = [...]struct{ service, signal string }{
	{"opentelemetry.proto.collector.logs.v1.LogsService", "logs"},
	{"opentelemetry.proto.collector.trace.v1.TraceService", "traces"},
	{"opentelemetry.proto.collector.metrics.v1.MetricsService", "metrics"},
}

func registerGRPC(srv *grpc.Server, r *Receiver) {
	for _, s := range grpcServices {
		sig := r.signalNamed(s.signal)
		full := "/" + s.service + "/Export"
		srv.RegisterService(&grpc.ServiceDesc{
			ServiceName: s.service,
			HandlerType: (*any)(nil),
			Methods: []grpc.MethodDesc{{
				MethodName: "Export",
				Handler: func(srv any, ctx context.Context, dec func(any) error, interceptor grpc.UnaryServerInterceptor) (any, error) {
					in := new(rawMessage)
					if err := dec(in); err != nil {
						return nil, err
					}
					export := func(ctx context.Context, req any) (any, error) {
						return r.exportGRPC(ctx, sig, req.(*rawMessage))
					}
					if interceptor == nil {
						return export(ctx, in)
					}
					return interceptor(ctx, in, &grpc.UnaryServerInfo{Server: srv, FullMethod: full}, export)
				},
			}},
		}, r)
	}
}

// grpcSignal is the signal of an OTLP method, or nil for any other.
func (r *Receiver) grpcSignal(fullMethod string) *signal {
	for _, s := range grpcServices {
		if fullMethod == "/"+s.service+"/Export" {
			return r.signalNamed(s.signal)
		}
	}
	return nil
}

func (r *Receiver) signalNamed(name string) *signal {
	switch name {
	case "logs":
		return r.logs
	case "traces":
		return r.traces
	}
	return r.metrics
}

type reservationKey struct{}

// grpcTap reserves, before a call's message is read, the most it may hold;
// a call that finds no room is refused before it costs anything.
func (r *Receiver) grpcTap(ctx context.Context, info *tap.Info) (context.Context, error) {
	sig := r.grpcSignal(info.FullMethodName)
	if sig == nil {
		return ctx, nil
	}
	res := r.budget.hold()
	if !res.resize(r.cfg.MaxRequestBytes) {
		r.countRequest(sig, "grpc", "ResourceExhausted")
		return nil, r.retryable(codes.ResourceExhausted, refusedMsg)
	}
	// The stream's context ends with the call however it ends (answered,
	// cancelled, failed while receiving), so the reservation cannot leak.
	context.AfterFunc(ctx, res.release)
	return context.WithValue(ctx, reservationKey{}, res), nil
}

// grpcAuth checks the ingest token of every call.
func (r *Receiver) grpcAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if r.auth != nil {
		var authz string
		if md, ok := metadata.FromIncomingContext(ctx); ok {
			if v := md.Get("authorization"); len(v) > 0 {
				authz = v[0]
			}
		}
		if err := r.auth.AuthenticateIngest(ctx, authz); err != nil {
			sig := r.logs
			switch {
			case strings.Contains(info.FullMethod, "trace"):
				sig = r.traces
			case strings.Contains(info.FullMethod, "metrics"):
				sig = r.metrics
			}
			r.countRequest(sig, "grpc", "Unauthenticated")
			return nil, status.Error(codes.Unauthenticated, "missing or invalid ingest token: send authorization: Bearer <token>")
		}
	}
	return handler(ctx, req)
}

func (r *Receiver) exportGRPC(ctx context.Context, sig *signal, in *rawMessage) (any, error) {
	if sig.unavailable != "" {
		r.countRequest(sig, "grpc", "Unimplemented")
		return nil, status.Error(codes.Unimplemented, sig.unavailable)
	}
	res, ok := ctx.Value(reservationKey{}).(*reservation)
	if !ok {
		res = r.budget.hold()
		defer res.release()
	}
	body := in.b
	in.b = nil
	r.countBytes(sig, "grpc", len(body))
	cost, err := protoCost(sig.kind, body)
	if err != nil {
		r.countRequest(sig, "grpc", "InvalidArgument")
		return nil, status.Errorf(codes.InvalidArgument, "malformed OTLP/protobuf %s request: %v", sig.name, err)
	}
	switch code, msg := r.admit(res, sig, "grpc", int64(len(body)), cost); code {
	case codes.OK:
	case codes.Unavailable:
		r.countRequest(sig, "grpc", "Unavailable")
		return nil, r.retryable(codes.Unavailable, msg)
	case codes.InvalidArgument:
		// RESOURCE_EXHAUSTED without RetryInfo: OTLP exporters do not retry
		// it, as gRPC's own answer to a message over the size limit.
		r.countRequest(sig, "grpc", "ResourceExhausted")
		return nil, status.Error(codes.ResourceExhausted, msg)
	default:
		r.countRequest(sig, "grpc", "ResourceExhausted")
		return nil, r.retryable(codes.ResourceExhausted, msg)
	}
	req := sig.newRequest()
	err = req.UnmarshalProto(body)
	body = nil // decoded: the request holds its own copies
	if err != nil {
		r.countRequest(sig, "grpc", "InvalidArgument")
		return nil, status.Errorf(codes.InvalidArgument, "malformed OTLP/protobuf %s request: %v", sig.name, err)
	}
	resp, out, msg := r.export(ctx, sig, "grpc", req)
	switch out {
	case outcomeOK:
		b, err := resp.MarshalProto()
		if err != nil {
			r.countRequest(sig, "grpc", "Internal")
			return nil, status.Error(codes.Internal, "encode response")
		}
		r.countRequest(sig, "grpc", "OK")
		return &rawMessage{b: b}, nil
	case outcomeInvalid:
		r.countRequest(sig, "grpc", "InvalidArgument")
		return nil, status.Error(codes.InvalidArgument, msg)
	case outcomeOverloaded:
		r.countRequest(sig, "grpc", "ResourceExhausted")
		return nil, r.retryable(codes.ResourceExhausted, msg)
	default:
		r.countRequest(sig, "grpc", "Unavailable")
		return nil, r.retryable(codes.Unavailable, msg)
	}
}

// retryable builds a status with a RetryInfo detail, which OTLP exporters
// honour as the delay before retrying.
func (r *Receiver) retryable(code codes.Code, msg string) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(r.cfg.RetryAfter)})
	if err != nil {
		return status.Error(code, msg)
	}
	return st.Err()
}
