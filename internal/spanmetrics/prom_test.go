package spanmetrics

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	promexemplar "github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// promSample is one sample appended by Prometheus' OTLP converter.
type promSample struct {
	series    string // labels in Prometheus text form
	st, t     int64
	v         float64
	exemplars []promexemplar.Exemplar
	meta      metadata.Metadata
}

// appender collects what Prometheus' OTLP converter appends.
type appender struct {
	samples   []promSample
	committed bool
}

var _ storage.AppenderV2 = (*appender)(nil)

func (a *appender) Append(_ storage.SeriesRef, ls labels.Labels, st, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, opts storage.AppendV2Options) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		return 0, fmt.Errorf("native histogram for %s, want classic buckets", ls)
	}
	a.samples = append(a.samples, promSample{series: ls.String(), st: st, t: t, v: v, exemplars: slices.Clone(opts.Exemplars), meta: opts.Metadata})
	return storage.SeriesRef(ls.Hash()), nil
}

func (a *appender) Commit() error   { a.committed = true; return nil }
func (a *appender) Rollback() error { return nil }

// toPrometheus converts md the way the metric store does.
func toPrometheus(t *testing.T, md pmetric.Metrics) map[string]promSample {
	t.Helper()
	app := &appender{}
	annots, err := prometheusremotewrite.NewPrometheusConverter(app).FromMetrics(context.Background(), md, prometheusremotewrite.Settings{AddMetricSuffixes: true})
	if err != nil {
		t.Fatalf("convert: %v", err)
	}
	if len(annots) > 0 {
		warnings, infos := annots.AsStrings("", 10, 10)
		t.Errorf("convert warnings %v, infos %v", warnings, infos)
	}
	out := map[string]promSample{}
	for _, s := range app.samples {
		if _, dup := out[s.series]; dup {
			t.Fatalf("series %s appended twice", s.series)
		}
		out[s.series] = s
	}
	return out
}

func TestPrometheusNames(t *testing.T) {
	clk := &clock{t: t0}
	next := &collector{}
	c, _ := newTestConnector(t, Config{MaxSeries: 2}, next, clk.Now)
	resource := map[string]any{"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "ck-1", "deployment.environment.name": "prod"}
	td := traces(resource,
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 3 * time.Millisecond, trace: 1},
		span{name: "GET /cart", kind: ptrace.SpanKindServer, status: ptrace.StatusCodeOk, dur: 300 * time.Millisecond, trace: 2},
		span{name: "SELECT", kind: ptrace.SpanKindClient, status: ptrace.StatusCodeError, dur: 20 * time.Second},
		span{name: "POST /pay", kind: ptrace.SpanKindServer, dur: time.Millisecond}, // past MaxSeries: overflow
	)
	if err := c.ConsumeTraces(t.Context(), td); err != nil {
		t.Fatal(err)
	}
	clk.Advance(15 * time.Second)
	if err := c.Flush(t.Context()); err != nil {
		t.Fatal(err)
	}
	got := toPrometheus(t, next.last(t))

	const (
		get      = `instance="ck-1", job="shop/checkout", service_name="checkout", span_kind="SPAN_KIND_SERVER", span_name="GET /cart", status_code="STATUS_CODE_OK"`
		sel      = `instance="ck-1", job="shop/checkout", service_name="checkout", span_kind="SPAN_KIND_CLIENT", span_name="SELECT", status_code="STATUS_CODE_ERROR"`
		overflow = `job="shop/checkout", otel_metric_overflow="true", service_name="checkout"`
	)
	want := map[string]float64{
		`target_info{deployment_environment_name="prod", instance="ck-1", job="shop/checkout"}`: 1,

		`traces_span_metrics_calls_total{` + get + `}`:                      2,
		`traces_span_metrics_duration_milliseconds_sum{` + get + `}`:        303,
		`traces_span_metrics_duration_milliseconds_count{` + get + `}`:      2,
		`traces_span_metrics_calls_total{` + sel + `}`:                      1,
		`traces_span_metrics_duration_milliseconds_sum{` + sel + `}`:        20000,
		`traces_span_metrics_duration_milliseconds_count{` + sel + `}`:      1,
		`traces_span_metrics_calls_total{` + overflow + `}`:                 1,
		`traces_span_metrics_duration_milliseconds_sum{` + overflow + `}`:   1,
		`traces_span_metrics_duration_milliseconds_count{` + overflow + `}`: 1,
	}
	les := []string{"2", "4", "6", "8", "10", "50", "100", "200", "400", "800", "1000", "1400", "2000", "5000", "10000", "15000", "+Inf"}
	for i, le := range les {
		for _, s := range []struct {
			labels string
			count  func(i int) float64
		}{
			{get, func(i int) float64 { return float64(min(i, 1) + btoi(i >= 8)) }}, // 3ms in le=4, 300ms in le=400
			{sel, func(i int) float64 { return float64(btoi(i == len(les)-1)) }},    // 20s only in +Inf
			{overflow, func(int) float64 { return 1 }},                              // 1ms in le=2
		} {
			want[`traces_span_metrics_duration_milliseconds_bucket{`+s.labels+`, le="`+le+`"}`] = s.count(i)
		}
	}
	wantSorted := map[string]float64{}
	for k, v := range want {
		wantSorted[sortLabels(t, k)] = v
	}
	var missing, extra []string
	for k, v := range wantSorted {
		s, ok := got[k]
		if !ok {
			missing = append(missing, k)
			continue
		}
		if s.v != v {
			t.Errorf("%s = %g, want %g", k, s.v, v)
		}
	}
	for k := range got {
		if _, ok := wantSorted[k]; !ok {
			extra = append(extra, k)
		}
	}
	slices.Sort(missing)
	slices.Sort(extra)
	if len(missing) > 0 || len(extra) > 0 {
		t.Fatalf("series missing:\n%s\nseries not wanted:\n%s", strings.Join(missing, "\n"), strings.Join(extra, "\n"))
	}

	// Every sample is stamped with the flush time and carries the series'
	// first-seen time as its start, so rate() sees restarts as resets.
	for k, s := range got {
		if s.t != clk.Now().UnixMilli() {
			t.Errorf("%s at %d, want the flush time %d", k, s.t, clk.Now().UnixMilli())
		}
		if !strings.HasPrefix(k, `{__name__="target_info"`) && s.st != t0.UnixMilli() {
			t.Errorf("%s starts at %d, want %d", k, s.st, t0.UnixMilli())
		}
	}

	// Exemplars lead from a bucket to the trace of its latest span.
	for _, tt := range []struct {
		le    string
		trace byte
		value float64
	}{{"4", 1, 3}, {"400", 2, 300}} {
		k := sortLabels(t, `traces_span_metrics_duration_milliseconds_bucket{`+get+`, le="`+tt.le+`"}`)
		ex := got[k].exemplars
		wantLabels := fmt.Sprintf(`{span_id="%02x01000000000000", trace_id="%s"}`, tt.trace, traceID(tt.trace))
		if len(ex) != 1 || ex[0].Labels.String() != wantLabels || ex[0].Value != tt.value || !ex[0].HasTs || ex[0].Ts != t0.Add(time.Duration(tt.value)*time.Millisecond).UnixMilli() {
			t.Errorf("%s exemplars %v, want one %s %g at the span's end", k, ex, wantLabels, tt.value)
		}
	}
	var exemplars int
	for _, s := range got {
		exemplars += len(s.exemplars)
	}
	if exemplars != 2 {
		t.Errorf("%d exemplars, want 2: one per bucket with a traced span", exemplars)
	}

	// Metadata as Prometheus records it.
	for k, want := range map[string]metadata.Metadata{
		`traces_span_metrics_calls_total{` + get + `}`:                 {Type: "counter"},
		`traces_span_metrics_duration_milliseconds_count{` + get + `}`: {Type: "histogram", Unit: "milliseconds"},
	} {
		if got := got[sortLabels(t, k)].meta; got.Type != want.Type || got.Unit != want.Unit {
			t.Errorf("%s metadata type %q unit %q, want %q %q", k, got.Type, got.Unit, want.Type, want.Unit)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// sortLabels rewrites a series written as name{labels} the way
// labels.Labels.String prints it.
func sortLabels(t *testing.T, series string) string {
	t.Helper()
	name, rest, ok := strings.Cut(series, "{")
	if !ok {
		t.Fatalf("series %q has no labels", series)
	}
	b := labels.NewScratchBuilder(8)
	b.Add(model.MetricNameLabel, name)
	for _, kv := range splitLabels(strings.TrimSuffix(rest, "}")) {
		k, v, _ := strings.Cut(kv, "=")
		b.Add(k, strings.Trim(v, `"`))
	}
	b.Sort()
	return b.Labels().String()
}

// splitLabels splits `a="x, y", b="z"` at the commas between labels.
func splitLabels(s string) []string {
	var out []string
	inQuote, from := false, 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '"':
			inQuote = !inQuote
		case ',':
			if !inQuote {
				out = append(out, strings.TrimSpace(s[from:i]))
				from = i + 1
			}
		}
	}
	return append(out, strings.TrimSpace(s[from:]))
}
