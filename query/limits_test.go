package query

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/prometheus/promql"
	"github.com/prometheus/prometheus/promql/promqltest"
)

// Queries whose shape asks for more evaluation steps than the bound are
// refused before they run, whatever the data; their relatives within it
// run.
func TestStepBound(t *testing.T) {
	e := newTestEngine(t, Config{})
	st := promqltest.LoadedStorage(t, splitData)
	ctx := context.Background()
	at := time.Unix(9000, 0)
	f := func(qs string, rangeSteps int, step time.Duration, refused bool) {
		t.Helper()
		var (
			q   promql.Query
			err error
		)
		if rangeSteps == 0 {
			q, err = e.NewInstantQuery(ctx, st, nil, qs, at)
		} else {
			q, err = e.NewSplitRangeQuery(ctx, st, nil, qs, at.Add(-time.Duration(rangeSteps-1)*step), at, step)
		}
		var lim *LimitError
		if refused {
			if !errors.As(err, &lim) || !strings.Contains(err.Error(), "evaluation steps") {
				t.Errorf("%s (%d steps of %v): err %v, want a step limit error", qs, rangeSteps, step, err)
			}
			return
		}
		if err != nil {
			t.Errorf("%s (%d steps of %v): %v, want it to run", qs, rangeSteps, step, err)
			return
		}
		defer q.Close()
		if res := q.Exec(ctx); res.Err != nil {
			t.Errorf("%s: %v", qs, res.Err)
		}
	}
	// The bombs: 3e10, 8.6e7 and 2.6e9 subquery steps.
	f(`rate(up[1y:1ms])`, 0, 0, true)
	f(`rate(up[1d:1ms])`, 0, 0, true)
	f(`rate(up[30d:1ms])`, 0, 0, true)
	// An @ modifier makes the subquery step-invariant, not cheap.
	f(`max_over_time(temp[2h:1ms] @ 100)`, 0, 0, true)
	// Nested subqueries multiply their spans: the inner one runs over the
	// outer one's range plus its own.
	f(`max_over_time(max_over_time(temp[7d:1s])[7d:1s])`, 0, 0, true)
	f(`max_over_time(max_over_time(temp[1d:1s])[1d:1s])`, 0, 0, false)
	// A range query's subquery spans the whole range plus its own.
	f(`max_over_time(temp[1h:1s])`, 11000, 100*time.Second, true)
	f(`max_over_time(temp[1h:1s])`, 200, 15*time.Second, false)
	// A subquery without a step steps by the default (1m).
	f(`max_over_time(temp[30d:])`, 0, 0, false)
	// Duration expressions are resolved before the count.
	f(`max_over_time(temp[1d:1ms * 2])`, 0, 0, true)
	f(`max_over_time(rate(req_total[5m])[1h:1m])`, 600, 15*time.Second, false)
	// Ordinary queries are far inside.
	f(`sum by (job) (rate(req_total[5m]))`, 600, 15*time.Second, false)
	f(`topk(1e9, temp)`, 0, 0, false)
}

func TestEvalSteps(t *testing.T) {
	p := NewParser()
	f := func(qs string, span, interval time.Duration, want float64) {
		t.Helper()
		expr, err := p.ParseExpr(qs)
		if err != nil {
			t.Fatal(err)
		}
		if got := evalSteps(expr, span, interval, time.Minute); got != want {
			t.Errorf("evalSteps(%s, %v, %v) = %v, want %v", qs, span, interval, got, want)
		}
	}
	f(`up`, 0, 0, 1)
	f(`up`, time.Hour, time.Minute, 61)
	f(`max_over_time(up[1h:1m])`, 0, 0, 1+61)
	f(`max_over_time(up[1h:])`, 0, 0, 1+61)
	f(`max_over_time(up[1h:1m])`, time.Hour, time.Minute, 61+121)
	f(`max_over_time(max_over_time(up[1h:1m])[1h:1m])`, 0, 0, 1+61+121)
}

func TestQueryTextBound(t *testing.T) {
	e := newTestEngine(t, Config{MaxQueryBytes: 100})
	st := promqltest.LoadedStorage(t, splitData)
	long := strings.Repeat("-", 200) + "up"
	_, err := e.NewInstantQuery(context.Background(), st, nil, long, time.Unix(600, 0))
	var lim *LimitError
	if !errors.As(err, &lim) || !strings.Contains(err.Error(), "longer than the limit of 100 bytes") {
		t.Errorf("a 202-byte query: err %v, want the text limit", err)
	}
}

// A query waiting for a slot times out within the engine's timeout, so
// the timeout bounds the wait and the run together.
func TestSlotWaitCountsAgainstTimeout(t *testing.T) {
	e := newTestEngine(t, Config{MaxConcurrent: 1, Timeout: 200 * time.Millisecond})
	ctx := context.Background()
	// Hold the only slot.
	e.slots <- struct{}{}
	q, err := e.NewInstantQuery(ctx, promqltest.LoadedStorage(t, splitData), nil, "temp", time.Unix(600, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	res := q.Exec(ctx)
	var to promql.ErrQueryTimeout
	if !errors.As(res.Err, &to) {
		t.Errorf("query behind a full engine: err %v, want a timeout", res.Err)
	}
	<-e.slots
	if res := q.Exec(ctx); res.Err != nil {
		t.Errorf("with a free slot: %v", res.Err)
	}
}

func TestSecondEngineOnOneRegistry(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := NewEngine(Config{}, Options{Registerer: reg}); err != nil {
		t.Fatalf("first engine: %v", err)
	}
	if _, err := NewEngine(Config{}, Options{Registerer: reg}); err == nil || !strings.Contains(err.Error(), "register PromQL engine metrics") {
		t.Errorf("second engine on one registry: err %v, want a registration error", err)
	}
}
