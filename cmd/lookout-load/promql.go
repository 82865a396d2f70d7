package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The promql kind of the queries mode measures PromQL over metrics this tool sent (-signal
// metrics), through the Prometheus HTTP API (https://prometheus.io/docs/prometheus/latest/querying/api/):
//
//   - rate(app_requests_total{<selector>}[5m]) as a range query of 1000 steps, and of 120 steps,
//     each covering the loaded range;
//   - histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket[5m])))
//     over every bucket series (15 per histogram: 8.3k for 10k series), 120 steps;
//   - instant queries at the end of the range: the same rate, the p99 latency per job over every
//     bucket series, and the 5xx ratio per job, as alerting rules ask them.
//
// The default selector comes from the generator's fleet: job is <service.namespace>/<service.name>
// after Prometheus' OTLP translation, and frontend has 8 routes, each with one 2xx series per
// instance, so job="shop-eu-west/frontend",http_response_status_code="200" picks 8 × its instances
// in the first namespace: 96 once -series reaches a full namespace (10,806), 88 at 10,000.
//
// The loaded range, unless -from and -to say it, is found by reading the selector's raw samples
// over the last 30 days once (about 100 series × rounds), before any query is timed.

type promqlOptions struct {
	selector string
	series   int
	from, to string
}

// promAnswer is the part of a Prometheus API answer the benchmark reads.
type promAnswer struct {
	Status    string `json:"status"`
	ErrorType string `json:"errorType"`
	Error     string `json:"error"`
	Data      struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

// promSeries is one series of a matrix or vector answer.
type promSeries struct {
	Values []json.RawMessage `json:"values"` // matrix: [time, "value"] pairs
	Value  json.RawMessage   `json:"value"`  // vector: one pair
}

// series returns the series of a matrix or vector answer, nil for a scalar or string.
func (a *promAnswer) series() ([]promSeries, error) {
	if a.Data.ResultType != "matrix" && a.Data.ResultType != "vector" {
		return nil, nil
	}
	var s []promSeries
	err := json.Unmarshal(a.Data.Result, &s)
	return s, err
}

func (qb *queryBench) promQueries(ctx context.Context, o promqlOptions, now time.Time) ([]queryResult, error) {
	sel, n := o.selector, 0
	if sel == "" {
		sel, n = otlpgen.NewMetricsFleet(o.series).RateSelector()
	}
	from, to, err := qb.loadedRange(ctx, sel, o, now)
	if err != nil {
		return nil, err
	}
	about := "~100 series"
	if n > 0 {
		about = strconv.Itoa(n) + " series"
	}
	rate := fmt.Sprintf("rate(app_requests_total{%s}[5m])", sel)
	const buckets = "rate(http_server_request_duration_seconds_bucket[5m])"
	p99 := "histogram_quantile(0.99, sum by (le) (" + buckets + "))"
	p99Job := "histogram_quantile(0.99, sum by (job, le) (" + buckets + "))"
	errRatio := `sum by (job) (rate(app_requests_total{http_response_status_code=~"5.."}[5m])) / sum by (job) (rate(app_requests_total[5m]))`
	qs := []struct {
		name, query string
		steps       int
	}{
		{"rate, " + about + ", 1000 steps", rate, 1000},
		{"rate, " + about + ", 120 steps", rate, 120},
		{"histogram_quantile, all bucket series, 120 steps", p99, 120},
		{"instant: rate, " + about, rate, 0},
		{"instant: histogram_quantile by job, all bucket series", p99Job, 0},
		{"instant: 5xx ratio by job", errRatio, 0},
	}
	var out []queryResult
	for _, q := range qs {
		v := url.Values{"query": {q.query}}
		path := "/api/v1/query"
		var step float64
		if q.steps > 0 {
			// Rounded up to the millisecond, with the end moved to match, so the answer has exactly
			// q.steps points per series.
			step = math.Ceil(max(to.Sub(from).Seconds()/float64(q.steps-1), 0.001)*1000) / 1000
			path = "/api/v1/query_range"
			v.Set("start", unixSeconds(from))
			v.Set("end", strconv.FormatFloat(float64(from.UnixMilli())/1000+step*float64(q.steps-1), 'f', 3, 64))
			v.Set("step", strconv.FormatFloat(step, 'f', 3, 64))
		} else {
			v.Set("time", unixSeconds(to))
		}
		r, err := qb.measurePromQL(ctx, q.name, path+"?"+v.Encode())
		if err != nil {
			return nil, err
		}
		r.Query, r.Steps, r.StepSeconds = q.query, q.steps, step
		out = append(out, r)
	}
	return out, nil
}

func unixSeconds(t time.Time) string {
	return strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)
}

// loadedRange returns -from and -to, or the first and last timestamps of the selector's samples.
func (qb *queryBench) loadedRange(ctx context.Context, sel string, o promqlOptions, now time.Time) (from, to time.Time, err error) {
	to = now
	if o.to != "" {
		if to, err = parseTime(o.to, now); err != nil {
			return from, to, fmt.Errorf("-to %q: %w", o.to, err)
		}
	}
	if o.from != "" {
		if from, err = parseTime(o.from, now); err != nil {
			return from, to, fmt.Errorf("-from %q: %w", o.from, err)
		}
		if o.to != "" {
			return from, to, nil
		}
	}
	v := url.Values{"query": {fmt.Sprintf("app_requests_total{%s}[30d]", sel)}, "time": {unixSeconds(to)}}
	body, _, err := qb.promGet(ctx, "/api/v1/query?"+v.Encode())
	if err != nil {
		return from, to, err
	}
	var ans promAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return from, to, fmt.Errorf("find the loaded range: %w", err)
	}
	series, err := ans.series()
	if err != nil {
		return from, to, fmt.Errorf("find the loaded range: %w", err)
	}
	lo, hi := math.Inf(1), math.Inf(-1)
	for _, s := range series {
		for _, p := range s.Values {
			var pair [2]json.RawMessage
			if json.Unmarshal(p, &pair) != nil {
				continue
			}
			if ts, err := strconv.ParseFloat(string(pair[0]), 64); err == nil {
				lo, hi = math.Min(lo, ts), math.Max(hi, ts)
			}
		}
	}
	if math.IsInf(lo, 1) {
		return from, to, fmt.Errorf("no app_requests_total{%s} samples in the 30 days before %s: send -signal metrics first, or set -selector, -from and -to",
			sel, to.UTC().Format(time.RFC3339))
	}
	if o.from == "" {
		from = time.UnixMilli(int64(math.Round(lo * 1000)))
	}
	if o.to == "" {
		to = time.UnixMilli(int64(math.Round(hi * 1000)))
	}
	return from, to, nil
}

// promGet sends a GET and returns the body of a successful answer, with the time from sending to
// the last byte read.
func (qb *queryBench) promGet(ctx context.Context, path string) ([]byte, time.Duration, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimRight(qb.api, "/")+path, nil)
	if err != nil {
		return nil, 0, err
	}
	req.SetBasicAuth(qb.user, qb.password)
	start := time.Now()
	resp, err := qb.client.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	took := time.Since(start)
	if err != nil {
		return nil, 0, err
	}
	var ans promAnswer
	jerr := json.Unmarshal(body, &ans)
	if resp.StatusCode != http.StatusOK || jerr != nil || ans.Status != "success" {
		if ans.Error != "" {
			return nil, 0, fmt.Errorf("GET %s: %s: %s: %s", path, resp.Status, ans.ErrorType, ans.Error)
		}
		return nil, 0, fmt.Errorf("GET %s: %s: %.500s", path, resp.Status, body)
	}
	return body, took, nil
}

// measurePromQL runs a query -repeat times and times the round trips; the answer is decoded
// outside the timing.
func (qb *queryBench) measurePromQL(ctx context.Context, name, path string) (queryResult, error) {
	var times []float64
	var body []byte
	for range qb.repeat {
		b, took, err := qb.promGet(ctx, path)
		if err != nil {
			return queryResult{}, err
		}
		body = b
		times = append(times, float64(took.Microseconds())/1000)
	}
	var ans promAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return queryResult{}, fmt.Errorf("GET %s: %w", path, err)
	}
	series, err := ans.series()
	if err != nil {
		return queryResult{}, fmt.Errorf("GET %s: %w", path, err)
	}
	slices.Sort(times)
	r := queryResult{
		Name:     name,
		Path:     path,
		MedianMS: times[len(times)/2],
		P90MS:    times[min(len(times)-1, len(times)*9/10)],
	}
	switch ans.Data.ResultType {
	case "matrix":
		r.Results = len(series)
		for _, s := range series {
			r.Points += len(s.Values)
		}
	case "vector":
		r.Results, r.Points = len(series), len(series)
	default: // scalar, string
		r.Results, r.Points = 1, 1
	}
	return r, nil
}
