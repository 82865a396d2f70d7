package metricstore_test

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/metricstore"
)

// goldenSeries returns n label sets shaped like golden-signal metrics: per
// service, instance and route a request counter and a latency histogram of
// 15 buckets plus _sum and _count.
func goldenSeries(n int) []labels.Labels {
	var out []labels.Labels
	les := []string{"0.005", "0.01", "0.025", "0.05", "0.075", "0.1", "0.25", "0.5", "0.75", "1", "2.5", "5", "7.5", "10", "+Inf"}
	for i := 0; len(out) < n; i++ {
		base := []string{"job", "shop/svc-" + strconv.Itoa(i%10), "instance", "pod-" + strconv.Itoa(i/10%50), "http_route", "/api/v1/r" + strconv.Itoa(i/500), "http_request_method", "GET"}
		out = append(out, labels.FromStrings(append([]string{"__name__", "http_server_requests_total"}, base...)...))
		for _, le := range les {
			out = append(out, labels.FromStrings(append([]string{"__name__", "http_server_request_duration_seconds_bucket", "le", le}, base...)...))
		}
		out = append(out, labels.FromStrings(append([]string{"__name__", "http_server_request_duration_seconds_sum"}, base...)...))
		out = append(out, labels.FromStrings(append([]string{"__name__", "http_server_request_duration_seconds_count"}, base...)...))
	}
	return out[:n]
}

// BenchmarkAppend measures durable ingest: 10,000 series scraped every 15s,
// 2,000 samples per commit from two writers, as two OTLP clients would.
// It reports samples/s and, after a checkpoint, bytes on disk per sample.
func BenchmarkAppend(b *testing.B) {
	const nSeries = 10000
	series := goldenSeries(nSeries)
	dir := b.TempDir()
	start := time.Now().Add(-24 * time.Hour)
	s, err := metricstore.Open(context.Background(), metricstore.Config{Dir: dir, Retention: 30 * 24 * time.Hour}, metricstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	vals := make([]float64, nSeries)
	b.ReportAllocs()
	b.ResetTimer()
	// Each iteration is one scrape round of every series.
	var wg sync.WaitGroup
	const writers, perCommit = 2, 2000
	for i := 0; i < b.N; i++ {
		ts := start.Add(time.Duration(i) * 15 * time.Second).UnixMilli()
		for j := range vals {
			vals[j] += float64(rand.IntN(20))
		}
		for w := 0; w < writers; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for lo := w * perCommit; lo < nSeries; lo += writers * perCommit {
					app := s.AppenderV2(context.Background())
					for j := lo; j < min(lo+perCommit, nSeries); j++ {
						if _, err := app.Append(0, series[j], 0, ts, vals[j], nil, nil, storage.AOptions{}); err != nil {
							b.Error(err)
							return
						}
					}
					if err := app.Commit(); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
	}
	b.StopTimer()
	samples := float64(b.N * nSeries)
	b.ReportMetric(samples/b.Elapsed().Seconds(), "samples/s")
	// Close writes the last checkpoint and folds SQLite's own -wal file
	// back into the database, so the files hold exactly the data.
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	if b.N >= 100 {
		b.ReportMetric(float64(diskBytes(b, dir))/samples, "disk-B/sample")
	}
}

func diskBytes(tb testing.TB, dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

var loadOnce sync.Once
var loaded *metricstore.Store

// BenchmarkRate runs rate() over 100 counters across 1000 steps (4h10m at
// 15s) and histogram_quantile over 6,000 bucket series, on 10,000 series
// with six hours of samples every 15s, read from SQL (evicted from memory).
func BenchmarkRate(b *testing.B) {
	end := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	loadOnce.Do(func() {
		dir, err := os.MkdirTemp("", "metricstore-bench")
		if err != nil {
			b.Fatal(err)
		}
		s, err := metricstore.Open(context.Background(), metricstore.Config{Dir: dir, Retention: 30 * 24 * time.Hour}, metricstore.Options{Now: func() time.Time { return end }})
		if err != nil {
			b.Fatal(err)
		}
		series := goldenSeries(10000)
		vals := make([]float64, len(series))
		for ts := end.Add(-6 * time.Hour); !ts.After(end); ts = ts.Add(15 * time.Second) {
			app := s.AppenderV2(context.Background())
			for j, ls := range series {
				vals[j] += float64(rand.IntN(20))
				app.Append(0, ls, 0, ts.UnixMilli(), vals[j], nil, nil, storage.AOptions{})
			}
			if err := app.Commit(); err != nil {
				b.Fatal(err)
			}
		}
		if err := s.CheckpointAndEvict(context.Background()); err != nil {
			b.Fatal(err)
		}
		loaded = s
	})
	engine := promql.NewEngine(promql.EngineOpts{MaxSamples: 50e6, Timeout: time.Minute, LookbackDelta: 5 * time.Minute})
	for _, bc := range []struct {
		name  string
		query string
		steps int
	}{
		// 100 series: one route's counters across 10 services × 10 instances.
		{"rate/100x1000", `rate(http_server_requests_total{http_route="/api/v1/r0", instance=~"pod-[0-9]"}[5m])`, 1000},
		{"rate/100x120", `rate(http_server_requests_total{http_route="/api/v1/r0", instance=~"pod-[0-9]"}[5m])`, 120},
		{"histogram_quantile/6000x120", `histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{http_route="/api/v1/r0", instance=~"pod-([0-9]|[1-3][0-9])"}[5m])))`, 120},
	} {
		b.Run(bc.name, func(b *testing.B) {
			step := 15 * time.Second
			start := end.Add(-time.Duration(bc.steps-1) * step)
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				q, err := engine.NewRangeQuery(context.Background(), loaded, nil, bc.query, start, end, step)
				if err != nil {
					b.Fatal(err)
				}
				res := q.Exec(context.Background())
				if res.Err != nil {
					b.Fatal(res.Err)
				}
				if m, _ := res.Matrix(); len(m) == 0 {
					b.Fatalf("%s: empty result", bc.query)
				}
				q.Close()
			}
		})
	}
}
