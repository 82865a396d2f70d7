package spanmetrics

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Names as the collector-contrib spanmetrics connector emits them.
const (
	metricCalls    = "traces.span.metrics.calls"
	metricDuration = "traces.span.metrics.duration"
	unitDuration   = "ms"
	scopeName      = "spanmetricsconnector"

	attrServiceName      = "service.name"
	attrServiceNamespace = "service.namespace"
	attrSpanName         = "span.name"
	attrSpanKind         = "span.kind"
	attrStatusCode       = "status.code"
	// attrOverflow marks the series that spans of new series go to once
	// the cardinality limit is reached, as the OpenTelemetry SDKs mark it.
	attrOverflow = "otel.metric.overflow"
)

const (
	defaultFlushInterval = 15 * time.Second
	defaultExpiration    = 10 * time.Minute
	defaultMaxSeries     = 10_000
	// maxBuckets bounds the memory of one series (a count and an exemplar
	// slot per bucket).
	maxBuckets = 64
	// finalFlushTimeout bounds the flush Run makes after its context is done.
	finalFlushTimeout = 10 * time.Second
	// failureLogEvery is how often one kind of flush failure is logged while
	// it persists.
	failureLogEvery = 5 * time.Minute
)

// defaultBuckets are the connector's default duration buckets.
var defaultBuckets = []time.Duration{
	2 * time.Millisecond, 4 * time.Millisecond, 6 * time.Millisecond, 8 * time.Millisecond,
	10 * time.Millisecond, 50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond,
	400 * time.Millisecond, 800 * time.Millisecond, time.Second, 1400 * time.Millisecond,
	2 * time.Second, 5 * time.Second, 10 * time.Second, 15 * time.Second,
}

// MetricsConsumer receives the span metrics at every flush. The metric
// store satisfies it through its OTLP conversion.
type MetricsConsumer interface {
	ConsumeMetrics(ctx context.Context, md pmetric.Metrics) error
}

// Config is what a user sets for span metrics. Zero fields take their
// defaults.
type Config struct {
	// FlushInterval is how often the aggregates are emitted (the
	// connector's metrics_flush_interval). Default 15s.
	FlushInterval time.Duration
	// Expiration drops a series that has seen no span for this long (the
	// connector's metrics_expiration). Default 10m; it must be longer than
	// FlushInterval.
	Expiration time.Duration
	// MaxSeries bounds the series kept (the connector's
	// aggregation_cardinality_limit). Default 10,000.
	MaxSeries int
	// Buckets are the upper bounds of the duration histogram's buckets,
	// strictly increasing. Default: the connector's, 2ms to 15s.
	Buckets []time.Duration
}

// withDefaults returns c with its zero fields set to the defaults.
func (c Config) withDefaults() Config {
	if c.FlushInterval == 0 {
		c.FlushInterval = defaultFlushInterval
	}
	if c.Expiration == 0 {
		c.Expiration = defaultExpiration
	}
	if c.MaxSeries == 0 {
		c.MaxSeries = defaultMaxSeries
	}
	if len(c.Buckets) == 0 {
		c.Buckets = defaultBuckets
	}
	return c
}

// Validate reports what is wrong with c once defaults are applied.
func (c Config) Validate() error {
	c = c.withDefaults()
	var errs []error
	if c.FlushInterval < 0 {
		errs = append(errs, fmt.Errorf("span metrics flush interval %s is negative", c.FlushInterval))
	}
	if c.Expiration <= c.FlushInterval {
		errs = append(errs, fmt.Errorf("span metrics expiration %s is not longer than the flush interval %s", c.Expiration, c.FlushInterval))
	}
	if c.MaxSeries < 0 {
		errs = append(errs, fmt.Errorf("span metrics series limit %d is negative", c.MaxSeries))
	}
	if len(c.Buckets) > maxBuckets {
		errs = append(errs, fmt.Errorf("span metrics has %d duration buckets, more than %d", len(c.Buckets), maxBuckets))
	}
	for i, b := range c.Buckets {
		if b <= 0 {
			errs = append(errs, fmt.Errorf("span metrics duration bucket %s is not positive", b))
		} else if i > 0 && b <= c.Buckets[i-1] {
			errs = append(errs, fmt.Errorf("span metrics duration buckets are not increasing at %s", b))
		}
	}
	return errors.Join(errs...)
}

// Options is what code sets for span metrics.
type Options struct {
	// Logger receives flush failures and recoveries; nothing if nil.
	Logger *slog.Logger
	// Metrics receives the connector's own metrics
	// (lookout_spanmetrics_*).
	Metrics *metrics.Set
	// Next receives the span metrics at every flush. Required.
	Next MetricsConsumer
	// Now is the clock; time.Now if nil.
	Now func() time.Time
}

// Connector aggregates spans into RED metrics and emits them to a
// MetricsConsumer. Its methods are safe for concurrent use.
type Connector struct {
	cfg         Config
	bounds      []float64 // bucket upper bounds in milliseconds
	maxOverflow int
	log         *slog.Logger
	next        MetricsConsumer
	now         func() time.Time
	m           *selfMetrics

	mu        sync.Mutex
	resources map[uint64]*resource // by hash of the resource attributes
	overflow  map[string]*resource // by service namespace and name
	nseries   int                  // regular series, bounded by cfg.MaxSeries
	// Series counts for the self-metric gauges, read without mu.
	regularGauge  atomic.Int64
	overflowGauge atomic.Int64

	// flushMu serialises flushes, so that the consumer sees each series'
	// cumulative values in order, and guards the fields below.
	flushMu  sync.Mutex
	snap     snapshot
	failures map[string]time.Time // when each kind of failure was last logged
	failed   int                  // consecutive failed flushes
}

// resource is the series of one resource, or the overflow series of one
// service.
type resource struct {
	attrs    pcommon.Map // never changed once created, so read without mu
	service  string
	overflow bool
	series   map[seriesKey]*series
}

type seriesKey struct {
	name   string
	kind   ptrace.SpanKind
	status ptrace.StatusCode
}

type series struct {
	start    pcommon.Timestamp
	lastSeen int64 // Unix nanoseconds
	count    uint64
	sum      float64 // milliseconds
	buckets  []uint64
	// exemplars holds the latest span of each bucket since the last
	// flush; a zero ts marks an empty slot.
	exemplars []exemplar
}

type exemplar struct {
	ts      pcommon.Timestamp
	value   float64
	traceID pcommon.TraceID
	spanID  pcommon.SpanID
}

// New returns a Connector. Call Run to flush periodically.
func New(cfg Config, opts Options) (*Connector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if opts.Next == nil {
		return nil, errors.New("span metrics: no metrics consumer")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	bounds := make([]float64, len(cfg.Buckets))
	for i, b := range cfg.Buckets {
		bounds[i] = durationMillis(int64(b))
	}
	c := &Connector{
		cfg:         cfg,
		bounds:      bounds,
		maxOverflow: max(cfg.MaxSeries/10, 1),
		log:         opts.Logger,
		next:        opts.Next,
		now:         opts.Now,
		resources:   make(map[uint64]*resource),
		overflow:    make(map[string]*resource),
		failures:    make(map[string]time.Time),
	}
	c.m = newSelfMetrics(opts.Metrics, c)
	return c, nil
}

func durationMillis(ns int64) float64 { return float64(ns) / float64(time.Millisecond) }

// ConsumeTraces adds td's spans to the aggregates. It holds the connector's
// mutex for one resource's spans at a time and never waits for the
// consumer. It does not keep td.
func (c *Connector) ConsumeTraces(_ context.Context, td ptrace.Traces) error {
	now := c.now()
	nowNanos := now.UnixNano()
	nowTS := pcommon.NewTimestampFromTime(now)
	rss := td.ResourceSpans()
	for i := range rss.Len() {
		rs := rss.At(i)
		n := spanCount(rs)
		if n == 0 {
			continue
		}
		attrs := rs.Resource().Attributes()
		sv, ok := attrs.Get(attrServiceName)
		if !ok {
			c.m.droppedNoService.AddInt64(int64(n))
			continue
		}
		service := sv.AsString()
		h := hashAttrs(attrs)

		var overflowed, dropped int
		var ovf *series // this resource's overflow series, once looked up
		ovfLooked := false
		c.mu.Lock()
		res := c.resources[h]
		sss := rs.ScopeSpans()
		for j := range sss.Len() {
			spans := sss.At(j).Spans()
			for k := range spans.Len() {
				span := spans.At(k)
				key := seriesKey{name: span.Name(), kind: knownKind(span.Kind()), status: knownStatus(span.Status().Code())}
				var s *series
				if res != nil {
					s = res.series[key]
				}
				if s == nil {
					switch {
					case c.nseries < c.cfg.MaxSeries:
						if res == nil {
							res = c.newResource(h, attrs, service)
						}
						key.name = strings.Clone(key.name) // kept: do not pin a caller's larger buffer
						s = c.newSeries(res, key, nowTS)
						c.nseries++
					default:
						if !ovfLooked {
							ovf, ovfLooked = c.overflowSeries(attrs, service, nowTS), true
						}
						if ovf == nil {
							dropped++
							continue
						}
						s = ovf
						overflowed++
					}
				}
				c.observe(s, span, nowNanos, nowTS)
			}
		}
		c.regularGauge.Store(int64(c.nseries))
		c.mu.Unlock()

		c.m.spans.AddInt64(int64(n - dropped))
		if overflowed > 0 {
			c.m.overflowSpans.AddInt64(int64(overflowed))
		}
		if dropped > 0 {
			c.m.droppedLimit.AddInt64(int64(dropped))
		}
	}
	return nil
}

func spanCount(rs ptrace.ResourceSpans) int {
	n := 0
	sss := rs.ScopeSpans()
	for j := range sss.Len() {
		n += sss.At(j).Spans().Len()
	}
	return n
}

// newResource adds a resource with a copy of attrs. Called with mu held.
func (c *Connector) newResource(h uint64, attrs pcommon.Map, service string) *resource {
	res := &resource{attrs: pcommon.NewMap(), service: strings.Clone(service), series: make(map[seriesKey]*series)}
	attrs.CopyTo(res.attrs)
	c.resources[h] = res
	return res
}

// newSeries adds a series to res. Called with mu held.
func (c *Connector) newSeries(res *resource, key seriesKey, now pcommon.Timestamp) *series {
	s := &series{start: now, buckets: make([]uint64, len(c.bounds)+1)}
	res.series[key] = s
	return s
}

// overflowSeries returns the overflow series of the service that attrs
// describe, creating it if fewer than maxOverflow exist, or nil. Called
// with mu held.
func (c *Connector) overflowSeries(attrs pcommon.Map, service string, now pcommon.Timestamp) *series {
	var namespace string
	if v, ok := attrs.Get(attrServiceNamespace); ok {
		namespace = v.AsString()
	}
	key := namespace + "\x00" + service
	res := c.overflow[key]
	if res == nil {
		if len(c.overflow) >= c.maxOverflow {
			return nil
		}
		namespace, service = strings.Clone(namespace), strings.Clone(service)
		res = &resource{attrs: pcommon.NewMap(), service: service, overflow: true, series: make(map[seriesKey]*series, 1)}
		res.attrs.PutStr(attrServiceName, service)
		if namespace != "" {
			res.attrs.PutStr(attrServiceNamespace, namespace)
		}
		c.overflow[key] = res
		c.overflowGauge.Store(int64(len(c.overflow)))
	}
	s := res.series[seriesKey{}]
	if s == nil {
		s = c.newSeries(res, seriesKey{}, now)
	}
	return s
}

// observe adds span to s. Called with mu held.
func (c *Connector) observe(s *series, span ptrace.Span, nowNanos int64, nowTS pcommon.Timestamp) {
	// Protect against end timestamps before start timestamps, as the
	// connector does: count them as taking no time.
	var ms float64
	if start, end := span.StartTimestamp(), span.EndTimestamp(); end > start {
		ms = durationMillis(int64(end - start))
	}
	i := sort.SearchFloat64s(c.bounds, ms) // bucket i holds (bounds[i-1], bounds[i]]
	s.count++
	s.sum += ms
	s.buckets[i]++
	s.lastSeen = nowNanos
	if tid := span.TraceID(); !tid.IsEmpty() {
		if s.exemplars == nil {
			s.exemplars = make([]exemplar, len(s.buckets))
		}
		ts := span.EndTimestamp()
		if ts == 0 {
			ts = nowTS
		}
		s.exemplars[i] = exemplar{ts: ts, value: ms, traceID: tid, spanID: span.SpanID()}
	}
}

// Run flushes every FlushInterval until ctx is done, then flushes once more
// (with its own timeout) and returns that flush's error. Stop Run before
// closing the consumer.
func (c *Connector) Run(ctx context.Context) error {
	t := time.NewTicker(c.cfg.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), finalFlushTimeout)
			defer cancel()
			return c.Flush(fctx)
		case <-t.C:
			// Flush counts and logs its failures; the next tick retries.
			_ = c.Flush(ctx)
		}
	}
}

// Flush drops expired series and emits every remaining series' cumulative
// values to the consumer now. On failure the aggregates stay, and the next
// flush carries them.
func (c *Connector) Flush(ctx context.Context) error {
	c.flushMu.Lock()
	defer c.flushMu.Unlock()
	began := time.Now()
	now := c.collect()
	if len(c.snap.points) == 0 {
		return nil
	}
	md := c.build(pcommon.NewTimestampFromTime(now))
	c.snap.release()
	err := c.next.ConsumeMetrics(ctx, md)
	c.m.flushes.Inc()
	c.m.flushDuration.UpdateDuration(began)
	if err != nil {
		c.m.flushErrors.Inc()
		c.failed++
		c.logFailure(now, err)
		return fmt.Errorf("flush span metrics: %w", err)
	}
	if c.failed > 0 {
		c.log.Info("span_metrics_flush_recovered", "failed_flushes", c.failed)
		c.failed = 0
		clear(c.failures)
	}
	return nil
}

// logFailure logs err unless a failure of its kind was logged within
// failureLogEvery. Called with flushMu held.
func (c *Connector) logFailure(now time.Time, err error) {
	kind := failureKind(err)
	if last, ok := c.failures[kind]; ok && now.Sub(last) < failureLogEvery {
		return
	}
	if len(c.failures) >= 32 {
		clear(c.failures)
	}
	c.failures[kind] = now
	c.log.Error("span_metrics_flush_failed", "err", err, "failed_flushes", c.failed)
}

// failureKind names the kind of err: the type of the error at the root of
// its chain and its message with each number replaced by #, so that
// failures that differ only in counts are one kind.
func failureKind(err error) string {
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := u.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			break
		}
		err = next
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%T: ", err)
	digits := false
	for _, r := range err.Error() {
		isDigit := r >= '0' && r <= '9'
		if !isDigit {
			b.WriteRune(r)
		} else if !digits {
			b.WriteByte('#')
		}
		digits = isDigit
	}
	return b.String()
}
