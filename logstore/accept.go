package logstore

import (
	"fmt"
	"strings"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// What the store accepts. A record it could not find again is refused on
// receipt, with a reason, rather than acknowledged and lost: the OTLP
// partial success says how many went and why.
const (
	// maxFuture is how far ahead of the clock a record or span may be
	// stamped, as for metric samples.
	maxFuture = 24 * time.Hour
	// maxValueDepth is how deep kvlist and array values may nest: the
	// block decoder stops there.
	maxValueDepth = 64
)

// PartialError says that part of a request was refused and why; the rest
// is stored. ingest recognises it by its PartiallyRejected method.
type PartialError struct {
	Rejected int
	Reason   string
}

func (e *PartialError) Error() string { return e.Reason }

// PartiallyRejected reports how many items were refused and why.
func (e *PartialError) PartiallyRejected() (int, string) { return e.Rejected, e.Reason }

// refusals counts refused items by reason, in a stable order.
type refusals struct {
	n       []int
	reasons []string
}

func (r *refusals) add(reason string) {
	for i, s := range r.reasons {
		if s == reason {
			r.n[i]++
			return
		}
	}
	r.reasons = append(r.reasons, reason)
	r.n = append(r.n, 1)
}

func (r *refusals) err(what string) error {
	total := 0
	parts := make([]string, len(r.n))
	for i, n := range r.n {
		total += n
		parts[i] = fmt.Sprintf("%d %s %s", n, what, r.reasons[i])
	}
	if total == 0 {
		return nil
	}
	return &PartialError{Rejected: total, Reason: strings.Join(parts, "; ")}
}

// timeReason says why a record stamped ts cannot be kept, or "".
func timeReason(ts pcommon.Timestamp, now time.Time, retention time.Duration, signal string) string {
	switch t := int64(ts); {
	case t < 0 || t > now.Add(maxFuture).UnixNano():
		return "stamped more than a day ahead of the clock refused"
	case t < now.Add(-retention).UnixNano():
		return fmt.Sprintf("older than the %s retention (%s) refused", signal, retention)
	}
	return ""
}

// acceptLogs drops the log records of ld that the store could not find
// again, and sets the observed time of the rest to now where the sender
// left it unset (the OTLP data model asks that of a receiver), so that a
// record with neither timestamp is found at its time of arrival.
func (s *Store) acceptLogs(ld plog.Logs, now time.Time) error {
	var ref refusals
	obs := pcommon.NewTimestampFromTime(now)
	ld.ResourceLogs().RemoveIf(func(rl plog.ResourceLogs) bool {
		if mapDepth(rl.Resource().Attributes()) > maxValueDepth {
			for _, sl := range rl.ScopeLogs().All() {
				for range sl.LogRecords().Len() {
					ref.add("with resource attributes nested deeper than 64 levels refused")
				}
			}
			return true
		}
		rl.ScopeLogs().RemoveIf(func(sl plog.ScopeLogs) bool {
			deep := mapDepth(sl.Scope().Attributes()) > maxValueDepth
			sl.LogRecords().RemoveIf(func(lr plog.LogRecord) bool {
				if deep {
					ref.add("with scope attributes nested deeper than 64 levels refused")
					return true
				}
				if lr.ObservedTimestamp() == 0 {
					lr.SetObservedTimestamp(obs)
				}
				ts := lr.Timestamp()
				if ts == 0 {
					ts = lr.ObservedTimestamp()
				}
				if why := timeReason(ts, now, s.cfg.LogsRetention, "logs"); why != "" {
					ref.add(why)
					return true
				}
				if valueDepth(lr.Body()) > maxValueDepth || mapDepth(lr.Attributes()) > maxValueDepth {
					ref.add("with a body or attributes nested deeper than 64 levels refused")
					return true
				}
				return false
			})
			return sl.LogRecords().Len() == 0
		})
		return rl.ScopeLogs().Len() == 0
	})
	return ref.err("log records")
}

// acceptSpans drops the spans of td that the store could not find again.
func (s *Store) acceptSpans(td ptrace.Traces, now time.Time) error {
	var ref refusals
	td.ResourceSpans().RemoveIf(func(rs ptrace.ResourceSpans) bool {
		if mapDepth(rs.Resource().Attributes()) > maxValueDepth {
			for _, ss := range rs.ScopeSpans().All() {
				for range ss.Spans().Len() {
					ref.add("with resource attributes nested deeper than 64 levels refused")
				}
			}
			return true
		}
		rs.ScopeSpans().RemoveIf(func(ss ptrace.ScopeSpans) bool {
			deep := mapDepth(ss.Scope().Attributes()) > maxValueDepth
			ss.Spans().RemoveIf(func(sp ptrace.Span) bool {
				switch {
				case deep:
					ref.add("with scope attributes nested deeper than 64 levels refused")
					return true
				case sp.StartTimestamp() == 0:
					ref.add("without a start time refused")
					return true
				}
				if why := timeReason(sp.StartTimestamp(), now, s.cfg.TracesRetention, "traces"); why != "" {
					ref.add(why)
					return true
				}
				if spanDepth(sp) > maxValueDepth {
					ref.add("with attributes nested deeper than 64 levels refused")
					return true
				}
				return false
			})
			return ss.Spans().Len() == 0
		})
		return rs.ScopeSpans().Len() == 0
	})
	return ref.err("spans")
}

func spanDepth(sp ptrace.Span) int {
	d := mapDepth(sp.Attributes())
	for _, ev := range sp.Events().All() {
		d = max(d, mapDepth(ev.Attributes()))
	}
	for _, l := range sp.Links().All() {
		d = max(d, mapDepth(l.Attributes()))
	}
	return d
}

// valueDepth is how deeply v nests kvlists and arrays, counted as the
// block decoder counts (a map's values one level below it); it stops
// counting past maxValueDepth.
func valueDepth(v pcommon.Value) int {
	return depthOf(v, 0)
}

func mapDepth(m pcommon.Map) int {
	d := 0
	for _, v := range m.All() {
		if d = max(d, depthOf(v, 0)); d > maxValueDepth {
			break
		}
	}
	return d
}

func depthOf(v pcommon.Value, depth int) int {
	if depth > maxValueDepth {
		return depth
	}
	d := depth
	switch v.Type() {
	case pcommon.ValueTypeSlice:
		for _, c := range v.Slice().All() {
			if d = max(d, depthOf(c, depth+1)); d > maxValueDepth {
				break
			}
		}
	case pcommon.ValueTypeMap:
		for _, c := range v.Map().All() {
			if d = max(d, depthOf(c, depth+1)); d > maxValueDepth {
				break
			}
		}
	}
	return d
}
