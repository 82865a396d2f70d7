package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The queries mode measures search latency against a running lookout that
// holds data sent by this tool: it picks real values (a request id, a trace
// id, a service and one of its operations) from the data, then runs each
// query -repeat times and reports the median and the 90th percentile.
// With -kind promql it runs PromQL queries over the metrics instead (see
// promql.go).
//
//	lookout-load queries -api http://127.0.0.1:8080 -password-file lookout-data/initial-admin-password
//	lookout-load queries -kind promql -series 100000

type queryBench struct {
	api      string
	user     string
	password string
	repeat   int
	client   *http.Client
}

type queryResult struct {
	Name     string  `json:"name"`
	Path     string  `json:"path"`
	MedianMS float64 `json:"median_ms"`
	P90MS    float64 `json:"p90_ms"`
	Results  int     `json:"results"` // records, traces or spans; series for PromQL
	Total    int     `json:"total,omitempty"`

	// PromQL only.
	Query       string  `json:"query,omitempty"`
	Steps       int     `json:"steps,omitempty"` // 0 for an instant query
	StepSeconds float64 `json:"step_seconds,omitempty"`
	Points      int     `json:"points,omitempty"` // samples in the answer, over all series
}

func runQueries(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("lookout-load queries", flag.ContinueOnError)
	fs.SetOutput(stderr)
	qb := &queryBench{client: &http.Client{Timeout: time.Minute}}
	var passwordFile, report, kind string
	var po promqlOptions
	fs.StringVar(&kind, "kind", "logs", "logs (log and trace searches) or promql")
	fs.StringVar(&qb.api, "api", "http://127.0.0.1:8080", "lookout's HTTP API base URL")
	fs.StringVar(&qb.user, "user", "admin", "user for HTTP Basic authentication")
	fs.StringVar(&passwordFile, "password-file", "", "file holding the user's password (default $LOOKOUT_ADMIN_PASSWORD)")
	fs.IntVar(&qb.repeat, "repeat", 9, "runs of each query")
	fs.StringVar(&report, "report", "text", "text or json")
	fs.StringVar(&po.selector, "selector", "", "promql: label matchers, without braces, picking about 100 app_requests_total series (default: the 2xx series of frontend in the first namespace of the -series fleet)")
	fs.IntVar(&po.series, "series", 10_000, "promql: the -series the metrics were loaded with, for the default -selector")
	fs.StringVar(&po.from, "from", "", "promql: start of the loaded range (RFC 3339 or Unix seconds; default: the oldest sample the selector finds in the last 30 days)")
	fs.StringVar(&po.to, "to", "", "promql: end of the loaded range (default: the newest sample the selector finds)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	qb.password = getenv("LOOKOUT_ADMIN_PASSWORD")
	if err := readSecret(passwordFile, &qb.password); err != nil {
		return err
	}
	if qb.repeat < 1 || po.series < 1 || report != "text" && report != "json" {
		return errUsage
	}
	var out []queryResult
	switch kind {
	case "logs":
		var err error
		if out, err = qb.logQueries(ctx); err != nil {
			return err
		}
	case "promql":
		var err error
		if out, err = qb.promQueries(ctx, po, time.Now()); err != nil {
			return err
		}
	default:
		fmt.Fprintf(stderr, "lookout-load queries: -kind %q: want logs or promql\n", kind)
		return errUsage
	}
	if report == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	if kind == "promql" {
		fmt.Fprintf(stdout, "%-58s %10s %10s %8s %8s\n", "query", "median", "p90", "series", "points")
		for _, r := range out {
			fmt.Fprintf(stdout, "%-58s %8.1fms %8.1fms %8d %8d\n", r.Name, r.MedianMS, r.P90MS, r.Results, r.Points)
		}
		return nil
	}
	fmt.Fprintf(stdout, "%-50s %10s %10s %8s\n", "query", "median", "p90", "results")
	for _, r := range out {
		fmt.Fprintf(stdout, "%-50s %8.1fms %8.1fms %8d\n", r.Name, r.MedianMS, r.P90MS, r.Results)
	}
	return nil
}

// logQueries picks values from the stored logs and traces and measures searches for them.
func (qb *queryBench) logQueries(ctx context.Context) ([]queryResult, error) {

	var logs struct {
		Records []struct {
			TraceID    string         `json:"trace_id"`
			Service    string         `json:"service"`
			Attributes map[string]any `json:"attributes"`
		} `json:"records"`
	}
	if err := qb.get(ctx, "/api/v1/logs?limit=200&query="+url.QueryEscape("severity:error"), &logs); err != nil {
		return nil, err
	}
	var requestID, logTrace, service string
	for _, r := range logs.Records {
		if id, ok := r.Attributes["request.id"].(string); ok && requestID == "" {
			requestID, service = id, r.Service
		}
		if r.TraceID != "" && logTrace == "" {
			logTrace = r.TraceID
		}
	}
	var traces struct {
		Traces []struct {
			TraceID     string `json:"trace_id"`
			RootService string `json:"root_service"`
		} `json:"traces"`
	}
	if err := qb.get(ctx, "/api/v1/traces?limit=1", &traces); err != nil {
		return nil, err
	}
	var svcs struct {
		Services []struct {
			Name       string   `json:"name"`
			Operations []string `json:"operations"`
		} `json:"services"`
	}
	if err := qb.get(ctx, "/api/v1/services", &svcs); err != nil {
		return nil, err
	}
	var qs [][2]string
	logq := func(name, q string) {
		qs = append(qs, [2]string{name, "/api/v1/logs?limit=100&query=" + url.QueryEscape(q)})
	}
	if requestID != "" {
		logq("logs: rare id as a word, newest 100", requestID)
		logq("logs: rare id in an attribute, newest 100", "request.id:"+requestID)
		logq("logs: service + severity, newest 100", "service:"+service+" AND severity:error")
	}
	logq("logs: common word, newest 100", "failed")
	logq("logs: everything, newest 100", "")
	if logTrace != "" {
		logq("logs: by trace_id", "trace_id:"+logTrace)
	}
	if len(traces.Traces) > 0 {
		qs = append(qs, [2]string{"traces: by id", "/api/v1/traces/" + traces.Traces[0].TraceID})
	}
	for _, s := range svcs.Services {
		if len(s.Operations) == 0 {
			continue
		}
		op := s.Operations[len(s.Operations)/2]
		qs = append(qs,
			[2]string{"traces: search service + operation, 20", "/api/v1/traces?limit=20&service=" + url.QueryEscape(s.Name) + "&operation=" + url.QueryEscape(op)},
			[2]string{"traces: search service + errors, 20", "/api/v1/traces?limit=20&error=true&service=" + url.QueryEscape(s.Name)},
			[2]string{"traces: search service + min duration 500ms, 20", "/api/v1/traces?limit=20&min_duration=500ms&service=" + url.QueryEscape(s.Name)},
		)
		break
	}

	var out []queryResult
	for _, q := range qs {
		r, err := qb.measure(ctx, q[0], q[1])
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func (qb *queryBench) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, "GET", strings.TrimRight(qb.api, "/")+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(qb.user, qb.password)
	resp, err := qb.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if v != nil {
		return json.Unmarshal(body, v)
	}
	return nil
}

func (qb *queryBench) measure(ctx context.Context, name, path string) (queryResult, error) {
	var times []float64
	var res struct {
		Records []json.RawMessage `json:"records"`
		Traces  []json.RawMessage `json:"traces"`
		Spans   []json.RawMessage `json:"spans"`
		Total   int               `json:"total"`
	}
	for i := 0; i < qb.repeat; i++ {
		res.Records, res.Traces, res.Spans = nil, nil, nil
		start := time.Now()
		if err := qb.get(ctx, path, &res); err != nil {
			return queryResult{}, err
		}
		times = append(times, float64(time.Since(start).Microseconds())/1000)
	}
	slices.Sort(times)
	return queryResult{
		Name:     name,
		Path:     path,
		MedianMS: times[len(times)/2],
		P90MS:    times[min(len(times)-1, len(times)*9/10)],
		Results:  len(res.Records) + len(res.Traces) + len(res.Spans),
		Total:    res.Total,
	}, nil
}
