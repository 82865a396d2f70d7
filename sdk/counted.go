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
	spansExported, spansQueueFull, spansFailed atomic.Int64
	logsExported, logsQueueFull, logsFailed    atomic.Int64
	metricExports, metricsFailed               atomic.Int64

	log        *slog.Logger
	mu         sync.Mutex
	lastReport map[string]time.Time
}

func newStats(log *slog.Logger) *stats {
	return &stats{log: log, lastReport: make(map[string]time.Time)}
}

func (s *stats) snapshot() Stats {
	return Stats{
		SpansExported:       s.spansExported.Load(),
		SpansDropped:        s.spansQueueFull.Load() + s.spansFailed.Load(),
		LogsExported:        s.logsExported.Load(),
		LogsDropped:         s.logsQueueFull.Load() + s.logsFailed.Load(),
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
		o.ObserveInt64(dropped, s.spansQueueFull.Load(), attrs("traces", "queue_full"))
		o.ObserveInt64(dropped, s.spansFailed.Load(), attrs("traces", "export_failed"))
		o.ObserveInt64(dropped, s.logsQueueFull.Load(), attrs("logs", "queue_full"))
		o.ObserveInt64(dropped, s.logsFailed.Load(), attrs("logs", "export_failed"))
		o.ObserveInt64(exported, s.spansExported.Load(), attrs("traces", ""))
		o.ObserveInt64(exported, s.logsExported.Load(), attrs("logs", ""))
		return nil
	}, dropped, exported)
	return err
}

// countedSpans bounds the spans between ending and being exported. The
// batch processor behind it has a queue of the same size but holds a
// batch it is exporting outside that queue, and drops silently; counting
// here makes every drop visible.
type countedSpans struct {
	sdktrace.SpanProcessor
	stats   *stats
	max     int64
	pending atomic.Int64
}

func (c *countedSpans) OnEnd(s sdktrace.ReadOnlySpan) {
	if !s.SpanContext().IsSampled() {
		return
	}
	if c.pending.Add(1) > c.max {
		c.pending.Add(-1)
		c.stats.spansQueueFull.Add(1)
		c.stats.report("traces", "lookout_sdk_queue_full")
		return
	}
	c.SpanProcessor.OnEnd(s)
}

type countedSpanExporter struct {
	sdktrace.SpanExporter
	spans *countedSpans
}

// ExportSpans counts instead of returning the error: the batch processor
// would hand it to the global error handler once per batch.
func (e *countedSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	err := e.SpanExporter.ExportSpans(ctx, spans)
	n := int64(len(spans))
	e.spans.pending.Add(-n)
	if err != nil {
		e.spans.stats.spansFailed.Add(n)
		e.spans.stats.report("traces", "lookout_sdk_export_failed", "err", err)
		return nil
	}
	e.spans.stats.spansExported.Add(n)
	return nil
}

// countedRecords is countedSpans for log records.
type countedRecords struct {
	sdklog.Processor
	stats   *stats
	max     int64
	pending atomic.Int64
}

func (c *countedRecords) OnEmit(ctx context.Context, r *sdklog.Record) error {
	if c.pending.Add(1) > c.max {
		c.pending.Add(-1)
		c.stats.logsQueueFull.Add(1)
		c.stats.report("logs", "lookout_sdk_queue_full")
		return nil
	}
	return c.Processor.OnEmit(ctx, r)
}

type countedLogExporter struct {
	sdklog.Exporter
	records *countedRecords
}

func (e *countedLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	err := e.Exporter.Export(ctx, records)
	n := int64(len(records))
	e.records.pending.Add(-n)
	if err != nil {
		e.records.stats.logsFailed.Add(n)
		e.records.stats.report("logs", "lookout_sdk_export_failed", "err", err)
		return nil
	}
	e.records.stats.logsExported.Add(n)
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
