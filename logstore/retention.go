package logstore

import (
	"context"
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

// cutoff returns the oldest timestamp (unix ns) still kept for a signal.
func (s *Store) cutoff(sig int) int64 {
	r := s.cfg.LogsRetention
	if sig == sigSpans {
		r = s.cfg.TracesRetention
	}
	return s.now().Add(-r).UnixNano()
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
