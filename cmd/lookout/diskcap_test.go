package main

import (
	"context"
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// TestDiskCapOldestFirst gives the cap three signals holding 10 bytes a
// day on different days and a cap that needs four days dropped: they go
// oldest first across signals, the newest day stays even when the cap is
// still passed, and every drop is counted against its signal.
func TestDiskCapOldestFirst(t *testing.T) {
	now := time.Date(2026, 12, 7, 15, 0, 0, 0, time.UTC)
	day := func(ago int) time.Time { return now.Truncate(24*time.Hour).AddDate(0, 0, -ago) }
	// Days (ago) each signal holds, 10 bytes each.
	held := map[string][]int{"logs": {5, 3, 0}, "spans": {4, 0}, "metrics": {6, 2, 1, 0}}
	var order []string
	size := func() int64 {
		var n int64
		for _, days := range held {
			n += 10 * int64(len(days))
		}
		return n
	}
	var signals []capSignal
	for _, name := range []string{"logs", "spans", "metrics"} {
		signals = append(signals, capSignal{
			name: name,
			oldest: func(context.Context) (time.Time, bool, error) {
				if len(held[name]) == 0 {
					return time.Time{}, false, nil
				}
				// Midday: the cap must round to the day.
				return day(slices.Max(held[name])).Add(12 * time.Hour), true, nil
			},
			evict: func(_ context.Context, before time.Time) error {
				held[name] = slices.DeleteFunc(held[name], func(ago int) bool {
					if day(ago).Before(before) {
						order = append(order, name+"@"+day(ago).Format(time.DateOnly))
						return true
					}
					return false
				})
				return nil
			},
		})
	}
	set := metrics.NewSet()
	c := newDiskCap(t.TempDir(), 50, slog.New(slog.DiscardHandler), set, signals...)
	c.now = func() time.Time { return now }
	c.bySize = func(string) int64 { return size() }

	c.enforce(context.Background()) // 90 bytes, cap 50: four days go
	want := []string{"metrics@2026-12-01", "logs@2026-12-02", "spans@2026-12-03", "logs@2026-12-04"}
	if !slices.Equal(order, want) {
		t.Fatalf("evicted %v, want %v", order, want)
	}
	for sig, n := range map[string]uint64{"logs": 20, "spans": 10, "metrics": 10} {
		if got := set.GetOrCreateCounter(`lookout_disk_evicted_bytes_total{signal="` + sig + `"}`).Get(); got != n {
			t.Errorf("evicted bytes of %s = %d, want %d", sig, got, n)
		}
	}

	// A cap below the newest day: everything older goes, the newest stays.
	c.max = 5
	order = nil
	c.enforce(context.Background())
	want = []string{"metrics@2026-12-05", "metrics@2026-12-06"}
	if !slices.Equal(order, want) {
		t.Fatalf("evicted %v under a cap below the newest day, want %v", order, want)
	}
	for name, days := range held {
		if !slices.Equal(days, []int{0}) {
			t.Errorf("%s holds days %v ago, want only today's", name, days)
		}
	}
}
