package metricstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// PartialError says some data points of a request were not stored and why;
// the rest were. Ingest answers it as an OTLP partial success.
type PartialError struct {
	Rejected int
	Reason   string
}

func (e *PartialError) Error() string { return e.Reason }

// PartiallyRejected reports how many data points were refused and why;
// ingest recognises it by this method.
func (e *PartialError) PartiallyRejected() (int, string) { return e.Rejected, e.Reason }

// settings are the OTLP translation settings: Prometheus' defaults for its
// OTLP endpoint (underscore escaping with unit and type suffixes).
func (s *Store) settings() prometheusremotewrite.Settings {
	return prometheusremotewrite.Settings{
		AddMetricSuffixes: true,
		PromoteResourceAttributes: prometheusremotewrite.NewPromoteResourceAttributes(config.OTLPConfig{
			PromoteResourceAttributes: s.cfg.PromoteResourceAttributes,
		}),
		LookbackDelta: 5 * time.Minute,
	}
}

// ConsumeMetrics stores OTLP metrics the way Prometheus' OTLP endpoint
// translates them. It returns once they are durable. Delta-temporality
// sums and histograms, and samples outside retention, are refused with a
// *PartialError while the rest is stored.
func (s *Store) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	rejected, reasons := dropDelta(md)
	oldest, newest := s.window()
	if n, why := dropOutOfWindow(md, oldest, newest, s.cfg.Retention); n > 0 {
		rejected += n
		reasons = append(reasons, why)
	}
	app := s.AppenderV2(ctx).(*appenderV2)
	conv, _ := s.converters.Get().(*prometheusremotewrite.PrometheusConverter)
	if conv == nil {
		conv = prometheusremotewrite.NewPrometheusConverter(app)
	} else {
		conv.Reset(app)
	}
	_, convErr := conv.FromMetrics(ctx, md, s.settings())
	conv.Reset(nil)
	s.converters.Put(conv)
	if err := app.Commit(); err != nil {
		return err
	}
	if convErr != nil {
		reasons = append(reasons, convErr.Error())
	}
	if len(reasons) == 0 {
		return nil
	}
	// Counted by ingest, as rejected items of its signal.
	return &PartialError{Rejected: rejected, Reason: strings.Join(reasons, "; ")}
}

// dropDelta removes metrics with delta temporality, which lookout does not
// accumulate, and says how many data points went.
func dropDelta(md pmetric.Metrics) (int, []string) {
	n := 0
	var names []string
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			sms.At(j).Metrics().RemoveIf(func(m pmetric.Metric) bool {
				var t pmetric.AggregationTemporality
				var points int
				switch m.Type() {
				case pmetric.MetricTypeSum:
					t, points = m.Sum().AggregationTemporality(), m.Sum().DataPoints().Len()
				case pmetric.MetricTypeHistogram:
					t, points = m.Histogram().AggregationTemporality(), m.Histogram().DataPoints().Len()
				case pmetric.MetricTypeExponentialHistogram:
					t, points = m.ExponentialHistogram().AggregationTemporality(), m.ExponentialHistogram().DataPoints().Len()
				default:
					return false
				}
				if t != pmetric.AggregationTemporalityDelta {
					return false
				}
				n += points
				if len(names) < 5 {
					names = append(names, m.Name())
				}
				return true
			})
		}
	}
	if n == 0 {
		return 0, nil
	}
	return n, []string{fmt.Sprintf("%d data points with delta temporality refused (metrics %s): lookout stores cumulative temporality only; set the exporter's temporality preference to cumulative", n, strings.Join(names, ", "))}
}

// dropOutOfWindow removes data points stamped before oldest or after newest
// and says how many went, so that a partial success counts data points,
// not the samples they would have become.
func dropOutOfWindow(md pmetric.Metrics, oldest, newest time.Time, retention time.Duration) (int, string) {
	lo, hi := pcommon.NewTimestampFromTime(oldest), pcommon.NewTimestampFromTime(newest)
	old, future := 0, 0
	keep := func(ts pcommon.Timestamp) bool {
		switch {
		case ts < lo:
			old++
			return false
		case ts > hi:
			future++
			return false
		}
		return true
	}
	rms := md.ResourceMetrics()
	for i := 0; i < rms.Len(); i++ {
		sms := rms.At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				switch m.Type() {
				case pmetric.MetricTypeGauge:
					m.Gauge().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return !keep(p.Timestamp()) })
				case pmetric.MetricTypeSum:
					m.Sum().DataPoints().RemoveIf(func(p pmetric.NumberDataPoint) bool { return !keep(p.Timestamp()) })
				case pmetric.MetricTypeHistogram:
					m.Histogram().DataPoints().RemoveIf(func(p pmetric.HistogramDataPoint) bool { return !keep(p.Timestamp()) })
				case pmetric.MetricTypeExponentialHistogram:
					m.ExponentialHistogram().DataPoints().RemoveIf(func(p pmetric.ExponentialHistogramDataPoint) bool { return !keep(p.Timestamp()) })
				case pmetric.MetricTypeSummary:
					m.Summary().DataPoints().RemoveIf(func(p pmetric.SummaryDataPoint) bool { return !keep(p.Timestamp()) })
				}
			}
		}
	}
	var why []string
	if old > 0 {
		why = append(why, fmt.Sprintf("%d data points older than the metric retention (%s) refused", old, retention))
	}
	if future > 0 {
		why = append(why, fmt.Sprintf("%d data points more than a day ahead of the clock refused", future))
	}
	return old + future, strings.Join(why, "; ")
}
