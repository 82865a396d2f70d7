package web

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/prometheus/promql"
)

// errNoMetrics is what pages get when the metric store is not enabled.
var errNoMetrics = errors.New("metrics are not enabled")

// instantQuery evaluates expr at ts for a page. The result is copied out
// of the engine's pools, so it outlives the query.
func (h *Handler) instantQuery(ctx context.Context, expr string, ts time.Time) (promql.Vector, error) {
	if h.prom == nil {
		return nil, errNoMetrics
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.QueryTimeout)
	defer cancel()
	q, err := h.prom.engine.NewInstantQuery(ctx, h.prom.queryable, nil, expr, ts)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	switch v := res.Value.(type) {
	case promql.Vector:
		out := make(promql.Vector, len(v))
		copy(out, v)
		return out, nil
	case promql.Scalar:
		return promql.Vector{{T: v.T, F: v.V}}, nil
	}
	return nil, errors.New("the expression is not a vector or a scalar")
}

// rangeQuery evaluates expr from start to end every step for a page, split
// over the cores as the API splits it. The result is copied out of the
// engine's pools.
func (h *Handler) rangeQuery(ctx context.Context, expr string, start, end time.Time, step time.Duration) (promql.Matrix, error) {
	if h.prom == nil {
		return nil, errNoMetrics
	}
	ctx, cancel := context.WithTimeout(ctx, h.opts.QueryTimeout)
	defer cancel()
	q, err := h.prom.newRangeQuery(ctx, nil, expr, start, end, step, false)
	if err != nil {
		return nil, err
	}
	defer q.Close()
	res := q.Exec(ctx)
	if res.Err != nil {
		return nil, res.Err
	}
	m, ok := res.Value.(promql.Matrix)
	if !ok {
		return nil, errors.New("the expression is not a range vector")
	}
	out := make(promql.Matrix, len(m))
	for i, s := range m {
		hs := make([]promql.HPoint, len(s.Histograms))
		for j, p := range s.Histograms {
			hs[j] = promql.HPoint{T: p.T, H: p.H.Copy()}
		}
		out[i] = promql.Series{Metric: s.Metric, Floats: append([]promql.FPoint(nil), s.Floats...), Histograms: hs}
	}
	return out, nil
}
