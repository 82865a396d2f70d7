package query

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// splitData has what makes a split go wrong if it can: counter resets,
// series that start, stop and come back (so some exist in one part only),
// classic and native histograms, and gauges to rank.
const splitData = `
load 15s
  req_total{job="api", code="200"} 0+10x300 0+10x300
  req_total{job="api", code="500"} _x200 0+1x200 _x100 5+2x100
  req_total{job="web", code="200"} 0+7x600
  temp{room="a"} 20+0.1x600
  temp{room="b"} 30-0.05x300 stale 10+1x299
  temp{room="c"} _x400 5x200
  lat_bucket{le="0.1"} 0+3x600
  lat_bucket{le="1"} 0+8x600
  lat_bucket{le="+Inf"} 0+10x600
  nat {{schema:0 sum:5 count:4 buckets:[1 2 1]}}+{{schema:0 sum:2 count:2 buckets:[1 1]}}x600
`

func TestSplitRangeQueryAnswersAsWhole(t *testing.T) {
	api := newTestEngine(t, Config{})
	st := promqltest.LoadedStorage(t, splitData)
	exprs := []string{
		`req_total`,
		`rate(req_total[5m])`,
		`increase(req_total[2m])`,
		`irate(req_total[1m])`,
		`resets(req_total[10m])`,
		`sum by (job) (rate(req_total[5m]))`,
		`req_total > 1000`,
		`histogram_quantile(0.9, sum by (le) (rate(lat_bucket[5m])))`,
		`histogram_quantile(0.9, rate(nat[5m]))`,
		`rate(nat[5m])`,
		`topk(2, temp)`,
		`count_values("value", round(temp))`,
		`absent(temp{room="z"})`,
		`absent_over_time(temp{room="c"}[5m])`,
		`predict_linear(temp[10m], 3600)`,
		`max_over_time(rate(req_total[1m])[10m:45s])`,
		`temp offset 10m`,
		`temp offset -5m`,
		`temp @ 3000`,
		`timestamp(temp)`,
		`time() - timestamp(temp)`,
		`scalar(sum(temp)) * vector(2)`,
		`label_replace(temp, "r", "$1", "room", "(.*)")`,
		`changes(temp[30m])`,
	}
	ranges := []struct{ start, end, step time.Duration }{
		{0, 9000 * time.Second, 15 * time.Second},
		{7 * time.Second, 8990 * time.Second, 37 * time.Second},
		{3000 * time.Second, 3600 * time.Second, 60 * time.Second},
	}
	ctx := context.Background()
	opts := promql.NewPrometheusQueryOpts(false, 0)
	for _, expr := range exprs {
		if !api.splittable(expr) {
			t.Errorf("%s: not splittable", expr)
		}
		for _, r := range ranges {
			start, end := time.Unix(0, 0).Add(r.start), time.Unix(0, 0).Add(r.end)
			whole, err := api.NewRangeQuery(ctx, st, opts, expr, start, end, r.step)
			if err != nil {
				t.Fatalf("%s: %v", expr, err)
			}
			want := whole.Exec(ctx)
			if want.Err != nil {
				t.Fatalf("%s: %v", expr, want.Err)
			}
			if len(want.Value.(promql.Matrix)) == 0 {
				t.Errorf("%s over %v: empty answer, so it tests nothing", expr, r)
			}
			for _, parts := range []int{2, 3, 7} {
				split, err := api.splitRangeQuery(ctx, api.Queryable(st), opts, expr, start, end, r.step, parts)
				if err != nil {
					t.Fatalf("%s: %v", expr, err)
				}
				got := split.Exec(ctx)
				if got.Err != nil {
					t.Fatalf("%s in %d parts: %v", expr, parts, got.Err)
				}
				if g, w := got.Value.String(), want.Value.String(); g != w {
					t.Errorf("%s over %v in %d parts:\n got %s\nwant %s", expr, r, parts, g, w)
				}
				if g, w := strings.Join(warningStrings(got), "|"), strings.Join(warningStrings(want), "|"); g != w {
					t.Errorf("%s in %d parts: warnings %q, want %q", expr, parts, g, w)
				}
				split.Close()
			}
			whole.Close()
		}
	}
}

func warningStrings(r *promql.Result) []string {
	w, i := r.Warnings.AsStrings("", 0, 0)
	return append(w, i...)
}

func TestSplittable(t *testing.T) {
	api := newTestEngine(t, Config{})
	for expr, want := range map[string]bool{
		`rate(req_total[5m])`:                          true,
		`temp @ 3000`:                                  true,
		`temp @ start()`:                               false,
		`rate(req_total[5m] @ end())`:                  false,
		`max_over_time(temp[10m:1m] @ start())`:        false,
		`rate(req_total[5m] offset step())`:            false,
		`rate(req_total[range()])`:                     false,
		`max_over_time(temp[range():step()])`:          false,
		`sum(rate(req_total[5m])) / sum(temp @ end())`: false,
		`not a query(`:                                 false,
	} {
		if got := api.splittable(expr); got != want {
			t.Errorf("splittable(%s) = %v, want %v", expr, got, want)
		}
	}
}

func TestSplitRangeQueryErrors(t *testing.T) {
	api := newTestEngine(t, Config{MaxSamples: 500})
	st := promqltest.LoadedStorage(t, splitData)
	ctx := context.Background()
	opts := promql.NewPrometheusQueryOpts(false, 0)
	start, end, step := time.Unix(0, 0), time.Unix(8985, 0), 15*time.Second
	// 600 points, 200 in each part: each part keeps within the limit, the
	// joined answer does not.
	q, err := api.splitRangeQuery(ctx, api.Queryable(st), opts, `temp{room="a"}`, start, end, step, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	if _, ok := res.Err.(promql.ErrTooManySamples); !ok {
		t.Errorf("joined answer over the sample limit: err %v, want ErrTooManySamples", res.Err)
	}
	// A part that fails fails the query with its error.
	q2, err := api.splitRangeQuery(ctx, api.Queryable(st), opts, `label_replace(temp, "room", "x", "room", ".*")`, start, time.Unix(600, 0), step, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer q2.Close()
	if res := q2.Exec(ctx); res.Err == nil || !strings.Contains(res.Err.Error(), "same labelset") {
		t.Errorf("duplicate series: err %v, want the engine's same-labelset error", res.Err)
	}
}

func newTestEngine(t testing.TB, cfg Config) *Engine {
	t.Helper()
	e, err := NewEngine(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return e
}
