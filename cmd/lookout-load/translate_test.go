// This test translates generated metrics with Prometheus' own OTLP converter and the settings
// lookout's metric store uses (metricstore/convert.go), so the series counted here are the series
// the store makes.

package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"context"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/storage/remote/otlptranslator/prometheusremotewrite"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
)

// collector is a storage.AppenderV2 that keeps every float sample by series.
type collector struct {
	series map[string][]tsample // by labels.Labels.String()
	labels map[string]labels.Labels
}

type tsample struct {
	t int64
	v float64
}

var _ storage.AppenderV2 = (*collector)(nil)

func (c *collector) Append(_ storage.SeriesRef, ls labels.Labels, _, t int64, v float64, h *histogram.Histogram, fh *histogram.FloatHistogram, _ storage.AppendV2Options) (storage.SeriesRef, error) {
	if h != nil || fh != nil {
		return 0, fmt.Errorf("native histogram sample for %s", ls)
	}
	k := ls.String()
	c.series[k] = append(c.series[k], tsample{t, v})
	c.labels[k] = ls
	return 0, nil
}

func (c *collector) Commit() error   { return nil }
func (c *collector) Rollback() error { return nil }

// TestTranslatedSeries sends two rounds of generated requests, as encoded on the wire, through
// Prometheus' OTLP converter and checks the series it makes: as many as the fleet says plus one
// target_info per instance, under the documented names, job and instance labels, histograms whose
// buckets are cumulative and end in the count, counters that never decrease, one sample per series
// per round, 15 s apart.
func TestTranslatedSeries(t *testing.T) {
	for _, target := range []int{2000, 10_000} {
		t.Run(strconv.Itoa(target), func(t *testing.T) {
			start := time.Now().Add(-time.Hour).Truncate(time.Second)
			g, err := otlpgen.NewMetricsGenerator(otlpgen.MetricsConfig{Seed: 1, Series: target, Batch: 2000, Start: start})
			if err != nil {
				t.Fatal(err)
			}
			c := &collector{series: map[string][]tsample{}, labels: map[string]labels.Labels{}}
			conv := prometheusremotewrite.NewPrometheusConverter(c)
			for range 2 {
				for _, s := range g.Slices() {
					s.Next()
					req := pmetricotlp.NewExportRequest()
					if err := req.UnmarshalProto(s.AppendProto(nil)); err != nil {
						t.Fatal(err)
					}
					conv.Reset(c)
					ann, err := conv.FromMetrics(context.Background(), req.Metrics(),
						prometheusremotewrite.Settings{AddMetricSuffixes: true, LookbackDelta: 5 * time.Minute})
					if warnings, infos := ann.AsStrings("", 0, 0); err != nil || len(warnings)+len(infos) > 0 {
						t.Fatalf("FromMetrics: %v, annotations %v %v", err, warnings, infos)
					}
				}
			}
			fleet := g.Fleet()
			names := map[string]int{}
			for k, ls := range c.labels {
				names[ls.Get("__name__")]++
				if ls.Get("__name__") == "target_info" {
					continue
				}
				job, inst := ls.Get("job"), ls.Get("instance")
				if !strings.HasPrefix(job, "shop-") || !strings.Contains(job, "/") || len(inst) != 36 {
					t.Errorf("%s: job %q, instance %q; want <namespace>/<service> and a UUID", k, job, inst)
				}
				ss := c.series[k]
				if len(ss) != 2 || ss[1].t-ss[0].t != otlpgen.MetricsInterval.Milliseconds() || ss[0].t != start.UnixMilli() {
					t.Errorf("%s: samples %v, want two, at %d and 15 s later", k, ss, start.UnixMilli())
				}
			}
			want := map[string]int{}
			for _, n := range []string{"app_requests_total", "http_server_request_duration_seconds_sum", "http_server_request_duration_seconds_count"} {
				want[n] = names["app_requests_total"]
			}
			want["http_server_request_duration_seconds_bucket"] = 15 * names["app_requests_total"]
			for _, n := range []string{"http_server_active_requests", "process_runtime_go_goroutines", "process_memory_usage_bytes", "system_cpu_utilization_ratio", "target_info"} {
				want[n] = fleet.Instances()
			}
			total := 0
			for n, v := range names {
				if n != "target_info" {
					total += v
				}
			}
			if !mapsEqual(names, want) || total != fleet.Series() {
				t.Errorf("series by name %v, %d in all (target_info aside); want %v, %d", names, total, want, fleet.Series())
			}
			if g.Fleet().Series() != otlpgen.NewMetricsFleet(target).Series() {
				t.Errorf("generator and fleet disagree")
			}
			checkTranslatedHistograms(t, c)

			// The documented selector picks what it says.
			sel, n := fleet.RateSelector()
			ms := parseMatchers(t, sel)
			picked := 0
			for _, ls := range c.labels {
				if ls.Get("__name__") != "app_requests_total" {
					continue
				}
				ok := true
				for k, v := range ms {
					ok = ok && ls.Get(k) == v
				}
				if ok {
					picked++
				}
			}
			if picked != n || n < 80 && target >= 10_000 {
				t.Errorf("selector {%s} picks %d series, RateSelector says %d", sel, picked, n)
			}
		})
	}
}

// checkTranslatedHistograms checks every histogram as Prometheus sees it: at each timestamp the
// _bucket series grow with le, the +Inf one equals _count, and each series never decreases.
func checkTranslatedHistograms(t *testing.T, c *collector) {
	t.Helper()
	type hist struct {
		le    map[float64][]tsample
		count []tsample
	}
	hs := map[string]*hist{}
	for k, ls := range c.labels {
		name := ls.Get("__name__")
		if strings.HasSuffix(name, "_total") || strings.HasSuffix(name, "_count") || name == "http_server_request_duration_seconds_sum" {
			for i := 1; i < len(c.series[k]); i++ {
				if c.series[k][i].v < c.series[k][i-1].v {
					t.Errorf("%s decreased: %v", k, c.series[k])
				}
			}
		}
		if !strings.HasPrefix(name, "http_server_request_duration_seconds_") || name == "http_server_request_duration_seconds_sum" {
			continue
		}
		b := labels.NewBuilder(ls).Del("__name__", "le").Labels().String()
		h := hs[b]
		if h == nil {
			h = &hist{le: map[float64][]tsample{}}
			hs[b] = h
		}
		if name == "http_server_request_duration_seconds_count" {
			h.count = c.series[k]
			continue
		}
		le, err := strconv.ParseFloat(ls.Get("le"), 64)
		if err != nil {
			t.Fatalf("%s: le: %v", k, err)
		}
		h.le[le] = c.series[k]
	}
	for k, h := range hs {
		les := slices.Sorted(func(yield func(float64) bool) {
			for le := range h.le {
				if !yield(le) {
					return
				}
			}
		})
		if len(les) != 15 || !math.IsInf(les[14], 1) || les[0] != 0.005 {
			t.Errorf("%s: le %v", k, les)
			continue
		}
		for i := range h.count {
			prev := -1.0
			for _, le := range les {
				v := h.le[le][i].v
				if v < prev {
					t.Errorf("%s: le=%v has %v, less than the bucket before (%v)", k, le, v, prev)
				}
				prev = v
			}
			if prev != h.count[i].v {
				t.Errorf("%s: +Inf bucket %v, _count %v", k, prev, h.count[i].v)
			}
		}
	}
}

func parseMatchers(t *testing.T, sel string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, m := range strings.Split(sel, ",") {
		k, v, ok := strings.Cut(m, "=")
		uq, err := strconv.Unquote(v)
		if !ok || err != nil {
			t.Fatalf("selector %q: matcher %q", sel, m)
		}
		out[k] = uq
	}
	return out
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}
