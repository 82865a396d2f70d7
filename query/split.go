package query

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/stats"
)

// Range queries on every core. Prometheus' engine evaluates a query on one
// goroutine. But a range query's value at a step depends only on that step's
// time and the data before it, so a long one is cut into consecutive runs of
// its steps, evaluated concurrently, and their matrices joined series by
// series: the join is exactly the whole query's answer. Thanos' and Mimir's
// query frontends split by time for the same reason.
//
// Not split: queries asking for statistics (they are per query), and
// expressions whose value depends on the query's range rather than the
// step's time: @ start(), @ end(), and duration expressions, which may use
// range().

// minPartSteps is the fewest steps worth a part of their own: below it the
// repeated series lookup costs more than the second core saves.
const minPartSteps = 50

// NewSplitRangeQuery is NewRangeQuery, split into one part per core when
// the query is long enough and splitting cannot change its answer. The
// bounds are checked on the whole query; a query asking for per-step
// statistics is not split (they are per query).
func (e *Engine) NewSplitRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration) (promql.Query, error) {
	whole, err := e.NewRangeQuery(ctx, q, opts, qs, start, end, step)
	if err != nil {
		return nil, err
	}
	parts := min(runtime.GOMAXPROCS(0), int(end.Sub(start)/step+1)/minPartSteps)
	if parts < 2 || (opts != nil && opts.EnablePerStepStats()) || !e.splittable(qs) {
		return whole, nil
	}
	whole.Close()
	split, err := e.splitRangeQuery(ctx, e.Queryable(q), opts, qs, start, end, step, parts)
	if err != nil {
		return nil, err
	}
	return &boundedQuery{Query: split, e: e}, nil
}

// splitRangeQuery cuts the steps from start to end into n runs of as equal
// length as can be, each its own range query.
func (e *Engine) splitRangeQuery(ctx context.Context, q storage.Queryable, opts promql.QueryOpts, qs string, start, end time.Time, step time.Duration, n int) (*splitQuery, error) {
	steps := int(end.Sub(start)/step) + 1
	n = min(n, steps)
	sq := &splitQuery{maxSamples: e.cfg.MaxSamples}
	from := 0
	for i := range n {
		to := from + (steps-from)/(n-i) // the next run of steps, [from, to)
		partEnd := start.Add(time.Duration(to-1) * step)
		if i == n-1 {
			partEnd = end // the whole query's last step is at or before end
		}
		part, err := e.engine.NewRangeQuery(ctx, q, opts, qs, start.Add(time.Duration(from)*step), partEnd, step)
		if err != nil {
			sq.Close()
			return nil, err
		}
		sq.parts = append(sq.parts, part)
		from = to
	}
	return sq, nil
}

// splittable reports whether the expression's value at a step is the same
// in any range query that has the step. A query that does not parse is
// left to the engine, which says why.
func (e *Engine) splittable(qs string) bool {
	expr, err := e.parser.ParseExpr(qs)
	if err != nil {
		return false
	}
	ok := true
	parser.Inspect(expr, func(node parser.Node, _ []parser.Node) error {
		switch n := node.(type) {
		case *parser.VectorSelector:
			ok = ok && n.StartOrEnd == 0 && n.OriginalOffsetExpr == nil
		case *parser.MatrixSelector:
			ok = ok && n.RangeExpr == nil
		case *parser.SubqueryExpr:
			ok = ok && n.StartOrEnd == 0 && n.OriginalOffsetExpr == nil && n.RangeExpr == nil && n.StepExpr == nil
		}
		return nil
	})
	return ok
}

// splitQuery is a range query run as consecutive parts.
type splitQuery struct {
	parts      []promql.Query
	maxSamples int
}

// Exec runs the parts concurrently. The first part to fail cancels the
// others and its error is the answer.
func (q *splitQuery) Exec(ctx context.Context) *promql.Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]*promql.Result, len(q.parts))
	var (
		wg     sync.WaitGroup
		once   sync.Once
		failed *promql.Result
	)
	for i, part := range q.parts {
		wg.Go(func() {
			res := part.Exec(ctx)
			results[i] = res
			if res.Err != nil {
				once.Do(func() { failed = res; cancel() })
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return failed
	}
	return q.join(results)
}

// join merges the parts' matrices, each sorted by labels as the engine
// sorts a range query's answer, into one: a series' points from every part
// in time order, the series sorted by labels.
func (q *splitQuery) join(results []*promql.Result) *promql.Result {
	var (
		all      promql.Matrix
		warnings annotations.Annotations
	)
	for _, res := range results {
		m, ok := res.Value.(promql.Matrix)
		if !ok {
			return &promql.Result{Err: fmt.Errorf("range query part answered a %s", res.Value.Type())}
		}
		all = append(all, m...)
		warnings.Merge(res.Warnings)
	}
	// Stable, so the parts' points of one series stay in time order.
	slices.SortStableFunc(all, func(a, b promql.Series) int { return labels.Compare(a.Metric, b.Metric) })
	joined, points := all[:0], 0
	for _, s := range all {
		points += len(s.Floats) + len(s.Histograms)
		if n := len(joined); n > 0 && labels.Equal(joined[n-1].Metric, s.Metric) {
			joined[n-1].Floats = append(joined[n-1].Floats, s.Floats...)
			joined[n-1].Histograms = append(joined[n-1].Histograms, s.Histograms...)
			continue
		}
		joined = append(joined, s)
	}
	// Each part kept within the engine's limit; the answer must too.
	if points > q.maxSamples {
		return &promql.Result{Err: promql.ErrTooManySamples("query execution")}
	}
	return &promql.Result{Value: joined, Warnings: warnings}
}

// Close recycles the parts' points: after the answer is written.
func (q *splitQuery) Close() {
	for _, part := range q.parts {
		part.Close()
	}
}

func (q *splitQuery) Cancel() {
	for _, part := range q.parts {
		part.Cancel()
	}
}

// Statement, Stats and String describe the first part: a split query is
// never asked for its statistics, and its text is the same in every part.
func (q *splitQuery) Statement() parser.Statement { return q.parts[0].Statement() }
func (q *splitQuery) Stats() *stats.Statistics    { return q.parts[0].Stats() }
func (q *splitQuery) String() string              { return q.parts[0].String() }

var _ promql.Query = (*splitQuery)(nil)
