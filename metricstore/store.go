package metricstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/prometheus/prometheus/storage"

	"github.com/lookout-dev/lookout/internal/private"
	"github.com/lookout-dev/lookout/internal/sqlitex"
)

// Config is what a user sets for the metric store.
type Config struct {
	// Dir holds metrics.db.
	Dir string
	// Retention is how long samples are kept.
	Retention time.Duration
	// PromoteResourceAttributes are OTLP resource attributes copied onto
	// every series of their resource as labels (besides target_info).
	PromoteResourceAttributes []string
	// CheckpointInterval is how often chunks are written and the WAL
	// truncated; CheckpointWALRows starts one early when the WAL has that
	// many rows, which bounds replay at start-up.
	CheckpointInterval time.Duration
	CheckpointWALRows  int
	// RetentionInterval is how often expired chunks are deleted.
	RetentionInterval time.Duration
	// IdleSeries is how long a series stays in memory without samples.
	IdleSeries time.Duration
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("metric store directory is empty"))
	}
	if c.Retention < time.Hour {
		errs = append(errs, fmt.Errorf("metric retention %s is under the minimum of 1h", c.Retention))
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.CheckpointInterval <= 0 {
		c.CheckpointInterval = time.Minute
	}
	if c.CheckpointWALRows <= 0 {
		c.CheckpointWALRows = 20000
	}
	if c.RetentionInterval <= 0 {
		c.RetentionInterval = time.Hour
	}
	if c.IdleSeries <= 0 {
		c.IdleSeries = time.Hour
	}
}

// Options is what code sets for the metric store.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	Now     func() time.Time
}

// Store keeps metric samples in SQLite and serves them to PromQL.
type Store struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	m   *storeMetrics

	w, r *sql.DB
	// health is whether commits and checkpoints reach the disk, for Ping.
	health *sqlitex.WriteHealth
	dict   *dict
	head   *head
	meta   *metaCache

	reqs          chan *writeReq
	checkpointNow chan checkpointReq
	// retainNow asks the writer to apply retention now; evictBefore
	// (unix ms) is a cut-off a disk cap set later than retention's.
	retainNow   chan chan error
	evictBefore atomic.Int64
	stop        chan struct{}
	writerDone  chan struct{}
	closeOnce   sync.Once
	// closing guards sends on reqs against Close: a send holds it for
	// reading, so none is left in the channel after the writer stops.
	closing sync.RWMutex
	closed  bool
	walRows int // writer-only

	converters sync.Pool
}

var (
	_ storage.Queryable         = (*Store)(nil)
	_ storage.Appendable        = (*Store)(nil)
	_ storage.AppendableV2      = (*Store)(nil)
	_ storage.ExemplarQueryable = (*Store)(nil)
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("metric store is closed")

// Open opens (or creates) the store in cfg.Dir and replays its WAL.
func Open(ctx context.Context, cfg Config, opts Options) (*Store, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if err := private.MkdirAll(cfg.Dir); err != nil {
		return nil, fmt.Errorf("create %q: %w", cfg.Dir, err)
	}
	path := filepath.Join(cfg.Dir, "metrics.db")
	w, r, health, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	s := &Store{
		cfg:           cfg,
		log:           opts.Logger,
		now:           opts.Now,
		w:             w,
		r:             r,
		health:        health,
		dict:          newDict(),
		reqs:          make(chan *writeReq, 64),
		checkpointNow: make(chan checkpointReq),
		retainNow:     make(chan chan error),
		stop:          make(chan struct{}),
		writerDone:    make(chan struct{}),
	}
	s.head = newHead(r, s.dict)
	s.meta = newMetaCache()
	if err := s.load(ctx); err != nil {
		w.Close()
		r.Close()
		return nil, fmt.Errorf("open metric store %q: %w", path, err)
	}
	s.m = newStoreMetrics(opts.Metrics, s)
	go s.runWriter(s.stop)
	return s, nil
}

// load reads the dictionary and counters and replays the WAL into the head.
func (s *Store) load(ctx context.Context) error {
	start := time.Now()
	if err := s.dict.load(ctx, s.w); err != nil {
		return fmt.Errorf("load label pairs: %w", err)
	}
	var maxSeries, maxChunk sql.NullInt64
	if err := s.w.QueryRowContext(ctx, "SELECT max(id) FROM series").Scan(&maxSeries); err != nil {
		return err
	}
	if err := s.w.QueryRowContext(ctx, "SELECT max(n) FROM chunks").Scan(&maxChunk); err != nil {
		return err
	}
	s.head.nextID = uint64(maxSeries.Int64)
	s.head.chunkN.Store(uint64(maxChunk.Int64))
	if err := s.meta.load(ctx, s.w); err != nil {
		return fmt.Errorf("load metadata: %w", err)
	}
	rows, err := s.w.QueryContext(ctx, "SELECT seq, data FROM wal ORDER BY seq")
	if err != nil {
		return err
	}
	defer rows.Close()
	replayed := 0
	now := s.now()
	for rows.Next() {
		var seq int64
		var data []byte
		if err := rows.Scan(&seq, &data); err != nil {
			return err
		}
		samples, err := decodeWAL(data)
		if err != nil {
			return fmt.Errorf("wal row %d: %w", seq, err)
		}
		b := &batch{samples: make([]sample, 0, len(samples))}
		for _, ws := range samples {
			ms, err := s.head.load(ctx, ws.id)
			if err != nil {
				return fmt.Errorf("wal row %d: %w", seq, err)
			}
			ws.s = ms
			b.samples = append(b.samples, ws.sample)
		}
		s.head.apply(b, now)
		s.walRows++
		replayed += len(samples)
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if replayed > 0 {
		s.log.Info("metric_wal_replayed", "samples", replayed, "rows", s.walRows, "seconds", time.Since(start).Seconds())
	}
	return nil
}

// Close commits what is queued, writes a last checkpoint and closes the
// database.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		s.closing.Lock()
		s.closed = true
		close(s.stop)
		s.closing.Unlock()
		<-s.writerDone
		err = errors.Join(s.w.Close(), s.r.Close())
	})
	return err
}

// Ping reports whether the store is open, its database answers and, after
// a write failed for lack of storage, takes writes again.
func (s *Store) Ping(ctx context.Context) error {
	select {
	case <-s.writerDone:
		return ErrClosed
	default:
	}
	if err := s.r.PingContext(ctx); err != nil {
		return err
	}
	return s.health.Check(ctx)
}

// checkpointReq asks the writer for a checkpoint now.
type checkpointReq struct {
	evictAll bool // evict every series afterwards (tests)
	done     chan error
}

// Checkpoint writes the head's chunks now and truncates the WAL, and
// returns when that is done; benchmarks use it to measure what is on disk.
func (s *Store) Checkpoint(ctx context.Context) error {
	return s.checkpointSync(ctx, false)
}

func (s *Store) checkpointSync(ctx context.Context, evictAll bool) error {
	req := checkpointReq{evictAll: evictAll, done: make(chan error, 1)}
	select {
	case s.checkpointNow <- req:
	case <-s.writerDone:
		return ErrClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	return <-req.done
}

// submit hands a commit to the writer and waits until it is durable.
func (s *Store) submit(ctx context.Context, req *writeReq) error {
	req.err = make(chan error, 1)
	s.closing.RLock()
	if s.closed {
		s.closing.RUnlock()
		return ErrClosed
	}
	select {
	case s.reqs <- req:
	case <-ctx.Done():
		s.closing.RUnlock()
		return ctx.Err()
	}
	s.closing.RUnlock()
	// Once queued the write happens whatever the caller does; wait, so an
	// acknowledgement always means durable.
	return <-req.err
}
