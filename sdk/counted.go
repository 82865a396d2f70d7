package sdk

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Stats counts what a Telemetry has sent and dropped since Start.
type Stats struct {
	// SpansExported and SpansDropped count spans lookout acknowledged and
	// spans lost, because the queue was full or an export failed after
	// its retries.
	SpansExported, SpansDropped int64
	// LogsExported and LogsDropped count log records the same way.
	LogsExported, LogsDropped int64
	// MetricExports and MetricExportsFailed count exports of all metrics.
	// Metrics are cumulative, so the export after a failed one makes up
	// for it.
	MetricExports, MetricExportsFailed int64
}

// stats is what the counting wrappers share. The drops are also reported
// as the metric lookout.sdk.dropped (lookout_sdk_dropped_total in PromQL),
// which reaches lookout once it is reachable again.
type stats struct {
	spans, logs                  signalCounts
	metricExports, metricsFailed atomic.Int64

	log        *slog.Logger
	mu         sync.Mutex
	lastReport map[string]time.Time
}

// signalCounts are the counts of one signal that is queued item by item.
type signalCounts struct {
	exported, queueFull, failed atomic.Int64
}

func (c *signalCounts) dropped() int64 { return c.queueFull.Load() + c.failed.Load() }

func newStats(log *slog.Logger) *stats {
	return &stats{log: log, lastReport: make(map[string]time.Time)}
}

func (s *stats) snapshot() Stats {
	return Stats{
		SpansExported:       s.spans.exported.Load(),
		SpansDropped:        s.spans.dropped(),
		LogsExported:        s.logs.exported.Load(),
		LogsDropped:         s.logs.dropped(),
		MetricExports:       s.metricExports.Load(),
		MetricExportsFailed: s.metricsFailed.Load(),
	}
}

// report logs a problem with a signal at most once a minute, so that an
// unreachable lookout costs the app one line a minute, not one a batch.
func (s *stats) report(signal, msg string, args ...any) {
	now := time.Now()
	s.mu.Lock()
	last, seen := s.lastReport[signal]
	if seen && now.Sub(last) < time.Minute {
		s.mu.Unlock()
		return
	}
	s.lastReport[signal] = now
	s.mu.Unlock()
	st := s.snapshot()
	s.log.Warn(msg, append(args, "signal", signal,
		"spans_dropped", st.SpansDropped, "logs_dropped", st.LogsDropped,
		"metric_exports_failed", st.MetricExportsFailed)...)
}

func (s *stats) register(m metric.Meter) error {
	dropped, err := m.Int64ObservableCounter("lookout.sdk.dropped",
		metric.WithUnit("{item}"),
		metric.WithDescription("Spans and log records the SDK dropped: its queue was full, or an export failed after its retries."))
	if err != nil {
		return err
	}
	exported, err := m.Int64ObservableCounter("lookout.sdk.exported",
		metric.WithUnit("{item}"),
		metric.WithDescription("Spans and log records lookout acknowledged."))
	if err != nil {
		return err
	}
	attrs := func(signal, reason string) metric.ObserveOption {
		if reason == "" {
			return metric.WithAttributes(attribute.String("signal", signal))
		}
		return metric.WithAttributes(attribute.String("signal", signal), attribute.String("reason", reason))
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		for _, sig := range []struct {
			name   string
			counts *signalCounts
		}{{"traces", &s.spans}, {"logs", &s.logs}} {
			o.ObserveInt64(dropped, sig.counts.queueFull.Load(), attrs(sig.name, "queue_full"))
			o.ObserveInt64(dropped, sig.counts.failed.Load(), attrs(sig.name, "export_failed"))
			o.ObserveInt64(exported, sig.counts.exported.Load(), attrs(sig.name, ""))
		}
		return nil
	}, dropped, exported)
	return err
}

// queue bounds the items of one signal between being handed to its batch
// processor and being exported. The batch processor has a queue of the
// same size but holds a batch it is exporting outside that queue, and
// drops silently; counting here makes every drop visible.
type queue struct {
	signal  string // as report and lookout.sdk.dropped name it
	stats   *stats
	counts  *signalCounts
	max     int64
	pending atomic.Int64
}

// admit takes a place for one item, or counts it dropped when there is none.
func (q *queue) admit() bool {
	if q.pending.Add(1) > q.max {
		q.pending.Add(-1)
		q.counts.queueFull.Add(1)
		q.stats.report(q.signal, "lookout_sdk_queue_full")
		return false
	}
	return true
}

// done frees the places of n items an export has finished with and counts
// them exported or, when err is set, dropped.
func (q *queue) done(n int, err error) {
	q.pending.Add(-int64(n))
	if err != nil {
		q.counts.failed.Add(int64(n))
		q.stats.report(q.signal, "lookout_sdk_export_failed", "err", err)
		return
	}
	q.counts.exported.Add(int64(n))
}

// countSpans is a batch span processor over exp behind a queue of size
// spans that counts what it drops and exports.
func countSpans(st *stats, exp sdktrace.SpanExporter, size int) sdktrace.SpanProcessor {
	q := &queue{signal: "traces", stats: st, counts: &st.spans, max: int64(size)}
	return &countedSpans{
		SpanProcessor: sdktrace.NewBatchSpanProcessor(&countedSpanExporter{SpanExporter: exp, q: q}, sdktrace.WithMaxQueueSize(size)),
		q:             q,
	}
}

// countLogs is countSpans for log records; opts are added to the batch
// processor's.
func countLogs(st *stats, exp sdklog.Exporter, size int, opts ...sdklog.BatchProcessorOption) sdklog.Processor {
	q := &queue{signal: "logs", stats: st, counts: &st.logs, max: int64(size)}
	opts = append([]sdklog.BatchProcessorOption{sdklog.WithMaxQueueSize(size)}, opts...)
	return &countedRecords{
		Processor: sdklog.NewBatchProcessor(&countedLogExporter{Exporter: exp, q: q}, opts...),
		q:         q,
	}
}

type countedSpans struct {
	sdktrace.SpanProcessor
	q *queue
}

func (c *countedSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	if s.SpanContext().IsSampled() && c.q.admit() {
		c.SpanProcessor.OnEnd(s)
	}
}

type countedSpanExporter struct {
	sdktrace.SpanExporter
	q *queue
}

// ExportSpans counts instead of returning the error: the batch processor
// would hand it to the global error handler once per batch.
func (e *countedSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	e.q.done(len(spans), e.SpanExporter.ExportSpans(ctx, spans))
	return nil
}

type countedRecords struct {
	sdklog.Processor
	q *queue
}

func (c *countedRecords) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if !c.q.admit() {
		return nil
	}
	return c.Processor.OnEmit(ctx, r)
}

type countedLogExporter struct {
	sdklog.Exporter
	q *queue
}

// Export counts instead of returning the error, as ExportSpans does.
func (e *countedLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	e.q.done(len(records), e.Exporter.Export(ctx, records))
	return nil
}

type countedMetricExporter struct {
	sdkmetric.Exporter
	stats *stats
}

// Export counts a failed export, except one cancelled by Shutdown: the
// final export Shutdown makes carries the same cumulative values.
func (e *countedMetricExporter) Export(ctx context.Context, rm *metricdata.ResourceMetrics) error {
	err := e.Exporter.Export(ctx, rm)
	if errors.Is(err, context.Canceled) {
		return nil
	}
	if err != nil {
		e.stats.metricsFailed.Add(1)
		e.stats.report("metrics", "lookout_sdk_export_failed", "err", err)
		return nil
	}
	e.stats.metricExports.Add(1)
	return nil
}
