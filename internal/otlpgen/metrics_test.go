package otlpgen

import (
	"bytes"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

func TestMetricsFleet(t *testing.T) {
	f := func(target, series, instances, namespaces, selected int) {
		t.Helper()
		fl := NewMetricsFleet(target)
		_, n := fl.RateSelector()
		if fl.Series() != series || fl.Instances() != instances || fl.Namespaces() != namespaces || n != selected {
			t.Errorf("NewMetricsFleet(%d): %d series, %d instances, %d namespaces, selector %d series; want %d, %d, %d, %d",
				target, fl.Series(), fl.Instances(), fl.Namespaces(), n, series, instances, namespaces, selected)
		}
		// Σ over instances of 54 × routes + 4.
		sum := 0
		for _, counts := range fl.counts {
			for p, c := range counts {
				sum += c * (54*len(profiles[p].routes) + 4)
			}
		}
		if sum != fl.Series() {
			t.Errorf("NewMetricsFleet(%d): %d series, the formula gives %d", target, fl.Series(), sum)
		}
		if d := fl.Series() - target; target > 436 && (d > 218 || d < -218) {
			t.Errorf("NewMetricsFleet(%d): %d series, more than half an instance off", target, fl.Series())
		}
	}
	f(1, 436, 1, 1, 8) // one frontend instance
	f(10_000, 9_930, 39, 1, 88)
	f(10_806, 10_806, 42, 1, 96) // one full namespace
	f(20_000, 19_914, 78, 2, 96)
	f(100_000, 100_052, 389, 10, 96)
}

func newTestMetrics(t testing.TB, series, batch int, start time.Time) *MetricsGenerator {
	t.Helper()
	g, err := NewMetricsGenerator(MetricsConfig{Seed: 3, Series: series, Batch: batch, Start: start})
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// TestMetricsEncoding checks that the re-stamped protobuf says what the pdata says, round after
// round, and that slices respect the batch size.
func TestMetricsEncoding(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	g := newTestMetrics(t, 3000, 500, start)
	samples := 0
	for _, s := range g.Slices() {
		samples += s.Samples()
		if s.Samples() > 500 {
			t.Errorf("slice of %d samples, batch 500", s.Samples())
		}
	}
	if samples != g.Fleet().Series() {
		t.Fatalf("slices hold %d samples, the fleet %d series", samples, g.Fleet().Series())
	}
	for round := range 3 {
		for i, s := range g.Slices() {
			ts := s.Next()
			if want := start.Add(time.Duration(round) * MetricsInterval); !ts.Equal(want) || s.Round() != round {
				t.Fatalf("slice %d round %d: Next = %v, Round = %d; want %v", i, round, ts, s.Round(), want)
			}
			req := pmetricotlp.NewExportRequest()
			if err := req.UnmarshalProto(s.AppendProto(nil)); err != nil {
				t.Fatalf("slice %d round %d: %v", i, round, err)
			}
			got, err := req.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			want, err := pmetricotlp.NewExportRequestFromMetrics(s.Metrics()).MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("slice %d round %d: protobuf decodes to\n%.2000s\npdata is\n%.2000s", i, round, got, want)
			}
			if n := req.Metrics().DataPointCount(); n != s.DataPoints() {
				t.Errorf("slice %d: %d data points, DataPoints() = %d", i, n, s.DataPoints())
			}
		}
	}
}

func TestMetricsDeterministic(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	a, b := newTestMetrics(t, 2000, 700, start), newTestMetrics(t, 2000, 700, start)
	for range 2 {
		for i := range a.Slices() {
			a.Slices()[i].Next()
			b.Slices()[i].Next()
			if !bytes.Equal(a.Slices()[i].AppendProto(nil), b.Slices()[i].AppendProto(nil)) {
				t.Fatalf("slice %d differs between two generators of one seed", i)
			}
		}
	}
}

// BenchmarkMetricsRound measures a round over 10k series: every slice moved on and encoded.
func BenchmarkMetricsRound(b *testing.B) {
	g := newTestMetrics(b, 10_000, 2000, time.Now().Add(-24*time.Hour))
	var buf []byte
	var samples, bytes int
	b.ReportAllocs()
	for b.Loop() {
		for _, s := range g.Slices() {
			s.Next()
			buf = s.AppendProto(buf[:0])
			samples += s.Samples()
			bytes += len(buf)
		}
	}
	b.ReportMetric(float64(samples)/b.Elapsed().Seconds(), "samples/s")
	b.ReportMetric(float64(bytes)/float64(samples), "B/sample")
}

// BenchmarkMetricsJSON measures the slower path -json takes: pdata updated and marshalled.
func BenchmarkMetricsJSON(b *testing.B) {
	g := newTestMetrics(b, 10_000, 2000, time.Now().Add(-24*time.Hour))
	s := g.Slices()[0]
	b.ReportAllocs()
	for b.Loop() {
		s.Next()
		if _, err := pmetricotlp.NewExportRequestFromMetrics(s.Metrics()).MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(s.Samples()*b.N)/b.Elapsed().Seconds(), "samples/s")
}

func BenchmarkNewMetricsGenerator(b *testing.B) {
	for b.Loop() {
		newTestMetrics(b, 100_000, 2000, time.Now())
	}
}
