package ingest

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// LogsConsumer stores log records. It returns only once they are durable.
type LogsConsumer interface {
	ConsumeLogs(ctx context.Context, ld plog.Logs) error
}

// TracesConsumer stores spans. It returns only once they are durable.
type TracesConsumer interface {
	ConsumeTraces(ctx context.Context, td ptrace.Traces) error
}

// MetricsConsumer stores metric points. It returns only once they are
// durable.
type MetricsConsumer interface {
	ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error
}

// exportRequest is what the three OTLP export requests have in common.
type exportRequest interface {
	UnmarshalProto([]byte) error
	UnmarshalJSON([]byte) error
}

// exportResponse is what the three OTLP export responses have in common.
type exportResponse interface {
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

// signal is one OTLP signal: how to decode its request, hand it to its
// consumer and answer.
type signal struct {
	name string // "logs", "traces", "metrics"
	path string // HTTP path
	// unavailable, when set, is why this signal is answered 501.
	unavailable string
	newRequest  func() exportRequest
	// consume drops invalid items, stores the rest and says how many
	// items there were and how many were rejected, and why.
	consume     func(ctx context.Context, req exportRequest) (items, rejected int, why string, err error)
	newResponse func(rejected int, why string) exportResponse
}

func logsSignal(c LogsConsumer) *signal {
	s := &signal{
		name:       "logs",
		path:       "/v1/logs",
		newRequest: func() exportRequest { return plogotlp.NewExportRequest() },
		newResponse: func(rejected int, why string) exportResponse {
			resp := plogotlp.NewExportResponse()
			if rejected > 0 || why != "" {
				resp.PartialSuccess().SetRejectedLogRecords(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(why)
			}
			return resp
		},
	}
	if c == nil {
		s.unavailable = "log storage is not configured in this lookout"
		return s
	}
	s.consume = func(ctx context.Context, req exportRequest) (int, int, string, error) {
		ld := req.(plogotlp.ExportRequest).Logs()
		n := ld.LogRecordCount()
		if n == 0 {
			return 0, 0, "", nil
		}
		return n, 0, "", c.ConsumeLogs(ctx, ld)
	}
	return s
}

func tracesSignal(c TracesConsumer) *signal {
	s := &signal{
		name:       "traces",
		path:       "/v1/traces",
		newRequest: func() exportRequest { return ptraceotlp.NewExportRequest() },
		newResponse: func(rejected int, why string) exportResponse {
			resp := ptraceotlp.NewExportResponse()
			if rejected > 0 || why != "" {
				resp.PartialSuccess().SetRejectedSpans(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(why)
			}
			return resp
		},
	}
	if c == nil {
		s.unavailable = "trace storage is not configured in this lookout"
		return s
	}
	s.consume = func(ctx context.Context, req exportRequest) (int, int, string, error) {
		td := req.(ptraceotlp.ExportRequest).Traces()
		n := td.SpanCount()
		rejected := dropInvalidSpans(td)
		why := ""
		if rejected > 0 {
			why = fmt.Sprintf("%d spans rejected: trace_id and span_id must be non-zero", rejected)
		}
		if n == rejected {
			return n, rejected, why, nil
		}
		return n, rejected, why, c.ConsumeTraces(ctx, td)
	}
	return s
}

// partialRejection is an error from a consumer that stored part of a
// request and refused the rest: the request is answered as an OTLP partial
// success.
type partialRejection interface {
	PartiallyRejected() (rejected int, why string)
}

// metricsSignal answers 501 when no metric store is wired in, so that a
// client never mistakes a silent drop for storage.
func metricsSignal(c MetricsConsumer) *signal {
	s := &signal{
		name:       "metrics",
		path:       "/v1/metrics",
		newRequest: func() exportRequest { return pmetricotlp.NewExportRequest() },
		newResponse: func(rejected int, why string) exportResponse {
			resp := pmetricotlp.NewExportResponse()
			if rejected > 0 || why != "" {
				resp.PartialSuccess().SetRejectedDataPoints(int64(rejected))
				resp.PartialSuccess().SetErrorMessage(why)
			}
			return resp
		},
	}
	if c == nil {
		s.unavailable = "metric storage is not configured in this lookout"
		return s
	}
	s.consume = func(ctx context.Context, req exportRequest) (int, int, string, error) {
		md := req.(pmetricotlp.ExportRequest).Metrics()
		n := md.DataPointCount()
		if n == 0 {
			return 0, 0, "", nil
		}
		err := c.ConsumeMetrics(ctx, md)
		var pr partialRejection
		if errors.As(err, &pr) {
			rejected, why := pr.PartiallyRejected()
			return n, rejected, why, nil
		}
		return n, 0, "", err
	}
	return s
}

// dropInvalidSpans removes spans that cannot be stored (the OTLP spec makes
// trace_id and span_id required and non-zero) and returns how many it
// removed.
func dropInvalidSpans(td ptrace.Traces) int {
	dropped := 0
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		sss := rss.At(i).ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			sss.At(j).Spans().RemoveIf(func(sp ptrace.Span) bool {
				if sp.TraceID().IsEmpty() || sp.SpanID().IsEmpty() {
					dropped++
					return true
				}
				return false
			})
		}
	}
	return dropped
}
