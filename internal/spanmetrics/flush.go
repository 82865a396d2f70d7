package spanmetrics

import (
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// snapshot is a copy of the aggregates, taken under the connector's mutex
// so that the OTLP metrics can be built outside it. Its buffers are kept
// between flushes.
type snapshot struct {
	groups    []group
	points    []point
	buckets   []uint64
	exemplars []exemplar
}

// group is the points of one resource.
type group struct {
	res      *resource
	from, to int // range of snapshot.points
}

type point struct {
	key          seriesKey
	start        pcommon.Timestamp
	count        uint64
	sum          float64
	buckets      int // offset of the bucket counts in snapshot.buckets
	exFrom, exTo int // range of snapshot.exemplars
}

// release empties s and drops its references to the aggregates, so that
// expired resources can be collected.
func (s *snapshot) release() {
	clear(s.groups)
	clear(s.points)
	s.groups, s.points = s.groups[:0], s.points[:0]
	s.buckets, s.exemplars = s.buckets[:0], s.exemplars[:0]
}

// collect drops expired series and copies the rest, and the exemplars
// recorded since the last flush, into c.snap. It returns the flush time.
// Called with flushMu held.
func (c *Connector) collect() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	expireBefore := now.Add(-c.cfg.Expiration).UnixNano()
	var expired int
	for h, res := range c.resources {
		n := c.snapResource(res, expireBefore)
		c.nseries -= n
		expired += n
		if len(res.series) == 0 {
			delete(c.resources, h)
		}
	}
	for k, res := range c.overflow {
		expired += c.snapResource(res, expireBefore)
		if len(res.series) == 0 {
			delete(c.overflow, k)
		}
	}
	c.regularGauge.Store(int64(c.nseries))
	c.overflowGauge.Store(int64(len(c.overflow)))
	if expired > 0 {
		c.m.expired.AddInt64(int64(expired))
	}
	return now
}

// snapResource copies res's live series into c.snap, clearing their
// exemplars, and deletes those that have seen no span since expireBefore.
// It returns how many it deleted. Called with mu held.
func (c *Connector) snapResource(res *resource, expireBefore int64) (expired int) {
	sn := &c.snap
	from := len(sn.points)
	for key, s := range res.series {
		if s.lastSeen <= expireBefore {
			delete(res.series, key)
			expired++
			continue
		}
		p := point{key: key, start: s.start, count: s.count, sum: s.sum, buckets: len(sn.buckets), exFrom: len(sn.exemplars)}
		sn.buckets = append(sn.buckets, s.buckets...)
		for i := range s.exemplars {
			if s.exemplars[i].ts != 0 {
				sn.exemplars = append(sn.exemplars, s.exemplars[i])
				s.exemplars[i] = exemplar{}
			}
		}
		p.exTo = len(sn.exemplars)
		sn.points = append(sn.points, p)
	}
	if len(sn.points) > from {
		sn.groups = append(sn.groups, group{res: res, from: from, to: len(sn.points)})
	}
	return expired
}

// build turns c.snap into OTLP metrics stamped now: per resource, the calls
// Sum and the duration Histogram, both cumulative. Called with flushMu
// held and without mu: a resource's attributes never change once created.
func (c *Connector) build(now pcommon.Timestamp) pmetric.Metrics {
	sn := &c.snap
	nb := len(c.bounds) + 1
	md := pmetric.NewMetrics()
	rms := md.ResourceMetrics()
	rms.EnsureCapacity(len(sn.groups))
	for _, g := range sn.groups {
		rm := rms.AppendEmpty()
		g.res.attrs.CopyTo(rm.Resource().Attributes())
		sm := rm.ScopeMetrics().AppendEmpty()
		sm.Scope().SetName(scopeName)
		ms := sm.Metrics()
		ms.EnsureCapacity(2)

		calls := ms.AppendEmpty()
		calls.SetName(metricCalls)
		sum := calls.SetEmptySum()
		sum.SetIsMonotonic(true)
		sum.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

		duration := ms.AppendEmpty()
		duration.SetName(metricDuration)
		duration.SetUnit(unitDuration)
		hist := duration.SetEmptyHistogram()
		hist.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)

		sdps, hdps := sum.DataPoints(), hist.DataPoints()
		sdps.EnsureCapacity(g.to - g.from)
		hdps.EnsureCapacity(g.to - g.from)
		for _, p := range sn.points[g.from:g.to] {
			sdp := sdps.AppendEmpty()
			putAttributes(sdp.Attributes(), g.res, p.key)
			sdp.SetStartTimestamp(p.start)
			sdp.SetTimestamp(now)
			sdp.SetIntValue(int64(p.count))

			hdp := hdps.AppendEmpty()
			sdp.Attributes().CopyTo(hdp.Attributes())
			hdp.SetStartTimestamp(p.start)
			hdp.SetTimestamp(now)
			hdp.SetCount(p.count)
			hdp.SetSum(p.sum)
			hdp.ExplicitBounds().FromRaw(c.bounds)
			hdp.BucketCounts().FromRaw(sn.buckets[p.buckets : p.buckets+nb])
			// In bucket order, hence by value, as Prometheus' converter
			// expects when it assigns exemplars to buckets.
			exs := hdp.Exemplars()
			exs.EnsureCapacity(p.exTo - p.exFrom)
			for _, e := range sn.exemplars[p.exFrom:p.exTo] {
				pe := exs.AppendEmpty()
				pe.SetTimestamp(e.ts)
				pe.SetDoubleValue(e.value)
				pe.SetTraceID(e.traceID)
				pe.SetSpanID(e.spanID)
			}
		}
	}
	return md
}

// putAttributes sets the data point attributes of the series key of res.
func putAttributes(m pcommon.Map, res *resource, key seriesKey) {
	if res.overflow {
		m.EnsureCapacity(2)
		m.PutStr(attrServiceName, res.service)
		m.PutBool(attrOverflow, true)
		return
	}
	m.EnsureCapacity(4)
	m.PutStr(attrServiceName, res.service)
	m.PutStr(attrSpanName, key.name)
	m.PutStr(attrSpanKind, spanKindString(key.kind))
	m.PutStr(attrStatusCode, statusCodeString(key.status))
}

// spanKindString and statusCodeString spell kinds and codes as the
// connector does (its traceutil.SpanKindStr and StatusCodeStr): the OTLP
// enum names, empty for values OTLP does not define.
func spanKindString(k ptrace.SpanKind) string {
	switch k {
	case ptrace.SpanKindUnspecified:
		return "SPAN_KIND_UNSPECIFIED"
	case ptrace.SpanKindInternal:
		return "SPAN_KIND_INTERNAL"
	case ptrace.SpanKindServer:
		return "SPAN_KIND_SERVER"
	case ptrace.SpanKindClient:
		return "SPAN_KIND_CLIENT"
	case ptrace.SpanKindProducer:
		return "SPAN_KIND_PRODUCER"
	case ptrace.SpanKindConsumer:
		return "SPAN_KIND_CONSUMER"
	}
	return ""
}

func statusCodeString(c ptrace.StatusCode) string {
	switch c {
	case ptrace.StatusCodeUnset:
		return "STATUS_CODE_UNSET"
	case ptrace.StatusCodeOk:
		return "STATUS_CODE_OK"
	case ptrace.StatusCodeError:
		return "STATUS_CODE_ERROR"
	}
	return ""
}

// knownKind and knownStatus fold the values OTLP does not define into one,
// so that they make one series (with an empty attribute) rather than many
// series with the same attributes.
func knownKind(k ptrace.SpanKind) ptrace.SpanKind {
	if k < ptrace.SpanKindUnspecified || k > ptrace.SpanKindConsumer {
		return -1
	}
	return k
}

func knownStatus(c ptrace.StatusCode) ptrace.StatusCode {
	if c < ptrace.StatusCodeUnset || c > ptrace.StatusCodeError {
		return -1
	}
	return c
}
