package main

import (
	"context"
	"io/fs"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// diskCap holds the data directory under --max-disk: while it is over, the
// oldest day of whichever signal holds the oldest data is dropped, whatever
// the retention says, until it is under or only the newest day is left
// (that one is never touched: it is what users look at). Retention's own
// day-at-a-time drop does the work, with an earlier cut-off.
type diskCap struct {
	dir      string
	max      int64
	interval time.Duration
	log      *slog.Logger
	now      func() time.Time
	signals  []capSignal
	set      *metrics.Set
	// cut is, per signal, the last cut-off asked for: data that straddles
	// it (a chunk across midnight) must not make the cap ask again.
	cut    map[string]time.Time
	stuck  bool // logged that only the newest day is left
	bySize func(dir string) int64
}

// capSignal is one signal's oldest data and how to drop what is older than
// a time.
type capSignal struct {
	name   string
	oldest func(ctx context.Context) (time.Time, bool, error)
	evict  func(ctx context.Context, before time.Time) error
}

func newDiskCap(dir string, max int64, log *slog.Logger, set *metrics.Set, signals ...capSignal) *diskCap {
	c := &diskCap{dir: dir, max: max, interval: 10 * time.Second, log: log, now: time.Now,
		signals: signals, set: set, cut: map[string]time.Time{}, bySize: dirSize}
	for _, s := range signals {
		set.GetOrCreateCounter(`lookout_disk_evicted_bytes_total{signal="` + s.name + `"}`)
	}
	set.NewGauge("lookout_disk_max_bytes", func() float64 { return float64(max) })
	set.NewGauge("lookout_disk_used_bytes", func() float64 { return float64(c.bySize(dir)) })
	return c
}

// Run enforces the cap every interval until ctx is done.
func (c *diskCap) Run(ctx context.Context) {
	t := time.NewTicker(c.interval)
	defer t.Stop()
	for {
		c.enforce(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// enforce drops oldest days until the directory is under the cap. Each
// drop is counted against its signal by what the directory shrank.
func (c *diskCap) enforce(ctx context.Context) {
	today := c.now().UTC().Truncate(24 * time.Hour)
	for ctx.Err() == nil {
		size := c.bySize(c.dir)
		if size <= c.max {
			c.stuck = false
			return
		}
		var pick *capSignal
		var day time.Time
		for i, s := range c.signals {
			t, ok, err := s.oldest(ctx)
			if err != nil {
				c.log.Error("disk_cap_oldest", "signal", s.name, "err", err)
				continue
			}
			if !ok {
				continue
			}
			d := t.UTC().Truncate(24 * time.Hour)
			if cut, ok := c.cut[s.name]; ok && d.Before(cut) {
				d = cut
			}
			if pick == nil || d.Before(day) {
				pick, day = &c.signals[i], d
			}
		}
		if pick == nil || !day.Before(today) {
			if !c.stuck {
				c.log.Warn("disk_cap_only_newest_day_left", "used_bytes", size, "max_disk_bytes", c.max)
				c.stuck = true
			}
			return
		}
		before := day.Add(24 * time.Hour)
		if err := pick.evict(ctx, before); err != nil {
			c.log.Error("disk_cap_evict", "signal", pick.name, "err", err)
			return
		}
		c.cut[pick.name] = before
		freed := max(0, size-c.bySize(c.dir))
		c.set.GetOrCreateCounter(`lookout_disk_evicted_bytes_total{signal="` + pick.name + `"}`).Add(int(freed))
		c.log.Warn("disk_cap_evicted", "signal", pick.name, "before", before.Format(time.DateOnly),
			"freed_bytes", freed, "used_bytes", size, "max_disk_bytes", c.max)
	}
}

// dirSize is what the files under dir take.
func dirSize(dir string) int64 {
	var n int64
	_ = filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // a partition dropped under the walk
		}
		if d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}
