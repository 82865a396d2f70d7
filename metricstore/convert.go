package metricstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/prometheus/config"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
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
	if app.tooOld > 0 {
		rejected += app.tooOld
		reasons = append(reasons, fmt.Sprintf("%d samples older than the metric retention (%s)", app.tooOld, s.cfg.Retention))
	}
	if app.tooNew > 0 {
		rejected += app.tooNew
		reasons = append(reasons, fmt.Sprintf("%d samples more than a day in the future", app.tooNew))
	}
	if len(reasons) == 0 {
		return nil
	}
	s.m.samplesRejected.Add(rejected)
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
