package spanmetrics

import "github.com/VictoriaMetrics/metrics"

// selfMetrics are the connector's own metrics. Beside them, the gauge
// lookout_spanmetrics_series{kind="regular"|"overflow"} counts live series.
type selfMetrics struct {
	spans            *metrics.Counter // spans counted in a series, overflow series included
	overflowSpans    *metrics.Counter // spans counted in an overflow series
	droppedNoService *metrics.Counter // spans whose resource has no service.name
	droppedLimit     *metrics.Counter // spans of a new series with no room for a service's overflow series
	expired          *metrics.Counter // series dropped after Config.Expiration without a span
	flushes          *metrics.Counter // flushes that reached the consumer
	flushErrors      *metrics.Counter // flushes the consumer failed
	flushDuration    *metrics.Histogram
}

func newSelfMetrics(set *metrics.Set, c *Connector) *selfMetrics {
	set.NewGauge(`lookout_spanmetrics_series{kind="regular"}`, func() float64 { return float64(c.regularGauge.Load()) })
	set.NewGauge(`lookout_spanmetrics_series{kind="overflow"}`, func() float64 { return float64(c.overflowGauge.Load()) })
	return &selfMetrics{
		spans:            set.NewCounter(`lookout_spanmetrics_spans_total`),
		overflowSpans:    set.NewCounter(`lookout_spanmetrics_overflow_spans_total`),
		droppedNoService: set.NewCounter(`lookout_spanmetrics_dropped_spans_total{reason="no_service_name"}`),
		droppedLimit:     set.NewCounter(`lookout_spanmetrics_dropped_spans_total{reason="overflow_limit"}`),
		expired:          set.NewCounter(`lookout_spanmetrics_expired_series_total`),
		flushes:          set.NewCounter(`lookout_spanmetrics_flushes_total`),
		flushErrors:      set.NewCounter(`lookout_spanmetrics_flush_errors_total`),
		flushDuration:    set.NewHistogram(`lookout_spanmetrics_flush_duration_seconds`),
	}
}
