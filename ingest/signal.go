package ingest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	"go.opentelemetry.io/collector/pdata/pcommon"

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
	// kind is the export request's message kind, for its cost estimate.
	kind msgKind
	// storeItemBytes is what the consumer allocates per item beyond its
	// encoded copy of the request, for the memory budget.
	storeItemBytes int64
	// unavailable, when set, is why this signal is answered 501.
	unavailable string
	newRequest  func() exportRequest
	// consume drops invalid items, stores the rest and says how many
	// items there were and how many were rejected, and why.
	consume     func(ctx context.Context, req exportRequest) (items, rejected int, why string, err error)
	newResponse func(rejected int, why string) exportResponse
	// perService calls f with each resource's service.name and its item
	// count, for the per-service ingest counter that tells a stalled
	// service apart from a quiet lookout.
	perService func(req exportRequest, f func(service string, n int))
	// services maps a service.name to its *metrics.Counter; serviceCount
	// is how many names have their own.
	services     sync.Map
	serviceCount atomic.Int64
}

func logsSignal(c LogsConsumer) *signal {
	s := &signal{
		name:           "logs",
		path:           "/v1/logs",
		kind:           kLogsRequest,
		storeItemBytes: 128,
		newRequest:     func() exportRequest { return plogotlp.NewExportRequest() },
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
		rejected, why, err := partially(c.ConsumeLogs(ctx, ld))
		return n, rejected, why, err
	}
	s.perService = func(req exportRequest, f func(string, int)) {
		rls := req.(plogotlp.ExportRequest).Logs().ResourceLogs()
		for i := range rls.Len() {
			n := 0
			for _, sl := range rls.At(i).ScopeLogs().All() {
				n += sl.LogRecords().Len()
			}
			f(serviceName(rls.At(i).Resource()), n)
		}
	}
	return s
}

func tracesSignal(c TracesConsumer) *signal {
	s := &signal{
		name:           "traces",
		path:           "/v1/traces",
		kind:           kTracesRequest,
		storeItemBytes: 128,
		newRequest:     func() exportRequest { return ptraceotlp.NewExportRequest() },
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
		more, moreWhy, err := partially(c.ConsumeTraces(ctx, td))
		if more > 0 {
			rejected += more
			why = strings.TrimPrefix(why+"; "+moreWhy, "; ")
		}
		return n, rejected, why, err
	}
	s.perService = func(req exportRequest, f func(string, int)) {
		rss := req.(ptraceotlp.ExportRequest).Traces().ResourceSpans()
		for i := range rss.Len() {
			n := 0
			for _, ss := range rss.At(i).ScopeSpans().All() {
				n += ss.Spans().Len()
			}
			f(serviceName(rss.At(i).Resource()), n)
		}
	}
	return s
}

// partialRejection is an error from a consumer that stored part of a
// request and refused the rest: the request is answered as an OTLP partial
// success.
type partialRejection interface {
	PartiallyRejected() (rejected int, why string)
}

// partially splits a consumer's error into the items it refused one by one
// (a partialRejection: the rest is stored) and a failure of the whole.
func partially(err error) (rejected int, why string, _ error) {
	var pr partialRejection
	if errors.As(err, &pr) {
		rejected, why = pr.PartiallyRejected()
		return rejected, why, nil
	}
	return 0, "", err
}

// metricsSignal answers 501 when no metric store is wired in, so that a
// client never mistakes a silent drop for storage.
func metricsSignal(c MetricsConsumer) *signal {
	s := &signal{
		name: "metrics",
		path: "/v1/metrics",
		kind: kMetricsRequest,
		// Prometheus' translator builds a label set per point.
		storeItemBytes: 512,
		newRequest:     func() exportRequest { return pmetricotlp.NewExportRequest() },
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
		rejected, why, err := partially(c.ConsumeMetrics(ctx, md))
		return n, rejected, why, err
	}
	s.perService = func(req exportRequest, f func(string, int)) {
		rms := req.(pmetricotlp.ExportRequest).Metrics().ResourceMetrics()
		for i := range rms.Len() {
			n := 0
			for _, sm := range rms.At(i).ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					n += dataPoints(m)
				}
			}
			f(serviceName(rms.At(i).Resource()), n)
		}
	}
	return s
}

// serviceName is a resource's service.name, or "unknown_service" as the
// OpenTelemetry SDKs name a service that did not say.
func serviceName(res pcommon.Resource) string {
	if v, ok := res.Attributes().Get("service.name"); ok && v.Str() != "" {
		return v.Str()
	}
	return "unknown_service"
}

// dataPoints counts a metric's data points, as DataPointCount does for a
// whole request.
func dataPoints(m pmetric.Metric) int {
	switch m.Type() {
	case pmetric.MetricTypeGauge:
		return m.Gauge().DataPoints().Len()
	case pmetric.MetricTypeSum:
		return m.Sum().DataPoints().Len()
	case pmetric.MetricTypeHistogram:
		return m.Histogram().DataPoints().Len()
	case pmetric.MetricTypeExponentialHistogram:
		return m.ExponentialHistogram().DataPoints().Len()
	case pmetric.MetricTypeSummary:
		return m.Summary().DataPoints().Len()
	}
	return 0
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
