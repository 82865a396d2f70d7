// Package diskguard keeps lookout off a full file system. It watches the
// free space of the file system holding the data directory and refuses
// ingest, retryably, before that space falls under a floor, so that SQLite
// and bleve are never the ones to find the disk full: a write they cannot
// finish is an error in the middle of a commit or a merge, whereas a
// refused request is one the sender keeps and sends again.
//
// It sits beside ingest in the data path: ingest asks it (through an
// interface ingest declares) before a request is decoded, and /readyz asks
// it why ingest is refused. cmd/lookout wires it in.
package diskguard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Auto as Config.MinFree asks for the default floor, DefaultMinFree of the
// file system's size.
const Auto = -1

// Config is what a user sets.
type Config struct {
	// Dir is the data directory; its file system is the one watched.
	Dir string
	// MinFree is the free space, in bytes, that ingest never eats into.
	// Auto means DefaultMinFree; 0 turns the guard off.
	MinFree int64
	// Interval is how often free space is read; 0 means a second.
	Interval time.Duration
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.Dir == "" {
		return errors.New("disk guard: no directory")
	}
	if c.MinFree < Auto {
		return fmt.Errorf("disk guard: min free %d is negative", c.MinFree)
	}
	if c.Interval < 0 {
		return fmt.Errorf("disk guard: interval %s is negative", c.Interval)
	}
	return nil
}

// Usage is what a file system holds, in bytes: its Size and what an
// unprivileged process can still write (Avail, not Free: root's reserve is
// not lookout's).
type Usage struct {
	Size, Avail int64
}

// Options is what code sets. Statfs nil reads the operating system's; tests
// inject their own.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	Statfs  func(dir string) (Usage, error)
}

// DefaultMinFree is the floor for a file system of size bytes: 1 GiB, or 5%
// of a smaller file system, whichever is smaller. Writes go on after ingest
// stops: bleve merges segments (writing the merged one before deleting its
// parts), SQLite checkpoints its WAL and the indexer works through what was
// already acknowledged, rules and self-metrics keep appending; 1 GiB covers
// that with room for an operator's own work. On a small volume a fixed GiB
// would reserve most of it (a quarter of 4 GiB), so 5% there.
func DefaultMinFree(size int64) int64 {
	return min(1<<30, size/20)
}

// writeAmplification is how many bytes of disk a request's decoded byte
// may take before it is compacted: logstore appends the request to its
// write-ahead log and later writes blocks and index, the metric store's
// WAL and SQLite's WAL each copy pages once more before a checkpoint. All
// of that together stays under twice the decoded request (stored data is
// a fraction of OTLP's size); the estimate only needs to bound the space
// that requests admitted between two reads of free space can take.
const writeAmplification = 2

// Guard answers whether ingest may write. Its zero floor (a Config with
// MinFree 0, or a platform without statfs) lets everything through.
type Guard struct {
	dir      string
	interval time.Duration
	log      *slog.Logger
	statfs   func(string) (Usage, error)
	minFree  int64

	// avail is the last free space read; pending is what requests
	// admitted since then may write.
	avail   atomic.Int64
	pending atomic.Int64
	low     atomic.Bool
	refused *metrics.Counter

	mu      sync.Mutex
	lastErr error // the last statfs error, logged once
}

// Open reads the file system once, so that the first request is judged on
// real figures, and sets the floor.
func Open(ctx context.Context, cfg Config, opts Options) (*Guard, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Statfs == nil {
		opts.Statfs = statfs
	}
	if cfg.Interval == 0 {
		cfg.Interval = time.Second
	}
	g := &Guard{dir: cfg.Dir, interval: cfg.Interval, log: opts.Logger, statfs: opts.Statfs, minFree: cfg.MinFree}
	u, err := g.statfs(cfg.Dir)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		g.log.Warn("disk_guard_unsupported", "err", err)
		g.minFree = 0
	case err != nil:
		return nil, fmt.Errorf("read free space of %q: %w", cfg.Dir, err)
	}
	if g.minFree == Auto {
		g.minFree = DefaultMinFree(u.Size)
	}
	g.avail.Store(u.Avail)
	g.low.Store(g.minFree > 0 && u.Avail < g.minFree)
	opts.Metrics.NewGauge("lookout_disk_min_free_bytes", func() float64 { return float64(g.minFree) })
	opts.Metrics.NewGauge("lookout_disk_free_bytes", func() float64 { return float64(g.avail.Load()) })
	opts.Metrics.NewGauge("lookout_disk_low", func() float64 {
		if g.low.Load() {
			return 1
		}
		return 0
	})
	g.refused = opts.Metrics.NewCounter("lookout_disk_low_refused_requests_total")
	g.log.Info("disk_guard", "min_free_bytes", g.minFree, "avail_bytes", u.Avail, "size_bytes", u.Size)
	return g, nil
}

// MinFree is the floor in bytes; 0 when the guard is off.
func (g *Guard) MinFree() int64 { return g.minFree }

// Run reads free space every interval until ctx is done.
func (g *Guard) Run(ctx context.Context) error {
	if g.minFree == 0 {
		return nil
	}
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			g.poll()
		}
	}
}

// poll reads free space, forgets what admitted requests were estimated to
// write (the reading now shows what they did write) and logs a change of
// state once.
func (g *Guard) poll() {
	u, err := g.statfs(g.dir)
	g.mu.Lock()
	if err != nil {
		if g.lastErr == nil {
			g.log.Warn("disk_free_space_unreadable", "err", err)
		}
		g.lastErr = err
		g.mu.Unlock()
		return // judge on the last reading
	}
	g.lastErr = nil
	g.mu.Unlock()
	g.avail.Store(u.Avail)
	g.pending.Store(0)
	low := u.Avail < g.minFree
	if g.low.Swap(low) != low {
		if low {
			g.log.Warn("disk_low_ingest_refused", "avail_bytes", u.Avail, "min_free_bytes", g.minFree)
		} else {
			g.log.Info("disk_space_returned_ingest_resumed", "avail_bytes", u.Avail, "min_free_bytes", g.minFree)
		}
	}
}

// LowError says that ingest is refused because free space is at or near
// the floor. It is retryable: ingest resumes once space returns.
type LowError struct {
	Avail, MinFree int64
}

func (e *LowError) Error() string {
	return fmt.Sprintf("disk nearly full: %s free on the data directory's file system, lookout keeps at least %s free (--min-free-disk); ingest is refused until space returns",
		mib(e.Avail), mib(e.MinFree))
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// Admit reserves the space a request of n decoded bytes may write, or
// returns a *LowError when that would take free space under the floor.
func (g *Guard) Admit(n int64) error {
	if g.minFree == 0 {
		return nil
	}
	need := writeAmplification * n
	pending := g.pending.Add(need)
	avail := g.avail.Load() - pending
	if g.low.Load() || avail < g.minFree {
		g.pending.Add(-need)
		g.refused.Inc()
		return &LowError{Avail: max(0, g.avail.Load()-g.pending.Load()), MinFree: g.minFree}
	}
	return nil
}

// Check answers readiness: an error while ingest is refused for lack of
// space.
func (g *Guard) Check(context.Context) error {
	if g.minFree == 0 || !g.low.Load() {
		return nil
	}
	return &LowError{Avail: g.avail.Load(), MinFree: g.minFree}
}
