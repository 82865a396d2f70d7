package metricstore_test

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"

	"github.com/lookout-dev/lookout/metricstore"
)

var t0 = time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)

type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func openStore(t *testing.T, dir string, c *clock) *metricstore.Store {
	t.Helper()
	s, err := metricstore.Open(context.Background(), metricstore.Config{Dir: dir, Retention: 30 * 24 * time.Hour}, metricstore.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type point struct {
	t int64
	v float64
}

// read returns every float sample of the series matching ms.
func read(t *testing.T, s storage.Queryable, ms ...*labels.Matcher) map[string][]point {
	t.Helper()
	q, err := s.Querier(math.MinInt64, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	out := map[string][]point{}
	set := q.Select(context.Background(), true, nil, ms...)
	var it chunkenc.Iterator
	for set.Next() {
		sr := set.At()
		it = sr.Iterator(it)
		var pts []point
		for it.Next() == chunkenc.ValFloat {
			ts, v := it.At()
			pts = append(pts, point{ts, v})
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		out[sr.Labels().String()] = pts
	}
	if set.Err() != nil {
		t.Fatal(set.Err())
	}
	return out
}

func appendFloats(t *testing.T, s *metricstore.Store, lset labels.Labels, ts []int64, v func(int64) float64) {
	t.Helper()
	app := s.Appender(context.Background())
	for _, tt := range ts {
		if _, err := app.Append(0, lset, tt, v(tt)); err != nil {
			t.Fatal(err)
		}
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
}

func span(from, n int, step int64) []int64 {
	var ts []int64
	for i := 0; i < n; i++ {
		ts = append(ts, t0.UnixMilli()+int64(from+i)*step)
	}
	return ts
}

func checkSeries(t *testing.T, got []point, ts []int64, v func(int64) float64) {
	t.Helper()
	if len(got) != len(ts) {
		t.Fatalf("got %d samples, want %d", len(got), len(ts))
	}
	for i, p := range got {
		if p.t != ts[i] || p.v != v(ts[i]) {
			t.Fatalf("sample %d = %v, want (%d, %v)", i, p, ts[i], v(ts[i]))
		}
	}
}

// Re-delivered and out-of-order samples change nothing that is read, from
// the head, after a checkpoint, from SQL alone and after a restart.
func TestRedeliveryAndOrder(t *testing.T) {
	dir := t.TempDir()
	c := &clock{now: t0.Add(time.Hour)}
	s := openStore(t, dir, c)
	lset := labels.FromStrings("__name__", "requests_total", "job", "shop/cart")
	val := func(ts int64) float64 { return float64(ts-t0.UnixMilli()) / 1000 }
	all := span(0, 300, 15000)

	appendFloats(t, s, lset, all[100:300], val) // newer first
	appendFloats(t, s, lset, all[0:100], val)   // then older: out of order
	appendFloats(t, s, lset, all[50:250], val)  // re-delivery across both
	key := lset.String()
	checkSeries(t, read(t, s)[key], all, val)

	if err := s.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendFloats(t, s, lset, all[0:300], val) // again, after the chunks are on disk
	checkSeries(t, read(t, s)[key], all, val)
	if err := s.CheckpointAndEvict(context.Background()); err != nil {
		t.Fatal(err)
	}
	checkSeries(t, read(t, s, labels.MustNewMatcher(labels.MatchEqual, "job", "shop/cart"))[key], all, val)

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openStore(t, dir, c)
	defer s.Close()
	checkSeries(t, read(t, s)[key], all, val)
}

// Samples acknowledged and not yet in chunks are replayed from the WAL.
func TestWALReplay(t *testing.T) {
	dir := t.TempDir()
	c := &clock{now: t0.Add(time.Hour)}
	s := openStore(t, dir, c)
	lset := labels.FromStrings("__name__", "g", "i", "1")
	val := func(ts int64) float64 { return float64(ts % 7) }
	all := span(0, 200, 1000)
	appendFloats(t, s, lset, all[:120], val)
	if err := s.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	appendFloats(t, s, lset, all[120:], val)
	// A second store on the same files sees what a restart after kill -9
	// would: the chunks of the checkpoint and the WAL after it. The first
	// is not closed, so it writes no last checkpoint.
	s2 := openStore(t, dir, c)
	checkSeries(t, read(t, s2)[lset.String()], all, val)
	s2.Close()
	s.Close()
}

func TestMatchersAndLabels(t *testing.T) {
	c := &clock{now: t0.Add(time.Hour)}
	s := openStore(t, t.TempDir(), c)
	defer s.Close()
	one := func(ts int64) float64 { return 1 }
	for _, svc := range []string{"cart", "checkout", "payments"} {
		for _, code := range []string{"200", "500"} {
			appendFloats(t, s, labels.FromStrings("__name__", "http_requests_total", "service", svc, "code", code), span(0, 3, 15000), one)
		}
	}
	appendFloats(t, s, labels.FromStrings("__name__", "up", "service", "cart"), span(0, 3, 15000), one)
	eq := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchEqual, n, v) }
	re := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchRegexp, n, v) }
	ne := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchNotEqual, n, v) }
	nre := func(n, v string) *labels.Matcher { return labels.MustNewMatcher(labels.MatchNotRegexp, n, v) }
	for _, tc := range []struct {
		name string
		ms   []*labels.Matcher
		want int
	}{
		{"equal", []*labels.Matcher{eq("__name__", "http_requests_total")}, 6},
		{"two equals", []*labels.Matcher{eq("__name__", "http_requests_total"), eq("code", "500")}, 3},
		{"regexp", []*labels.Matcher{re("service", "c.*")}, 5},
		{"regexp and not equal", []*labels.Matcher{re("service", "c.*"), ne("code", "200")}, 3}, // up has no code
		{"equal and not regexp", []*labels.Matcher{eq("__name__", "http_requests_total"), nre("service", "cart|payments")}, 2},
		{"absent label", []*labels.Matcher{eq("service", "cart"), eq("code", "")}, 1},
		{"unknown value", []*labels.Matcher{eq("service", "nope")}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := len(read(t, s, tc.ms...)); got != tc.want {
				t.Fatalf("%v selected %d series, want %d", tc.ms, got, tc.want)
			}
		})
	}
	q, _ := s.Querier(t0.UnixMilli(), t0.Add(time.Hour).UnixMilli())
	names, _, err := q.LabelNames(context.Background(), nil)
	if err != nil || fmt.Sprint(names) != "[__name__ code service]" {
		t.Fatalf("label names = %v, %v", names, err)
	}
	vals, _, err := q.LabelValues(context.Background(), "service", nil, eq("code", "500"))
	if err != nil || fmt.Sprint(vals) != "[cart checkout payments]" {
		t.Fatalf("service values for code=500 = %v, %v", vals, err)
	}
	// Outside the samples' time range nothing is selected.
	q2, _ := s.Querier(t0.Add(-2*time.Hour).UnixMilli(), t0.Add(-time.Hour).UnixMilli())
	if set := q2.Select(context.Background(), true, nil, eq("service", "cart")); set.Next() {
		t.Fatalf("series %s selected outside its time range", set.At().Labels())
	}
}

// OTLP metrics are translated like Prometheus' OTLP endpoint does, delta
// temporality is refused as a partial success, and exemplars are kept.
func TestConsumeMetrics(t *testing.T) {
	c := &clock{now: t0.Add(time.Minute)}
	s := openStore(t, t.TempDir(), c)
	defer s.Close()
	md := pmetric.NewMetrics()
	rm := md.ResourceMetrics().AppendEmpty()
	rm.Resource().Attributes().PutStr("service.name", "cart")
	rm.Resource().Attributes().PutStr("service.namespace", "shop")
	rm.Resource().Attributes().PutStr("service.instance.id", "cart-1")
	rm.Resource().Attributes().PutStr("host.name", "node-7")
	sm := rm.ScopeMetrics().AppendEmpty()
	ts := pcommon.NewTimestampFromTime(t0)

	sum := sm.Metrics().AppendEmpty()
	sum.SetName("http.server.requests")
	sum.SetUnit("1")
	sum.SetEmptySum().SetIsMonotonic(true)
	sum.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	dp := sum.Sum().DataPoints().AppendEmpty()
	dp.SetTimestamp(ts)
	dp.SetDoubleValue(42)
	dp.Attributes().PutStr("http.route", "/cart")

	h := sm.Metrics().AppendEmpty()
	h.SetName("http.server.request.duration")
	h.SetUnit("s")
	h.SetEmptyHistogram().SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	hp := h.Histogram().DataPoints().AppendEmpty()
	hp.SetTimestamp(ts)
	hp.ExplicitBounds().FromRaw([]float64{0.1, 0.5})
	hp.BucketCounts().FromRaw([]uint64{3, 2, 1})
	hp.SetCount(6)
	hp.SetSum(2.5)
	ex := hp.Exemplars().AppendEmpty()
	ex.SetTimestamp(ts)
	ex.SetDoubleValue(0.7)
	ex.SetTraceID(pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16})
	ex.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})

	delta := sm.Metrics().AppendEmpty()
	delta.SetName("jobs.processed")
	delta.SetEmptySum().SetIsMonotonic(true)
	delta.Sum().SetAggregationTemporality(pmetric.AggregationTemporalityDelta)
	delta.Sum().DataPoints().AppendEmpty().SetIntValue(5)

	old := sm.Metrics().AppendEmpty()
	old.SetName("queue.depth")
	op := old.SetEmptyGauge().DataPoints().AppendEmpty()
	op.SetTimestamp(pcommon.NewTimestampFromTime(t0.Add(-60 * 24 * time.Hour)))
	op.SetDoubleValue(3)

	err := s.ConsumeMetrics(context.Background(), md)
	var pe *metricstore.PartialError
	if !errors.As(err, &pe) || pe.Rejected != 2 {
		t.Fatalf("ConsumeMetrics = %v, want a partial error rejecting the delta point and the one past retention", err)
	}
	got := read(t, s, labels.MustNewMatcher(labels.MatchRegexp, "__name__", ".+"))
	for name, want := range map[string]float64{
		`{__name__="http_server_requests_total", http_route="/cart", instance="cart-1", job="shop/cart"}`:         42,
		`{__name__="http_server_request_duration_seconds_bucket", instance="cart-1", job="shop/cart", le="0.1"}`:  3,
		`{__name__="http_server_request_duration_seconds_bucket", instance="cart-1", job="shop/cart", le="0.5"}`:  5,
		`{__name__="http_server_request_duration_seconds_bucket", instance="cart-1", job="shop/cart", le="+Inf"}`: 6,
		`{__name__="http_server_request_duration_seconds_count", instance="cart-1", job="shop/cart"}`:             6,
		`{__name__="http_server_request_duration_seconds_sum", instance="cart-1", job="shop/cart"}`:               2.5,
		`{__name__="target_info", host_name="node-7", instance="cart-1", job="shop/cart"}`:                        1,
	} {
		pts := got[name]
		if len(pts) == 0 || pts[0].v != want || pts[0].t != t0.UnixMilli() {
			t.Errorf("%s = %v, want %v at %d; have %v", name, pts, want, t0.UnixMilli(), keys(got))
		}
	}
	md2, err := s.Metadata(context.Background(), "http_server_request_duration_seconds", 0)
	if err != nil || len(md2["http_server_request_duration_seconds"]) != 1 || md2["http_server_request_duration_seconds"][0].Type != "histogram" {
		t.Errorf("metadata = %v, %v", md2, err)
	}
	eq, _ := s.ExemplarQuerier(context.Background())
	res, err := eq.Select(t0.UnixMilli()-1, t0.UnixMilli()+1, []*labels.Matcher{labels.MustNewMatcher(labels.MatchEqual, "__name__", "http_server_request_duration_seconds_bucket")})
	if err != nil || len(res) != 1 || res[0].Exemplars[0].Labels.Get("trace_id") != "0102030405060708090a0b0c0d0e0f10" {
		t.Fatalf("exemplars = %+v, %v", res, err)
	}
}

func keys(m map[string][]point) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// Chunks and series older than the retention are deleted.
func TestRetention(t *testing.T) {
	c := &clock{now: t0}
	dir := t.TempDir()
	s, err := metricstore.Open(context.Background(), metricstore.Config{Dir: dir, Retention: 2 * time.Hour, RetentionInterval: time.Hour}, metricstore.Options{Now: c.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := labels.FromStrings("__name__", "old")
	appendFloats(t, s, old, []int64{t0.Add(-90 * time.Minute).UnixMilli()}, func(int64) float64 { return 1 })
	if err := s.CheckpointAndEvict(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.now = t0.Add(time.Hour)
	c.mu.Unlock()
	if err := s.ApplyRetention(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := read(t, s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "old")); len(got) != 0 {
		t.Fatalf("expired series still read: %v", got)
	}
	q, _ := s.Querier(0, math.MaxInt64)
	if vals, _, _ := q.LabelValues(context.Background(), "__name__", nil); len(vals) != 0 {
		t.Fatalf("label values of expired series: %v", vals)
	}
}

// Concurrent appenders and readers, for the race detector.
func TestConcurrentAppendAndQuery(t *testing.T) {
	c := &clock{now: t0.Add(time.Hour)}
	s := openStore(t, t.TempDir(), c)
	defer s.Close()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for round := 0; round < 50; round++ {
				app := s.AppenderV2(context.Background())
				for i := 0; i < 20; i++ {
					ls := labels.FromStrings("__name__", "c", "w", fmt.Sprint(w), "i", fmt.Sprint(i))
					if _, err := app.Append(0, ls, 0, t0.UnixMilli()+int64(round)*1000, float64(round), nil, nil, storage.AOptions{}); err != nil {
						t.Error(err)
						return
					}
				}
				if err := app.Commit(); err != nil {
					t.Error(err)
					return
				}
				if round%10 == 0 {
					s.Checkpoint(context.Background())
				}
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 30; i++ {
			read(t, s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "c"))
		}
	}()
	wg.Wait()
	got := read(t, s, labels.MustNewMatcher(labels.MatchEqual, "__name__", "c"))
	if len(got) != 80 {
		t.Fatalf("%d series, want 80", len(got))
	}
	for k, pts := range got {
		if len(pts) != 50 {
			t.Fatalf("%s has %d samples, want 50", k, len(pts))
		}
	}
}
