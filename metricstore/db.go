package metricstore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/lookout-dev/lookout/internal/sqlitex"
)

// migrations is the schema, one entry per version (PRAGMA user_version).
var migrations = []string{
	// 1: the label pair dictionary, series, postings, chunks, the WAL of
	// samples not yet in chunks, metadata and exemplars.
	`
	CREATE TABLE label_pairs (
		id    INTEGER PRIMARY KEY,
		name  TEXT NOT NULL,
		value TEXT NOT NULL,
		UNIQUE (name, value)
	);
	CREATE TABLE series (
		id    INTEGER PRIMARY KEY,
		hash  INTEGER NOT NULL,
		pairs BLOB NOT NULL   -- uvarint label pair ids, in label order
	);
	CREATE INDEX series_hash ON series(hash);
	CREATE TABLE postings (
		pair   INTEGER NOT NULL,
		series INTEGER NOT NULL,
		PRIMARY KEY (pair, series)
	) WITHOUT ROWID;
	CREATE TABLE chunks (
		series INTEGER NOT NULL,
		max_t  INTEGER NOT NULL,
		n      INTEGER NOT NULL,  -- store-wide chunk number, so overlapping chunks never collide
		min_t  INTEGER NOT NULL,
		enc    INTEGER NOT NULL,  -- chunkenc.Encoding
		data   BLOB NOT NULL,
		PRIMARY KEY (series, max_t, n)
	) WITHOUT ROWID;
	CREATE TABLE wal (
		seq  INTEGER PRIMARY KEY,
		data BLOB NOT NULL
	);
	CREATE TABLE metadata (
		metric TEXT PRIMARY KEY,
		type   TEXT NOT NULL,
		unit   TEXT NOT NULL,
		help   TEXT NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE exemplars (
		series INTEGER NOT NULL,
		t      INTEGER NOT NULL,
		value  REAL NOT NULL,
		labels BLOB NOT NULL,  -- uvarint-length-prefixed name, value pairs
		PRIMARY KEY (series, t)
	) WITHOUT ROWID;`,
}

func openDB(ctx context.Context, path string) (w, r *sql.DB, health *sqlitex.WriteHealth, err error) {
	if err := sqlitex.PrivateFiles(path); err != nil {
		return nil, nil, nil, err
	}
	// page_size and auto_vacuum only take effect before the first table
	// exists; incremental auto-vacuum lets retention give disk back.
	w, err = sql.Open("sqlite", sqlitex.DSN(path, "page_size(8192)", "auto_vacuum(INCREMENTAL)"))
	if err != nil {
		return nil, nil, nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	if err := sqlitex.Migrate(ctx, w, migrations); err != nil {
		w.Close()
		return nil, nil, nil, fmt.Errorf("migrate %q: %w", path, err)
	}
	if health, err = sqlitex.NewWriteHealth(ctx, w, path); err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	r, err = sql.Open("sqlite", sqlitex.DSN(path, "query_only(ON)"))
	if err != nil {
		w.Close()
		return nil, nil, nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return w, r, health, nil
}

// writeReq is one appender's commit: a compressed WAL row, its samples to
// apply to the head once durable, and its side tables.
type writeReq struct {
	wal       []byte
	batch     *batch
	exemplars []exemplarRow
	metadata  []metadataRow
	err       chan error
}

type exemplarRow struct {
	series uint64
	t      int64
	value  float64
	labels []byte
}

type metadataRow struct {
	metric, typ, unit, help string
}

// runWriter is the single writer: it group-commits queued requests, applies
// their samples to the head, runs checkpoints and retention, and stops when
// stop is closed, after committing whatever is queued and a last checkpoint.
func (s *Store) runWriter(stop <-chan struct{}) {
	defer close(s.writerDone)
	cp := time.NewTicker(s.cfg.CheckpointInterval)
	defer cp.Stop()
	ret := time.NewTicker(s.cfg.RetentionInterval)
	defer ret.Stop()
	for {
		var first *writeReq
		select {
		case first = <-s.reqs:
		case <-cp.C:
			s.checkpointLogged()
			continue
		case <-ret.C:
			if err := s.applyRetention(context.Background()); err != nil {
				s.log.Error("metric_retention", "err", err)
			}
			continue
		case done := <-s.retainNow:
			done <- s.applyRetention(context.Background())
			continue
		case req := <-s.checkpointNow:
			err := s.checkpoint(context.Background())
			if err == nil && req.evictAll {
				s.evict(time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC))
			}
			req.done <- err
			continue
		case <-stop:
			s.drain()
			s.checkpointLogged()
			return
		}
		group := []*writeReq{first}
		samples := first.batch.len()
	collect:
		for len(group) < 256 && samples < 1<<20 {
			select {
			case r := <-s.reqs:
				group = append(group, r)
				samples += r.batch.len()
			default:
				break collect
			}
		}
		s.commitGroup(group)
		if s.walRows >= s.cfg.CheckpointWALRows {
			s.checkpointLogged()
		}
	}
}

func (s *Store) drain() {
	for {
		select {
		case r := <-s.reqs:
			s.commitGroup([]*writeReq{r})
		default:
			return
		}
	}
}

func (s *Store) commitGroup(group []*writeReq) {
	start := time.Now()
	err := s.commit(group)
	s.health.Observe(err)
	s.m.commitSeconds.UpdateDuration(start)
	if err == nil {
		for _, r := range group {
			s.head.apply(r.batch, s.now())
		}
	}
	for _, r := range group {
		r.err <- err
	}
}

// commit writes the group's new label pairs and series, WAL rows, metadata
// and exemplars in one transaction.
func (s *Store) commit(group []*writeReq) error {
	ctx := context.Background()
	pending := s.head.unpersisted()
	rows := 0
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := s.persistSeries(ctx, tx, pending); err != nil {
			return err
		}
		ins, err := tx.PrepareContext(ctx, "INSERT INTO wal(data) VALUES (?)")
		if err != nil {
			return err
		}
		for _, r := range group {
			if len(r.wal) > 0 {
				if _, err := ins.ExecContext(ctx, r.wal); err != nil {
					return fmt.Errorf("insert wal: %w", err)
				}
				rows++
			}
			for _, m := range r.metadata {
				if _, err := tx.ExecContext(ctx, `INSERT INTO metadata(metric, type, unit, help) VALUES (?, ?, ?, ?)
					ON CONFLICT(metric) DO UPDATE SET type = excluded.type, unit = excluded.unit, help = excluded.help`,
					m.metric, m.typ, m.unit, m.help); err != nil {
					return fmt.Errorf("upsert metadata: %w", err)
				}
			}
			for _, e := range r.exemplars {
				if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO exemplars(series, t, value, labels) VALUES (?, ?, ?, ?)",
					int64(e.series), e.t, e.value, e.labels); err != nil {
					return fmt.Errorf("insert exemplar: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	s.head.persisted(pending)
	s.walRows += rows
	return nil
}

// persistSeries writes series that are in the head but not (or no longer)
// on disk, with their label pairs and postings. It is idempotent, so a
// series revived after retention deleted its row is written again.
func (s *Store) persistSeries(ctx context.Context, tx *sql.Tx, pending []*memSeries) error {
	if len(pending) == 0 {
		return nil
	}
	pair, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO label_pairs(id, name, value) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	ser, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO series(id, hash, pairs) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	post, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO postings(pair, series) VALUES (?, ?)")
	if err != nil {
		return err
	}
	for _, ms := range pending {
		for _, id := range ms.pairs {
			l := s.dict.pair(id)
			if _, err := pair.ExecContext(ctx, int64(id), l.Name, l.Value); err != nil {
				return fmt.Errorf("insert label pair: %w", err)
			}
			if _, err := post.ExecContext(ctx, int64(id), int64(ms.id)); err != nil {
				return fmt.Errorf("insert posting: %w", err)
			}
		}
		if _, err := ser.ExecContext(ctx, int64(ms.id), int64(ms.hash), encodePairs(ms.pairs)); err != nil {
			return fmt.Errorf("insert series: %w", err)
		}
	}
	return nil
}

// inTx runs f in a transaction on the writer connection and commits it, or
// rolls it back when f fails.
func (s *Store) inTx(ctx context.Context, f func(*sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := f(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
