package logstore

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/klauspost/compress/zstd"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/internal/private"
)

// Config is what a user sets for the store.
type Config struct {
	// Dir holds the block database and the index partitions.
	Dir string
	// LogsRetention and TracesRetention are how long records and spans are
	// kept, by their own timestamps.
	LogsRetention   time.Duration
	TracesRetention time.Duration
	// MaxIndexLag bounds the records per signal that are stored but not yet
	// indexed; past it, writes are refused with ErrOverloaded so that a
	// client backs off instead of memory growing.
	MaxIndexLag int
	// SearchBudget bounds the records one log search reads, for its page
	// and its count together (default 1,000,000).
	SearchBudget int
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	var errs []error
	if c.Dir == "" {
		errs = append(errs, errors.New("logstore: directory is empty"))
	}
	if c.LogsRetention < time.Hour {
		errs = append(errs, fmt.Errorf("logs retention %s is shorter than 1h", c.LogsRetention))
	}
	if c.TracesRetention < time.Hour {
		errs = append(errs, fmt.Errorf("traces retention %s is shorter than 1h", c.TracesRetention))
	}
	return errors.Join(errs...)
}

// Options is what code sets for the store.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	Now     func() time.Time
}

// ErrOverloaded is returned by the Consume methods when indexing has fallen
// too far behind; the caller should retry later. It reports Overloaded()
// true, which is how ingest recognises it without importing this package.
var ErrOverloaded error = overloadedError{}

type overloadedError struct{}

func (overloadedError) Error() string    { return "log store is busy indexing, retry later" }
func (overloadedError) Overloaded() bool { return true }

// Store keeps log records and spans: durable compressed blocks in SQLite and
// a derived bleve index partitioned by day.
type Store struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
	m   *storeMetrics

	db    *blockDB
	logs  *signalIndex
	spans *signalIndex
	ixLog *indexer
	ixSpn *indexer

	enc *zstd.Encoder
	dec *zstd.Decoder

	// Records committed and indexed per signal, for lag accounting.
	committedRec [2]atomic.Int64
	indexedRec   [2]atomic.Int64
	wake         [2]chan struct{}

	cat   catalogue
	cache blockCache

	// evictBefore is, per signal, a cut-off (unix ns) a disk cap set that
	// is later than retention's; retMu serialises retention runs.
	evictBefore [2]atomic.Int64
	retMu       sync.Mutex

	stop    context.CancelFunc
	stopW   chan struct{}
	wg      sync.WaitGroup
	closed  atomic.Bool
	closeMu sync.Once
}

const (
	sigLogs  = 0
	sigSpans = 1
)

// Open opens (or creates) the store in cfg.Dir, replays blocks that were
// acknowledged but not yet durably indexed, and starts indexing and retention.
func Open(ctx context.Context, cfg Config, opts Options) (*Store, error) {
	if cfg.MaxIndexLag <= 0 {
		cfg.MaxIndexLag = 500_000
	}
	if cfg.SearchBudget <= 0 {
		cfg.SearchBudget = defaultSearchBudget
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
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
	s := &Store{cfg: cfg, log: opts.Logger, now: opts.Now, stopW: make(chan struct{})}
	s.m = newStoreMetrics(opts.Metrics, s)
	if err := s.open(ctx); err != nil {
		s.closeParts()
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	s.stop = cancel
	s.wg.Add(4)
	go func() { defer s.wg.Done(); s.db.runWriter(s.stopW) }()
	go func() { defer s.wg.Done(); s.ixLog.run(runCtx, s.wake[sigLogs]) }()
	go func() { defer s.wg.Done(); s.ixSpn.run(runCtx, s.wake[sigSpans]) }()
	go func() { defer s.wg.Done(); s.runRetention(runCtx) }()
	return s, nil
}

// closeParts closes what open managed to open.
func (s *Store) closeParts() {
	if s.logs != nil {
		s.logs.close()
	}
	if s.spans != nil {
		s.spans.close()
	}
	if s.db != nil {
		s.db.close()
	}
	if s.enc != nil {
		s.enc.Close()
	}
	if s.dec != nil {
		s.dec.Close()
	}
}

// open opens the database and indexes, cleans up what a crash left after
// the checkpoints and loads what the store keeps in memory. On error the
// caller closes whatever was opened.
func (s *Store) open(ctx context.Context) error {
	var err error
	s.enc, err = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(2))
	if err != nil {
		return err
	}
	s.dec, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(2), zstd.WithDecoderMaxMemory(256<<20))
	if err != nil {
		return err
	}
	s.cache.init(256)
	s.db, err = openBlockDB(ctx, filepath.Join(s.cfg.Dir, "blocks.db"))
	if err != nil {
		return fmt.Errorf("open block store: %w", err)
	}
	if s.logs, err = openSignalIndex(filepath.Join(s.cfg.Dir, "index"), sigLogs, s.log); err != nil {
		return err
	}
	if s.spans, err = openSignalIndex(filepath.Join(s.cfg.Dir, "index"), sigSpans, s.log); err != nil {
		return err
	}
	s.ixLog = &indexer{s: s, si: s.logs}
	s.ixSpn = &indexer{s: s, si: s.spans}
	for i, ix := range []*indexer{s.ixLog, s.ixSpn} {
		cp, err := s.db.checkpoint(ctx, ix.si.signal)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		last, backlog, err := s.db.lastID(ctx, ix.si.table, cp)
		if err != nil {
			return fmt.Errorf("read last block: %w", err)
		}
		ix.applied, ix.persisted = cp, cp
		if n, err := ix.si.dropAfter(ctx, cp); err != nil {
			return err
		} else if n > 0 {
			s.log.Info("dropped_unpersisted_groups", "signal", ix.si.signal, "groups", n)
		}
		if _, err := s.db.deleteGroupsAfter(ctx, ix.si.groupTable, cp); err != nil {
			return err
		}
		metas, err := s.db.groups(ctx, ix.si.groupTable)
		if err != nil {
			return fmt.Errorf("load groups: %w", err)
		}
		ix.si.addGroups(metas)
		if ix.si.sig == sigLogs {
			ix.dups = newDupTracker(metas)
		}
		s.committedRec[i].Store(backlog)
		s.wake[i] = make(chan struct{}, 1)
		if last > cp {
			s.log.Info("replay_blocks", "signal", ix.si.signal, "from_block", cp, "to_block", last)
		}
	}
	s.db.onCommit = s.onCommit
	s.db.checkpoints = func() (int64, int64) {
		l, sp := s.ixLog.checkpoint(), s.ixSpn.checkpoint()
		// Bloom filters of the groups up to the checkpoints were written
		// before their documents reached bleve; make them durable first.
		if err := errors.Join(s.logs.syncBlooms(), s.spans.syncBlooms()); err != nil {
			s.log.Error("sync_bloom_filters", "err", err)
			return 0, 0
		}
		return l, sp
	}
	if err := s.cat.load(ctx, s.db, s.now().Add(-max(s.cfg.LogsRetention, s.cfg.TracesRetention)).UnixNano()); err != nil {
		return fmt.Errorf("load services: %w", err)
	}
	s.applyRetentionDays()
	return nil
}

// Close stops accepting writes, commits what is queued, stops indexing and
// closes the index and database. Blocks not yet indexed are indexed on the
// next Open.
func (s *Store) Close() error {
	var err error
	s.closeMu.Do(func() {
		s.closed.Store(true)
		close(s.stopW)
		s.stop()
		s.wg.Wait()
		s.enc.Close()
		s.dec.Close()
		err = errors.Join(s.logs.close(), s.spans.close(), s.db.close())
	})
	return err
}

// Ping reports whether the store is open, its database takes writes and
// its indexes are being written.
func (s *Store) Ping(ctx context.Context) error {
	if s.closed.Load() {
		return errClosed
	}
	errs := []error{s.db.ping(ctx)}
	for _, ix := range []*indexer{s.ixLog, s.ixSpn} {
		if f := ix.failed.Load(); f != nil {
			errs = append(errs, fmt.Errorf("index %s: %w", ix.si.signal, f.err))
		}
	}
	return errors.Join(errs...)
}

func (s *Store) onCommit(last, records [2]int64) {
	for i, id := range last {
		if id <= 0 {
			continue
		}
		s.committedRec[i].Add(records[i])
		select {
		case s.wake[i] <- struct{}{}:
		default:
		}
	}
}

func (s *Store) lag(i int) int64 { return max(0, s.committedRec[i].Load()-s.indexedRec[i].Load()) }

// resyncLag forgets records counted as waiting when the indexer finds no
// block to index (retention deleted them first).
func (s *Store) resyncLag(i int) { s.indexedRec[i].Store(s.committedRec[i].Load()) }

// ConsumeLogs stores ld durably; it returns only once the records are
// committed to disk. Indexing follows shortly after.
//
// Records it could not find again (stamped outside the retention or more
// than a day ahead, or nesting values deeper than blocks keep) are refused:
// the rest is stored and the error is a *PartialError saying how many went
// and why.
func (s *Store) ConsumeLogs(ctx context.Context, ld plog.Logs) error {
	refused := s.acceptLogs(ld, s.now())
	if err := s.consume(ctx, sigLogs, ld.LogRecordCount(), func(now time.Time) ([]encodedBlock, []serviceSeen) {
		return encodeLogs(ld, now), s.cat.seenLogs(ld, now)
	}); err != nil {
		return err
	}
	return refused
}

// ConsumeTraces stores td durably; it returns only once the spans are
// committed to disk.
// Spans it could not find again are refused as ConsumeLogs refuses
// records; so is a span without a start time.
func (s *Store) ConsumeTraces(ctx context.Context, td ptrace.Traces) error {
	refused := s.acceptSpans(td, s.now())
	if err := s.consume(ctx, sigSpans, td.SpanCount(), func(now time.Time) ([]encodedBlock, []serviceSeen) {
		return encodeTraces(td, now), s.cat.seenSpans(td, now)
	}); err != nil {
		return err
	}
	return refused
}

func (s *Store) consume(ctx context.Context, sig, n int, encode func(time.Time) ([]encodedBlock, []serviceSeen)) error {
	if s.closed.Load() {
		return errClosed
	}
	if n == 0 {
		return nil
	}
	if s.lag(sig) > int64(s.cfg.MaxIndexLag) {
		s.m.refused[sig].Inc()
		return ErrOverloaded
	}
	now := s.now()
	blocks, seen := encode(now)
	table := [2]*signalIndex{s.logs, s.spans}[sig].table
	req := &writeReq{services: seen}
	raw := 0
	for _, b := range blocks {
		raw += len(b.data)
		req.blocks = append(req.blocks, storedBlock{
			table: table,
			data:  s.enc.EncodeAll(b.data, nil),
			count: b.count,
			minTs: b.minTs,
			maxTs: b.maxTs,
		})
	}
	start := time.Now()
	if err := s.db.append(ctx, req); err != nil {
		return fmt.Errorf("append blocks: %w", err)
	}
	s.m.commitDuration.UpdateDuration(start)
	s.cat.committed(seen)
	s.m.stored[sig].Add(n)
	s.m.rawBytes[sig].Add(raw)
	for _, b := range req.blocks {
		s.m.blockBytes[sig].Add(len(b.data))
	}
	return nil
}

func (s *Store) decompress(b []byte) ([]byte, error) {
	return s.dec.DecodeAll(b, nil)
}
