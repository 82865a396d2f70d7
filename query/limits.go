package query

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb/chunkenc"
	"github.com/prometheus/prometheus/util/annotations"
)

// LimitError is a query over one of Config's bounds. Its message names the
// bound and what to narrow; the API answers it 422 execution, as
// Prometheus answers its sample limit.
type LimitError struct{ msg string }

func (e *LimitError) Error() string { return e.msg }

// checkSteps refuses a query whose evaluation steps exceed MaxSteps.
func (e *Engine) checkSteps(stmt *parser.EvalStmt) error {
	steps := evalSteps(stmt.Expr, stmt.End.Sub(stmt.Start), stmt.Interval, e.cfg.SubqueryStep)
	if steps > float64(e.cfg.MaxSteps) {
		return &LimitError{msg: fmt.Sprintf("query needs %.3g evaluation steps (its own and its subqueries'), more than the limit of %d; use a coarser step or a shorter range or subquery range", steps, e.cfg.MaxSteps)}
	}
	return nil
}

// evalSteps counts the steps Prometheus' engine evaluates for expr over a
// span at interval (0 for an instant query): the outer steps, plus for each
// subquery the steps of the child evaluator it runs once over its parent's
// span widened by its range (engine.go, subqueryTimeRange), nested
// subqueries within that. A step-invariant part (an @ modifier) is
// evaluated at one instant. Counted in float64: a bomb overflows int64.
func evalSteps(expr parser.Expr, span, interval, defaultSubqueryStep time.Duration) float64 {
	total := 1.0
	if interval > 0 {
		total += float64(span / interval)
	}
	var walk func(n parser.Node, span time.Duration)
	walk = func(n parser.Node, span time.Duration) {
		switch n := n.(type) {
		case *parser.StepInvariantExpr:
			walk(n.Expr, 0)
			return
		case *parser.SubqueryExpr:
			step := n.Step
			if step <= 0 {
				step = defaultSubqueryStep
			}
			// The engine steps in whole milliseconds.
			step = max(step.Truncate(time.Millisecond), time.Millisecond)
			if n.Timestamp != nil || n.StartOrEnd != 0 {
				span = 0
			}
			child := span + n.Range
			total += float64(child/step) + 1
			walk(n.Expr, child)
			return
		}
		for _, c := range parser.Children(n) {
			walk(c, span)
		}
	}
	walk(expr, span)
	return total
}

// limitQueryable is a store as a query sees it: one query selects at most
// maxSeries series, and the store's own errors are marked (*StorageError)
// so that they answer 500 rather than leak into a 422.
type limitQueryable struct {
	storage.Queryable
	maxSeries int64
}

func (q limitQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	qr, err := q.Queryable.Querier(mint, maxt)
	if err != nil {
		return nil, StorageErr(err)
	}
	return &limitQuerier{Querier: qr, max: q.maxSeries}, nil
}

// limitQuerier counts the series selected through it: the engine opens
// one querier per query.
type limitQuerier struct {
	storage.Querier
	max      int64
	selected atomic.Int64
}

func (q *limitQuerier) Select(ctx context.Context, sortSeries bool, hints *storage.SelectHints, ms ...*labels.Matcher) storage.SeriesSet {
	return &limitSeriesSet{SeriesSet: q.Querier.Select(ctx, sortSeries, hints, ms...), q: q}
}

func (q *limitQuerier) LabelValues(ctx context.Context, name string, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	vs, ws, err := q.Querier.LabelValues(ctx, name, hints, ms...)
	return vs, ws, StorageErr(err)
}

func (q *limitQuerier) LabelNames(ctx context.Context, hints *storage.LabelHints, ms ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	ns, ws, err := q.Querier.LabelNames(ctx, hints, ms...)
	return ns, ws, StorageErr(err)
}

type limitSeriesSet struct {
	storage.SeriesSet
	q   *limitQuerier
	err error
}

func (s *limitSeriesSet) Next() bool {
	if s.err != nil || !s.SeriesSet.Next() {
		return false
	}
	if s.q.selected.Add(1) > s.q.max {
		s.err = &LimitError{msg: fmt.Sprintf("query selects more than %d series; narrow the selectors", s.q.max)}
		return false
	}
	return true
}

func (s *limitSeriesSet) At() storage.Series { return storeSeries{s.SeriesSet.At()} }

func (s *limitSeriesSet) Err() error {
	if s.err != nil {
		return s.err
	}
	return StorageErr(s.SeriesSet.Err())
}

// storeSeries marks the errors of its samples' iterator.
type storeSeries struct{ storage.Series }

func (s storeSeries) Iterator(it chunkenc.Iterator) chunkenc.Iterator {
	if w, ok := it.(*storeIterator); ok { // the engine hands iterators back for reuse
		w.Iterator = s.Series.Iterator(w.Iterator)
		return w
	}
	return &storeIterator{Iterator: s.Series.Iterator(it)}
}

type storeIterator struct{ chunkenc.Iterator }

func (it *storeIterator) Err() error { return StorageErr(it.Iterator.Err()) }

// StorageError is an error from the store; its text stays in the log.
type StorageError struct{ err error }

func (e *StorageError) Error() string { return e.err.Error() }
func (e *StorageError) Unwrap() error { return e.err }

// StorageErr marks err, if any, as the store's own: an internal error
// whose text is logged, not answered.
func StorageErr(err error) error {
	if err == nil {
		return nil
	}
	return &StorageError{err: err}
}
