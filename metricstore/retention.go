package metricstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// applyRetention deletes chunks and exemplars that ended before the
// retention window, then series left with no chunk that the head does not
// hold, their postings and unused label pairs. It works through series in
// batches, one transaction each, so ingest waits for one batch at a time.
// Writer only.
func (s *Store) applyRetention(ctx context.Context) error {
	cutoff := max(s.now().Add(-s.cfg.Retention).UnixMilli(), s.evictBefore.Load())
	var maxID int64
	if err := s.w.QueryRowContext(ctx, "SELECT coalesce(max(id), 0) FROM series").Scan(&maxID); err != nil {
		return fmt.Errorf("retention: %w", err)
	}
	deleted := 0
	for lo := int64(1); lo <= maxID; lo += 1000 {
		n, err := s.retainBatch(ctx, lo, lo+999, cutoff)
		if err != nil {
			return fmt.Errorf("retention: %w", err)
		}
		deleted += n
	}
	if deleted > 0 {
		if _, err := s.w.ExecContext(ctx, "DELETE FROM label_pairs WHERE NOT EXISTS (SELECT 1 FROM postings WHERE pair = label_pairs.id)"); err != nil {
			return fmt.Errorf("retention: delete label pairs: %w", err)
		}
	}
	if _, err := s.w.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
		return fmt.Errorf("retention: vacuum: %w", err)
	}
	s.m.retentionRuns.Inc()
	return nil
}

// retainBatch applies retention to series lo..hi and returns how many
// series it deleted.
func (s *Store) retainBatch(ctx context.Context, lo, hi, cutoff int64) (int, error) {
	deleted := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		ids, err := scanColumn[int64](ctx, tx, "SELECT id FROM series WHERE id BETWEEN ? AND ?", lo, hi)
		if err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, "DELETE FROM chunks WHERE series = ? AND max_t < ?", id, cutoff); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM exemplars WHERE series = ? AND t < ?", id, cutoff); err != nil {
				return err
			}
			if s.head.byRef(uint64(id)) != nil {
				continue
			}
			var left int
			if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM (SELECT 1 FROM chunks WHERE series = ? LIMIT 1)", id).Scan(&left); err != nil {
				return err
			}
			if left > 0 {
				continue
			}
			var raw []byte
			if err := tx.QueryRowContext(ctx, "SELECT pairs FROM series WHERE id = ?", id).Scan(&raw); err != nil {
				return err
			}
			pairs, err := decodePairs(raw)
			if err != nil {
				return err
			}
			for _, p := range pairs {
				if _, err := tx.ExecContext(ctx, "DELETE FROM postings WHERE pair = ? AND series = ?", int64(p), id); err != nil {
					return err
				}
			}
			if _, err := tx.ExecContext(ctx, "DELETE FROM series WHERE id = ?", id); err != nil {
				return err
			}
			deleted++
		}
		return nil
	})
	return deleted, err
}

// OldestTime returns the start of the oldest chunk on disk; false when
// there is none. It scans the chunks' time bounds: for a disk cap's loop,
// not a hot path.
func (s *Store) OldestTime(ctx context.Context) (time.Time, bool, error) {
	var t sql.NullInt64
	if err := s.r.QueryRowContext(ctx, "SELECT min(min_t) FROM chunks").Scan(&t); err != nil {
		return time.Time{}, false, fmt.Errorf("oldest chunk: %w", err)
	}
	if !t.Valid {
		return time.Time{}, false, nil
	}
	return time.UnixMilli(t.Int64).UTC(), true, nil
}

// EvictBefore deletes the chunks that ended before t now, whatever the
// retention says, and keeps them deleted: a disk cap's way of making room.
func (s *Store) EvictBefore(ctx context.Context, t time.Time) error {
	cut := t.UnixMilli()
	for {
		old := s.evictBefore.Load()
		if cut <= old || s.evictBefore.CompareAndSwap(old, cut) {
			break
		}
	}
	done := make(chan error, 1)
	select {
	case s.retainNow <- done:
	case <-s.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-done
}
