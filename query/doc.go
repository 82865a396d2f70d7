// Package query is the query tier between the stores and their readers
// (web's API and pages, alerts' rules). It holds the one PromQL engine of
// the process and the bounds every query keeps, so that a limit set here
// holds for the API, the UI pages and rule evaluation alike.
//
// # Bounds, checked before a query runs
//
// Prometheus' engine bounds the samples a query holds (MaxSamples) and its
// run time (Timeout). Neither sees the work that follows from the shape of
// the query itself: a subquery such as rate(up[1y:1ms]) makes the engine
// allocate per-step statistics for 3e10 steps before it reads a sample
// (a fatal out-of-memory, which nothing recovers), and the steps of a
// subquery loop without looking at the sample limit. So an Engine refuses,
// with a *LimitError, before evaluation:
//
//   - a query text longer than Config.MaxQueryBytes (which also bounds the
//     depth of the parse tree every later walk recurses over), and its
//     operators and parentheses (Config.MaxQueryNodes; Prometheus' parser
//     takes time quadratic in nesting depth);
//   - a query whose evaluation steps, counted over the outer steps and the
//     steps of every subquery's own evaluator, exceed Config.MaxSteps;
//
// and while it runs:
//
//   - a query that selects more than Config.MaxSeries series;
//   - more than Config.MaxConcurrent queries at once: a further query
//     waits for a slot within its own timeout.
//
// Config.Timeout is the engine's timeout, and the wait for a slot counts
// against it, so --query-timeout holds for every caller.
package query
