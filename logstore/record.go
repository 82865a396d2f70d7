package logstore

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// Scope is the instrumentation scope that produced a record or span.
type Scope struct {
	Name       string         `json:"name"`
	Version    string         `json:"version,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// Bytes is a bytes value of a body or an attribute, as OTLP's AnyValue
// carries it. In JSON it is OTLP/JSON's AnyValue for bytes,
// {"bytesValue":"<base64>"} (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding),
// because a bare base64 string, what encoding/json makes of []byte, cannot
// be told from a string attribute that happens to look like base64.
type Bytes []byte

// MarshalJSON writes b as {"bytesValue":"<base64>"}.
func (b Bytes) MarshalJSON() ([]byte, error) {
	out := make([]byte, 0, len(`{"bytesValue":""}`)+base64.StdEncoding.EncodedLen(len(b)))
	out = append(out, `{"bytesValue":"`...)
	out = base64.StdEncoding.AppendEncode(out, b)
	return append(out, `"}`...), nil
}

// UnmarshalJSON reads what MarshalJSON writes, so that clients in Go (and
// tests) can decode the API's records into LogRecord and Span.
func (b *Bytes) UnmarshalJSON(data []byte) error {
	var v struct {
		BytesValue []byte `json:"bytesValue"`
	}
	if err := json.Unmarshal(data, &v); err != nil {
		return err
	}
	*b = v.BytesValue
	return nil
}

// LogRecord is one stored log record, in the shape the HTTP API returns.
type LogRecord struct {
	Timestamp         time.Time      `json:"timestamp"`
	ObservedTimestamp time.Time      `json:"observed_timestamp"`
	SeverityText      string         `json:"severity_text"`
	SeverityNumber    int32          `json:"severity_number"`
	Body              any            `json:"body"`
	TraceID           string         `json:"trace_id"`
	SpanID            string         `json:"span_id"`
	Service           string         `json:"service"`
	Attributes        map[string]any `json:"attributes"`
	Resource          map[string]any `json:"resource"`
	Scope             Scope          `json:"scope"`
	EventName         string         `json:"event_name,omitempty"`
}

// Span is one stored span, in the shape the HTTP API returns.
type Span struct {
	TraceID      string         `json:"trace_id"`
	SpanID       string         `json:"span_id"`
	ParentSpanID string         `json:"parent_span_id"`
	TraceState   string         `json:"trace_state,omitempty"`
	Service      string         `json:"service"`
	Name         string         `json:"name"`
	Kind         string         `json:"kind"`
	Start        time.Time      `json:"start"`
	End          time.Time      `json:"end"`
	DurationNS   int64          `json:"duration_ns"`
	Status       SpanStatus     `json:"status"`
	Attributes   map[string]any `json:"attributes"`
	Events       []SpanEvent    `json:"events"`
	Links        []SpanLink     `json:"links"`
	Resource     map[string]any `json:"resource"`
	Scope        Scope          `json:"scope"`
}

// SpanStatus is a span's status: code is "unset", "ok" or "error".
type SpanStatus struct {
	Code    string `json:"code"`
	Message string `json:"message,omitempty"`
}

// SpanEvent is a timed event on a span, such as a recorded exception.
type SpanEvent struct {
	Time       time.Time      `json:"time"`
	Name       string         `json:"name"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// SpanLink points from a span to a span of another (or the same) trace.
type SpanLink struct {
	TraceID    string         `json:"trace_id"`
	SpanID     string         `json:"span_id"`
	TraceState string         `json:"trace_state,omitempty"`
	Attributes map[string]any `json:"attributes,omitempty"`
}

// maxBlockRecords bounds the records in one block, so that the uint16 record
// index of a location and the cost of decoding one block both stay small.
const maxBlockRecords = 4096

// encodedBlock is a block ready to store: its bytes before compression and
// the time span of its records, which retention uses.
type encodedBlock struct {
	data         []byte
	count        int
	minTs, maxTs int64
}

// blockBuilder accumulates records of one signal into blocks.
type blockBuilder struct {
	magic     byte
	now       int64
	resources encoder
	nres      int
	scopes    encoder
	nscopes   int
	recs      encoder
	offsets   []uint32
	minTs     int64
	maxTs     int64
	out       []encodedBlock
}

func newBlockBuilder(magic byte, now time.Time) *blockBuilder {
	return &blockBuilder{magic: magic, now: now.UnixNano()}
}

func (b *blockBuilder) addResource(r pcommon.Resource) uint64 {
	b.resources.attrs(r.Attributes())
	b.nres++
	return uint64(b.nres - 1)
}

func (b *blockBuilder) addScope(s pcommon.InstrumentationScope) uint64 {
	b.scopes.str(s.Name())
	b.scopes.str(s.Version())
	b.scopes.attrs(s.Attributes())
	b.nscopes++
	return uint64(b.nscopes - 1)
}

func (b *blockBuilder) startRecord(ts int64) {
	if len(b.offsets) == 0 || ts < b.minTs {
		b.minTs = ts
	}
	if len(b.offsets) == 0 || ts > b.maxTs {
		b.maxTs = ts
	}
	b.offsets = append(b.offsets, uint32(len(b.recs.buf)))
}

// full reports whether the block has reached its record bound; the caller
// then flushes and re-adds the current resource and scope.
func (b *blockBuilder) full() bool { return len(b.offsets) >= maxBlockRecords }

func (b *blockBuilder) flush() {
	if len(b.offsets) == 0 {
		return
	}
	e := encoder{buf: make([]byte, 0, 16+len(b.resources.buf)+len(b.scopes.buf)+4*len(b.offsets)+len(b.recs.buf))}
	e.buf = append(e.buf, b.magic, blockVersion)
	e.uvarint(uint64(b.nres))
	e.buf = append(e.buf, b.resources.buf...)
	e.uvarint(uint64(b.nscopes))
	e.buf = append(e.buf, b.scopes.buf...)
	e.uvarint(uint64(len(b.offsets)))
	for _, o := range b.offsets {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, o)
	}
	e.buf = append(e.buf, b.recs.buf...)
	b.out = append(b.out, encodedBlock{data: e.buf, count: len(b.offsets), minTs: b.minTs, maxTs: b.maxTs})
	b.resources.buf, b.nres = b.resources.buf[:0], 0
	b.scopes.buf, b.nscopes = b.scopes.buf[:0], 0
	b.recs.buf, b.offsets = nil, nil
}

// recordTime picks the time a record is filed under: its own timestamp, else
// when it was observed, else when lookout received it.
func recordTime(ts, observed pcommon.Timestamp, now int64) int64 {
	if ts != 0 {
		return int64(ts)
	}
	if observed != 0 {
		return int64(observed)
	}
	return now
}

// encodeLogs turns an OTLP logs payload into blocks.
func encodeLogs(ld plog.Logs, now time.Time) []encodedBlock {
	b := newBlockBuilder(blockMagicLogs, now)
	rls := ld.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		rl := rls.At(i)
		res := b.addResource(rl.Resource())
		sls := rl.ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			sl := sls.At(j)
			scope := b.addScope(sl.Scope())
			lrs := sl.LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				if b.full() {
					b.flush()
					res = b.addResource(rl.Resource())
					scope = b.addScope(sl.Scope())
				}
				lr := lrs.At(k)
				b.startRecord(recordTime(lr.Timestamp(), lr.ObservedTimestamp(), b.now))
				e := &b.recs
				e.uvarint(res)
				e.uvarint(scope)
				e.varint(int64(lr.Timestamp()))
				e.varint(int64(lr.ObservedTimestamp()))
				e.varint(int64(lr.SeverityNumber()))
				e.str(lr.SeverityText())
				e.value(lr.Body())
				e.attrs(lr.Attributes())
				tid, sid := lr.TraceID(), lr.SpanID()
				e.id(tid[:])
				e.id(sid[:])
				e.uvarint(uint64(lr.Flags()))
				e.str(lr.EventName())
			}
		}
	}
	b.flush()
	return b.out
}

// encodeTraces turns an OTLP traces payload into blocks.
func encodeTraces(td ptrace.Traces, now time.Time) []encodedBlock {
	b := newBlockBuilder(blockMagicSpans, now)
	rss := td.ResourceSpans()
	for i := 0; i < rss.Len(); i++ {
		rs := rss.At(i)
		res := b.addResource(rs.Resource())
		sss := rs.ScopeSpans()
		for j := 0; j < sss.Len(); j++ {
			ss := sss.At(j)
			scope := b.addScope(ss.Scope())
			spans := ss.Spans()
			for k := 0; k < spans.Len(); k++ {
				if b.full() {
					b.flush()
					res = b.addResource(rs.Resource())
					scope = b.addScope(ss.Scope())
				}
				sp := spans.At(k)
				b.startRecord(recordTime(sp.StartTimestamp(), sp.EndTimestamp(), b.now))
				e := &b.recs
				e.uvarint(res)
				e.uvarint(scope)
				tid, sid, pid := sp.TraceID(), sp.SpanID(), sp.ParentSpanID()
				e.id(tid[:])
				e.id(sid[:])
				e.id(pid[:])
				e.str(sp.TraceState().AsRaw())
				e.uvarint(uint64(sp.Flags()))
				e.str(sp.Name())
				e.uvarint(uint64(sp.Kind()))
				e.varint(int64(sp.StartTimestamp()))
				e.varint(int64(sp.EndTimestamp()))
				e.attrs(sp.Attributes())
				evs := sp.Events()
				e.uvarint(uint64(evs.Len()))
				for x := 0; x < evs.Len(); x++ {
					ev := evs.At(x)
					e.varint(int64(ev.Timestamp()))
					e.str(ev.Name())
					e.attrs(ev.Attributes())
				}
				links := sp.Links()
				e.uvarint(uint64(links.Len()))
				for x := 0; x < links.Len(); x++ {
					l := links.At(x)
					ltid, lsid := l.TraceID(), l.SpanID()
					e.id(ltid[:])
					e.id(lsid[:])
					e.str(l.TraceState().AsRaw())
					e.attrs(l.Attributes())
				}
				e.uvarint(uint64(sp.Status().Code()))
				e.str(sp.Status().Message())
			}
		}
	}
	b.flush()
	return b.out
}

func unixTime(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

// decodeLog decodes record i of a logs block.
func decodeLog(h *blockHeader, i int) (LogRecord, error) {
	d, err := h.record(i)
	if err != nil {
		return LogRecord{}, err
	}
	res, svc, err := h.resource(d.uvarint())
	if err != nil {
		return LogRecord{}, err
	}
	scope, err := h.scope(d.uvarint())
	if err != nil {
		return LogRecord{}, err
	}
	var r LogRecord
	ts := d.varint()
	obs := d.varint()
	r.Timestamp = unixTime(ts)
	r.ObservedTimestamp = unixTime(obs)
	r.SeverityNumber = int32(d.varint())
	r.SeverityText = d.str()
	r.Body = d.value(0)
	r.Attributes = d.attrs(0)
	r.TraceID = hex.EncodeToString(d.id())
	r.SpanID = hex.EncodeToString(d.id())
	d.uvarint() // flags
	r.EventName = d.str()
	if d.err != nil {
		return LogRecord{}, d.err
	}
	r.Service = svc
	r.Resource = res
	r.Scope = scope
	if r.Timestamp.IsZero() {
		r.Timestamp = r.ObservedTimestamp
	}
	return r, nil
}

// logDigest identifies record i of a logs block by its content, resource
// and scope, so that a re-delivered copy in another block digests equally.
// The observed time is left out: lookout sets it on receipt where the
// sender did not, so two deliveries of one record may differ there only.
func logDigest(h *blockHeader, i int) uint64 {
	d := decoder{buf: h.recordBytes(i)}
	res, scope := d.uvarint(), d.uvarint()
	if d.err != nil || res >= uint64(len(h.resDigest)) || scope >= uint64(len(h.scopeRaw)) {
		return 0
	}
	rec := d.buf
	d.varint() // timestamp
	tsEnd := len(rec) - len(d.buf)
	d.varint() // observed timestamp
	if d.err != nil {
		return 0
	}
	var x xxhash.Digest
	x.Reset()
	x.Write(rec[:tsEnd])
	x.Write(d.buf)
	return x.Sum64() ^ h.resDigest[res]*0x9e3779b97f4a7c15 ^ xxhash.Sum64(h.scopeRaw[scope])
}

var spanKinds = [...]string{"unspecified", "internal", "server", "client", "producer", "consumer"}

func spanKindName(k uint64) string {
	if k < uint64(len(spanKinds)) {
		return spanKinds[k]
	}
	return "unspecified"
}

var statusCodes = [...]string{"unset", "ok", "error"}

func statusName(c uint64) string {
	if c < uint64(len(statusCodes)) {
		return statusCodes[c]
	}
	return "unset"
}

// decodeSpan decodes span i of a spans block.
func decodeSpan(h *blockHeader, i int) (Span, error) {
	d, err := h.record(i)
	if err != nil {
		return Span{}, err
	}
	res, svc, err := h.resource(d.uvarint())
	if err != nil {
		return Span{}, err
	}
	scope, err := h.scope(d.uvarint())
	if err != nil {
		return Span{}, err
	}
	s := Span{Service: svc, Resource: res, Scope: scope}
	s.TraceID = hex.EncodeToString(d.id())
	s.SpanID = hex.EncodeToString(d.id())
	s.ParentSpanID = hex.EncodeToString(d.id())
	s.TraceState = d.str()
	d.uvarint() // flags
	s.Name = d.str()
	s.Kind = spanKindName(d.uvarint())
	start, end := d.varint(), d.varint()
	s.Start, s.End = unixTime(start), unixTime(end)
	if end > start {
		s.DurationNS = end - start
	}
	s.Attributes = d.attrs(0)
	n := d.count()
	s.Events = make([]SpanEvent, 0, prealloc(n))
	for x := 0; x < n && d.err == nil; x++ {
		s.Events = append(s.Events, SpanEvent{Time: unixTime(d.varint()), Name: d.str(), Attributes: d.attrs(0)})
	}
	n = d.count()
	s.Links = make([]SpanLink, 0, prealloc(n))
	for x := 0; x < n && d.err == nil; x++ {
		s.Links = append(s.Links, SpanLink{
			TraceID:    hex.EncodeToString(d.id()),
			SpanID:     hex.EncodeToString(d.id()),
			TraceState: d.str(),
			Attributes: d.attrs(0),
		})
	}
	s.Status.Code = statusName(d.uvarint())
	s.Status.Message = d.str()
	if d.err != nil {
		return Span{}, d.err
	}
	return s, nil
}

// serviceOf reads service.name from OTLP resource attributes.
func serviceOf(r pcommon.Resource) string {
	if v, ok := r.Attributes().Get("service.name"); ok {
		return v.AsString()
	}
	return ""
}

func normSeverity(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// stringify renders a decoded value as text for indexing: strings as they
// are, anything structured as JSON.
func stringify(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case int64:
		return strconv.FormatInt(x, 10)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	case bool:
		return strconv.FormatBool(x)
	case Bytes:
		return hex.EncodeToString(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return ""
	}
	return string(b)
}

// spanTraceID reads the trace id of an encoded span without decoding it.
func spanTraceID(rec []byte) ([16]byte, bool) {
	var id [16]byte
	d := decoder{buf: rec}
	d.uvarint()
	d.uvarint()
	b := d.id()
	if d.err != nil || len(b) != 16 {
		return id, false
	}
	copy(id[:], b)
	return id, true
}

// logBody returns the body of an encoded log record when it is a string,
// without decoding the rest: every word of such a body is a substring of
// it, which makes a cheap test before a full decode.
func logBody(rec []byte) ([]byte, bool) {
	d := decoder{buf: rec}
	d.uvarint() // resource
	d.uvarint() // scope
	d.varint()  // timestamp
	d.varint()  // observed
	d.varint()  // severity number
	d.raw(d.uvarint())
	if d.byte() != valStr || d.err != nil {
		return nil, false
	}
	b := d.raw(d.uvarint())
	return b, d.err == nil
}
