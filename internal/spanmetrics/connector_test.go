package spanmetrics

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// t0 is when every test starts: spans start then, series are first seen then.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// clock is an injected clock that only moves when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// collector is a MetricsConsumer that keeps what it receives and fails
// while errs has errors left.
type collector struct {
	mu      sync.Mutex
	got     []pmetric.Metrics
	ctxErrs []error // ctx.Err() at each call
	errs    []error
}

func (c *collector) ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ctxErrs = append(c.ctxErrs, ctx.Err())
	if len(c.errs) > 0 {
		err := c.errs[0]
		c.errs = c.errs[1:]
		return err
	}
	c.got = append(c.got, md)
	return nil
}

func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got)
}

func (c *collector) last(t *testing.T) pmetric.Metrics {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.got) == 0 {
		t.Fatal("no metrics were flushed")
	}
	return c.got[len(c.got)-1]
}

// span describes a span to build: it starts at t0 and lasts dur.
type span struct {
	name   string
	kind   ptrace.SpanKind
	status ptrace.StatusCode
	dur    time.Duration
	trace  byte // first byte of the trace and span ids; 0 for none
}

// traces builds one resource's spans.
func traces(resource map[string]any, spans ...span) ptrace.Traces {
	td := ptrace.NewTraces()
	addResource(td, resource, spans...)
	return td
}

func addResource(td ptrace.Traces, resource map[string]any, spans ...span) {
	rs := td.ResourceSpans().AppendEmpty()
	if err := rs.Resource().Attributes().FromRaw(resource); err != nil {
		panic(err)
	}
	ss := rs.ScopeSpans().AppendEmpty()
	ss.Scope().SetName("test")
	for _, sp := range spans {
		s := ss.Spans().AppendEmpty()
		s.SetName(sp.name)
		s.SetKind(sp.kind)
		s.Status().SetCode(sp.status)
		s.SetStartTimestamp(pcommon.NewTimestampFromTime(t0))
		s.SetEndTimestamp(pcommon.NewTimestampFromTime(t0.Add(sp.dur)))
		if sp.trace != 0 {
			s.SetTraceID(traceID(sp.trace))
			s.SetSpanID(pcommon.SpanID{sp.trace, 1})
		}
	}
}

func traceID(b byte) pcommon.TraceID { return pcommon.TraceID{b, 0xab, 0xcd} }

func newTestConnector(t testing.TB, cfg Config, next MetricsConsumer, now func() time.Time) (*Connector, *metrics.Set) {
	t.Helper()
	set := metrics.NewSet()
	c, err := New(cfg, Options{Next: next, Metrics: set, Now: now})
	if err != nil {
		t.Fatalf("New(%+v): %v", cfg, err)
	}
	return c, set
}

// selfMetric reads one of the connector's own metrics.
func selfMetric(t *testing.T, set *metrics.Set, name string) float64 {
	t.Helper()
	var buf bytes.Buffer
	set.WritePrometheus(&buf)
	for line := range strings.Lines(buf.String()) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no metric %s in\n%s", name, buf.String())
	return 0
}

// flushedSeries is one series as flushed: its calls and duration data points.
type flushedSeries struct {
	resource map[string]any
	attrs    map[string]any
	calls    pmetric.NumberDataPoint
	hist     pmetric.HistogramDataPoint
}

// points checks the shape of md (names, types, temporality, unit, scope)
// and returns its series by "service|span|kind|status", or
// "service|overflow" for overflow series.
func points(t *testing.T, md pmetric.Metrics) map[string]flushedSeries {
	t.Helper()
	out := map[string]flushedSeries{}
	for _, rm := range md.ResourceMetrics().All() {
		if rm.ScopeMetrics().Len() != 1 {
			t.Fatalf("resource has %d scopes, want 1", rm.ScopeMetrics().Len())
		}
		sm := rm.ScopeMetrics().At(0)
		if sm.Scope().Name() != "spanmetricsconnector" {
			t.Errorf("scope name %q, want spanmetricsconnector", sm.Scope().Name())
		}
		if sm.Metrics().Len() != 2 {
			t.Fatalf("scope has %d metrics, want 2", sm.Metrics().Len())
		}
		calls, dur := sm.Metrics().At(0), sm.Metrics().At(1)
		if calls.Name() != "traces.span.metrics.calls" || calls.Type() != pmetric.MetricTypeSum || calls.Unit() != "" ||
			!calls.Sum().IsMonotonic() || calls.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Fatalf("calls metric is %s %s unit %q monotonic %v %s, want traces.span.metrics.calls, a cumulative monotonic Sum without unit",
				calls.Name(), calls.Type(), calls.Unit(), calls.Sum().IsMonotonic(), calls.Sum().AggregationTemporality())
		}
		if dur.Name() != "traces.span.metrics.duration" || dur.Type() != pmetric.MetricTypeHistogram || dur.Unit() != "ms" ||
			dur.Histogram().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
			t.Fatalf("duration metric is %s %s unit %q %s, want traces.span.metrics.duration, a cumulative Histogram in ms",
				dur.Name(), dur.Type(), dur.Unit(), dur.Histogram().AggregationTemporality())
		}
		byID := map[string]pmetric.HistogramDataPoint{}
		for _, dp := range dur.Histogram().DataPoints().All() {
			byID[seriesID(dp.Attributes())] = dp
		}
		for _, dp := range calls.Sum().DataPoints().All() {
			id := seriesID(dp.Attributes())
			h, ok := byID[id]
			if !ok {
				t.Fatalf("series %s has calls but no duration", id)
			}
			if !dp.Attributes().Equal(h.Attributes()) {
				t.Errorf("series %s: calls attributes %v, duration attributes %v", id, dp.Attributes().AsRaw(), h.Attributes().AsRaw())
			}
			if _, dup := out[id]; dup {
				t.Fatalf("series %s flushed twice", id)
			}
			out[id] = flushedSeries{resource: rm.Resource().Attributes().AsRaw(), attrs: dp.Attributes().AsRaw(), calls: dp, hist: h}
		}
		if len(byID) != calls.Sum().DataPoints().Len() {
			t.Fatalf("%d duration series, %d calls series", len(byID), calls.Sum().DataPoints().Len())
		}
	}
	return out
}

func seriesID(m pcommon.Map) string {
	get := func(k string) string {
		v, _ := m.Get(k)
		return v.AsString()
	}
	if _, ok := m.Get("otel.metric.overflow"); ok {
		return get("service.name") + "|overflow"
	}
	return strings.Join([]string{get("service.name"), get("span.name"), get("span.kind"), get("status.code")}, "|")
}

// buckets returns a bucket count slice for the default buckets with the
// given counts at the given bucket indexes.
func buckets(idxCount ...int) []uint64 {
	b := make([]uint64, len(defaultBuckets)+1)
	for i := 0; i < len(idxCount); i += 2 {
		b[idxCount[i]] = uint64(idxCount[i+1])
	}
	return b
}

func TestFlushEmitsREDMetrics(t *testing.T) {
	clk := &clock{t: t0}
	next := &collector{}
	c, set := newTestConnector(t, Config{}, next, clk.Now)

	checkout := map[string]any{"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "ck-1", "deployment.environment.name": "prod"}
	td := traces(checkout,
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 1 * time.Millisecond, trace: 1},
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 3 * time.Millisecond, trace: 2},
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 4 * time.Millisecond, trace: 3}, // on a bound: le=4
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 120 * time.Millisecond, trace: 4},
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeError, dur: 20 * time.Second, trace: 5}, // past the last bound
		span{name: "SELECT cart", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeUnset, dur: 7 * time.Millisecond},
		span{name: "SELECT cart", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeUnset, dur: -time.Second, trace: 6}, // ends before it starts
	)
	addResource(td, map[string]any{"service.name": "payments"},
		span{name: "charge", kind: ptrace.SpanKindInternal, status: ptrace.StatusCodeUnset, dur: 2 * time.Second, trace: 7},
		span{name: "publish", kind: ptrace.SpanKindProducer, status: ptrace.StatusCodeOk, dur: 50 * time.Millisecond, trace: 8},
	)
	// No service.name: skipped, as the connector skips it.
	addResource(td, map[string]any{"host.name": "h"}, span{name: "x", dur: time.Millisecond})
	if err := c.ConsumeTraces(t.Context(), td); err != nil {
		t.Fatal(err)
	}
	clk.Advance(15 * time.Second)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	got := points(t, next.last(t))
	type want struct {
		resource  map[string]any
		count     uint64
		sum       float64
		buckets   []uint64
		exemplars []byte // trace ids' first bytes, in bucket order
	}
	payments := map[string]any{"service.name": "payments"}
	wants := map[string]want{
		"checkout|GET /cart|SPAN_KIND_SERVER|STATUS_CODE_OK": {
			resource: checkout, count: 4, sum: 128, buckets: buckets(0, 1, 1, 2, 7, 1), exemplars: []byte{1, 3, 4},
		},
		"checkout|GET /cart|SPAN_KIND_SERVER|STATUS_CODE_ERROR": {
			resource: checkout, count: 1, sum: 20000, buckets: buckets(16, 1), exemplars: []byte{5},
		},
		"checkout|SELECT cart|SPAN_KIND_CLIENT|STATUS_CODE_UNSET": {
			resource: checkout, count: 2, sum: 7, buckets: buckets(0, 1, 3, 1), exemplars: []byte{6},
		},
		"payments|charge|SPAN_KIND_INTERNAL|STATUS_CODE_UNSET": {
			resource: payments, count: 1, sum: 2000, buckets: buckets(12, 1), exemplars: []byte{7},
		},
		"payments|publish|SPAN_KIND_PRODUCER|STATUS_CODE_OK": {
			resource: payments, count: 1, sum: 50, buckets: buckets(5, 1), exemplars: []byte{8},
		},
	}
	if !slices.Equal(slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(wants))) {
		t.Fatalf("series %q, want %q", slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(wants)))
	}
	start, flushed := pcommon.NewTimestampFromTime(t0), pcommon.NewTimestampFromTime(t0.Add(15*time.Second))
	for id, w := range wants {
		t.Run(id, func(t *testing.T) {
			p := got[id]
			if !maps.Equal(p.resource, w.resource) {
				t.Errorf("resource %v, want %v", p.resource, w.resource)
			}
			parts := strings.Split(id, "|")
			wantAttrs := map[string]any{"service.name": parts[0], "span.name": parts[1], "span.kind": parts[2], "status.code": parts[3]}
			if !maps.Equal(p.attrs, wantAttrs) {
				t.Errorf("attributes %v, want %v", p.attrs, wantAttrs)
			}
			if p.calls.IntValue() != int64(w.count) {
				t.Errorf("calls %d, want %d", p.calls.IntValue(), w.count)
			}
			h := p.hist
			if h.Count() != w.count || h.Sum() != w.sum {
				t.Errorf("count %d sum %g, want %d and %g", h.Count(), h.Sum(), w.count, w.sum)
			}
			if !slices.Equal(h.BucketCounts().AsRaw(), w.buckets) {
				t.Errorf("buckets %v, want %v", h.BucketCounts().AsRaw(), w.buckets)
			}
			if want := []float64{2, 4, 6, 8, 10, 50, 100, 200, 400, 800, 1000, 1400, 2000, 5000, 10000, 15000}; !slices.Equal(h.ExplicitBounds().AsRaw(), want) {
				t.Errorf("bounds %v, want %v", h.ExplicitBounds().AsRaw(), want)
			}
			for _, ts := range []struct {
				what      string
				got, want pcommon.Timestamp
			}{
				{"calls start", p.calls.StartTimestamp(), start},
				{"calls time", p.calls.Timestamp(), flushed},
				{"duration start", h.StartTimestamp(), start},
				{"duration time", h.Timestamp(), flushed},
			} {
				if ts.got != ts.want {
					t.Errorf("%s %s, want %s", ts.what, ts.got, ts.want)
				}
			}
			var ex []byte
			for _, e := range h.Exemplars().All() {
				ex = append(ex, e.TraceID()[0])
				if e.TraceID() != traceID(e.TraceID()[0]) || e.SpanID() != (pcommon.SpanID{e.TraceID()[0], 1}) {
					t.Errorf("exemplar trace %s span %s", e.TraceID(), e.SpanID())
				}
				if e.Timestamp() == 0 {
					t.Errorf("exemplar %s has no time", e.TraceID())
				}
			}
			if !bytes.Equal(ex, w.exemplars) {
				t.Errorf("exemplar traces %v, want %v", ex, w.exemplars)
			}
		})
	}

	// The span that took 120ms is the exemplar of its bucket, stamped with
	// its end, with its duration as the value.
	e := got["checkout|GET /cart|SPAN_KIND_SERVER|STATUS_CODE_OK"].hist.Exemplars().At(2)
	if e.DoubleValue() != 120 || e.Timestamp().AsTime() != t0.Add(120*time.Millisecond) {
		t.Errorf("exemplar value %g at %s, want 120 at %s", e.DoubleValue(), e.Timestamp().AsTime(), t0.Add(120*time.Millisecond))
	}
	for name, want := range map[string]float64{
		`lookout_spanmetrics_spans_total`:                                   9,
		`lookout_spanmetrics_dropped_spans_total{reason="no_service_name"}`: 1,
		`lookout_spanmetrics_series{kind="regular"}`:                        5,
		`lookout_spanmetrics_flushes_total`:                                 1,
		`lookout_spanmetrics_flush_errors_total`:                            0,
		`lookout_spanmetrics_overflow_spans_total`:                          0,
	} {
		if got := selfMetric(t, set, name); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}
}

func TestFlushIsCumulative(t *testing.T) {
	clk := &clock{t: t0}
	next := &collector{}
	c, _ := newTestConnector(t, Config{}, next, clk.Now)
	res := map[string]any{"service.name": "api"}
	get := span{name: "GET", kind: ptrace.SpanKindServer, dur: 5 * time.Millisecond, trace: 1}
	post := span{name: "POST", kind: ptrace.SpanKindServer, dur: 5 * time.Millisecond, trace: 2}

	if err := c.ConsumeTraces(t.Context(), traces(res, get, post)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(15 * time.Second)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	get.trace = 3
	if err := c.ConsumeTraces(t.Context(), traces(res, get, get)); err != nil {
		t.Fatal(err)
	}
	clk.Advance(14 * time.Second)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}

	got := points(t, next.last(t))
	tests := []struct {
		id        string
		count     uint64
		exemplars int
	}{
		{"api|GET|SPAN_KIND_SERVER|STATUS_CODE_UNSET", 3, 1},  // the new spans' exemplar only
		{"api|POST|SPAN_KIND_SERVER|STATUS_CODE_UNSET", 1, 0}, // idle: no exemplar, value carried on
	}
	for _, tt := range tests {
		p, ok := got[tt.id]
		if !ok {
			t.Fatalf("no series %s in %v", tt.id, slices.Collect(maps.Keys(got)))
		}
		if p.calls.IntValue() != int64(tt.count) || p.hist.Count() != tt.count || p.hist.Sum() != 5*float64(tt.count) {
			t.Errorf("%s: calls %d count %d sum %g, want %d, %d, %g", tt.id, p.calls.IntValue(), p.hist.Count(), p.hist.Sum(), tt.count, tt.count, 5*float64(tt.count))
		}
		if p.calls.StartTimestamp().AsTime() != t0 || p.hist.StartTimestamp().AsTime() != t0 {
			t.Errorf("%s: start %s, want %s (first seen)", tt.id, p.calls.StartTimestamp().AsTime(), t0)
		}
		if p.calls.Timestamp().AsTime() != t0.Add(30*time.Second) {
			t.Errorf("%s: time %s, want the flush time %s", tt.id, p.calls.Timestamp().AsTime(), t0.Add(30*time.Second))
		}
		if p.hist.Exemplars().Len() != tt.exemplars {
			t.Errorf("%s: %d exemplars, want %d", tt.id, p.hist.Exemplars().Len(), tt.exemplars)
		}
	}
	if e := got[tests[0].id].hist.Exemplars().At(0); e.TraceID() != traceID(3) {
		t.Errorf("exemplar trace %s, want the latest span's %s", e.TraceID(), traceID(3))
	}
}

func TestEmptyFlushSendsNothing(t *testing.T) {
	next := &collector{}
	c, _ := newTestConnector(t, Config{}, next, nil)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if next.count() != 0 {
		t.Errorf("%d flushes reached the consumer with no spans seen, want none", next.count())
	}
}

func TestUndefinedKindAndStatusMakeOneSeries(t *testing.T) {
	next := &collector{}
	c, _ := newTestConnector(t, Config{}, next, nil)
	res := map[string]any{"service.name": "odd"}
	td := traces(res,
		span{name: "x", kind: ptrace.SpanKind(9), status: ptrace.StatusCode(7), dur: time.Millisecond},
		span{name: "x", kind: ptrace.SpanKind(10), status: ptrace.StatusCode(8), dur: time.Millisecond},
	)
	if err := c.ConsumeTraces(t.Context(), td); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := points(t, next.last(t))
	p, ok := got["odd|x||"]
	if len(got) != 1 || !ok || p.calls.IntValue() != 2 {
		t.Errorf("series %v, want one series odd/x with empty kind and status and 2 calls", slices.Collect(maps.Keys(got)))
	}
}

func TestOverflow(t *testing.T) {
	clk := &clock{t: t0}
	next := &collector{}
	// Three regular series; MaxSeries/10 rounds up to one overflow series.
	c, set := newTestConnector(t, Config{MaxSeries: 3}, next, clk.Now)
	a := map[string]any{"service.name": "a", "service.namespace": "ns", "service.instance.id": "a-1"}
	op := func(name string, trace byte) span {
		return span{name: name, kind: ptrace.SpanKindServer, dur: 3 * time.Millisecond, trace: trace}
	}
	steps := []ptrace.Traces{
		traces(a, op("n1", 1), op("n2", 2), op("n3", 3), op("n4", 4), op("n5", 5)),
		traces(a, op("n1", 6)), // a known series keeps counting past the limit
		traces(map[string]any{"service.name": "b"}, op("m1", 7)), // no room for b's overflow series
	}
	for _, td := range steps {
		if err := c.ConsumeTraces(t.Context(), td); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := points(t, next.last(t))
	counts := map[string]int64{}
	for id, p := range got {
		counts[id] = p.calls.IntValue()
	}
	want := map[string]int64{
		"a|n1|SPAN_KIND_SERVER|STATUS_CODE_UNSET": 2,
		"a|n2|SPAN_KIND_SERVER|STATUS_CODE_UNSET": 1,
		"a|n3|SPAN_KIND_SERVER|STATUS_CODE_UNSET": 1,
		"a|overflow": 2,
	}
	if !maps.Equal(counts, want) {
		t.Fatalf("calls by series %v, want %v", counts, want)
	}
	ovf := got["a|overflow"]
	if wantAttrs := map[string]any{"service.name": "a", "otel.metric.overflow": true}; !maps.Equal(ovf.attrs, wantAttrs) {
		t.Errorf("overflow attributes %v, want %v", ovf.attrs, wantAttrs)
	}
	if wantRes := map[string]any{"service.name": "a", "service.namespace": "ns"}; !maps.Equal(ovf.resource, wantRes) {
		t.Errorf("overflow resource %v, want %v", ovf.resource, wantRes)
	}
	if ovf.hist.Count() != 2 || ovf.hist.Exemplars().Len() != 1 || ovf.hist.Exemplars().At(0).TraceID() != traceID(5) {
		t.Errorf("overflow duration count %d with %d exemplars, want 2 with the latest span's", ovf.hist.Count(), ovf.hist.Exemplars().Len())
	}
	for name, want := range map[string]float64{
		`lookout_spanmetrics_spans_total`:                                  6,
		`lookout_spanmetrics_overflow_spans_total`:                         2,
		`lookout_spanmetrics_dropped_spans_total{reason="overflow_limit"}`: 1,
		`lookout_spanmetrics_series{kind="regular"}`:                       3,
		`lookout_spanmetrics_series{kind="overflow"}`:                      1,
	} {
		if got := selfMetric(t, set, name); got != want {
			t.Errorf("%s = %g, want %g", name, got, want)
		}
	}

	// Once the regular series expire, new series get room again.
	clk.Advance(10 * time.Minute)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := c.ConsumeTraces(t.Context(), traces(map[string]any{"service.name": "b"}, op("m1", 8))); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Second)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := points(t, next.last(t)); len(got) != 1 || got["b|m1|SPAN_KIND_SERVER|STATUS_CODE_UNSET"].calls.IntValue() != 1 {
		t.Errorf("after expiry: series %v, want only b/m1 with 1 call", slices.Collect(maps.Keys(got)))
	}
}

func TestExpiry(t *testing.T) {
	clk := &clock{t: t0}
	next := &collector{}
	c, set := newTestConnector(t, Config{Expiration: 10 * time.Minute}, next, clk.Now)
	old := traces(map[string]any{"service.name": "old"}, span{name: "tick", dur: time.Millisecond})
	live := traces(map[string]any{"service.name": "live"}, span{name: "tick", dur: time.Millisecond})
	consume := func(td ptrace.Traces) {
		t.Helper()
		if err := c.ConsumeTraces(t.Context(), td); err != nil {
			t.Fatal(err)
		}
	}
	flush := func() map[string]flushedSeries {
		t.Helper()
		if err := c.Flush(t.Context()); err != nil {
			t.Fatal(err)
		}
		return points(t, next.last(t))
	}
	ids := func(m map[string]flushedSeries) []string { return slices.Sorted(maps.Keys(m)) }
	const oldID, liveID = "old|tick|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET", "live|tick|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"

	consume(old)
	consume(live)
	clk.Advance(9*time.Minute + 59*time.Second)
	consume(live)
	if got := ids(flush()); !slices.Equal(got, []string{liveID, oldID}) {
		t.Fatalf("after 9m59s: series %q, want both", got)
	}
	clk.Advance(time.Second) // old has now been idle for 10m
	if got := ids(flush()); !slices.Equal(got, []string{liveID}) {
		t.Fatalf("after 10m idle: series %q, want only %s", got, liveID)
	}
	if got := selfMetric(t, set, `lookout_spanmetrics_expired_series_total`); got != 1 {
		t.Errorf("expired series %g, want 1", got)
	}
	if got := selfMetric(t, set, `lookout_spanmetrics_series{kind="regular"}`); got != 1 {
		t.Errorf("active series %g, want 1", got)
	}
	c.mu.Lock()
	resources := len(c.resources)
	c.mu.Unlock()
	if resources != 1 {
		t.Errorf("%d resources kept, want 1: a resource goes with its last series", resources)
	}

	// A series that comes back starts again from zero, with a new start
	// timestamp: a counter reset to Prometheus.
	clk.Advance(time.Second)
	consume(old)
	p := flush()[oldID]
	if p.calls.IntValue() != 1 || p.calls.StartTimestamp().AsTime() != clk.Now() {
		t.Errorf("returning series: calls %d since %s, want 1 since %s", p.calls.IntValue(), p.calls.StartTimestamp().AsTime(), clk.Now())
	}
}

func TestConsumeTracesConcurrently(t *testing.T) {
	next := &collector{}
	c, set := newTestConnector(t, Config{}, next, nil)
	const workers, batches = 8, 200
	services := []string{"a", "b", "c", "d"}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range batches {
				res := map[string]any{"service.name": services[(w+i)%len(services)]}
				td := traces(res,
					span{name: "GET", kind: ptrace.SpanKindServer, dur: time.Duration(i) * time.Millisecond, trace: byte(i) | 1},
					span{name: "query", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeError, dur: time.Millisecond, trace: 2},
				)
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	// Flushes race with the writers.
	wg.Go(func() {
		for range 20 {
			if err := c.Flush(context.Background()); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Wait()
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	var calls, count uint64
	got := points(t, next.last(t))
	for _, p := range got {
		calls += uint64(p.calls.IntValue())
		count += p.hist.Count()
	}
	if want := uint64(workers * batches * 2); calls != want || count != want || len(got) != 2*len(services) {
		t.Errorf("%d series with %d calls and %d durations, want %d series with %d of each", len(got), calls, count, 2*len(services), want)
	}
	if got := selfMetric(t, set, `lookout_spanmetrics_spans_total`); got != workers*batches*2 {
		t.Errorf("spans_total %g, want %d", got, workers*batches*2)
	}
}

func TestFlushFailureKeepsAggregatesAndLogsOnce(t *testing.T) {
	clk := &clock{t: t0}
	var logs bytes.Buffer
	next := &collector{errs: []error{
		fmt.Errorf("append: %w", fmt.Errorf("store busy: %d samples pending", 120)),
		fmt.Errorf("append: %w", fmt.Errorf("store busy: %d samples pending", 7000)),
		errors.New("disk full"),
	}}
	set := metrics.NewSet()
	c, err := New(Config{}, Options{
		Next: next, Metrics: set, Now: clk.Now,
		Logger: slog.New(slog.NewJSONHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	res := map[string]any{"service.name": "api"}
	for i := range 4 {
		if err := c.ConsumeTraces(t.Context(), traces(res, span{name: "GET", dur: time.Millisecond})); err != nil {
			t.Fatal(err)
		}
		clk.Advance(15 * time.Second)
		err := c.Flush(t.Context())
		if i < 3 && err == nil {
			t.Fatalf("flush %d: no error, want the consumer's", i)
		}
		if i == 3 && err != nil {
			t.Fatalf("flush %d: %v", i, err)
		}
	}
	p := points(t, next.last(t))["api|GET|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"]
	if p.calls.IntValue() != 4 || p.calls.StartTimestamp().AsTime() != t0 {
		t.Errorf("after 3 failed flushes: %d calls since %s, want 4 since %s", p.calls.IntValue(), p.calls.StartTimestamp().AsTime(), t0)
	}
	if got := strings.Count(logs.String(), `"msg":"span_metrics_flush_failed"`); got != 2 {
		t.Errorf("%d failure log lines, want 2 (one per kind):\n%s", got, logs.String())
	}
	if got := strings.Count(logs.String(), `"msg":"span_metrics_flush_recovered"`); got != 1 {
		t.Errorf("%d recovery log lines, want 1:\n%s", got, logs.String())
	}
	if got := selfMetric(t, set, `lookout_spanmetrics_flush_errors_total`); got != 3 {
		t.Errorf("flush errors %g, want 3", got)
	}
}

func TestFailureKind(t *testing.T) {
	f := func(a, b error, same bool) {
		t.Helper()
		if got := failureKind(a) == failureKind(b); got != same {
			t.Errorf("failureKind(%q) = %q, failureKind(%q) = %q; same kind %v, want %v", a, failureKind(a), b, failureKind(b), got, same)
		}
	}
	f(fmt.Errorf("a: %w", errors.New("busy: 12 pending")), fmt.Errorf("b: %w", errors.New("busy: 9 pending")), true)
	f(errors.New("busy"), errors.New("disk full"), false)
	f(errors.Join(context.DeadlineExceeded, errors.New("x")), fmt.Errorf("flush: %w", context.DeadlineExceeded), true)
	f(context.Canceled, context.DeadlineExceeded, false)
}

func TestRunFlushesEveryIntervalAndOnStop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		next := &collector{}
		c, _ := newTestConnector(t, Config{FlushInterval: 15 * time.Second}, next, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- c.Run(ctx) }()

		res := map[string]any{"service.name": "api"}
		calls := func() int64 {
			t.Helper()
			return points(t, next.last(t))["api|GET|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"].calls.IntValue()
		}
		if err := c.ConsumeTraces(ctx, traces(res, span{name: "GET", dur: time.Millisecond})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(15 * time.Second) // the bubble's clock: no real waiting
		synctest.Wait()
		if n := next.count(); n != 1 || calls() != 1 {
			t.Fatalf("after one interval: %d flushes, want 1 with 1 call", n)
		}
		if err := c.ConsumeTraces(ctx, traces(res, span{name: "GET", dur: time.Millisecond})); err != nil {
			t.Fatal(err)
		}
		time.Sleep(14 * time.Second)
		synctest.Wait()
		if n := next.count(); n != 1 {
			t.Fatalf("before the second interval: %d flushes, want 1", n)
		}

		cancel()
		if err := <-done; err != nil {
			t.Fatalf("Run: %v", err)
		}
		if n := next.count(); n != 2 || calls() != 2 {
			t.Fatalf("after stop: %d flushes, want 2, the last with 2 calls", n)
		}
		if err := next.ctxErrs[len(next.ctxErrs)-1]; err != nil {
			t.Errorf("final flush ran with a done context: %v", err)
		}
	})
}

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr string
	}{
		{"defaults", Config{}, ""},
		{"explicit", Config{FlushInterval: time.Minute, Expiration: time.Hour, MaxSeries: 5, Buckets: []time.Duration{time.Millisecond, time.Second}}, ""},
		{"negative interval", Config{FlushInterval: -time.Second}, "negative"},
		{"expiration within interval", Config{FlushInterval: time.Minute, Expiration: time.Minute}, "not longer than the flush interval"},
		{"negative series", Config{MaxSeries: -1}, "negative"},
		{"unsorted buckets", Config{Buckets: []time.Duration{time.Second, time.Millisecond}}, "not increasing"},
		{"zero bucket", Config{Buckets: []time.Duration{0, time.Millisecond}}, "not positive"},
		{"too many buckets", Config{Buckets: func() []time.Duration {
			var b []time.Duration
			for i := range 65 {
				b = append(b, time.Duration(i+1)*time.Millisecond)
			}
			return b
		}()}, "more than 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate(%+v) = %v, want nil", tt.cfg, err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate(%+v) = %v, want an error with %q", tt.cfg, err, tt.wantErr)
			}
			if _, nerr := New(tt.cfg, Options{Next: &collector{}}); (nerr == nil) != (err == nil) {
				t.Errorf("New: %v, Validate: %v; want both nil or both errors", nerr, err)
			}
		})
	}
	if _, err := New(Config{}, Options{}); err == nil {
		t.Error("New without a consumer: no error")
	}
}

func TestCustomBuckets(t *testing.T) {
	next := &collector{}
	c, _ := newTestConnector(t, Config{Buckets: []time.Duration{500 * time.Microsecond, time.Second}}, next, nil)
	td := traces(map[string]any{"service.name": "s"},
		span{name: "op", dur: 100 * time.Microsecond},
		span{name: "op", dur: 500 * time.Microsecond},
		span{name: "op", dur: 2 * time.Second},
	)
	if err := c.ConsumeTraces(t.Context(), td); err != nil {
		t.Fatal(err)
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	h := points(t, next.last(t))["s|op|SPAN_KIND_UNSPECIFIED|STATUS_CODE_UNSET"].hist
	if b, c := h.ExplicitBounds().AsRaw(), h.BucketCounts().AsRaw(); !slices.Equal(b, []float64{0.5, 1000}) || !slices.Equal(c, []uint64{2, 0, 1}) {
		t.Errorf("bounds %v counts %v, want [0.5 1000] and [2 0 1]", b, c)
	}
}

func TestResourceAttributeOrderDoesNotMatter(t *testing.T) {
	next := &collector{}
	c, _ := newTestConnector(t, Config{}, next, nil)
	for _, order := range [][]string{{"service.name", "host.name", "k8s.pod.uid"}, {"k8s.pod.uid", "host.name", "service.name"}} {
		td := ptrace.NewTraces()
		rs := td.ResourceSpans().AppendEmpty()
		for _, k := range order {
			rs.Resource().Attributes().PutStr(k, "v-"+k)
		}
		rs.ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("op")
		if err := c.ConsumeTraces(t.Context(), td); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	if n := next.last(t).ResourceMetrics().Len(); n != 1 {
		t.Errorf("%d resources, want 1: the same attributes in another order are the same resource", n)
	}
}
