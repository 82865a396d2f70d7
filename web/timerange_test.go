package web

import (
	"net/http/httptest"
	"testing"
	"time"
)

func TestParseTimeRange(t *testing.T) {
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	f := func(query, wantStart, wantEnd, wantErr string) {
		t.Helper()
		r := httptest.NewRequest("GET", "/logs?"+query, nil)
		tr, err := parseTimeRange(r, now, "now-1h")
		if wantErr != "" {
			if err == nil || err.Error()[:len(wantErr)] != wantErr {
				t.Errorf("%q: error %v, want one starting %q", query, err, wantErr)
			}
			return
		}
		if err != nil {
			t.Errorf("%q: %v", query, err)
			return
		}
		if got := tr.Start.Format(time.RFC3339); got != wantStart {
			t.Errorf("%q: start %s, want %s", query, got, wantStart)
		}
		if got := tr.End.Format(time.RFC3339); got != wantEnd {
			t.Errorf("%q: end %s, want %s", query, got, wantEnd)
		}
	}
	f("", "2026-11-21T11:00:00Z", "2026-11-21T12:00:00Z", "")
	f("from=now-15m", "2026-11-21T11:45:00Z", "2026-11-21T12:00:00Z", "")
	f("from=now-7d&to=now-1d", "2026-11-14T12:00:00Z", "2026-11-20T12:00:00Z", "")
	f("from=2026-11-21T10:00:00Z&to=2026-11-21T10:30:00Z", "2026-11-21T10:00:00Z", "2026-11-21T10:30:00Z", "")
	f("from=2026-11-21T09:00&to=1763719200", "2026-11-21T09:00:00Z", "2025-11-21T10:00:00Z", "from (2026-11-21T09:00) must be before")
	f("from=1763712000&to=1763719200", "2025-11-21T08:00:00Z", "2025-11-21T10:00:00Z", "")
	f("from=now-2x", "", "", "from:")
	f("from=yesterday", "", "", "from:")
	f("from=now&to=now-1h", "", "", "from (now) must be before")
	f("from=0", "", "", "the range is longer than 31 days")
	f("from=2026-11-21T09:00:30&to=2026-11-21T10:00:45", "2026-11-21T09:00:30Z", "2026-11-21T10:00:45Z", "")
	// The picker's relative choice wins over the absolute fields sent
	// with it.
	f("range=now-15m&from=2026-11-21T09:00&to=2026-11-21T10:00", "2026-11-21T11:45:00Z", "2026-11-21T12:00:00Z", "")
	f("range=&from=2026-11-21T09:00&to=2026-11-21T10:00", "2026-11-21T09:00:00Z", "2026-11-21T10:00:00Z", "")

	tr, _ := parseTimeRange(httptest.NewRequest("GET", "/?from=now-1h", nil), now, "now-1h")
	if got := tr.step(120); got != 30*time.Second {
		t.Errorf("step for 120 points over 1h = %s, want 30s", got)
	}
	if !tr.isRelative() {
		t.Error("now-1h..now is not relative")
	}
}
