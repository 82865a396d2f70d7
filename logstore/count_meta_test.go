package logstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"

	"github.com/lookout-dev/lookout/internal/sqlitex"
)

func TestGroupTruth(t *testing.T) {
	m, err := newMapping()
	if err != nil {
		t.Fatal(err)
	}
	text := m.AnalyzerNamed(textAnalyzer)
	f := func(q, service, severity string, want truth, countable bool) {
		t.Helper()
		p, err := compileQuery(q, text)
		if err != nil {
			t.Fatalf("compileQuery(%q): %v", q, err)
		}
		if got := metaCountable(p); got != countable {
			t.Fatalf("metaCountable(%q) = %v, want %v", q, got, countable)
		}
		if !countable {
			return
		}
		if got := groupTruth(p, service, severity); got != want {
			t.Fatalf("groupTruth(%q, %q, %q) = %d, want %d", q, service, severity, got, want)
		}
	}
	f("", "api", "info", truthAll, true)
	f("service:api", "api", "info", truthAll, true)
	f("service.name:api", "web", "info", truthNone, true)
	f("service:api", "", "info", truthNone, true)
	f("severity:error", "api", "error", truthAll, true)
	f("level:ERROR", "api", "error", truthAll, true)
	// Text "error" with the number of a warning: the group is "warn".
	f("severity:error", "api", "warn", truthSome, true)
	f("service:api AND severity:error", "api", "error", truthAll, true)
	f("service:api AND severity:error", "web", "warn", truthNone, true)
	f("service:api AND severity:error", "api", "warn", truthSome, true)
	f("service:api OR severity:error", "web", "warn", truthSome, true)
	f("service:api OR severity:error", "api", "warn", truthAll, true)
	f("service:api OR service:web", "db", "warn", truthNone, true)
	f("NOT service:api", "api", "info", truthNone, true)
	f("NOT service:api", "web", "info", truthAll, true)
	f("NOT severity:info", "web", "warn", truthSome, true)
	f("NOT severity:info", "web", "info", truthNone, true)
	f("service:api AND NOT (severity:info OR severity:debug)", "api", "info", truthNone, true)

	f("timeout", "", "", 0, false)
	f("service:ap*", "", "", 0, false)
	f("service:*", "", "", 0, false)
	f("severity:>=warn", "", "", 0, false)
	f("service:api AND http.route:/x", "", "", 0, false)
	f("resource.service.name:api", "", "", 0, false)
	f("NOT trace_id:abc", "", "", 0, false)
}

// metaLogs makes random log records stamped within [base+from,
// base+from+30s): a few services (one record in five without), severities
// whose text and number disagree now and then, and, when copies is set,
// one record in copies delivered twice in its request.
type metaLogs struct {
	r      *rand.Rand
	base   time.Time
	from   time.Duration
	copies int
	seq    int
	sent   []plog.Logs
	ts     []time.Time
}

var metaSeverities = []struct {
	num  plog.SeverityNumber
	text string
}{
	{plog.SeverityNumberInfo, "INFO"}, {plog.SeverityNumberInfo, "INFO"}, {plog.SeverityNumberInfo, ""},
	{plog.SeverityNumberDebug, "debug"}, {plog.SeverityNumberWarn, "WARN"}, {plog.SeverityNumberWarn, "WARNING"},
	{plog.SeverityNumberError, "ERROR"}, {plog.SeverityNumberError, "warn"}, {plog.SeverityNumberFatal, "FATAL"},
	{0, "ERR"}, {0, "error"}, {0, ""},
}

func (g *metaLogs) resource(ld plog.Logs, svc string) plog.LogRecordSlice {
	rl := ld.ResourceLogs().AppendEmpty()
	if svc != "" {
		rl.Resource().Attributes().PutStr("service.name", svc)
	}
	rl.Resource().Attributes().PutStr("host.name", "h1")
	sl := rl.ScopeLogs().AppendEmpty()
	sl.Scope().SetName("test")
	return sl.LogRecords()
}

// request makes n records (more with the copies); svc and sev, when not
// empty or -1, fix the service and severity of all of them.
func (g *metaLogs) request(n int, svc string, sev int) plog.Logs {
	ld := plog.NewLogs()
	bySvc := map[string]plog.LogRecordSlice{}
	for range n {
		s := svc
		if s == "" {
			s = []string{"api", "api", "db", "web", ""}[g.r.IntN(5)]
		}
		lrs, ok := bySvc[s]
		if !ok {
			lrs = g.resource(ld, s)
			bySvc[s] = lrs
		}
		lr := lrs.AppendEmpty()
		ts := g.base.Add(g.from + time.Duration(g.r.Int64N(int64(30*time.Second))))
		if g.r.IntN(3) == 0 {
			ts = ts.Truncate(time.Millisecond) // coarse clocks share timestamps
		}
		g.ts = append(g.ts, ts)
		lr.SetTimestamp(pcommon.NewTimestampFromTime(ts))
		sv := metaSeverities[g.r.IntN(len(metaSeverities))]
		if sev >= 0 {
			sv = metaSeverities[sev]
		}
		lr.SetSeverityNumber(sv.num)
		lr.SetSeverityText(sv.text)
		g.seq++
		lr.Body().SetStr(fmt.Sprintf("line %d", g.seq))
		if g.copies > 0 && g.r.IntN(g.copies) == 0 {
			lr.CopyTo(lrs.AppendEmpty())
		}
	}
	g.sent = append(g.sent, ld)
	return ld
}

// rebatch copies about one record in four of service svc of the earlier
// requests into a new request, as a client that re-sends part of a batch
// does.
func (g *metaLogs) rebatch(svc string) plog.Logs {
	ld := plog.NewLogs()
	for _, old := range g.sent {
		g.copyService(ld, old, svc)
	}
	return ld
}

func (g *metaLogs) copyService(ld, old plog.Logs, want string) {
	rls := old.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		svc, _ := rls.At(i).Resource().Attributes().Get("service.name")
		if svc.Str() != want {
			continue
		}
		var lrs plog.LogRecordSlice
		made := false
		src := rls.At(i).ScopeLogs().At(0).LogRecords()
		for j := 0; j < src.Len(); j++ {
			if g.r.IntN(4) != 0 {
				continue
			}
			if !made {
				lrs, made = g.resource(ld, svc.Str()), true
			}
			src.At(j).CopyTo(lrs.AppendEmpty())
		}
	}
}

// consume stores each request and waits until all are indexed, so that
// the next wave lands in other groups.
func consumeWave(t *testing.T, s *Store, reqs ...plog.Logs) {
	t.Helper()
	for _, ld := range reqs {
		if ld.LogRecordCount() == 0 {
			continue
		}
		if err := s.ConsumeLogs(context.Background(), ld); err != nil {
			t.Fatal(err)
		}
	}
	waitIndexed(t, s)
}

// checkDupMarks fails unless every log group holding a record whose digest
// another stored record shares is marked dup (the invariant that makes
// counting from metadata exact), and returns how many groups are marked
// and how many are not.
func checkDupMarks(t *testing.T, s *Store) (marked, clean int) {
	t.Helper()
	ctx := context.Background()
	si := s.logs
	si.gmu.RLock()
	groups := make(map[int64]*groupMeta, len(si.groups))
	for id, g := range si.groups {
		groups[id] = g
	}
	si.gmu.RUnlock()
	holders := map[uint64][]int64{}
	for id := range groups {
		h, err := s.blockHeader(ctx, si.groupTable, si.magic, id)
		if errors.Is(err, sql.ErrNoRows) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		for i := range h.offsets {
			d := logDigest(h, i)
			holders[d] = append(holders[d], id)
		}
	}
	for d, ids := range holders {
		if len(ids) < 2 {
			continue
		}
		for _, id := range ids {
			if g := groups[id]; !g.dup.Load() {
				t.Errorf("group %d (%s/%s, %d records) holds one of %d copies of record %x but is not marked dup", id, g.service, g.severity, g.count, len(ids), d)
			}
		}
	}
	for _, g := range groups {
		if g.dup.Load() {
			marked++
		} else {
			clean++
		}
	}
	return marked, clean
}

var (
	metaQueries = []string{
		"", "service:api", "service:web", "severity:error", "severity:warn", "severity:warning", "level:ERR",
		"service:api AND severity:warn", "service:db OR severity:error", "NOT severity:info",
		"NOT service:web AND severity:error", "service:api AND NOT (severity:info OR severity:debug)",
	}
	metaGroupBys = [][]string{nil, {"service"}, {"severity"}, {"service", "severity"}, {"level", "service.name"}}
)

// compareCounts counts n random windows, queries and groupings from group
// metadata and by reading every record, and fails unless they agree.
func compareCounts(t *testing.T, s *Store, g *metaLogs, n int, stats *countStats) {
	t.Helper()
	ctx := context.Background()
	r := g.r
	at := func() time.Time {
		if r.IntN(3) == 0 {
			return g.ts[r.IntN(len(g.ts))] // on a record: both ends are inclusive
		}
		return g.base.Add(time.Duration(r.Int64N(int64(g.from+50*time.Second))) - 10*time.Second)
	}
	for range n {
		start, end := at(), at()
		if end.Before(start) {
			start, end = end, start
		}
		switch r.IntN(8) {
		case 0:
			start = time.Time{}
		case 1:
			end = time.Time{}
		case 2:
			end = start.Add(time.Duration(r.Int64N(int64(20 * time.Second)))) // a histogram bar
		}
		q := CountQuery{Query: metaQueries[r.IntN(len(metaQueries))], Start: start, End: end, GroupBy: metaGroupBys[r.IntN(len(metaGroupBys))]}
		fast, err := s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups, meta: true, stats: stats})
		if err != nil {
			t.Fatalf("countLogs(%+v) from metadata: %v", q, err)
		}
		slow, err := s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups})
		if err != nil {
			t.Fatalf("countLogs(%+v) by reading: %v", q, err)
		}
		got, want := counts(fast.Groups), counts(slow.Groups)
		if !slices.Equal(got, want) || fast.Exact != slow.Exact {
			rel := func(at time.Time) string {
				if at.IsZero() {
					return "open"
				}
				return "base+" + at.Sub(g.base).String()
			}
			t.Fatalf("countLogs(%q, %s..%s, by %q) from metadata = %q exact %v, by reading %q exact %v",
				q.Query, rel(q.Start), rel(q.End), q.GroupBy, got, fast.Exact, want, slow.Exact)
		}
		for i := range fast.Groups {
			if (fast.Groups[i].Values == nil) != (slow.Groups[i].Values == nil) {
				t.Fatalf("countLogs(%+v): values %#v from metadata, %#v by reading", q, fast.Groups[i].Values, slow.Groups[i].Values)
			}
		}
	}
}

// TestCountLogsFromMetadata checks that a count made from group metadata
// is the count made by reading every record, over random records with
// copies (in one request, in a later one, and re-batched), records hidden
// by retention, groups split at 512 records, across a restart, with copies
// arriving after it, and with groups stored by an older lookout.
func TestCountLogsFromMetadata(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	base := time.Now().UTC().Truncate(24 * time.Hour).Add(-12 * time.Hour)
	// Records are stored while the clock is at base (all within the
	// retention, or they would be refused) and counted once it has moved
	// on, when retention hides the records of the first 20 s.
	var now atomic.Int64
	writing, counting := base, base.Add(time.Hour+20*time.Second)
	now.Store(counting.UnixNano())
	consumeWave := func(t *testing.T, s *Store, reqs ...plog.Logs) {
		t.Helper()
		now.Store(writing.UnixNano())
		defer now.Store(counting.UnixNano())
		consumeWave(t, s, reqs...)
	}
	open := func() *Store {
		t.Helper()
		s, err := Open(ctx, Config{Dir: dir, LogsRetention: time.Hour, TracesRetention: time.Hour}, Options{Now: func() time.Time { return time.Unix(0, now.Load()) }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}
	g := &metaLogs{r: rand.New(rand.NewPCG(1, 2)), base: base}
	stats := &countStats{}
	rounds := 120
	if testing.Short() {
		rounds = 60
	}
	check := func(phase string, s *Store) {
		t.Helper()
		marked, clean := checkDupMarks(t, s)
		compareCounts(t, s, g, rounds, stats)
		t.Logf("%s: %d groups marked dup, %d not; so far %+v", phase, marked, clean, *stats)
		if clean == 0 || marked == 0 {
			t.Fatalf("%s: %d groups marked dup, %d not: want some of each", phase, marked, clean)
		}
	}

	// Copies of records of db and, in one request, web; the groups of
	// the other services stay clean.
	s := open()
	consumeWave(t, s, g.request(300, "", -1), g.request(200, "db", -1))
	g.copies = 50
	consumeWave(t, s, g.request(300, "web", -1), g.sent[1])
	g.copies = 0
	// More than a group holds: one key fills several groups in one step.
	consumeWave(t, s, g.request(1300, "api", 0), g.rebatch("db"))
	g.from = 10 * time.Second
	consumeWave(t, s, g.rebatch("db"), g.request(200, "", -1), g.request(100, "db", -1))
	check("one run", s)
	if stats.meta == 0 || stats.times == 0 || stats.read == 0 {
		t.Fatalf("groups counted %+v: want some from metadata, some by timestamps, some read", *stats)
	}
	s.Close()

	s = open()
	check("reopened", s)
	// Copies of records stored before the restart, whose digests the
	// indexer no longer holds, and records of the same time span.
	consumeWave(t, s, g.sent[1], g.rebatch("db"), g.request(50, "api", 4))
	g.from = 40 * time.Second
	consumeWave(t, s, g.rebatch("db"), g.request(300, "", -1))
	check("copies after a restart", s)
	s.Close()

	// Groups stored by a lookout that did not record their service and
	// severity.
	db, err := sql.Open("sqlite", sqlitex.DSN(filepath.Join(dir, "blocks.db")))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE log_groups SET service = NULL, severity = NULL, dup = 1 WHERE id % 3 = 0"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s = open()
	consumeWave(t, s, g.rebatch("db"), g.request(100, "", -1))
	g.from = 70 * time.Second
	consumeWave(t, s, g.request(300, "", -1))
	check("older groups", s)
	s.logs.gmu.RLock()
	unkeyed := 0
	for _, g := range s.logs.groups {
		if !g.keyed {
			unkeyed++
		}
	}
	s.logs.gmu.RUnlock()
	if unkeyed == 0 {
		t.Fatal("no group without service and severity after the update")
	}
}

// TestCountLogsRedelivered checks that re-delivering a request marks the
// group of the first copies, so that it is no longer counted from its
// metadata, and the count stays the same.
func TestCountLogsRedelivered(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	g := &metaLogs{r: rand.New(rand.NewPCG(3, 4)), base: time.Now().Add(-time.Hour).UTC()}
	consumeWave(t, s, g.request(100, "api", 0))
	q := CountQuery{GroupBy: []string{"service"}}
	before, err := s.CountLogs(ctx, q)
	if err != nil {
		t.Fatal(err)
	}
	stats := &countStats{}
	res, err := s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups, meta: true, stats: stats})
	if err != nil || stats.meta == 0 {
		t.Fatalf("countLogs(%+v) = %v, %+v: want groups counted from metadata", q, err, *stats)
	}
	if got, want := counts(res.Groups), counts(before.Groups); !slices.Equal(got, want) {
		t.Fatalf("countLogs(%+v) = %q, want %q", q, got, want)
	}
	// Re-delivered: the first copies' group is now marked, and the count
	// is unchanged.
	consumeWave(t, s, g.sent[0])
	stats = &countStats{}
	after, err := s.countLogs(ctx, q, countLimits{records: countBudget, groups: maxTrackedGroups, meta: true, stats: stats})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := counts(after.Groups), counts(before.Groups); !slices.Equal(got, want) || stats.meta != 0 {
		t.Fatalf("after re-delivery, countLogs(%+v) = %q with %+v, want %q and no group from metadata", q, got, *stats, want)
	}
}

// TestDupMarksAfterRestart checks that records stamped within the span of
// a group stored before a restart mark it only if they are copies of its
// records.
func TestDupMarksAfterRestart(t *testing.T) {
	dir := t.TempDir()
	g := &metaLogs{r: rand.New(rand.NewPCG(5, 6)), base: time.Now().Add(-time.Hour).UTC()}
	s := openTestStore(t, dir)
	consumeWave(t, s, g.request(100, "api", 0))
	// Past the checkpoint, so that the group is not indexed again.
	deadline := time.Now().Add(30 * time.Second)
	for {
		last, _, err := s.db.lastID(context.Background(), tableLogs, 0)
		if err != nil {
			t.Fatal(err)
		}
		if last == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("request block %d still not past the checkpoint", last)
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Close()

	s = openTestStore(t, dir)
	defer s.Close()
	dups := func() (marked, clean int) {
		t.Helper()
		s.logs.gmu.RLock()
		defer s.logs.gmu.RUnlock()
		for _, g := range s.logs.groups {
			if g.dup.Load() {
				marked++
			} else {
				clean++
			}
		}
		return marked, clean
	}
	consumeWave(t, s, g.request(100, "api", 0)) // same span, no copies
	if marked, clean := dups(); marked != 0 || clean != 2 {
		t.Fatalf("after records of the same span: %d groups marked, %d not; want 0 and 2", marked, clean)
	}
	consumeWave(t, s, g.sent[0]) // copies of the records stored before the restart
	if marked, clean := dups(); marked != 2 || clean != 1 {
		t.Fatalf("after copies: %d groups marked, %d not; want 2 and 1", marked, clean)
	}
	checkDupMarks(t, s)
}

func TestDupTracker(t *testing.T) {
	api := dupKey{"api", "info"}
	cold := &groupMeta{id: 1, minTs: 10, maxTs: 20, service: "api", severity: "info", keyed: true}
	other := &groupMeta{id: 2, minTs: 10, maxTs: 20, service: "web", severity: "info", keyed: true}
	old := &groupMeta{id: 3, minTs: 100, maxTs: 200}
	old.dup.Store(true)
	stored := map[int64]*groupMeta{1: cold, 2: other, 3: old}
	held := map[int64][]uint64{1: {1015, 1016}, 2: {1017}, 3: {1150}}
	read := func(g *groupMeta) ([]uint64, error) { return held[g.id], nil }
	tr := newDupTracker([]*groupMeta{cold, other, old})

	// One step: a copy within it, a record late for cold but not a copy
	// of one of its records, one that is, and one late for the group
	// without a service and severity that is not a copy either.
	s := tr.step()
	a, b, c := newGroup(0, blockMagicLogs), newGroup(0, blockMagicLogs), newGroup(0, blockMagicLogs)
	s.add(a, api, 5, 1)
	s.add(b, api, 6, 1)       // copy of a's record
	s.add(a, api, 15, 1014)   // late, not held by cold
	s.add(c, api, 16, 1016)   // late, a copy of cold's
	s.add(a, api, 150, 99999) // late for old, not held
	if !a.dup || !b.dup || c.dup {
		t.Fatalf("after add: a.dup %v b.dup %v c.dup %v, want true true false", a.dup, b.dup, c.dup)
	}
	cands := s.coldSpanning(stored)
	slices.SortFunc(cands, func(x, y *groupMeta) int { return int(x.id - y.id) })
	if len(cands) != 2 || cands[0] != cold || cands[1] != old {
		t.Fatalf("coldSpanning = %v, want groups 1 and 3", cands)
	}
	s.resolveLate(cands, read)
	if !c.dup || !slices.Equal(s.markedIDs(), []int64{1}) {
		t.Fatalf("after resolveLate: c.dup %v, marked %v; want true, [1]", c.dup, s.markedIDs())
	}
	ma, mb, mc := &groupMeta{id: 10}, &groupMeta{id: 11}, &groupMeta{id: 12}
	s.commit([]*group{a, b, c}, []*groupMeta{ma, mb, mc})
	if !cold.dup.Load() || !ma.dup.Load() || !mb.dup.Load() || !mc.dup.Load() || other.dup.Load() {
		t.Fatal("commit did not apply the marks")
	}

	// The next step finds a copy of a record of the last one in memory.
	s = tr.step()
	d := newGroup(0, blockMagicLogs)
	s.add(d, api, 30, 1014)
	if !d.dup || !slices.Equal(s.markedIDs(), []int64{}) {
		t.Fatalf("copy of a recent record: d.dup %v, marked %v; want true and none (already marked)", d.dup, s.markedIDs())
	}

	// A group that cannot be read, or past maxLateReads, is taken to hold
	// copies.
	s = tr.step()
	e := newGroup(0, blockMagicLogs)
	s.add(e, dupKey{"web", "info"}, 12, 555)
	s.resolveLate(s.coldSpanning(stored), func(*groupMeta) ([]uint64, error) { return nil, errors.New("gone") })
	if !e.dup || !slices.Equal(s.markedIDs(), []int64{2}) {
		t.Fatalf("unreadable group: e.dup %v, marked %v; want true, [2]", e.dup, s.markedIDs())
	}

	// Groups leave memory oldest first once it holds dupRecent digests;
	// their span turns cold.
	s = tr.step()
	big := newGroup(0, blockMagicLogs)
	for i := range dupRecent {
		s.add(big, dupKey{"db", "info"}, 1000+int64(i), uint64(1<<40+i))
	}
	mbig := &groupMeta{id: 20, minTs: 1000, maxTs: 1000 + dupRecent - 1, service: "db", severity: "info", keyed: true}
	s.commit([]*group{big}, []*groupMeta{mbig})
	s = tr.step()
	f := newGroup(0, blockMagicLogs)
	s.add(f, dupKey{"db", "info"}, 1000+1000, 1<<40+1000)
	s.add(f, dupKey{"db", "info"}, 1<<30, 7777) // one digest too many
	if !f.dup || len(s.late) != 0 {
		t.Fatalf("copy of a record in memory: f.dup %v, %d late; want true, 0", f.dup, len(s.late))
	}
	mf := &groupMeta{id: 21, minTs: 2000, maxTs: 1 << 30, service: "db", severity: "info", keyed: true}
	s.commit([]*group{f}, []*groupMeta{mf})
	if tr.hot(mbig) || !tr.hot(mf) || !tr.cold[dupKey{"db", "info"}].has(1500) {
		t.Fatalf("after eviction: big hot %v, f hot %v, db span %v; want false, true, covering 1500", tr.hot(mbig), tr.hot(mf), tr.cold[dupKey{"db", "info"}])
	}
	s = tr.step()
	h := newGroup(0, blockMagicLogs)
	s.add(h, dupKey{"db", "info"}, 1500, 1<<40+500)
	if h.dup || len(s.late[dupKey{"db", "info"}]) != 1 {
		t.Fatalf("copy of a record that left memory: h.dup %v, late %v; want false and late", h.dup, s.late)
	}
}
