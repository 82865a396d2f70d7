package selfscrape_test

import (
	"context"
	"io"
	"math"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/tsdb/chunkenc"

	"github.com/lookout-dev/lookout/internal/selfscrape"
	"github.com/lookout-dev/lookout/metricstore"
)

// A scrape writes counters, gauges and histograms from both metric
// libraries, labelled job="lookout", plus up=1.
func TestScrape(t *testing.T) {
	now := time.Date(2026, 11, 20, 12, 0, 0, 0, time.UTC)
	store, err := metricstore.Open(context.Background(), metricstore.Config{Dir: t.TempDir(), Retention: 24 * time.Hour}, metricstore.Options{Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()

	set := metrics.NewSet()
	set.NewCounter(`lookout_ingest_items_total{signal="logs"}`).Add(42)
	set.NewHistogram("lookout_commit_seconds").Update(0.02)
	reg := prometheus.NewRegistry()
	h := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "engine_seconds", Help: "Engine time.", Buckets: []float64{0.1, 1}})
	h.Observe(0.5)
	reg.MustRegister(h)
	write := func(w io.Writer) {
		set.WritePrometheus(w)
		mfs, _ := reg.Gather()
		enc := expfmt.NewEncoder(w, expfmt.NewFormat(expfmt.TypeTextPlain))
		for _, mf := range mfs {
			enc.Encode(mf)
		}
	}
	s := selfscrape.New(selfscrape.Config{Instance: "127.0.0.1:8080"}, selfscrape.Options{Write: write, Store: store, Now: func() time.Time { return now }})
	if err := s.Scrape(context.Background()); err != nil {
		t.Fatal(err)
	}

	q, _ := store.Querier(math.MinInt64, math.MaxInt64)
	defer q.Close()
	for name, want := range map[string]float64{
		`{__name__="lookout_ingest_items_total", instance="127.0.0.1:8080", job="lookout", signal="logs"}`: 42,
		`{__name__="engine_seconds_bucket", instance="127.0.0.1:8080", job="lookout", le="1"}`:             1,
		`{__name__="engine_seconds_bucket", instance="127.0.0.1:8080", job="lookout", le="+Inf"}`:          1,
		`{__name__="engine_seconds_count", instance="127.0.0.1:8080", job="lookout"}`:                      1,
		`{__name__="lookout_commit_seconds_count", instance="127.0.0.1:8080", job="lookout"}`:              1,
		`{__name__="up", instance="127.0.0.1:8080", job="lookout"}`:                                        1,
	} {
		ms, err := parser.NewParser(parser.Options{}).ParseMetric(name)
		if err != nil {
			t.Fatal(err)
		}
		var matchers []*labels.Matcher
		ms.Range(func(l labels.Label) {
			matchers = append(matchers, labels.MustNewMatcher(labels.MatchEqual, l.Name, l.Value))
		})
		set := q.Select(context.Background(), false, nil, matchers...)
		if !set.Next() {
			t.Errorf("%s not stored", name)
			continue
		}
		it := set.At().Iterator(nil)
		if it.Next() != chunkenc.ValFloat {
			t.Fatalf("%s has no float sample", name)
		}
		if ts, v := it.At(); v != want || ts != now.UnixMilli() {
			t.Errorf("%s = %v at %d, want %v at %d", name, v, ts, want, now.UnixMilli())
		}
	}
	md, _ := store.Metadata(context.Background(), "engine_seconds", 0)
	if len(md["engine_seconds"]) != 1 || md["engine_seconds"][0].Type != "histogram" {
		t.Errorf("metadata of engine_seconds = %v", md)
	}
}
