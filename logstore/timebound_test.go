package logstore

import (
	"context"
	"testing"
	"time"
)

// TestSearchAtOneInstant: a search whose start and end are one record's
// timestamp finds it, when that record is the first or the last of its
// group (the group's bounds are where float64 rounding of nanoseconds
// would cut it off).
func TestSearchAtOneInstant(t *testing.T) {
	// Nanoseconds that a float64 cannot hold exactly. The store runs on a
	// clock beside them, so that retention never expires them.
	base := time.Date(2026, 11, 21, 10, 0, 0, 123456789, time.UTC).Add(37 * time.Nanosecond)
	s, err := Open(context.Background(), Config{Dir: t.TempDir(), LogsRetention: 7 * 24 * time.Hour, TracesRetention: 7 * 24 * time.Hour}, Options{Now: func() time.Time { return base.Add(time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const n = 20
	if err := s.ConsumeLogs(context.Background(), testLogs(base, n)); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	for _, i := range []int{0, n / 2, n - 1} {
		at := base.Add(time.Duration(i) * time.Millisecond)
		for _, forward := range []bool{false, true} {
			res, err := s.SearchLogs(context.Background(), LogQuery{Start: at, End: at, Limit: 10, Forward: forward})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Records) != 1 || !res.Records[0].Timestamp.Equal(at) {
				t.Errorf("record %d (forward %v): search at %s found %d records, want it alone", i, forward, at.Format(time.RFC3339Nano), len(res.Records))
			}
		}
	}
}

// TestFarTimesBoundQueries queries with bounds in years UnixNano cannot
// hold, as the API's RFC 3339 times allow: they wrapped, so an end in
// the year 3000 found nothing.
func TestFarTimesBoundQueries(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ld, _ := oneLog()
	if err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	far := func(y int) time.Time { return time.Date(y, 1, 1, 0, 0, 0, 0, time.UTC) }
	f := func(q LogQuery, want uint64) {
		t.Helper()
		res, err := s.SearchLogs(ctx, q)
		if err != nil || res.Total != want {
			t.Errorf("SearchLogs(%q, %s..%s) = %v, total %d, want %d", q.Query, q.Start, q.End, err, res.Total, want)
		}
	}
	f(LogQuery{End: far(3000)}, 1)
	f(LogQuery{Start: far(1000)}, 1)
	f(LogQuery{Start: far(1000), End: far(9999)}, 1)
	f(LogQuery{Start: far(3000), End: far(9999)}, 0)
	f(LogQuery{Query: "timestamp:[1000-01-01 TO 3000-01-01]"}, 1)
	f(LogQuery{Query: "timestamp:[3000-01-01 TO *]"}, 0)
}
