package ingest

import (
	"context"
	"strings"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
)

// OTLP/gRPC, per https://opentelemetry.io/docs/specs/otlp/#otlpgrpc.

func registerGRPC(srv *grpc.Server, r *Receiver) {
	plogotlp.RegisterGRPCServer(srv, &logsServer{r: r})
	ptraceotlp.RegisterGRPCServer(srv, &tracesServer{r: r})
	pmetricotlp.RegisterGRPCServer(srv, &metricsServer{r: r})
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

// grpcItemBytes estimates the memory one decoded item holds, for the
// in-flight budget: gRPC has decoded the message before a handler runs.
const grpcItemBytes = 512

func (r *Receiver) exportGRPC(ctx context.Context, sig *signal, req exportRequest, items int) (exportResponse, error) {
	if sig.unavailable != "" {
		r.countRequest(sig, "grpc", "Unimplemented")
		return nil, status.Error(codes.Unimplemented, sig.unavailable)
	}
	n := int64(items) * grpcItemBytes
	if !r.reserve(n) {
		r.countRequest(sig, "grpc", "ResourceExhausted")
		return nil, r.retryable(codes.ResourceExhausted, "lookout is at its ingest limit; retry later")
	}
	defer r.release(n)
	resp, out, msg := r.export(ctx, sig, "grpc", req)
	switch out {
	case outcomeOK:
		r.countRequest(sig, "grpc", "OK")
		return resp, nil
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

type logsServer struct {
	plogotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *logsServer) Export(ctx context.Context, req plogotlp.ExportRequest) (plogotlp.ExportResponse, error) {
	resp, err := s.r.exportGRPC(ctx, s.r.logs, req, req.Logs().LogRecordCount())
	if err != nil {
		return plogotlp.NewExportResponse(), err
	}
	return resp.(plogotlp.ExportResponse), nil
}

type tracesServer struct {
	ptraceotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *tracesServer) Export(ctx context.Context, req ptraceotlp.ExportRequest) (ptraceotlp.ExportResponse, error) {
	resp, err := s.r.exportGRPC(ctx, s.r.traces, req, req.Traces().SpanCount())
	if err != nil {
		return ptraceotlp.NewExportResponse(), err
	}
	return resp.(ptraceotlp.ExportResponse), nil
}

type metricsServer struct {
	pmetricotlp.UnimplementedGRPCServer
	r *Receiver
}

func (s *metricsServer) Export(ctx context.Context, req pmetricotlp.ExportRequest) (pmetricotlp.ExportResponse, error) {
	resp, err := s.r.exportGRPC(ctx, s.r.metrics, req, req.Metrics().DataPointCount())
	if err != nil {
		return pmetricotlp.NewExportResponse(), err
	}
	return resp.(pmetricotlp.ExportResponse), nil
}
