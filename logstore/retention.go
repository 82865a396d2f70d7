package logstore

import (
	"context"
	"fmt"
	"time"
)

// retentionEvery is how often expired partitions and blocks are dropped.
const retentionEvery = 5 * time.Minute

func (s *Store) runRetention(ctx context.Context) {
	t := time.NewTicker(retentionEvery)
	defer t.Stop()
	for {
		s.enforceRetention(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// cutoff returns the oldest timestamp (unix ns) still kept for a signal:
// its retention's, or the later one a disk cap set (EvictBefore).
func (s *Store) cutoff(sig int) int64 {
	r := s.cfg.LogsRetention
	if sig == sigSpans {
		r = s.cfg.TracesRetention
	}
	return max(s.now().Add(-r).UnixNano(), s.evictBefore[sig].Load())
}

func signalNumber(signal string) (int, error) {
	switch signal {
	case "logs":
		return sigLogs, nil
	case "spans":
		return sigSpans, nil
	}
	return 0, fmt.Errorf("logstore: unknown signal %q", signal)
}

// OldestDay returns the start (UTC) of the oldest day that a signal
// ("logs" or "spans") holds data of, by its index partitions; false when
// it holds none.
func (s *Store) OldestDay(signal string) (time.Time, bool, error) {
	sig, err := signalNumber(signal)
	if err != nil {
		return time.Time{}, false, err
	}
	si := [2]*signalIndex{s.logs, s.spans}[sig]
	si.mu.RLock()
	defer si.mu.RUnlock()
	oldest, ok := int64(0), false
	for d := range si.parts {
		if !ok || d < oldest {
			oldest, ok = d, true
		}
	}
	return time.Unix(oldest*86400, 0).UTC(), ok, nil
}

// EvictBefore drops a signal's data older than t now, whatever its
// retention says, and keeps it dropped: a disk cap's way of making room.
// Only whole days go (t is rounded down to a day), as retention drops them.
func (s *Store) EvictBefore(ctx context.Context, signal string, t time.Time) error {
	sig, err := signalNumber(signal)
	if err != nil {
		return err
	}
	cut := dayOf(t.UnixNano()) * nsPerDay
	for {
		old := s.evictBefore[sig].Load()
		if cut <= old || s.evictBefore[sig].CompareAndSwap(old, cut) {
			break
		}
	}
	s.enforceRetention(ctx)
	return nil
}

// applyRetentionDays tells the indexes which days are already expired, so
// replay and late records do not recreate dropped partitions.
func (s *Store) applyRetentionDays() {
	s.logs.setMinDay(dayOf(s.cutoff(sigLogs)))
	s.spans.setMinDay(dayOf(s.cutoff(sigSpans)))
}

// enforceRetention drops whole index partitions whose day is past retention,
// then the blocks whose newest record is. Records of the boundary day stay
// on disk until the whole day expires but are hidden from queries.
func (s *Store) enforceRetention(ctx context.Context) {
	// The retention loop and a disk cap's EvictBefore take turns.
	s.retMu.Lock()
	defer s.retMu.Unlock()
	s.applyRetentionDays()
	for sig, si := range [2]*signalIndex{s.logs, s.spans} {
		cut := s.cutoff(sig)
		n, err := si.dropBefore(dayOf(cut))
		if err != nil {
			s.log.Error("drop_partitions", "signal", si.signal, "err", err)
		} else if n > 0 {
			s.log.Info("dropped_partitions", "signal", si.signal, "partitions", n)
		}
		si.forgetGroups(func(g *groupMeta) bool { return g.maxTs < cut })
		blocks, err := s.db.deleteBefore(ctx, si.signal, cut, si.table, si.groupTable)
		if err != nil && ctx.Err() == nil {
			s.log.Error("delete_expired_blocks", "signal", si.signal, "err", err)
		} else if blocks > 0 {
			s.log.Info("deleted_expired_blocks", "signal", si.signal, "blocks", blocks)
			s.cache.dropTable(si.groupTable)
		}
	}
	s.cat.expire(min(s.cutoff(sigLogs), s.cutoff(sigSpans)))
}
