// Command lookout-load sends realistic OTLP/HTTP load to lookout (or any OTLP receiver) and reports
// what was acknowledged, how fast and with what latency. It produces the ingest numbers in
// BENCHMARKS.md.
//
// Logs look like a small shop's services writing access lines, query timings, cache misses, user
// actions and errors (bodies of ~250 bytes, five attributes, 70% INFO, 15% DEBUG, 10% WARN, 5% ERROR,
// half with trace context); traces have 3-15 spans across 2-5 services. A pool of requests is built
// before the clock starts; each send re-stamps ids, timestamps and random tokens in place, so the
// server never sees the same trace id or request id twice and the client stays cheap.
//
// Metrics are the golden signals of a fleet of the shop's service instances, sized by -series
// (Prometheus series after translation): an http.server.request.duration histogram and an
// app.requests counter per instance, route and status class, and four gauges per instance. Each
// request is a slice of one 15-second round of simulated time; the rounds start at -start, by
// default far enough in the past that the run ends before now. See internal/otlpgen/metrics.go for
// the series count and cmd/lookout-load/metrics.go for how rounds are sent in order.
//
// Usage:
//
//	LOOKOUT_INGEST_TOKEN=... lookout-load -signal logs -duration 30s -concurrency 8 -batch 1000
//	lookout-load -token-file ./lookout-data/ingest-token -signal traces -total 1000000 -gzip -report json
//	lookout-load -measure-json-size -signal logs -batch 1000 -total 100000
//	lookout-load -signal metrics -series 100000 -total 10000000 -batch 2000
//	lookout-load queries -api http://127.0.0.1:8080 -password-file lookout-data/initial-admin-password
//	lookout-load queries -kind promql -series 100000
//
// Answers 429 and 503 are retried after Retry-After (capped by -max-retry-after) and counted as
// refusals; any other non-2xx answer or transport error counts as an error, and the first one is
// shown verbatim. The exit status is 1 when any request failed, 2 for bad flags.
package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal ends the run gracefully (in-flight requests finish, the report prints); a
	// second one kills the process.
	go func() {
		<-ctx.Done()
		stop()
	}()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.Is(err, errUsage):
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "lookout-load:", err)
		os.Exit(1)
	}
}

var errUsage = errors.New("usage")

// errRequestsFailed is returned after the report when some requests got an error answer.
var errRequestsFailed = errors.New("some requests failed")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "queries" {
		return runQueries(ctx, args[1:], getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("lookout-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg config
	var tokenFile, start string
	var measure bool
	fs.StringVar(&cfg.endpoint, "endpoint", "http://127.0.0.1:4318", "OTLP/HTTP base URL; /v1/logs, /v1/traces or /v1/metrics is appended")
	// The environment is read after parsing so -h never prints the token as a default.
	fs.StringVar(&cfg.token, "token", "", "ingest token sent as a bearer token (default $LOOKOUT_INGEST_TOKEN; prefer it or -token-file, flags show in ps)")
	fs.StringVar(&tokenFile, "token-file", "", "read the ingest token from this file")
	fs.StringVar(&cfg.signal, "signal", "logs", "logs, traces or metrics")
	fs.DurationVar(&cfg.duration, "duration", 30*time.Second, "how long to send; with -total, only when given explicitly")
	fs.Int64Var(&cfg.total, "total", 0, "stop once this many log records, spans or metric samples are answered (items in the measure mode, default 100000); metrics send whole requests, so up to one request more")
	fs.IntVar(&cfg.concurrency, "concurrency", 8, "requests in flight (metrics: at most the requests of a round)")
	fs.IntVar(&cfg.batch, "batch", 0, "items per request: log records or spans (default 1000), or metric samples (default 2000; whole data points, a histogram point is 17 samples)")
	fs.IntVar(&cfg.services, "services", 10, "number of services the logs and traces come from")
	fs.IntVar(&cfg.series, "series", 10_000, "metrics: Prometheus series the fleet makes (within half an instance's series)")
	fs.StringVar(&start, "start", "", "metrics: timestamp of the first round: RFC 3339, Unix seconds, or a duration ago (6h, 2d); default: early enough that the run ends before now")
	fs.Float64Var(&cfg.rate, "rate", 0, "cap on items per second sent; 0 sends as fast as the server acknowledges")
	fs.BoolVar(&cfg.gzip, "gzip", false, "compress requests with gzip")
	fs.BoolVar(&cfg.json, "json", false, "send OTLP/JSON instead of protobuf")
	fs.Uint64Var(&cfg.seed, "seed", 1, "random seed; the same seed generates the same pool")
	fs.IntVar(&cfg.pool, "pool", 64, "distinct requests generated before the clock starts (logs and traces; metrics build the requests of one round)")
	fs.DurationVar(&cfg.timeout, "timeout", 30*time.Second, "per-request timeout")
	fs.DurationVar(&cfg.maxRetryAfter, "max-retry-after", 5*time.Second, "longest wait before retrying a 429 or 503")
	fs.StringVar(&cfg.report, "report", "text", "report format: text or json")
	fs.BoolVar(&measure, "measure-json-size", false, "only generate -total items in batches of -batch and print their OTLP/JSON (and protobuf) bytes per item")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "lookout-load: unexpected arguments %q\n", fs.Args())
		return errUsage
	}
	durationSet := false
	fs.Visit(func(f *flag.Flag) { durationSet = durationSet || f.Name == "duration" })
	if cfg.total > 0 && !durationSet {
		cfg.duration = 0
	}
	if cfg.batch == 0 {
		cfg.batch = 1000
		if cfg.signal == "metrics" {
			cfg.batch = 2000
		}
	}
	if cfg.token == "" {
		cfg.token = getenv("LOOKOUT_INGEST_TOKEN")
	}
	if err := readSecret(tokenFile, &cfg.token); err != nil {
		return err
	}
	if measure {
		if cfg.total == 0 {
			cfg.total = 100_000
		}
		cfg.duration = 0
	}
	if err := cfg.validate(); err != nil {
		fmt.Fprintln(stderr, "lookout-load:", err)
		return errUsage
	}
	if cfg.signal == "metrics" {
		if err := resolveStart(&cfg, start, time.Now()); err != nil {
			fmt.Fprintln(stderr, "lookout-load:", err)
			return errUsage
		}
	}

	if measure {
		s, err := measureSize(cfg, time.Now())
		if err != nil {
			return err
		}
		return printReport(stdout, cfg.report, s, s.text)
	}
	rep, err := runLoad(ctx, cfg, newClient(cfg))
	if err != nil {
		return err
	}
	if err := printReport(stdout, cfg.report, rep, rep.text); err != nil {
		return err
	}
	if rep.Errors > 0 {
		return fmt.Errorf("%w: %d errors, first: %s", errRequestsFailed, rep.Errors, rep.FirstError)
	}
	return nil
}

func printReport(w io.Writer, format string, v any, text func(io.Writer)) error {
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		return enc.Encode(v)
	}
	text(w)
	return nil
}

func (r *report) text(w io.Writer) {
	unit := "log records"
	switch r.Signal {
	case "traces":
		unit = "spans"
	case "metrics":
		unit = "samples"
	}
	fmt.Fprintf(w, "lookout-load: %s, %s, %d in flight, batch %d", r.Signal, r.Encoding, r.Concurrency, r.Batch)
	if r.Metrics != nil {
		fmt.Fprintf(w, ", %s series over %d instances", thousands(int64(r.Metrics.Series)), r.Metrics.Instances)
	} else {
		fmt.Fprintf(w, ", %d services", r.Services)
	}
	if r.RateLimit > 0 {
		fmt.Fprintf(w, ", rate cap %.0f/s", r.RateLimit)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "  elapsed       %.2f s\n", r.ElapsedSeconds)
	fmt.Fprintf(w, "  acknowledged  %s %s, %s/s", thousands(r.ItemsAcked), unit, thousands(int64(r.ItemsPerSecond+0.5)))
	if r.Metrics != nil {
		fmt.Fprintf(w, "; %s data points, %s/s", thousands(r.DataPointsAcked), thousands(int64(r.DataPointsPerSecond+0.5)))
	}
	fmt.Fprintln(w)
	if r.ItemsRejected > 0 || r.ItemsDropped > 0 {
		fmt.Fprintf(w, "  not stored    %s rejected (partial success), %s in requests that failed or were still refused at the end\n",
			thousands(r.ItemsRejected), thousands(r.ItemsDropped))
	}
	fmt.Fprintf(w, "  requests      %s sent, %s acknowledged, %.2f MB/s on the wire (%.1f MB uncompressed)\n",
		thousands(r.Requests), thousands(r.RequestsOK), r.RequestMBPerSecond, float64(r.UncompressedBytes)/1e6)
	fmt.Fprintf(w, "  latency       p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms\n", r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	fmt.Fprintf(w, "  refusals      %d × 429, %d × 503 (retried)\n", r.Refused429, r.Unavailable503)
	fmt.Fprintf(w, "  errors        %d\n", r.Errors)
	if r.Metrics != nil {
		r.Metrics.text(w)
	}
	if r.FirstError != "" {
		fmt.Fprintf(w, "  first error   %s\n", r.FirstError)
	}
	if r.PartialSuccess != "" {
		fmt.Fprintf(w, "  partial       %s\n", r.PartialSuccess)
	}
	c := r.Client
	fmt.Fprintf(w, "  client        pool of %d requests built in %.2f s; %.0f µs/request to re-stamp", c.PoolRequests, c.PoolSeconds, c.PrepareMicros)
	if strings.HasSuffix(r.Encoding, "+gzip") {
		fmt.Fprint(w, " and compress")
	}
	if c.CPUSeconds >= 0 && r.ElapsedSeconds > 0 {
		fmt.Fprintf(w, "; %.2f s CPU (%.0f%% of a core)", c.CPUSeconds, 100*c.CPUSeconds/r.ElapsedSeconds)
	}
	fmt.Fprintln(w)
}

// thousands formats n with commas: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	if n < 0 {
		return "-" + thousands(-n)
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// sizeReport is the output of -measure-json-size: how big the generated data is in each OTLP
// encoding, per log record, span or metric sample, for requests of -batch items.
type sizeReport struct {
	Signal            string  `json:"signal"`
	Items             int64   `json:"items"`
	Batch             int     `json:"batch"`
	Services          int     `json:"services,omitempty"`
	Series            int     `json:"series,omitempty"`      // metrics
	DataPoints        int64   `json:"data_points,omitempty"` // metrics
	JSONBytes         float64 `json:"json_bytes_per_item"`
	JSONGzipBytes     float64 `json:"json_gzip_bytes_per_item"`
	ProtobufBytes     float64 `json:"protobuf_bytes_per_item"`
	ProtobufGzipBytes float64 `json:"protobuf_gzip_bytes_per_item"`
	BodyBytes         float64 `json:"body_bytes_per_item,omitempty"` // log bodies only
	JSONBytesPerPoint float64 `json:"json_bytes_per_data_point,omitempty"`
}

func measureSize(cfg config, now time.Time) (*sizeReport, error) {
	if cfg.signal == "metrics" {
		return measureMetricsSize(cfg)
	}
	g := otlpgen.NewGenerator(cfg.seed, cfg.services)
	s := &sizeReport{Signal: cfg.signal, Items: cfg.total, Batch: cfg.batch, Services: cfg.services}
	var jsonN, jsonGz, pbN, pbGz, bodies int64
	for left := cfg.total; left > 0; left -= int64(cfg.batch) {
		n := int(min(left, int64(cfg.batch)))
		var pb, js []byte
		var err error
		if cfg.signal == "traces" {
			req := ptraceotlp.NewExportRequestFromTraces(g.Traces(n, now))
			if pb, err = req.MarshalProto(); err == nil {
				js, err = req.MarshalJSON()
			}
		} else {
			ld := g.Logs(n, now)
			for _, rl := range ld.ResourceLogs().All() {
				for _, sl := range rl.ScopeLogs().All() {
					for _, lr := range sl.LogRecords().All() {
						bodies += int64(len(lr.Body().Str()))
					}
				}
			}
			req := plogotlp.NewExportRequestFromLogs(ld)
			if pb, err = req.MarshalProto(); err == nil {
				js, err = req.MarshalJSON()
			}
		}
		if err != nil {
			return nil, fmt.Errorf("marshal request: %w", err)
		}
		jsonN += int64(len(js))
		pbN += int64(len(pb))
		jsonGz += gzipSize(js)
		pbGz += gzipSize(pb)
	}
	per := func(b int64) float64 { return float64(b) / float64(cfg.total) }
	s.JSONBytes, s.JSONGzipBytes, s.ProtobufBytes, s.ProtobufGzipBytes = per(jsonN), per(jsonGz), per(pbN), per(pbGz)
	if cfg.signal == "logs" {
		s.BodyBytes = per(bodies)
	}
	return s, nil
}

func gzipSize(b []byte) int64 {
	var c countWriter
	w, _ := gzip.NewWriterLevel(&c, gzip.DefaultCompression)
	_, _ = w.Write(b)
	_ = w.Close()
	return int64(c)
}

type countWriter int64

func (c *countWriter) Write(p []byte) (int, error) {
	*c += countWriter(len(p))
	return len(p), nil
}

func (s *sizeReport) text(w io.Writer) {
	unit := "log record"
	switch s.Signal {
	case "traces":
		unit = "span"
	case "metrics":
		unit = "sample"
	}
	if s.Signal == "metrics" {
		fmt.Fprintf(w, "lookout-load: %d samples (%d data points) in requests of up to %d samples, %s series\n", s.Items, s.DataPoints, s.Batch, thousands(int64(s.Series)))
	} else {
		fmt.Fprintf(w, "lookout-load: %d %ss in requests of %d, %d services\n", s.Items, unit, s.Batch, s.Services)
	}
	fmt.Fprintf(w, "  OTLP/JSON      %.1f bytes per %s (gzip %.1f)\n", s.JSONBytes, unit, s.JSONGzipBytes)
	fmt.Fprintf(w, "  OTLP/protobuf  %.1f bytes per %s (gzip %.1f)\n", s.ProtobufBytes, unit, s.ProtobufGzipBytes)
	if s.BodyBytes > 0 {
		fmt.Fprintf(w, "  body           %.1f bytes per %s\n", s.BodyBytes, unit)
	}
	if s.JSONBytesPerPoint > 0 {
		fmt.Fprintf(w, "  OTLP/JSON      %.1f bytes per data point\n", s.JSONBytesPerPoint)
	}
}

// readSecret replaces *secret with the trimmed content of file, if file is
// named.
func readSecret(file string, secret *string) error {
	if file == "" {
		return nil
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("read secret file: %w", err)
	}
	*secret = strings.TrimSpace(string(b))
	return nil
}
