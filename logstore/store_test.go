package logstore

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

func openTestStore(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(context.Background(), Config{Dir: dir, LogsRetention: 7 * 24 * time.Hour, TracesRetention: 7 * 24 * time.Hour}, Options{})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return s
}

func traceID(n byte) pcommon.TraceID {
	return pcommon.TraceID{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, n}
}
func spanID(n byte) pcommon.SpanID { return pcommon.SpanID{1, 2, 3, 4, 5, 6, 7, n} }

func testLogs(base time.Time, n int) plog.Logs {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "checkout")
	rl.Resource().Attributes().PutStr("host.name", "web-1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("shop/checkout")
	for i := 0; i < n; i++ {
		lr := sl.LogRecords().AppendEmpty()
		lr.SetTimestamp(pcommon.NewTimestampFromTime(base.Add(time.Duration(i) * time.Millisecond)))
		lr.SetObservedTimestamp(pcommon.NewTimestampFromTime(base))
		sev := plog.SeverityNumberInfo
		text := "INFO"
		if i%10 == 0 {
			sev, text = plog.SeverityNumberError, "ERROR"
		}
		lr.SetSeverityNumber(sev)
		lr.SetSeverityText(text)
		lr.Body().SetStr(fmt.Sprintf("order %d placed by user-%d: payment accepted", i, i%7))
		lr.Attributes().PutStr("http.route", "/api/orders")
		lr.Attributes().PutInt("http.status_code", int64(200+i%3*100))
		if i%2 == 0 {
			lr.SetTraceID(traceID(byte(i % 5)))
			lr.SetSpanID(spanID(byte(i % 5)))
		}
	}
	return ld
}

func testTraces(base time.Time) ptrace.Traces {
	td := ptrace.NewTraces()
	for _, svc := range []string{"frontend", "checkout"} {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", svc)
		ss := rs.ScopeSpans().AppendEmpty()
		for tr := byte(0); tr < 5; tr++ {
			sp := ss.Spans().AppendEmpty()
			sp.SetTraceID(traceID(tr))
			if svc == "frontend" {
				sp.SetSpanID(spanID(100 + tr))
				sp.SetName("GET /checkout")
				sp.SetKind(ptrace.SpanKindServer)
			} else {
				sp.SetSpanID(spanID(tr))
				sp.SetParentSpanID(spanID(100 + tr))
				sp.SetName("charge")
				sp.SetKind(ptrace.SpanKindInternal)
			}
			start := base.Add(time.Duration(tr) * time.Second)
			sp.SetStartTimestamp(pcommon.NewTimestampFromTime(start))
			sp.SetEndTimestamp(pcommon.NewTimestampFromTime(start.Add(time.Duration(tr+1) * 100 * time.Millisecond)))
			if tr == 3 && svc == "checkout" {
				sp.Status().SetCode(ptrace.StatusCodeError)
				sp.Status().SetMessage("card declined")
			}
			sp.Attributes().PutStr("http.method", "GET")
			ev := sp.Events().AppendEmpty()
			ev.SetName("cache.miss")
		}
	}
	return td
}

// waitIndexed polls until every committed block of both signals is indexed.
func waitIndexed(t testing.TB, s *Store) {
	waitIndexedFor(t, s, 30*time.Second)
}

func waitIndexedFor(t testing.TB, s *Store, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if s.lag(sigLogs) == 0 && s.lag(sigSpans) == 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("index lag did not reach 0: logs %d spans %d", s.lag(sigLogs), s.lag(sigSpans))
}

func TestStoreLogsAndTraces(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	base := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
	if err := s.ConsumeLogs(ctx, testLogs(base, 100)); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeTraces(ctx, testTraces(base)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)

	cases := []struct {
		q    string
		want uint64
	}{
		{"", 100},
		{"payment", 100},
		{"PAYMENT accepted", 100},
		{`"payment accepted"`, 100},
		{`"accepted payment"`, 0},
		{"severity:error", 10},
		{"severity:ERROR", 10},
		{"level:>=warn", 10},
		{"severity:info AND service:checkout", 90},
		{"service:frontend", 0},
		{"http.status_code:>=300", 66},
		{"attributes.http.status_code:200", 34},
		{"http.route:/api/orders", 100},
		{"user-3", 14},
		{"NOT user-3", 86},
		{"user-3 OR user-4", 28},
		{"resource.host.name:web-1", 100},
		{"trace_id:*", 50},
		{"ord*", 100},
		{"scope:shop/checkout", 100},
	}
	for _, c := range cases {
		t.Run(c.q, func(t *testing.T) {
			res, err := s.SearchLogs(ctx, LogQuery{Query: c.q, Limit: 5})
			if err != nil {
				t.Fatalf("SearchLogs(%q): %v", c.q, err)
			}
			if res.Total != c.want {
				t.Fatalf("SearchLogs(%q) total = %d, want %d", c.q, res.Total, c.want)
			}
		})
	}

	res, err := s.SearchLogs(ctx, LogQuery{Limit: 3})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Records) != 3 || !res.Records[0].Timestamp.Equal(base.Add(99*time.Millisecond)) {
		t.Fatalf("newest first: got %+v", res.Records)
	}
	r := res.Records[0]
	if r.Service != "checkout" || r.Resource["host.name"] != "web-1" || r.Attributes["http.status_code"] != int64(200) || r.Scope.Name != "shop/checkout" {
		t.Fatalf("record fields: %+v", r)
	}
	res, err = s.SearchLogs(ctx, LogQuery{Limit: 1, Forward: true})
	if err != nil || !res.Records[0].Timestamp.Equal(base) {
		t.Fatalf("oldest first: %v %+v", err, res.Records)
	}

	var bad *InputError
	if _, err := s.SearchLogs(ctx, LogQuery{Query: `"unclosed`}); !errors.As(err, &bad) {
		t.Fatalf("bad query error = %v, want InputError", err)
	}

	spans, err := s.Trace(ctx, traceID(3).String())
	if err != nil || len(spans) != 2 {
		t.Fatalf("Trace: %v, %d spans", err, len(spans))
	}
	if spans[0].Name != "GET /checkout" || spans[1].Status.Code != "error" || spans[1].ParentSpanID != spans[0].SpanID {
		t.Fatalf("trace spans: %+v", spans)
	}

	tres, err := s.SearchTraces(ctx, TraceQuery{Service: "checkout", Error: "true"})
	sum := tres.Traces
	if err != nil || len(sum) != 1 || sum[0].TraceID != traceID(3).String() || sum[0].RootName != "GET /checkout" || sum[0].SpanCount != 2 || sum[0].ErrorCount != 1 {
		t.Fatalf("SearchTraces error: %v %+v", err, sum)
	}
	tres, err = s.SearchTraces(ctx, TraceQuery{Operation: "charge", MinDuration: 250 * time.Millisecond})
	sum = tres.Traces
	if err != nil || len(sum) != 3 {
		t.Fatalf("SearchTraces min duration: %v %+v", err, sum)
	}
	tres, err = s.SearchTraces(ctx, TraceQuery{Query: "duration:<250ms AND kind:internal"})
	sum = tres.Traces
	if err != nil || len(sum) != 2 {
		t.Fatalf("SearchTraces query: %v %+v", err, sum)
	}

	svcs, _ := s.Services(ctx)
	if len(svcs) != 2 || svcs[0].Name != "checkout" || len(svcs[0].Operations) != 1 || svcs[1].Operations[0] != "GET /checkout" {
		t.Fatalf("services: %+v", svcs)
	}
}

// oneLog is a payload of one record of service "api", a minute old.
func oneLog() (plog.Logs, plog.LogRecord) {
	ld := plog.NewLogs()
	rl := ld.ResourceLogs().AppendEmpty()
	rl.Resource().Attributes().PutStr("service.name", "api")
	lr := rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty()
	lr.SetTimestamp(pcommon.NewTimestampFromTime(time.Now().Add(-time.Minute)))
	return ld, lr
}

func TestStoreStructuredBody(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ld, lr := oneLog()
	m := lr.Body().SetEmptyMap()
	m.PutStr("user", "Alice")
	m.PutBool("paid", true)
	m.PutInt("items", 42)
	if err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	for _, q := range []string{"alice", "ALICE", "true", "42", "paid", `"paid true"`} {
		res, err := s.SearchLogs(ctx, LogQuery{Query: q})
		if err != nil || res.Total != 1 {
			t.Errorf("SearchLogs(%q) over a map body = %v, total %d, want 1", q, err, res.Total)
		}
	}
}

func TestStoreRedeliveryIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	base := time.Now().Add(-time.Hour).UTC()
	for i := 0; i < 3; i++ {
		if err := s.ConsumeLogs(ctx, testLogs(base, 20)); err != nil {
			t.Fatal(err)
		}
		if err := s.ConsumeTraces(ctx, testTraces(base)); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, s)
	res, err := s.SearchLogs(ctx, LogQuery{})
	if err != nil || res.Total != 20 {
		t.Fatalf("logs after 3 deliveries: %v total %d, want 20", err, res.Total)
	}
	spans, err := s.Trace(ctx, traceID(1).String())
	if err != nil || len(spans) != 2 {
		t.Fatalf("trace after 3 deliveries: %v, %d spans, want 2", err, len(spans))
	}
}

func TestStoreReplaysUnindexedBlocks(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	base := time.Now().Add(-time.Hour).UTC()
	if err := s.ConsumeLogs(ctx, testLogs(base, 50)); err != nil {
		t.Fatal(err)
	}
	// Forget the index entirely: the checkpoint in blocks.db is what says
	// what must be replayed, so reset it too, as after a crash before the
	// first persist.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openTestStore(t, dir)
	defer s.Close()
	waitIndexed(t, s)
	res, err := s.SearchLogs(ctx, LogQuery{})
	if err != nil || res.Total != 50 {
		t.Fatalf("after reopen: %v total %d, want 50", err, res.Total)
	}
}

// clock is a settable time source.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

func TestRetentionDropsExpiredDays(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now().UTC()
	clk := &clock{now: now}
	s, err := Open(ctx, Config{Dir: dir, LogsRetention: 48 * time.Hour, TracesRetention: 48 * time.Hour}, Options{Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	old := now.Add(-40 * time.Hour)
	if err := s.ConsumeLogs(ctx, testLogs(old, 10)); err != nil {
		t.Fatal(err)
	}
	// Records stamped 23h ahead (a day ahead is the most the store takes)
	// are still kept when the clock has moved on 48h and the old day is
	// gone.
	recent := now.Add(23 * time.Hour)
	if err := s.ConsumeLogs(ctx, testLogs(recent, 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.ConsumeTraces(ctx, testTraces(old)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	if res, err := s.SearchLogs(ctx, LogQuery{End: recent.Add(time.Hour)}); err != nil || res.Total != 20 {
		t.Fatalf("before retention: %v total %d, want 20", err, res.Total)
	}
	oldPart := filepath.Join(dir, "index", "logs", dayName(dayOf(old.UnixNano())))
	if _, err := os.Stat(oldPart); err != nil {
		t.Fatalf("partition of the old day: %v", err)
	}

	// 48h later the old records (40h old then) are past retention, and so
	// is their whole day.
	clk.Set(now.Add(48 * time.Hour))
	s.enforceRetention(ctx)
	res, err := s.SearchLogs(ctx, LogQuery{})
	if err != nil || res.Total != 10 {
		t.Fatalf("after retention: %v total %d, want the 10 recent records", err, res.Total)
	}
	if spans, err := s.Trace(ctx, traceID(1).String()); err != nil || len(spans) != 0 {
		t.Fatalf("expired trace: %v, %d spans, want none", err, len(spans))
	}
	if _, err := os.Stat(oldPart); !os.IsNotExist(err) {
		t.Fatalf("partition of the expired day still on disk: %v", err)
	}
	if _, err := os.Stat(oldPart + ".bloom"); !os.IsNotExist(err) {
		t.Fatalf("bloom file of the expired day still on disk: %v", err)
	}
}

func TestStoreAttributeValueKinds(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ld, lr := oneLog()
	lr.Body().SetStr("hello")
	a := lr.Attributes()
	a.PutStr("request.id", "62a4c55c986fee43")
	a.PutEmptyBytes("digest").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	a.PutInt("http.status", 503)
	a.PutDouble("ratio", 0.25)
	a.PutBool("cached", true)
	a.PutEmptyMap("user").PutStr("name", "Alice-7")
	a.PutEmptySlice("tags").AppendEmpty().SetStr("blue-2")
	if err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	for _, q := range []string{
		"request.id:62a4c55c986fee43", "digest:deadbeef", "http.status:503", "ratio:0.25", "cached:true",
		"user.name:Alice-7", "tags:blue-2", "http.status:>500", "request.id:62a4* AND hello",
	} {
		res, err := s.SearchLogs(ctx, LogQuery{Query: q})
		if err != nil || res.Total != 1 {
			t.Errorf("SearchLogs(%q) = %v, total %d, want 1", q, err, res.Total)
		}
	}
	for _, q := range []string{"request.id:62a4c55c986fee44", "digest:deadbeee", "http.status:504", "tags:blue-3"} {
		res, err := s.SearchLogs(ctx, LogQuery{Query: q})
		if err != nil || res.Total != 0 {
			t.Errorf("SearchLogs(%q) = %v, total %d, want 0", q, err, res.Total)
		}
	}
}

func TestFutureTimestampsRefused(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	defer s.Close()
	now := time.Now().UTC()
	// Up to a day ahead is kept: a sender's clock running fast loses
	// nothing. Further ahead is refused, and says so.
	if err := s.ConsumeLogs(ctx, testLogs(now.Add(23*time.Hour), 2)); err != nil {
		t.Fatal(err)
	}
	for d := 2; d < 40; d += 3 {
		err := s.ConsumeLogs(ctx, testLogs(now.Add(time.Duration(d)*24*time.Hour), 2))
		var pe *PartialError
		if !errors.As(err, &pe) || pe.Rejected != 2 || !strings.Contains(pe.Reason, "more than a day ahead") {
			t.Fatalf("records %d days ahead: %v, want both refused as more than a day ahead", d, err)
		}
	}
	waitIndexed(t, s)
	ents, err := os.ReadDir(filepath.Join(dir, "index", "logs"))
	if err != nil {
		t.Fatal(err)
	}
	today, tomorrow := dayName(dayOf(now.UnixNano())), dayName(dayOf(now.UnixNano())+1)
	for _, e := range ents {
		if e.IsDir() && e.Name() != today && e.Name() != tomorrow {
			t.Errorf("partition %s opened; want only %s or %s", e.Name(), today, tomorrow)
		}
	}
	res, err := s.SearchLogs(ctx, LogQuery{End: now.Add(60 * 24 * time.Hour)})
	if err != nil || res.Total != 2 {
		t.Fatalf("future records: %v, total %d, want 2", err, res.Total)
	}
}

// A crash right after a partition was created leaves a directory bleve
// cannot open; the store removes it and replays what it would have held.
func TestUnopenablePartitionIsRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s := openTestStore(t, dir)
	base := time.Now().Add(-time.Hour).UTC()
	if err := s.ConsumeLogs(ctx, testLogs(base, 30)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// As bleve leaves it when killed before its first persist: the
	// mapping was never written.
	for _, day := range []string{dayName(dayOf(base.UnixNano())), "20000101"} {
		part := filepath.Join(dir, "index", "logs", day)
		if err := os.RemoveAll(part); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(part, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(part, "index_meta.json"), []byte(`{"storage":"scorch","index_type":"scorch"}`), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Closed at once, the store had committed the records but not indexed
	// them (indexing waits a moment to gather records), as after a crash.
	s, err := Open(ctx, Config{Dir: dir, LogsRetention: 7 * 24 * time.Hour, TracesRetention: 7 * 24 * time.Hour}, Options{})
	if err != nil {
		t.Fatalf("open with an unopenable partition: %v", err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, "index", "logs", "20000101")); !os.IsNotExist(err) {
		t.Fatalf("unopenable partition left in place: %v", err)
	}
	waitIndexed(t, s)
	if res, err := s.SearchLogs(ctx, LogQuery{}); err != nil || res.Total != 30 {
		t.Fatalf("after rebuilding: %v total %d, want 30", err, res.Total)
	}
}
