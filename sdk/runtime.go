package sdk

import (
	"context"
	"math"
	"runtime/metrics"
	"sync"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/runtime"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
)

// startRuntimeMetrics reports the Go runtime's memory, goroutines and
// GOMAXPROCS through the OpenTelemetry runtime instrumentation
// (go.memory.used, go.goroutine.count, ...).
func startRuntimeMetrics(mp *sdkmetric.MeterProvider) error {
	return runtime.Start(runtime.WithMeterProvider(mp))
}

// runtimeHistograms are the two runtime histograms that show saturation
// and the instrumentation above leaves out or reports with hundreds of
// buckets: stop-the-world GC pauses and the time runnable goroutines wait
// for a thread.
var runtimeHistograms = [...]struct{ source, name, description string }{
	{"/sched/pauses/total/gc:seconds", "go.gc.pause.duration", "Stop-the-world pauses of the garbage collector."},
	{"/sched/latencies:seconds", "go.schedule.duration", "Time goroutines spent runnable before running."},
}

// runtimeBounds are the buckets the histograms are folded into: the
// runtime's own are fine-grained (about a hundred), and each bucket is a
// series in lookout.
var runtimeBounds = []float64{
	0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005,
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
}

type runtimeProducer struct {
	start   time.Time
	mu      sync.Mutex
	samples []metrics.Sample
}

func newRuntimeProducer() *runtimeProducer {
	p := &runtimeProducer{start: time.Now()}
	for _, h := range runtimeHistograms {
		p.samples = append(p.samples, metrics.Sample{Name: h.source})
	}
	return p
}

// Produce reads the runtime histograms as cumulative OTel histograms.
func (p *runtimeProducer) Produce(context.Context) ([]metricdata.ScopeMetrics, error) {
	p.mu.Lock()
	metrics.Read(p.samples)
	now := time.Now()
	out := make([]metricdata.Metrics, 0, len(p.samples))
	for i, s := range p.samples {
		if s.Value.Kind() != metrics.KindFloat64Histogram {
			continue // not in this Go version
		}
		dp := foldHistogram(s.Value.Float64Histogram(), runtimeBounds)
		dp.StartTime, dp.Time = p.start, now
		out = append(out, metricdata.Metrics{
			Name:        runtimeHistograms[i].name,
			Description: runtimeHistograms[i].description,
			Unit:        "s",
			Data: metricdata.Histogram[float64]{
				Temporality: metricdata.CumulativeTemporality,
				DataPoints:  []metricdata.HistogramDataPoint[float64]{dp},
			},
		})
	}
	p.mu.Unlock()
	return []metricdata.ScopeMetrics{{Scope: instrumentation.Scope{Name: scope}, Metrics: out}}, nil
}

// foldHistogram adds each runtime bucket [lo, hi) to the first of bounds
// at or above hi (OTel buckets are (prev, bound]), or to the overflow
// bucket. The sum takes each observation at its bucket's lower edge, as
// the runtime keeps no sum.
func foldHistogram(h *metrics.Float64Histogram, bounds []float64) metricdata.HistogramDataPoint[float64] {
	counts := make([]uint64, len(bounds)+1)
	var total uint64
	var sum float64
	j := 0
	for i, c := range h.Counts {
		if c == 0 {
			continue
		}
		lo, hi := h.Buckets[i], h.Buckets[i+1]
		for j < len(bounds) && bounds[j] < hi {
			j++
		}
		counts[j] += c
		total += c
		if !math.IsInf(lo, 0) {
			sum += lo * float64(c)
		}
	}
	return metricdata.HistogramDataPoint[float64]{
		Bounds:       bounds,
		BucketCounts: counts,
		Count:        total,
		Sum:          sum,
	}
}
