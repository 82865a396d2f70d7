package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

var semconvBounds = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

func TestMetrics(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"protobuf", nil},
		{"protobuf gzip", []string{"-gzip"}},
		{"json", []string{"-json", "-concurrency", "2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &sink{t: t, signal: "metrics", refuse: 1}
			const total, batch = 5000, 400
			before := time.Now()
			args := append([]string{"-series", "2000", "-total", strconv.Itoa(total), "-batch", strconv.Itoa(batch), "-concurrency", "8"}, tc.args...)
			rep, err := runTool(t, s, map[string]string{"LOOKOUT_INGEST_TOKEN": "env-token"}, args...)
			if err != nil {
				t.Fatalf("run: %v", err)
			}
			checkAuth(t, s, "Bearer env-token")
			checkRetried(t, s)
			fleet := otlpgen.NewMetricsFleet(2000)
			got := checkMetrics(t, s.metrics, fleet.Series(), time.Now())
			if rep.ItemsAcked != got.samples || rep.DataPointsAcked != got.points || rep.ItemsAcked < total || rep.ItemsAcked >= total+batch ||
				rep.Refused429 != 1 || rep.Errors != 0 || rep.ItemsDropped != 0 {
				t.Errorf("report acked %d samples, %d data points, %d refused, %d errors, %d dropped; the server got %d samples, %d data points; want %d..%d samples, 1 refusal",
					rep.ItemsAcked, rep.DataPointsAcked, rep.Refused429, rep.Errors, rep.ItemsDropped, got.samples, got.points, total, total+batch-1)
			}
			if rep.ItemsPerSecond <= 0 || rep.DataPointsPerSecond <= 0 || rep.DataPointsPerSecond >= rep.ItemsPerSecond {
				t.Errorf("report %.0f samples/s, %.0f data points/s", rep.ItemsPerSecond, rep.DataPointsPerSecond)
			}
			m := rep.Metrics
			if m == nil {
				t.Fatal("report has no metrics section")
			}
			// 5000 samples of a 2084-series fleet: three rounds, the last one partial, ending before
			// the run started.
			wantStart := before.Truncate(otlpgen.MetricsInterval).Add(-3 * otlpgen.MetricsInterval)
			if m.Series != fleet.Series() || m.Instances != fleet.Instances() || m.Rounds != 3 || got.rounds != 3 ||
				!m.SimulatedStart.Equal(wantStart) || !m.SimulatedEnd.Equal(wantStart.Add(2*otlpgen.MetricsInterval)) ||
				!got.first.Equal(m.SimulatedStart) || !got.last.Equal(m.SimulatedEnd) || m.WallClockWaits != 0 {
				t.Errorf("report %+v; the server saw %d rounds from %v to %v; want 3 rounds from %v", m, got.rounds, got.first, got.last, wantStart)
			}
			if m.RequestsPerRound != rep.Client.PoolRequests || m.RequestsPerRound < fleet.Series()/batch {
				t.Errorf("%d requests per round, pool of %d, for %d series in batches of %d", m.RequestsPerRound, rep.Client.PoolRequests, fleet.Series(), batch)
			}
		})
	}
}

type metricsSeen struct {
	samples, points int64
	rounds          int
	first, last     time.Time
}

// checkMetrics checks what the server was sent, in the order it was answered: every request one
// timestamp, every series' timestamps 15 s apart without gaps and none in the future, cumulative
// values that never decrease, histograms whose buckets add up to their count, and, over the whole
// run, the fleet's number of series counted as Prometheus stores them.
func checkMetrics(t *testing.T, reqs []pmetric.Metrics, wantSeries int, now time.Time) metricsSeen {
	t.Helper()
	type state struct {
		t       time.Time
		count   float64
		sum     float64
		buckets []uint64
	}
	var seen metricsSeen
	last := map[string]*state{}
	series := map[string]bool{}
	names := map[string]bool{}
	for i, md := range reqs {
		var ts time.Time
		point := func(key string, t0 time.Time, count, sum float64, buckets []uint64) {
			if ts.IsZero() {
				ts = t0
			} else if !t0.Equal(ts) {
				t.Errorf("request %d: data points at %v and %v", i, ts, t0)
			}
			if t0.After(now) {
				t.Errorf("request %d: %s at %v, in the future", i, key, t0)
			}
			if p := last[key]; p != nil {
				if d := t0.Sub(p.t); d != otlpgen.MetricsInterval {
					t.Errorf("request %d: %s at %v after %v, want %v later", i, key, t0, p.t, otlpgen.MetricsInterval)
				}
				if count < p.count || sum < p.sum {
					t.Errorf("request %d: %s went from %v (sum %v) to %v (sum %v)", i, key, p.count, p.sum, count, sum)
				}
				for b := range buckets {
					if buckets[b] < p.buckets[b] {
						t.Errorf("request %d: %s bucket %d went from %d to %d", i, key, b, p.buckets[b], buckets[b])
					}
				}
			}
			last[key] = &state{t0, count, sum, slices.Clone(buckets)}
			if seen.first.IsZero() || t0.Before(seen.first) {
				seen.first = t0
			}
			if t0.After(seen.last) {
				seen.last = t0
			}
		}
		for _, rm := range md.ResourceMetrics().All() {
			res := rm.Resource().Attributes()
			for _, k := range []string{"service.name", "service.namespace", "service.instance.id", "host.name", "deployment.environment"} {
				if v, ok := res.Get(k); !ok || v.Str() == "" {
					t.Fatalf("resource %v: no %s", res.AsRaw(), k)
				}
			}
			id, _ := res.Get("service.instance.id")
			for _, sm := range rm.ScopeMetrics().All() {
				for _, m := range sm.Metrics().All() {
					names[m.Name()+" "+m.Type().String()] = true
					prefix := id.Str() + " " + m.Name()
					switch m.Type() {
					case pmetric.MetricTypeHistogram:
						if m.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative || m.Unit() != "s" {
							t.Errorf("histogram %s: %v, unit %q", m.Name(), m.Histogram().AggregationTemporality(), m.Unit())
						}
						for _, dp := range m.Histogram().DataPoints().All() {
							key := prefix + fmt.Sprint(dp.Attributes().AsRaw())
							b := dp.BucketCounts().AsRaw()
							var total uint64
							for _, c := range b {
								total += c
							}
							if !slices.Equal(dp.ExplicitBounds().AsRaw(), semconvBounds) || len(b) != 15 || total != dp.Count() || !dp.HasSum() {
								t.Errorf("%s: bounds %v, buckets %v adding up to %d, count %d", key, dp.ExplicitBounds().AsRaw(), b, total, dp.Count())
							}
							if !dp.StartTimestamp().AsTime().Before(dp.Timestamp().AsTime()) {
								t.Errorf("%s: start %v not before %v", key, dp.StartTimestamp(), dp.Timestamp())
							}
							point(key, dp.Timestamp().AsTime(), float64(dp.Count()), dp.Sum(), b)
							// As Prometheus translates it: a _bucket series per bound and +Inf,
							// _sum and _count.
							for le := range 15 {
								series[key+" le"+strconv.Itoa(le)] = true
							}
							series[key+" sum"], series[key+" count"] = true, true
							seen.samples += 17
							seen.points++
						}
					case pmetric.MetricTypeSum:
						monotonic := m.Sum().IsMonotonic()
						for _, dp := range m.Sum().DataPoints().All() {
							key := prefix + fmt.Sprint(dp.Attributes().AsRaw())
							v := dp.IntValue()
							if monotonic {
								point(key, dp.Timestamp().AsTime(), float64(v), 0, nil)
							} else {
								point(key, dp.Timestamp().AsTime(), 0, 0, nil)
							}
							if v < 0 {
								t.Errorf("%s = %d", key, v)
							}
							series[key] = true
							seen.samples++
							seen.points++
						}
					case pmetric.MetricTypeGauge:
						for _, dp := range m.Gauge().DataPoints().All() {
							key := prefix + fmt.Sprint(dp.Attributes().AsRaw())
							point(key, dp.Timestamp().AsTime(), 0, 0, nil)
							v := dp.DoubleValue()
							if dp.ValueType() == pmetric.NumberDataPointValueTypeInt {
								v = float64(dp.IntValue())
							}
							if v <= 0 || m.Name() == "system.cpu.utilization" && v > 1 {
								t.Errorf("%s = %v", key, v)
							}
							series[key] = true
							seen.samples++
							seen.points++
						}
					default:
						t.Errorf("metric %s of type %v", m.Name(), m.Type())
					}
				}
			}
		}
	}
	if len(series) != wantSeries {
		t.Errorf("%d series, want %d", len(series), wantSeries)
	}
	want := []string{"app.requests Sum", "http.server.active_requests Sum", "http.server.request.duration Histogram",
		"process.memory.usage Gauge", "process.runtime.go.goroutines Gauge", "system.cpu.utilization Gauge"}
	if got := slices.Sorted(func(yield func(string) bool) {
		for k := range names {
			if !yield(k) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if !seen.first.IsZero() {
		seen.rounds = int(seen.last.Sub(seen.first)/otlpgen.MetricsInterval) + 1
	}
	return seen
}

func TestMetricsPartialSuccess(t *testing.T) {
	s := &sink{t: t, signal: "metrics", partial: 4}
	rep, err := runTool(t, s, nil, "-series", "436", "-total", "436", "-batch", "1000")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	// One frontend instance: one request of 436 samples in 52 data points (24 histograms of 17
	// samples, 24 counters, 4 gauges); 4 of the points are rejected, so 4/52 of the samples.
	if rep.DataPointsAcked != 48 || rep.ItemsRejected != 34 || rep.ItemsAcked != 436-34 || rep.PartialSuccess != "samples too old" {
		t.Errorf("report %d data points, %d samples acked, %d rejected (%q); want 48, 402, 34",
			rep.DataPointsAcked, rep.ItemsAcked, rep.ItemsRejected, rep.PartialSuccess)
	}
}

// TestMetricsStart checks -start and that a run that cannot fit the retention is refused.
func TestMetricsStart(t *testing.T) {
	s := &sink{t: t, signal: "metrics"}
	before := time.Now()
	rep, err := runTool(t, s, nil, "-series", "436", "-total", "872", "-start", "90m")
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	got := checkMetrics(t, s.metrics, 436, time.Now())
	if lo, hi := before.Add(-90*time.Minute), time.Now().Add(-90*time.Minute); got.first.Before(lo) || got.first.After(hi) || got.rounds != 2 ||
		!rep.Metrics.SimulatedStart.Equal(got.first) {
		t.Errorf("-start 90m: %d rounds from %v (report %v), want 2 from between %v and %v", got.rounds, got.first, rep.Metrics.SimulatedStart, lo, hi)
	}

	s = &sink{t: t, signal: "metrics"}
	if _, err := runTool(t, s, nil, "-series", "436", "-total", "436", "-start", "2026-01-02T03:04:05Z", "-json"); err != nil {
		t.Fatalf("run: %v", err)
	}
	if got := checkMetrics(t, s.metrics, 436, time.Now()); !got.first.Equal(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("-start 2026-01-02T03:04:05Z: first round at %v", got.first)
	}

	var stderr bytes.Buffer
	err = run(context.Background(), []string{"-signal", "metrics", "-series", "10", "-total", "1000000000"}, func(string) string { return "" }, io.Discard, &stderr)
	if !errors.Is(err, errUsage) || !strings.Contains(stderr.String(), "retention") {
		t.Errorf("a run needing a year of simulated time: %v, %q; want a usage error about retention", err, stderr.String())
	}
}

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	f := func(s string, want time.Time, wantErr bool) {
		t.Helper()
		got, err := parseTime(s, now)
		if !got.Equal(want) || (err != nil) != wantErr {
			t.Errorf("parseTime(%q) = %v, %v; want %v, error %t", s, got, err, want, wantErr)
		}
	}
	f("2026-02-28T10:00:00Z", time.Date(2026, 2, 28, 10, 0, 0, 0, time.UTC), false)
	f("1772366400", time.Unix(1772366400, 0), false)
	f("1772366400.5", time.Unix(1772366400, 5e8), false)
	f("6h", now.Add(-6*time.Hour), false)
	f("2d", now.Add(-48*time.Hour), false)
	f("yesterday", time.Time{}, true)
	f("-5m", time.Time{}, true)
}

func TestMeasureMetricsSize(t *testing.T) {
	var stdout bytes.Buffer
	err := run(context.Background(), []string{"-measure-json-size", "-signal", "metrics", "-series", "2000", "-total", "5000", "-report", "json"},
		func(string) string { return "" }, &stdout, io.Discard)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	var s sizeReport
	if err := json.Unmarshal(stdout.Bytes(), &s); err != nil {
		t.Fatalf("report %q: %v", stdout.String(), err)
	}
	if s.Items < 5000 || s.Items >= 7000 || s.Batch != 2000 || s.Series != 2084 || s.DataPoints == 0 || s.JSONBytesPerPoint <= s.JSONBytes ||
		s.ProtobufBytes >= s.JSONBytes || s.JSONGzipBytes >= s.JSONBytes || s.JSONBytes < 20 || s.JSONBytes > 300 {
		t.Errorf("%+v", s)
	}
}

// TestPromQLMode runs the promql kind of the queries mode against a stand-in Prometheus API: it
// must find the loaded range, cover it with 1000 and 120 steps, and report every query.
func TestPromQLMode(t *testing.T) {
	from, to := time.Unix(1_772_000_000, 0), time.Unix(1_772_000_000+999*15, 0)
	sel, _ := otlpgen.NewMetricsFleet(10_000).RateSelector()
	var mu sync.Mutex
	var queries []url.Values
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw-123456" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		q := r.URL.Query()
		mu.Lock()
		queries = append(queries, q)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		series := func(points func(i int) [][2]any) string {
			var res []map[string]any
			for i := range 3 {
				s := map[string]any{"metric": map[string]string{"job": "shop-eu-west/frontend", "i": strconv.Itoa(i)}}
				if p := points(i); p != nil {
					s["values"] = p
				} else {
					s["value"] = [2]any{float64(to.Unix()), "1.5"}
				}
				res = append(res, s)
			}
			b, _ := json.Marshal(res)
			return string(b)
		}
		switch r.URL.Path {
		case "/api/v1/query":
			if strings.HasSuffix(q.Get("query"), "[30d]") {
				// Raw samples of the selector: the loaded range.
				fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, series(func(i int) [][2]any {
					return [][2]any{{float64(from.Unix() + int64(i)*15), "1"}, {float64(to.Unix() - int64(i)*15), "2"}}
				}))
				return
			}
			if q.Get("query") == "bad" {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, `{"status":"error","errorType":"bad_data","error":"parse error"}`)
				return
			}
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":%s}}`, series(func(int) [][2]any { return nil }))
		case "/api/v1/query_range":
			start, _ := strconv.ParseFloat(q.Get("start"), 64)
			end, _ := strconv.ParseFloat(q.Get("end"), 64)
			step, _ := strconv.ParseFloat(q.Get("step"), 64)
			n := int(math.Floor((end-start)/step+1e-9)) + 1
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"matrix","result":%s}}`, series(func(int) [][2]any {
				p := make([][2]any, n)
				for i := range p {
					p[i] = [2]any{start + float64(i)*step, "0.25"}
				}
				return p
			}))
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	defer srv.Close()
	env := func(k string) string {
		if k == "LOOKOUT_ADMIN_PASSWORD" {
			return "pw-123456"
		}
		return ""
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"queries", "-kind", "promql", "-api", srv.URL, "-repeat", "3", "-report", "json"}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("queries -kind promql: %v (%s)", err, errOut.String())
	}
	var res []queryResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(res) != 6 {
		t.Fatalf("%d queries reported, want 6: %+v", len(res), res)
	}
	wantSteps := []int{1000, 120, 120, 0, 0, 0}
	for i, r := range res {
		points := 3 * max(wantSteps[i], 1)
		if r.Steps != wantSteps[i] || r.Results != 3 || r.Points != points || r.MedianMS <= 0 || r.P90MS < r.MedianMS {
			t.Errorf("query %q: %+v; want %d steps, 3 series, %d points", r.Name, r, wantSteps[i], points)
		}
		if r.Steps > 0 {
			// The steps cover the loaded range, and hardly more.
			if span := r.StepSeconds * float64(r.Steps-1); span < to.Sub(from).Seconds() || span > to.Sub(from).Seconds()+float64(r.Steps)/1000 {
				t.Errorf("query %q: %d steps of %gs cover %gs, the range is %v", r.Name, r.Steps, r.StepSeconds, span, to.Sub(from))
			}
		}
	}
	if want := "rate(app_requests_total{" + sel + "}[5m])"; res[0].Query != want || res[3].Query != want || !strings.Contains(res[0].Name, "88 series") {
		t.Errorf("rate query %q (%s), want %q over 88 series", res[0].Query, res[0].Name, want)
	}
	if !strings.Contains(res[2].Query, "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))") {
		t.Errorf("histogram query %q", res[2].Query)
	}
	mu.Lock()
	n := len(queries)
	first := queries[0]
	mu.Unlock()
	if n != 1+6*3 || first.Get("query") != "app_requests_total{"+sel+"}[30d]" {
		t.Errorf("%d requests, the first %v; want the range lookup and 6 queries 3 times", n, first)
	}
	for _, r := range res[:3] {
		u, _ := url.Parse(r.Path)
		if s := u.Query().Get("start"); s != strconv.FormatInt(from.Unix(), 10)+".000" {
			t.Errorf("query %q starts at %s, want the first sample, %d", r.Name, s, from.Unix())
		}
	}
	for _, r := range res[3:] {
		u, _ := url.Parse(r.Path)
		if tm := u.Query().Get("time"); tm != strconv.FormatInt(to.Unix(), 10)+".000" {
			t.Errorf("instant query %q at %s, want the last sample, %d", r.Name, tm, to.Unix())
		}
	}

	// A given range skips the lookup; an error answer is reported with Prometheus' message.
	out.Reset()
	err = run(context.Background(), []string{"queries", "-kind", "promql", "-api", srv.URL, "-repeat", "1", "-selector", `job="x"`,
		"-from", strconv.FormatInt(from.Unix(), 10), "-to", strconv.FormatInt(to.Unix(), 10)}, env, &out, &errOut)
	if err != nil || !strings.Contains(out.String(), "rate, ~100 series, 1000 steps") {
		t.Errorf("with -from, -to and -selector: %v\n%s", err, out.String())
	}
	qb := &queryBench{api: srv.URL, user: "admin", password: "pw-123456", repeat: 1, client: srv.Client()}
	if _, err := qb.measurePromQL(context.Background(), "bad", "/api/v1/query?query=bad"); err == nil || !strings.Contains(err.Error(), "bad_data: parse error") {
		t.Errorf("error answer: %v, want bad_data: parse error", err)
	}
}

func BenchmarkPrepareMetrics(b *testing.B) {
	for _, gz := range []bool{false, true} {
		name := "protobuf"
		if gz {
			name += "+gzip"
		}
		b.Run(name, func(b *testing.B) {
			// Rounds are 15 s apart and a round in the future waits for the wall clock: start early
			// enough for any b.N.
			cfg := config{signal: "metrics", batch: 2000, series: 10_000, seed: 1, gzip: gz, start: time.Now().AddDate(-20, 0, 0)}
			r := &runner{cfg: cfg}
			if err := r.buildPool(time.Now); err != nil {
				b.Fatal(err)
			}
			w := newWorker(1, 0, gz)
			slot := r.metrics.slots[0]
			j := job{m: slot, items: slot.s.Samples(), points: slot.s.DataPoints()}
			b.ReportAllocs()
			for b.Loop() {
				w.prepare(context.Background(), r, j)
			}
			b.ReportMetric(float64(j.items*b.N)/b.Elapsed().Seconds(), "samples/s")
		})
	}
}
