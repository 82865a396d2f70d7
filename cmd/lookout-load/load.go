package main

import (
	"github.com/lookout-dev/lookout/internal/otlpgen"

	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// config is what the user sets on the command line.
type config struct {
	endpoint      string
	token         string
	signal        string // logs, traces or metrics
	duration      time.Duration
	total         int64
	concurrency   int
	batch         int
	services      int
	rate          float64
	gzip          bool
	json          bool
	seed          uint64
	pool          int
	timeout       time.Duration
	maxRetryAfter time.Duration
	report        string

	series int       // metrics: target series count
	start  time.Time // metrics: timestamp of the first round; zero until resolved
}

func (c *config) validate() error {
	switch {
	case c.signal != "logs" && c.signal != "traces" && c.signal != "metrics":
		return fmt.Errorf("-signal %q: want logs, traces or metrics", c.signal)
	case c.report != "text" && c.report != "json":
		return fmt.Errorf("-report %q: want text or json", c.report)
	case c.concurrency < 1:
		return fmt.Errorf("-concurrency %d: want at least 1", c.concurrency)
	case c.batch < 1:
		return fmt.Errorf("-batch %d: want at least 1", c.batch)
	case c.services < 1:
		return fmt.Errorf("-services %d: want at least 1", c.services)
	case c.series < 1:
		return fmt.Errorf("-series %d: want at least 1", c.series)
	case c.pool < 1:
		return fmt.Errorf("-pool %d: want at least 1", c.pool)
	case c.rate < 0 || c.total < 0 || c.duration < 0 || c.timeout < 0:
		return errors.New("-rate, -total, -duration and -timeout cannot be negative")
	case c.maxRetryAfter <= 0:
		return fmt.Errorf("-max-retry-after %v: want more than 0", c.maxRetryAfter)
	case c.duration == 0 && c.total == 0:
		return errors.New("set -duration or -total")
	}
	return nil
}

func (c *config) url() string {
	u := strings.TrimRight(c.endpoint, "/")
	if strings.HasSuffix(u, "/v1/"+c.signal) {
		return u
	}
	return u + "/v1/" + c.signal
}

func (c *config) encoding() string {
	e := "protobuf"
	if c.json {
		e = "json"
	}
	if c.gzip {
		e += "+gzip"
	}
	return e
}

// report is what a load run measured. With -report json it is printed as is.
type report struct {
	Signal      string  `json:"signal"`
	Encoding    string  `json:"encoding"` // protobuf or json, "+gzip" when compressed
	Concurrency int     `json:"concurrency"`
	Batch       int     `json:"batch"`
	Services    int     `json:"services"`
	RateLimit   float64 `json:"rate_limit"` // items/s, 0 for none

	ElapsedSeconds float64 `json:"elapsed_seconds"`
	// Items are log records, spans or, for metrics, Prometheus samples (a histogram data point is
	// 17: its 15 buckets, sum and count).
	ItemsAcked     int64   `json:"items_acked"`    // answered 200, minus partial-success rejections
	ItemsRejected  int64   `json:"items_rejected"` // reported rejected in partial-success responses (samples: in proportion to data points)
	ItemsDropped   int64   `json:"items_dropped"`  // in requests that failed or were still refused when the run ended
	ItemsPerSecond float64 `json:"items_per_second"`
	Requests       int64   `json:"requests"` // HTTP attempts, retries included
	RequestsOK     int64   `json:"requests_ok"`
	// RequestBytes counts the bodies of acknowledged requests as sent (compressed with -gzip);
	// UncompressedBytes the same bodies before compression.
	RequestBytes       int64   `json:"request_bytes"`
	UncompressedBytes  int64   `json:"uncompressed_bytes"`
	RequestMBPerSecond float64 `json:"request_mb_per_second"` // RequestBytes / elapsed, MB = 1e6 bytes
	Latency            latency `json:"latency_ms"`            // of acknowledged requests, send to response read
	Refused429         int64   `json:"refused_429"`
	Unavailable503     int64   `json:"unavailable_503"`
	Errors             int64   `json:"errors"` // other answers and transport errors
	FirstError         string  `json:"first_error,omitempty"`
	PartialSuccess     string  `json:"partial_success_message,omitempty"`

	// Metrics only: OTLP data points, as the server counts them in partial-success responses, and
	// what was sent.
	DataPointsAcked     int64          `json:"data_points_acked,omitempty"`
	DataPointsPerSecond float64        `json:"data_points_per_second,omitempty"`
	Metrics             *metricsReport `json:"metrics,omitempty"`

	Client clientStats `json:"client"`
}

type latency struct {
	P50 float64 `json:"p50"`
	P90 float64 `json:"p90"`
	P99 float64 `json:"p99"`
	Max float64 `json:"max"`
}

// clientStats shows what the load generator itself cost, since it shares the machine with the server.
type clientStats struct {
	PoolRequests   int     `json:"pool_requests"`   // distinct requests generated before the clock started
	PoolSeconds    float64 `json:"pool_seconds"`    // time to generate and marshal them
	PrepareSeconds float64 `json:"prepare_seconds"` // re-stamping and compressing, summed over workers
	PrepareMicros  float64 `json:"prepare_us_per_request"`
	CPUSeconds     float64 `json:"cpu_seconds"` // user+system CPU of this process during the run, -1 if unknown
}

// runner sends requests from a pool of templates until the run is over.
type runner struct {
	cfg    config
	client *http.Client
	url    string
	pool   []*template
	tail   *template // the last, smaller request of a -total run that is not a multiple of -batch
	start  time.Time

	claimed atomic.Int64  // items handed to workers, for -total
	next    atomic.Uint64 // pool index

	rateMu    sync.Mutex
	scheduled float64 // items paced so far, for -rate

	acked, rejected, dropped   atomic.Int64
	requests, requestsOK       atomic.Int64
	refused429, unavailable503 atomic.Int64
	errs                       atomic.Int64
	sentBytes, rawBytes        atomic.Int64
	prepared, prepareNs        atomic.Int64

	msgMu      sync.Mutex
	firstErr   string
	partialMsg string

	metrics *metricsSource // -signal metrics
}

type worker struct {
	r       *rand.Rand
	gz      *gzip.Writer
	scratch []byte
	lat     []time.Duration
}

func newWorker(seed uint64, i int, compress bool) *worker {
	w := &worker{r: rand.New(rand.NewPCG(seed, uint64(i)+1))}
	if compress {
		// The fastest level: the client shares two cores with the server, and the server's cost
		// to decompress hardly depends on the level.
		w.gz, _ = gzip.NewWriterLevel(io.Discard, gzip.BestSpeed)
	}
	return w
}

// encodeRequest generates n items and marshals them as one export request.
func encodeRequest(g *otlpgen.Generator, signal string, isJSON bool, n int, now time.Time) ([]byte, error) {
	if signal == "traces" {
		req := ptraceotlp.NewExportRequestFromTraces(g.Traces(n, now))
		if isJSON {
			return req.MarshalJSON()
		}
		return req.MarshalProto()
	}
	req := plogotlp.NewExportRequestFromLogs(g.Logs(n, now))
	if isJSON {
		return req.MarshalJSON()
	}
	return req.MarshalProto()
}

func (r *runner) buildPool(now func() time.Time) error {
	if r.cfg.signal == "metrics" {
		m, err := newMetricsSource(r.cfg)
		r.metrics = m
		return err
	}
	g := otlpgen.NewGenerator(r.cfg.seed, r.cfg.services)
	count := r.cfg.pool
	tail := 0
	if r.cfg.total > 0 {
		count = int(min(int64(count), r.cfg.total/int64(r.cfg.batch)))
		tail = int(r.cfg.total % int64(r.cfg.batch))
	}
	mk := func(n int) (*template, error) {
		t := now()
		body, err := encodeRequest(g, r.cfg.signal, r.cfg.json, n, t)
		if err != nil {
			return nil, fmt.Errorf("marshal request: %w", err)
		}
		return newTemplate(body, r.cfg.json, r.cfg.signal == "traces", n, t)
	}
	for range count {
		t, err := mk(r.cfg.batch)
		if err != nil {
			return err
		}
		r.pool = append(r.pool, t)
	}
	if tail > 0 {
		t, err := mk(tail)
		if err != nil {
			return err
		}
		r.tail = t
	}
	return nil
}

// runLoad generates the pool, then sends until stop is done, -duration passes or -total items are
// answered. Requests in flight when the run ends are finished, not cancelled.
func runLoad(stop context.Context, cfg config, client *http.Client) (*report, error) {
	r := &runner{cfg: cfg, client: client, url: cfg.url()}
	poolStart := time.Now()
	if err := r.buildPool(time.Now); err != nil {
		return nil, err
	}
	rep := &report{Signal: cfg.signal, Encoding: cfg.encoding(), Concurrency: cfg.concurrency, Batch: cfg.batch,
		Services: cfg.services, RateLimit: cfg.rate}
	rep.Client.PoolRequests = len(r.pool)
	if r.tail != nil {
		rep.Client.PoolRequests++
	}
	if r.metrics != nil {
		rep.Client.PoolRequests = len(r.metrics.slots)
		rep.Services = 0
	}
	rep.Client.PoolSeconds = time.Since(poolStart).Seconds()

	if cfg.duration > 0 {
		var cancel context.CancelFunc
		stop, cancel = context.WithTimeout(stop, cfg.duration)
		defer cancel()
	}
	cpu0 := cpuTime()
	r.start = time.Now()
	workers := make([]*worker, cfg.concurrency)
	var wg sync.WaitGroup
	for i := range workers {
		w := newWorker(cfg.seed, i, cfg.gzip)
		workers[i] = w
		wg.Go(func() { r.work(stop, w) })
	}
	wg.Wait()
	elapsed := time.Since(r.start)
	if cpu0 >= 0 {
		rep.Client.CPUSeconds = (cpuTime() - cpu0).Seconds()
	} else {
		rep.Client.CPUSeconds = -1
	}

	var lat []time.Duration
	for _, w := range workers {
		lat = append(lat, w.lat...)
	}
	slices.Sort(lat)
	rep.Latency = latency{P50: quantileMs(lat, 0.5), P90: quantileMs(lat, 0.9), P99: quantileMs(lat, 0.99), Max: quantileMs(lat, 1)}
	rep.ElapsedSeconds = elapsed.Seconds()
	rep.ItemsAcked = r.acked.Load()
	rep.ItemsRejected = r.rejected.Load()
	rep.ItemsDropped = r.dropped.Load()
	rep.Requests = r.requests.Load()
	rep.RequestsOK = r.requestsOK.Load()
	rep.RequestBytes = r.sentBytes.Load()
	rep.UncompressedBytes = r.rawBytes.Load()
	if s := elapsed.Seconds(); s > 0 {
		rep.ItemsPerSecond = float64(rep.ItemsAcked) / s
		rep.RequestMBPerSecond = float64(rep.RequestBytes) / 1e6 / s
	}
	if r.metrics != nil {
		rep.Metrics = r.metrics.report()
		rep.DataPointsAcked = r.metrics.pointsAcked.Load()
		if s := elapsed.Seconds(); s > 0 {
			rep.DataPointsPerSecond = float64(rep.DataPointsAcked) / s
		}
	}
	rep.Refused429 = r.refused429.Load()
	rep.Unavailable503 = r.unavailable503.Load()
	rep.Errors = r.errs.Load()
	rep.FirstError, rep.PartialSuccess = r.firstErr, r.partialMsg
	rep.Client.PrepareSeconds = time.Duration(r.prepareNs.Load()).Seconds()
	if n := r.prepared.Load(); n > 0 {
		rep.Client.PrepareMicros = float64(r.prepareNs.Load()) / 1e3 / float64(n)
	}
	return rep, nil
}

func quantileMs(sorted []time.Duration, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	i = min(max(i, 0), len(sorted)-1)
	return float64(sorted[i]) / 1e6
}

// A job is one request to send: a pooled template of logs or spans, or a slice of the current
// metrics round.
type job struct {
	t      *template    // logs and traces
	m      *metricsSlot // metrics, locked by the job until it is answered
	items  int          // log records, spans or samples
	points int          // metric data points
}

func (r *runner) work(stop context.Context, w *worker) {
	for {
		j, ok := r.claim(stop)
		if !ok {
			return
		}
		if r.pace(stop, j.items) {
			if body, raw, ok := w.prepare(stop, r, j); ok {
				r.send(stop, w, j, body, raw)
			}
		}
		if j.m != nil {
			j.m.mu.Unlock()
		}
	}
}

// claim returns the next request to send, or false when the run is over.
func (r *runner) claim(stop context.Context) (job, bool) {
	if stop.Err() != nil {
		return job{}, false
	}
	if r.metrics != nil {
		return r.metrics.claim(stop, r.cfg.total)
	}
	if r.cfg.total > 0 {
		for {
			c := r.claimed.Load()
			if c >= r.cfg.total {
				return job{}, false
			}
			n := min(int64(r.cfg.batch), r.cfg.total-c)
			if r.claimed.CompareAndSwap(c, c+n) {
				if n < int64(r.cfg.batch) {
					return job{t: r.tail, items: r.tail.items}, true
				}
				break
			}
		}
	}
	t := r.pool[(r.next.Add(1)-1)%uint64(len(r.pool))]
	return job{t: t, items: t.items}, true
}

// pace waits for the request's turn under -rate.
func (r *runner) pace(stop context.Context, items int) bool {
	if r.cfg.rate <= 0 {
		return true
	}
	r.rateMu.Lock()
	at := r.start.Add(time.Duration(r.scheduled / r.cfg.rate * float64(time.Second)))
	r.scheduled += float64(items)
	r.rateMu.Unlock()
	return sleep(stop, time.Until(at))
}

// prepare re-stamps the job's request into a new body, compressed with -gzip, and returns it with
// its uncompressed size. The body is fresh each time because the transport may still read it after
// Do returns. It reports false if the run ended before the request was ready.
func (w *worker) prepare(stop context.Context, r *runner, j job) ([]byte, int, bool) {
	if j.m != nil {
		return w.prepareMetrics(stop, r, j.m)
	}
	t := j.t
	start := time.Now()
	m := stampMasks{delta: start.Sub(t.base).Nanoseconds()}
	putUint64(m.trace[:8], w.r.Uint64())
	putUint64(m.trace[8:], w.r.Uint64())
	putUint64(m.span[:], w.r.Uint64())
	var v uint64
	for i := range m.hex {
		if i%16 == 0 {
			v = w.r.Uint64()
		}
		m.hex[i] = byte(v & 15)
		v >>= 4
	}
	var body []byte
	if !r.cfg.gzip {
		body = t.stamp(make([]byte, 0, len(t.body)), &m)
	} else {
		w.scratch = t.stamp(w.scratch, &m)
		body = w.compress(w.scratch)
	}
	r.prepared.Add(1)
	r.prepareNs.Add(int64(time.Since(start)))
	return body, len(t.body), true
}

// compress returns b gzipped into a new buffer.
func (w *worker) compress(b []byte) []byte {
	var buf bytes.Buffer
	buf.Grow(len(b) / 3)
	w.gz.Reset(&buf)
	_, _ = w.gz.Write(b)
	_ = w.gz.Close()
	return buf.Bytes()
}

// send posts body until it is answered, waiting out 429 and 503 as the server asks. raw is the
// size of the body before compression.
func (r *runner) send(stop context.Context, w *worker, j job, body []byte, raw int) {
	backoff := 100 * time.Millisecond
	for {
		req, err := http.NewRequestWithContext(context.WithoutCancel(stop), http.MethodPost, r.url, bytes.NewReader(body))
		if err != nil {
			r.fail(j, err.Error())
			return
		}
		if r.cfg.json {
			req.Header.Set("Content-Type", "application/json")
		} else {
			req.Header.Set("Content-Type", "application/x-protobuf")
		}
		if r.cfg.gzip {
			req.Header.Set("Content-Encoding", "gzip")
		}
		if r.cfg.token != "" {
			req.Header.Set("Authorization", "Bearer "+r.cfg.token)
		}
		req.Header.Set("User-Agent", "lookout-load")
		start := time.Now()
		resp, err := r.client.Do(req)
		r.requests.Add(1)
		if err != nil {
			r.fail(j, err.Error())
			sleep(stop, backoff) // don't spin on a server that is down
			return
		}
		rb, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		took := time.Since(start)
		switch code := resp.StatusCode; {
		case code >= 200 && code < 300:
			w.lat = append(w.lat, took)
			rejected, msg := r.partialSuccess(resp.Header.Get("Content-Type"), rb)
			if j.m != nil {
				// OTLP counts rejected data points; count their samples in proportion.
				rejected = min(max(rejected, 0), int64(j.points))
				r.metrics.pointsAcked.Add(int64(j.points) - rejected)
				rejected = (rejected*int64(j.items) + int64(j.points)/2) / int64(j.points)
			}
			rejected = min(max(rejected, 0), int64(j.items))
			r.requestsOK.Add(1)
			r.acked.Add(int64(j.items) - rejected)
			r.rejected.Add(rejected)
			r.sentBytes.Add(int64(len(body)))
			r.rawBytes.Add(int64(raw))
			if msg != "" {
				r.msgMu.Lock()
				if r.partialMsg == "" {
					r.partialMsg = msg
				}
				r.msgMu.Unlock()
			}
			return
		case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
			if code == http.StatusTooManyRequests {
				r.refused429.Add(1)
			} else {
				r.unavailable503.Add(1)
			}
			d, ok := retryAfter(resp.Header.Get("Retry-After"), time.Now())
			if !ok {
				d = backoff
				backoff = min(2*backoff, r.cfg.maxRetryAfter)
			}
			if !sleep(stop, min(d, r.cfg.maxRetryAfter)) {
				r.dropped.Add(int64(j.items))
				return
			}
		default:
			r.fail(j, fmt.Sprintf("%s: %s", resp.Status, bytes.TrimSpace(rb)))
			return
		}
	}
}

func (r *runner) fail(j job, msg string) {
	r.errs.Add(1)
	r.dropped.Add(int64(j.items))
	r.msgMu.Lock()
	if r.firstErr == "" {
		r.firstErr = msg
	}
	r.msgMu.Unlock()
}

// partialSuccess reads the rejected count and message of an OTLP response, in the encoding the
// server answered with. https://opentelemetry.io/docs/specs/otlp/#partial-success-1
func (r *runner) partialSuccess(contentType string, b []byte) (int64, string) {
	if len(b) == 0 {
		return 0, ""
	}
	isJSON := strings.Contains(contentType, "json")
	if r.cfg.signal == "metrics" {
		resp := pmetricotlp.NewExportResponse()
		if err := unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON, isJSON, b); err != nil {
			return 0, ""
		}
		return resp.PartialSuccess().RejectedDataPoints(), resp.PartialSuccess().ErrorMessage()
	}
	if r.cfg.signal == "traces" {
		resp := ptraceotlp.NewExportResponse()
		if err := unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON, isJSON, b); err != nil {
			return 0, ""
		}
		return resp.PartialSuccess().RejectedSpans(), resp.PartialSuccess().ErrorMessage()
	}
	resp := plogotlp.NewExportResponse()
	if err := unmarshal(resp.UnmarshalProto, resp.UnmarshalJSON, isJSON, b); err != nil {
		return 0, ""
	}
	return resp.PartialSuccess().RejectedLogRecords(), resp.PartialSuccess().ErrorMessage()
}

func unmarshal(proto, json func([]byte) error, isJSON bool, b []byte) error {
	if isJSON {
		return json(b)
	}
	return proto(b)
}

// retryAfter parses a Retry-After header: delay seconds or an HTTP date (RFC 9110, section 10.2.3).
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	if h == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(strings.TrimSpace(h)); err == nil {
		return time.Duration(max(s, 0)) * time.Second, true
	}
	if t, err := http.ParseTime(h); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// sleep waits for d and reports whether the run is still on.
func sleep(stop context.Context, d time.Duration) bool {
	if d <= 0 {
		return stop.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-stop.Done():
		return false
	}
}

func newClient(cfg config) *http.Client {
	return &http.Client{
		Timeout: cfg.timeout,
		Transport: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			MaxIdleConns:        2 * cfg.concurrency,
			MaxIdleConnsPerHost: 2 * cfg.concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}
