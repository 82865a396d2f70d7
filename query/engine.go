package query

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
)

// Defaults for Config's bounds.
const (
	DefaultMaxSamples    = 50_000_000
	DefaultMaxSeries     = 100_000
	DefaultMaxSteps      = 1_000_000
	DefaultMaxQueryBytes = 64 << 10
	DefaultMaxQueryNodes = 2000
	DefaultTimeout       = 30 * time.Second
	DefaultLookbackDelta = 5 * time.Minute
)

// Config is what a user sets: the bounds of one PromQL query.
type Config struct {
	// Timeout bounds one query, its wait for a slot included (default 30s).
	Timeout time.Duration
	// MaxSamples bounds the samples one query holds in memory at once
	// (default 50,000,000), as Prometheus' --query.max-samples.
	MaxSamples int
	// MaxSeries bounds the series one query selects (default 100,000).
	MaxSeries int
	// MaxSteps bounds the evaluation steps of one query: its own steps and
	// those of every subquery (default 1,000,000).
	MaxSteps int
	// MaxQueryBytes bounds the length of a query's text (default 64 KiB).
	MaxQueryBytes int
	// MaxQueryNodes bounds the operators and parentheses of a query's text
	// (default 2000): Prometheus' parser takes time quadratic in the depth
	// of what it parses, 6.5 s for 60,000 nested unary minuses.
	MaxQueryNodes int
	// MaxConcurrent bounds the queries evaluated at once (default twice
	// the cores); more wait within their timeout.
	MaxConcurrent int
	// LookbackDelta is how far back an instant selector looks for a
	// sample (default 5m).
	LookbackDelta time.Duration
	// SubqueryStep is the step of a subquery written without one
	// ([30m:]); Prometheus uses its evaluation interval (default 1m).
	SubqueryStep time.Duration
}

// withDefaults fills the zero fields.
func (c Config) withDefaults() Config {
	def := func(v *int, d int) {
		if *v <= 0 {
			*v = d
		}
	}
	def(&c.MaxSamples, DefaultMaxSamples)
	def(&c.MaxSeries, DefaultMaxSeries)
	def(&c.MaxSteps, DefaultMaxSteps)
	def(&c.MaxQueryBytes, DefaultMaxQueryBytes)
	def(&c.MaxQueryNodes, DefaultMaxQueryNodes)
	def(&c.MaxConcurrent, 2*runtime.GOMAXPROCS(0))
	if c.Timeout <= 0 {
		c.Timeout = DefaultTimeout
	}
	if c.LookbackDelta <= 0 {
		c.LookbackDelta = DefaultLookbackDelta
	}
	if c.SubqueryStep <= 0 {
		c.SubqueryStep = time.Minute
	}
	return c
}

// Validate checks the settings; zero values take their defaults.
func (c Config) Validate() error {
	if c.Timeout < 0 || c.MaxSamples < 0 || c.MaxSeries < 0 || c.MaxSteps < 0 || c.MaxQueryBytes < 0 || c.MaxQueryNodes < 0 || c.MaxConcurrent < 0 {
		return errors.New("query: limits must not be negative")
	}
	return nil
}

// Options is what code sets.
type Options struct {
	Logger *slog.Logger
	// Registerer receives the engine's prometheus_engine_* metrics; nil
	// registers none.
	Registerer prometheus.Registerer
	// Parser parses PromQL; nil means Prometheus' parser with experimental
	// functions and duration expressions enabled.
	Parser parser.Parser
}

// Engine is the process' PromQL engine: Prometheus' own, behind the bounds
// of Config. It is a promql.QueryEngine, so the rules manager runs on it
// through rules.EngineQueryFunc as the API does.
type Engine struct {
	cfg    Config
	engine *promql.Engine
	parser parser.Parser
	slots  chan struct{}
}

var _ promql.QueryEngine = (*Engine)(nil)

// NewParser is the PromQL parser lookout uses everywhere: Prometheus' own,
// with experimental functions and duration expressions.
func NewParser() parser.Parser {
	return parser.NewParser(parser.Options{EnableExperimentalFunctions: true, ExperimentalDurationExpr: true})
}

// NewEngine builds the engine. It fails only when its metrics cannot be
// registered (a second engine on one registry).
func NewEngine(cfg Config, opts Options) (*Engine, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Parser == nil {
		opts.Parser = NewParser()
	}
	eo := promql.EngineOpts{
		Logger:        opts.Logger,
		MaxSamples:    cfg.MaxSamples,
		Timeout:       cfg.Timeout,
		LookbackDelta: cfg.LookbackDelta,
		// The engine calls this unguarded for a subquery without a step.
		NoStepSubqueryIntervalFn: func(int64) int64 { return cfg.SubqueryStep.Milliseconds() },
		EnableAtModifier:         true,
		EnableNegativeOffset:     true,
		// Per-step statistics only when a query asks (stats=all).
		EnablePerStepStats: true,
		Parser:             opts.Parser,
	}
	var reg *registerer
	if opts.Registerer != nil {
		reg = &registerer{Registerer: opts.Registerer}
		eo.Reg = reg
	}
	engine := promql.NewEngine(eo)
	if reg != nil && reg.err != nil {
		return nil, fmt.Errorf("query: register PromQL engine metrics: %w", reg.err)
	}
	return &Engine{cfg: cfg, engine: engine, parser: opts.Parser, slots: make(chan struct{}, cfg.MaxConcurrent)}, nil
}

// Timeout is how long one query may take, its wait for a slot included.
func (e *Engine) Timeout() time.Duration { return e.cfg.Timeout }

// Parser is the engine's PromQL parser.
func (e *Engine) Parser() parser.Parser { return e.parser }

// MaxSamples is the engine's sample limit, which a split range query's
// joined answer keeps too.
func (e *Engine) MaxSamples() int { return e.cfg.MaxSamples }

// Queryable wraps a store so that one query through it selects at most
// MaxSeries series and the store's own errors are marked (*StorageError).
func (e *Engine) Queryable(q storage.Queryable) storage.Queryable {
	if lq, ok := q.(limitQueryable); ok {
		return lq
	}
	return limitQueryable{Queryable: q, maxSeries: int64(e.cfg.MaxSeries)}
}

// NewInstantQuery is promql.Engine.NewInstantQuery within the bounds.
func (e *Engine) NewInstantQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, ts time.Time) (promql.Query, error) {
	if err := e.checkText(qs); err != nil {
		return nil, err
	}
	qry, err := e.engine.NewInstantQuery(ctx, e.Queryable(q), opts, qs, ts)
	if err != nil {
		return nil, err
	}
	return e.admit(qry)
}

// NewRangeQuery is promql.Engine.NewRangeQuery within the bounds. It does
// not split: NewSplitRangeQuery does.
func (e *Engine) NewRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	if err := e.checkText(qs); err != nil {
		return nil, err
	}
	qry, err := e.engine.NewRangeQuery(ctx, e.Queryable(q), opts, qs, start, end, step)
	if err != nil {
		return nil, err
	}
	return e.admit(qry)
}

// checkText bounds a query's text before the parser sees it: its length,
// and its operators and parentheses, counted by Prometheus' own lexer (a
// linear pass), which bound the depth of the tree the parser builds.
func (e *Engine) checkText(qs string) error {
	if len(qs) > e.cfg.MaxQueryBytes {
		return &LimitError{msg: fmt.Sprintf("query of %d bytes is longer than the limit of %d bytes; shorten it", len(qs), e.cfg.MaxQueryBytes)}
	}
	lex := parser.Lex(qs)
	var it parser.Item
	for n := 0; ; {
		lex.NextItem(&it)
		if it.Typ == parser.EOF || it.Typ == parser.ERROR {
			return nil // the parser reports a lexing error itself
		}
		if it.Typ.IsOperator() || it.Typ == parser.LEFT_PAREN {
			if n++; n > e.cfg.MaxQueryNodes {
				return &LimitError{msg: fmt.Sprintf("query has more than %d operators and parentheses; simplify it or split it into recording rules", e.cfg.MaxQueryNodes)}
			}
		}
	}
}

// admit checks the steps of a query the engine has parsed and prepared
// (duration expressions resolved, @ parts marked step-invariant), and
// wraps it to run in a slot within the timeout.
func (e *Engine) admit(qry promql.Query) (promql.Query, error) {
	if stmt, ok := qry.Statement().(*parser.EvalStmt); ok {
		if err := e.checkSteps(stmt); err != nil {
			qry.Close()
			return nil, err
		}
	}
	return &boundedQuery{Query: qry, e: e}, nil
}

// boundedQuery runs in one of the engine's slots, and its wait for the slot
// counts against the timeout.
type boundedQuery struct {
	promql.Query
	e *Engine
}

func (q *boundedQuery) Exec(ctx context.Context) *promql.Result {
	ctx, cancel := context.WithTimeout(ctx, q.e.cfg.Timeout)
	defer cancel()
	select {
	case q.e.slots <- struct{}{}:
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return &promql.Result{Err: promql.ErrQueryTimeout("queue")}
		}
		return &promql.Result{Err: promql.ErrQueryCanceled("queue")}
	}
	defer func() { <-q.e.slots }()
	return q.Query.Exec(ctx)
}

// registerer turns the engine's MustRegister, which panics on a clash
// (two engines on one registry), into an error NewEngine returns.
type registerer struct {
	prometheus.Registerer
	err error
}

func (r *registerer) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil && r.err == nil {
			r.err = err
		}
	}
}
