package sdk

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// recorded is a Telemetry whose spans, metrics and logs stay in memory, for
// tests of the wrappers.
type recorded struct {
	*Telemetry
	spans   *tracetest.InMemoryExporter
	metrics *sdkmetric.ManualReader
	logs    *memLogs
}

type memLogs struct {
	mu      sync.Mutex
	records []sdklog.Record
}

func (m *memLogs) Export(_ context.Context, rs []sdklog.Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range rs {
		m.records = append(m.records, r.Clone())
	}
	return nil
}

func (m *memLogs) Shutdown(context.Context) error   { return nil }
func (m *memLogs) ForceFlush(context.Context) error { return nil }

func (m *memLogs) all() []sdklog.Record {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]sdklog.Record(nil), m.records...)
}

// newRecorded builds a Telemetry over in-memory exporters that export
// synchronously, so a test can look right after the call it tests.
func newRecorded(t *testing.T) *recorded {
	t.Helper()
	spans := tracetest.NewInMemoryExporter()
	reader := sdkmetric.NewManualReader()
	logs := &memLogs{}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(sdklog.NewSimpleProcessor(logs)))
	tel := newTelemetry(tp, mp, lp, newStats(slog.New(slog.DiscardHandler)), slog.LevelDebug, nil)
	t.Cleanup(func() { _ = tel.Shutdown(context.Background()) })
	return &recorded{Telemetry: tel, spans: spans, metrics: reader, logs: logs}
}

// metric returns the data of the named metric.
func (r *recorded) metric(t *testing.T, name string) metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.metrics.Collect(context.Background(), &rm); err != nil {
		t.Fatalf("collect metrics: %v", err)
	}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m.Data
			}
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}

// histogram returns the data points of the named histogram.
func (r *recorded) histogram(t *testing.T, name string) []metricdata.HistogramDataPoint[float64] {
	t.Helper()
	data := r.metric(t, name)
	h, ok := data.(metricdata.Histogram[float64])
	if !ok {
		t.Fatalf("metric %s is %T, want a float64 histogram", name, data)
	}
	return h.DataPoints
}

// sum returns the data points of the named int64 sum (counters and
// up-down counters).
func (r *recorded) sum(t *testing.T, name string) []metricdata.DataPoint[int64] {
	t.Helper()
	data := r.metric(t, name)
	s, ok := data.(metricdata.Sum[int64])
	if !ok {
		t.Fatalf("metric %s is %T, want an int64 sum", name, data)
	}
	return s.DataPoints
}

// attr returns the value of key in set, or "" when absent.
func attr(set attribute.Set, key string) string {
	v, ok := set.Value(attribute.Key(key))
	if !ok {
		return ""
	}
	return v.String()
}
