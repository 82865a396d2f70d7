package metricstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// checkpointLogged runs a checkpoint and logs a failure; the WAL keeps the
// data until a later one succeeds.
func (s *Store) checkpointLogged() {
	start := time.Now()
	err := s.checkpoint(context.Background())
	// Chunks that cannot be written leave the WAL growing: as unready as
	// a commit that fails.
	s.health.Observe(err)
	if err != nil {
		s.m.checkpointErrors.Inc()
		s.log.Error("metric_checkpoint", "err", err)
		return
	}
	s.m.checkpointSeconds.UpdateDuration(start)
}

// checkpoint writes every chunk changed since the last one (cut chunks
// final, open chunks as they are now, replacing their previous version) and
// deletes the WAL, in one transaction, then evicts series idle for longer
// than Config.IdleSeries. Writer only: nothing appends meanwhile.
func (s *Store) checkpoint(ctx context.Context) error {
	h := s.head
	if len(h.dirty) > 0 || s.walRows > 0 {
		if err := s.writeChunks(ctx); err != nil {
			return err
		}
	}
	s.evict(s.now().Add(-s.cfg.IdleSeries))
	return nil
}

func (s *Store) writeChunks(ctx context.Context) error {
	h := s.head
	chunks := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		del, err := tx.PrepareContext(ctx, "DELETE FROM chunks WHERE series = ? AND max_t = ? AND n = ?")
		if err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, "INSERT OR REPLACE INTO chunks(series, max_t, n, min_t, enc, data) VALUES (?, ?, ?, ?, ?, ?)")
		if err != nil {
			return err
		}
		write := func(ms *memSeries, c *headChunk) error {
			if c == nil || (c.savedOK && c.saved == c.maxT) {
				return nil
			}
			if c.savedOK {
				if _, err := del.ExecContext(ctx, int64(ms.id), c.saved, int64(c.n)); err != nil {
					return fmt.Errorf("delete chunk: %w", err)
				}
			}
			if _, err := ins.ExecContext(ctx, int64(ms.id), c.maxT, int64(c.n), c.minT, int(c.chunk.Encoding()), c.chunk.Bytes()); err != nil {
				return fmt.Errorf("insert chunk: %w", err)
			}
			chunks++
			return nil
		}
		for _, ms := range h.dirty {
			for _, c := range ms.frozen {
				if err := write(ms, c); err != nil {
					return err
				}
			}
			for _, c := range []*headChunk{ms.head, ms.ooo} {
				if err := write(ms, c); err != nil {
					return err
				}
			}
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM wal"); err != nil {
			return fmt.Errorf("truncate wal: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for _, ms := range h.dirty {
		ms.mu.Lock()
		ms.frozen = nil
		for _, c := range []*headChunk{ms.head, ms.ooo} {
			if c != nil {
				c.saved, c.savedOK = c.maxT, true
			}
		}
		ms.mu.Unlock()
		ms.dirty = false
	}
	h.dirty = h.dirty[:0]
	s.walRows = 0
	// Give the pages of the deleted WAL rows back, so the file follows
	// the data instead of the largest burst.
	if _, err := s.w.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
		s.log.Warn("metric_vacuum", "err", err)
	}
	s.m.chunksWritten.Add(chunks)
	return nil
}

// evict drops series that have had no sample since cutoff and whose
// chunks are all on disk, so memory follows the active series.
func (s *Store) evict(cutoff time.Time) {
	h := s.head
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, ms := range h.byID {
		if ms.dirty || ms.lastSeen.After(cutoff) {
			continue
		}
		h.remove(ms)
		ms.evicted = true
	}
}
