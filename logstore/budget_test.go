package logstore

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// sparseLogs is n records one millisecond apart from base, of which every
// every-th holds the word "needle" in its body.
func sparseLogs(base time.Time, n, every int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	sl := rl.ScopeLogs().AppendEmpty()
	for i := range n {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		lr.SetSeverityNumber(plog.SeverityNumberInfo)
		word := "hay"
		if i%every == 0 {
			word = "needle"
		}
		lr.Body().SetStr(fmt.Sprintf("record %d holds %s in stack", i, word))
	}
	return ld
}

func openBudgetStore(t *testing.T, base time.Time, budget int) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: t.TempDir(), LogsRetention: 7 * 24 * time.Hour, TracesRetention: 7 * 24 * time.Hour, SearchBudget: budget},
		Options{Now: func() time.Time { return base.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A search's total is the same whatever its page size: the count reads as
// far as the search budget, not as far as the page needed.
func TestSearchTotalDoesNotDependOnLimit(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 0)
	const n, every = 6000, 30 // 200 matches spread over 12 groups
	if err := s.ConsumeLogs(context.Background(), sparseLogs(base, n, every)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	// Queries the index narrows and queries it cannot (a negation, a
	// wildcard) count alike.
	for _, q := range []string{"needle", "NOT hay", "*eedl*", "body:needle AND service:checkout"} {
		for _, limit := range []int{1, 10, 16, 100, 1000} {
			res, err := s.SearchLogs(context.Background(), LogQuery{Query: q, Start: base, End: base.Add(time.Hour), Limit: limit})
			if err != nil {
				t.Fatal(err)
			}
			if res.Total != n/every || !res.TotalExact || res.Partial || len(res.Records) != min(limit, n/every) {
				t.Errorf("%q limit %d: total %d (exact %v, partial %v), %d records; want total %d exact, %d records",
					q, limit, res.Total, res.TotalExact, res.Partial, len(res.Records), n/every, min(limit, n/every))
			}
		}
	}
}

// When the budget stops the count, it stops it at the same place whatever
// the page size.
func TestSearchTotalAtBudgetDoesNotDependOnLimit(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 3000)
	if err := s.ConsumeLogs(context.Background(), sparseLogs(base, 6000, 30)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	totals := map[uint64][]int{}
	for _, limit := range []int{1, 10, 16, 50, 100} {
		res, err := s.SearchLogs(context.Background(), LogQuery{Query: "NOT hay", Start: base, End: base.Add(time.Hour), Limit: limit})
		if err != nil {
			t.Fatal(err)
		}
		if res.TotalExact {
			t.Errorf("limit %d: total %d exact past the budget", limit, res.Total)
		}
		totals[res.Total] = append(totals[res.Total], limit)
	}
	if len(totals) != 1 {
		t.Errorf("totals by limit: %v, want one total", totals)
	}
}

// A search stops at its budget of records read: the newest matches it
// found come back, marked partial, with a lower-bound total.
func TestSearchStopsAtItsBudget(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 1000)
	const n, every = 6000, 1000
	if err := s.ConsumeLogs(context.Background(), sparseLogs(base, n, every)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	res, err := s.SearchLogs(context.Background(), LogQuery{Query: "NOT hay", Start: base, End: base.Add(time.Hour), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || res.TotalExact || len(res.Records) == 0 || len(res.Records) >= n/every {
		t.Fatalf("NOT hay over %d records with a budget of 1000: %d records, total %d, exact %v, partial %v; want some, partial", n, len(res.Records), res.Total, res.TotalExact, res.Partial)
	}
	// What it found are the newest matches.
	if want := base.Add(5000 * time.Millisecond); !res.Records[0].Timestamp.Equal(want) {
		t.Errorf("newest match %v, want %v", res.Records[0].Timestamp, want)
	}
}

func TestQueryShapeBounds(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 0)
	if err := s.ConsumeLogs(context.Background(), sparseLogs(base, 100, 10)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	search := func(q string) (LogResult, error) {
		return s.SearchLogs(context.Background(), LogQuery{Query: q, Start: base, End: base.Add(time.Hour), Limit: 1000})
	}
	var inErr *InputError
	for _, q := range []string{"a*b*c*d*e*f*g*h*i*j", "*e*r*o*r*?*?*?*?", strings.Repeat("x", 70<<10)} {
		if _, err := search(q); !errors.As(err, &inErr) {
			t.Errorf("%.40q: err %v, want an input error", q, err)
		}
	}
	// NOT NOT x is x; a pattern within the bound is answered.
	for q, want := range map[string]int{"NOT NOT NOT NOT needle": 10, "NOT NOT NOT needle": 90, "*e*d*e*": 10, "n??dle": 10} {
		res, err := search(q)
		if err != nil || len(res.Records) != want {
			t.Errorf("%q: %d records, %v; want %d", q, len(res.Records), err, want)
		}
	}
}

// A trace search stops at the same budget of spans read, and says so.
func TestTraceSearchStopsAtItsBudget(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 1000)
	td := ptrace.NewTraces()
	ss := td.ResourceSpans().AppendEmpty()
	ss.Resource().Attributes().PutStr("service.name", "checkout")
	spans := ss.ScopeSpans().AppendEmpty().Spans()
	const n = 3000
	for i := range n {
		sp := spans.AppendEmpty()
		sp.SetTraceID(pcommon.TraceID{1, byte(i >> 8), byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13})
		sp.SetSpanID(pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, 8})
		sp.SetName("op")
		sp.SetStartTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		sp.SetEndTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i+1) * time.Millisecond)))
		if i%1000 == 0 {
			sp.Attributes().PutStr("rare", "yes")
		}
	}
	if err := s.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	res, err := s.SearchTraces(context.Background(), TraceQuery{Query: "NOT name:other AND rare:yes", Start: base, End: base.Add(time.Hour), Limit: 20})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || len(res.Traces) == 0 || len(res.Traces) == n/1000 {
		t.Fatalf("over %d spans with a budget of 1000: %d traces, partial %v; want some, partial", n, len(res.Traces), res.Partial)
	}
	// Within the budget, the same search is whole.
	whole := openBudgetStore(t, base, 0)
	if err := whole.ConsumeTraces(context.Background(), td); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, whole)
	res, err = whole.SearchTraces(context.Background(), TraceQuery{Query: "NOT name:other AND rare:yes", Start: base, End: base.Add(time.Hour), Limit: 20})
	if err != nil || res.Partial || len(res.Traces) != n/1000 {
		t.Fatalf("within the budget: %d traces, partial %v, %v; want %d, whole", len(res.Traces), res.Partial, err, n/1000)
	}
}

// A record sent without an observed time gets the time of receipt, as the
// OTLP data model asks of a receiver; one with neither timestamp is found
// at that time.
func TestObservedTimeSetOnReceipt(t *testing.T) {
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	s := openBudgetStore(t, base, 0)
	received := base.Add(time.Hour)
	ld := plog.NewLogs()
	lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
	stamped := lrs.AppendEmpty()
	stamped.SetTimestamp(pcommon.NewTimestampFromTime(base))
	stamped.Body().SetStr("stamped")
	bare := lrs.AppendEmpty()
	bare.Body().SetStr("bare")
	if err := s.ConsumeLogs(context.Background(), ld); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	for word, ts := range map[string]time.Time{"stamped": base, "bare": received} {
		res, err := s.SearchLogs(context.Background(), LogQuery{Query: word, Start: base.Add(-time.Minute), End: received.Add(time.Minute)})
		if err != nil || len(res.Records) != 1 {
			t.Fatalf("%s: %d records, %v; want 1", word, len(res.Records), err)
		}
		r := res.Records[0]
		if !r.ObservedTimestamp.Equal(received) || !r.Timestamp.Equal(ts) {
			t.Errorf("%s: timestamp %v, observed %v; want %v, observed at receipt %v", word, r.Timestamp, r.ObservedTimestamp, ts, received)
		}
	}
}
