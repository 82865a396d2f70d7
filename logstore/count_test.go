package logstore

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookout-dev/lookout/internal/otlpgen"
)

// countFixture stores, from base on:
//   - checkout: 30 records a second apart; every third an error with a
//     trace id (10), the rest info; http.route alternating /api/orders
//     (even) and /api/cart (odd). Delivered twice.
//   - cart: 12 records a second apart from base+500ms; every fourth a
//     warning (3) with severity text WARNING, the rest info.
//   - one record at base+40s without a service, severity text ERR and no
//     severity number.
func countFixture(t *testing.T) (*Store, time.Time) {
	t.Helper()
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	t.Cleanup(func() { s.Close() })
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)

	checkout := plog.NewLogs()
	rl := checkout.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	lrs := rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range 30 {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Second)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if i%3 == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberError)
			lr.SetSeverityText("ERROR")
			lr.SetTraceID(traceID(byte(i)))
		}
		lr.Body().SetStr(fmt.Sprintf("checkout line %d", i))
		route := "/api/orders"
		if i%2 == 1 {
			route = "/api/cart"
		}
		lr.Attributes().PutStr("http.route", route)
	}

	cart := plog.NewLogs()
	rl = cart.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "cart")
	lrs = rl.ScopeLogs().AppendEmpty().LogRecords()
	for i := range 12 {
		lr := lrs.AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i)*time.Second + 500*time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		lr.SetSeverityText("INFO")
		if i%4 == 0 {
			lr.SetSeverityNumber(plog.SeverityNumberWarn)
			lr.SetSeverityText("WARNING")
		}
		lr.Body().SetStr(fmt.Sprintf("cart line %d", i))
	}

	orphan := plog.NewLogs()
	lr := orphan.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(40 * time.Second)))
	lr.SetSeverityText("ERR")
	lr.Body().SetStr("who logged this")

	for _, ld := range []plog.Logs{checkout, cart, orphan, checkout} {
		if err := s.ConsumeLogs(ctx, ld); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, s)
	return s, base
}

// counts renders groups as "values=count" for comparison.
func counts(gs []GroupCount) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = fmt.Sprintf("%s=%d", strings.Join(g.Values, "/"), g.Count)
	}
	return out
}

func TestCountLogs(t *testing.T) {
	s, base := countFixture(t)
	ctx := context.Background()
	at := func(sec int) time.Time { return base.Add(time.Duration(sec) * time.Second) }
	cases := []struct {
		name  string
		q     CountQuery
		want  []string
		exact bool
	}{
		{"everything", CountQuery{}, []string{"=43"}, true},
		{"per service", CountQuery{GroupBy: []string{"service"}}, []string{"checkout=30", "cart=12", "=1"}, true},
		{"service.name is service", CountQuery{GroupBy: []string{"service.name"}}, []string{"checkout=30", "cart=12", "=1"}, true},
		{"per severity of one service", CountQuery{Query: "service:checkout", GroupBy: []string{"severity"}}, []string{"info=20", "error=10"}, true},
		{"severity by name, else by text", CountQuery{GroupBy: []string{"level"}}, []string{"info=29", "error=10", "warn=3", "err=1"}, true},
		{"two fields", CountQuery{Query: "NOT severity:info", GroupBy: []string{"service", "severity"}},
			[]string{"checkout/error=10", "cart/warn=3", "/err=1"}, true},
		{"attribute, ties by value", CountQuery{Query: "service:checkout", GroupBy: []string{"http.route"}},
			[]string{"/api/cart=15", "/api/orders=15"}, true},
		{"attribute lacking", CountQuery{Query: "service:cart OR service:checkout", GroupBy: []string{"attributes.http.route"}},
			[]string{"/api/cart=15", "/api/orders=15", "=12"}, true},
		{"no match, one group", CountQuery{Query: "severity:fatal"}, []string{"=0"}, true},
		{"no match, no groups", CountQuery{Query: "severity:fatal", GroupBy: []string{"service"}}, []string{}, true},
		{"both ends inclusive", CountQuery{Start: at(10), End: at(19), GroupBy: []string{"service"}}, []string{"checkout=10", "cart=2"}, true},
		{"MaxGroups drops the smallest", CountQuery{GroupBy: []string{"service"}, MaxGroups: 2}, []string{"checkout=30", "cart=12"}, false},
		{"MaxGroups past the cap", CountQuery{GroupBy: []string{"service"}, MaxGroups: 1000}, []string{"checkout=30", "cart=12", "=1"}, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.CountLogs(ctx, c.q)
			if err != nil {
				t.Fatalf("CountLogs(%+v): %v", c.q, err)
			}
			if got := counts(res.Groups); !slices.Equal(got, c.want) || res.Exact != c.exact {
				t.Fatalf("CountLogs(%+v) = %q exact %v, want %q exact %v", c.q, got, res.Exact, c.want, c.exact)
			}
			if len(c.q.GroupBy) == 0 && res.Groups[0].Values != nil {
				t.Fatalf("CountLogs(%+v) values %q without GroupBy, want nil", c.q, res.Groups[0].Values)
			}
		})
	}
}

func TestCountLogsSamples(t *testing.T) {
	s, base := countFixture(t)
	ctx := context.Background()
	q := CountQuery{Query: "service:checkout AND severity:error", GroupBy: []string{"service"}, Samples: 3}
	res, err := s.CountLogs(ctx, q)
	if err != nil || len(res.Groups) != 1 {
		t.Fatalf("CountLogs(%+v) = %+v, %v; want one group", q, res, err)
	}
	var got []string
	for _, r := range res.Groups[0].Samples {
		got = append(got, fmt.Sprintf("%s %s", r.Timestamp.Sub(base), r.TraceID))
	}
	want := []string{
		"27s " + traceID(27).String(),
		"24s " + traceID(24).String(),
		"21s " + traceID(21).String(),
	}
	if !slices.Equal(got, want) {
		t.Fatalf("samples = %q, want newest first %q", got, want)
	}

	q.Samples = 50
	res, err = s.CountLogs(ctx, q)
	if err != nil || len(res.Groups[0].Samples) != maxCountSamples {
		t.Fatalf("CountLogs(%+v): %v, %d samples, want %d", q, err, len(res.Groups[0].Samples), maxCountSamples)
	}
	q.Samples = 0
	res, err = s.CountLogs(ctx, q)
	if err != nil || len(res.Groups[0].Samples) != 0 {
		t.Fatalf("CountLogs(%+v): %v, %d samples, want none", q, err, len(res.Groups[0].Samples))
	}
}

func TestCountLogsBudgets(t *testing.T) {
	s, _ := countFixture(t)
	ctx := context.Background()
	cases := []struct {
		name string
		q    CountQuery
		lim  countLimits
		want []string
	}{
		// Groups are read newest first: the record without a service,
		// alone in its group, is the newest.
		{"records", CountQuery{}, countLimits{records: 1, groups: 100}, []string{"=1"}},
		{"groups tracked", CountQuery{GroupBy: []string{"service"}}, countLimits{records: 1 << 30, groups: 1}, []string{"=1"}},
		// Past the budget, groups are still counted from their metadata:
		// checkout's, delivered twice, are read, the first one whole
		// (its info records, the newest); cart's and the orphan's are
		// not read.
		{"records, metadata past them", CountQuery{GroupBy: []string{"service"}}, countLimits{records: 1, groups: 100, meta: true}, []string{"checkout=20", "cart=12", "=1"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.countLogs(ctx, c.q, c.lim)
			if err != nil {
				t.Fatal(err)
			}
			if got := counts(res.Groups); !slices.Equal(got, c.want) || res.Exact {
				t.Fatalf("countLogs(%+v, %+v) = %q exact %v, want %q exact false", c.q, c.lim, got, res.Exact, c.want)
			}
		})
	}
}

func TestCountLogsBadInput(t *testing.T) {
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	now := time.Now()
	cases := []struct {
		name string
		q    CountQuery
		msg  string
	}{
		{"query", CountQuery{Query: `"unclosed`}, "unclosed quote"},
		{"range", CountQuery{Start: now, End: now.Add(-time.Minute)}, "before start"},
		{"body", CountQuery{GroupBy: []string{"body"}}, "not the body"},
		{"timestamp", CountQuery{GroupBy: []string{"ts"}}, "not the body or the timestamp"},
		{"span field", CountQuery{GroupBy: []string{"duration"}}, "no such field"},
		{"not a name", CountQuery{GroupBy: []string{"my key"}}, "not a field name"},
		{"a query", CountQuery{GroupBy: []string{"a OR b"}}, "not a field name"},
		{"empty name", CountQuery{GroupBy: []string{""}}, "not a field name"},
		{"twice", CountQuery{GroupBy: []string{"service", "service.name"}}, "twice"},
		{"too many", CountQuery{GroupBy: []string{"a", "b", "c", "d", "e", "f", "g", "h", "i"}}, "at most 8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := s.CountLogs(context.Background(), c.q)
			var in *InputError
			if !errors.As(err, &in) || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("CountLogs(%+v) = %v, want an InputError saying %q", c.q, err, c.msg)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	var in *InputError
	if err := ValidateQuery("severity:error AND service:checkout"); err != nil {
		t.Errorf("ValidateQuery(good) = %v", err)
	}
	if err := ValidateQuery("severity:>=nonsense"); !errors.As(err, &in) {
		t.Errorf("ValidateQuery(bad severity) = %v, want an InputError", err)
	}
	if err := ValidateGroupBy([]string{"service", "http.route", "resource.host.name", "trace_id"}); err != nil {
		t.Errorf("ValidateGroupBy(good) = %v", err)
	}
	if err := ValidateGroupBy([]string{"body"}); !errors.As(err, &in) {
		t.Errorf("ValidateGroupBy(body) = %v, want an InputError", err)
	}
}

// BenchmarkCountLogs counts 100k realistic records (10 services, 5%
// errors, over 100 s) grouped by service: all of them, as a broad log alert
// rule over a busy window does, the errors, and a 5 s window; and grouped
// by severity over 20 s, as one bar of the logs explorer's histogram does.
func BenchmarkCountLogs(b *testing.B) {
	g := otlpgen.NewGenerator(1, 10)
	now := time.Now()
	s := openTestStore(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	for i := range 100 {
		ld := g.Logs(1000, now.Add(-time.Duration(i)*time.Second))
		retryOverloaded(b, func() error { return s.ConsumeLogs(ctx, ld) })
	}
	waitIndexedFor(b, s, 5*time.Minute)
	for _, c := range []struct {
		name string
		q    CountQuery
	}{
		{"all_by_service", CountQuery{GroupBy: []string{"service"}, Samples: 5}},
		{"errors_by_service", CountQuery{Query: "severity:error", GroupBy: []string{"service"}, Samples: 5}},
		// An alert rule's window: 5 s of the 100 s stored.
		{"window_5s_by_service", CountQuery{Start: now.Add(-30 * time.Second), End: now.Add(-25 * time.Second), GroupBy: []string{"service"}, Samples: 5}},
		// One bar of the logs explorer's histogram: no query, 20 s, by
		// severity, no samples.
		{"window_20s_by_severity", CountQuery{Start: now.Add(-60 * time.Second), End: now.Add(-40 * time.Second), GroupBy: []string{"severity"}}},
		{"window_20s_service_by_severity", CountQuery{Query: "service:frontend", Start: now.Add(-60 * time.Second), End: now.Add(-40 * time.Second), GroupBy: []string{"severity"}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			var n uint64
			for b.Loop() {
				res, err := s.CountLogs(ctx, c.q)
				if err != nil {
					b.Fatal(err)
				}
				n = 0
				for _, g := range res.Groups {
					n += g.Count
				}
			}
			b.ReportMetric(float64(n), "records")
			reportCountStats(b, func(st *countStats) {
				if _, err := s.countLogs(ctx, c.q, countLimits{records: countBudget, groups: maxTrackedGroups, meta: true, stats: st}); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

// reportCountStats reports how the groups of one op were counted: from
// their metadata, by their records' timestamps, or read.
func reportCountStats(b *testing.B, op func(*countStats)) {
	var st countStats
	op(&st)
	b.ReportMetric(float64(st.meta), "meta-groups")
	b.ReportMetric(float64(st.times), "ts-groups")
	b.ReportMetric(float64(st.read), "read-groups")
}

// BenchmarkCountLogsHistogram counts 1M realistic records over 15 minutes
// (10 services, ~1,100 a second) the way the logs explorer draws its
// volume histogram: by severity, per 20 s bar, without samples; one bar,
// and the page's 45 bars one after the other.
func BenchmarkCountLogsHistogram(b *testing.B) {
	g := otlpgen.NewGenerator(1, 10)
	now := time.Now().Truncate(20 * time.Second)
	s := openTestStore(b, b.TempDir())
	defer s.Close()
	ctx := context.Background()
	const reqs, step = 1000, 900 * time.Millisecond
	for i := range reqs {
		ld := g.Logs(1000, now.Add(-time.Duration(i)*step))
		retryOverloaded(b, func() error { return s.ConsumeLogs(ctx, ld) })
	}
	waitIndexedFor(b, s, 10*time.Minute)
	const bar = 20 * time.Second
	from := now.Add(-reqs * step)
	for _, c := range []struct {
		name  string
		query string
		bars  int
		cold  bool // no block in the cache, as on a first load
	}{
		{"bar_20s", "", 1, false},
		{"page_45x20s", "", 45, false},
		{"page_45x20s_cold", "", 45, true},
		{"page_45x20s_service", "service:frontend", 45, false},
		{"page_45x20s_service_and_severity", "service:auth AND severity:error", 45, false},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			page := func(lim countLimits) uint64 {
				var n uint64
				for i := range c.bars {
					start := from.Add(time.Duration(i+c.bars/2) * bar)
					if c.bars > 1 {
						start = from.Add(time.Duration(i) * bar)
					}
					res, err := s.countLogs(ctx, CountQuery{Query: c.query, Start: start, End: start.Add(bar - 1), GroupBy: []string{"severity"}}, lim)
					if err != nil {
						b.Fatal(err)
					}
					for _, g := range res.Groups {
						n += g.Count
					}
				}
				return n
			}
			lim := countLimits{records: countBudget, groups: maxTrackedGroups, meta: true}
			var n uint64
			for b.Loop() {
				if c.cold {
					s.cache.dropTable(s.logs.groupTable)
				}
				n = page(lim)
			}
			b.ReportMetric(float64(n), "records")
			reportCountStats(b, func(st *countStats) { lim.stats = st; page(lim) })
		})
	}
}
