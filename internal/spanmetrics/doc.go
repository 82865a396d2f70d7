// Package spanmetrics derives golden signals (RED: rate, errors, duration)
// from spans. It sits beside logstore on the traces side of the data path:
// cmd/lookout hands it every span the span store has accepted
// (ConsumeTraces), it keeps cumulative aggregates in memory, and every
// flush interval it emits them as OTLP metrics to a MetricsConsumer, which
// cmd/lookout points at the metric store through the same OTLP to
// Prometheus conversion as any application's metrics. It owns nothing on
// disk: after a restart every series starts again from zero with a new
// start timestamp, which PromQL's rate() treats as a counter reset.
//
// # Compatibility with the OpenTelemetry Collector
//
// The metrics are named and shaped like those of the collector-contrib
// spanmetrics connector with its defaults (namespace traces.span.metrics,
// explicit histogram in milliseconds, cumulative temporality), so that
// dashboards and alert rules written for a collector feeding Prometheus work
// unchanged:
// https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/connector/spanmetricsconnector
//
//   - traces.span.metrics.calls: monotonic cumulative Sum, one per span.
//   - traces.span.metrics.duration: explicit-bucket Histogram, unit ms,
//     buckets 2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000,
//     5000, 10000, 15000 ms unless configured.
//
// Each data point has the attributes service.name, span.name, span.kind
// (SPAN_KIND_SERVER, ...) and status.code (STATUS_CODE_UNSET, _OK, _ERROR).
// A series is one (resource, span name, kind, status); the span's resource
// attributes are kept on the ResourceMetrics, so Prometheus' translator
// derives job (service.namespace/service.name) and instance
// (service.instance.id) and writes the rest to target_info. The scope is
// named spanmetricsconnector, as the connector names it. Converted with
// metric suffixes on, the Prometheus series are:
//
//	traces_span_metrics_calls_total{job, instance, service_name, span_name, span_kind, status_code}
//	traces_span_metrics_duration_milliseconds_bucket{..., le}
//	traces_span_metrics_duration_milliseconds_sum{...}
//	traces_span_metrics_duration_milliseconds_count{...}
//
// Where this package differs from the connector, and why:
//
//   - Every series has its own start timestamp, when it was first seen;
//     data points are stamped with the flush time.
//   - Exemplars are always on, on the duration histogram only, and keep the
//     latest span per bucket since the last flush (at most one per bucket,
//     the way Prometheus client libraries keep them) rather than the first
//     few: a slow outlier then keeps its exemplar even when many fast spans
//     follow it, so a latency spike on a dashboard leads to a trace.
//     Exemplars are stamped with the span's end time.
//   - The cardinality limit (Config.MaxSeries) is global rather than per
//     resource. Past it, a span of a new series is counted in one overflow
//     series per service, with the attributes service.name and
//     otel.metric.overflow=true (the OpenTelemetry SDKs' overflow marker),
//     under a resource holding only service.name and service.namespace, so
//     job still names the service. At most MaxSeries/10 services (at least
//     one) get an overflow series; spans beyond that are dropped and
//     counted.
//   - Series expire after Config.Expiration (default 10 minutes) without a
//     span (the connector's metrics_expiration, which defaults to never).
//   - Spans whose resource has no service.name are skipped and counted, as
//     the connector skips them.
//
// # Delivery
//
// ConsumeTraces only updates aggregates under a mutex; it never waits for
// the metric store. Flush copies the aggregates under the mutex and builds
// and hands over the OTLP metrics outside it. If the consumer fails, the
// failure is counted and logged (once per kind of failure, rate-limited)
// and the aggregates stay: they are cumulative, so the next flush carries
// the data. Re-delivered spans are counted again: feed spans only once the
// span store has accepted them.
package spanmetrics
