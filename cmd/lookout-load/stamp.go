package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// A template is one marshalled OTLP export request (protobuf or JSON) and the places in it that are
// re-stamped on every send: trace and span ids, timestamps, and long hex tokens inside string
// values (request ids, order ids, UUID tails). Re-stamping costs a copy and a pass over those places,
// far less than building and marshalling pdata again, so the client stays cheap while every request
// it sends is new to the server: ids are not de-duplicated and the index sees fresh rare terms.
//
// Ids and hex tokens are XORed with masks drawn per send. One mask per request keeps a request
// consistent (a span's parent_span_id still names its parent, a request id in a body still equals the
// one in the attributes), while different requests get different values. Timestamps move by the time
// elapsed since the template was generated.
type template struct {
	body    []byte
	patches []patch
	json    bool
	items   int       // log records or spans
	base    time.Time // the "now" the generator used
}

type patchKind uint8

const (
	patchTraceID patchKind = iota // 16 bytes, or 32 hex digits in JSON
	patchSpanID                   // 8 bytes, or 16 hex digits in JSON
	patchTime                     // fixed64 little endian, or decimal digits in JSON
	patchHex                      // a run of lowercase hex digits inside a string value
)

type patch struct {
	off  int32
	n    int32
	kind patchKind
}

// stampMasks holds what one send changes. Draw it fresh for every request.
type stampMasks struct {
	trace [16]byte
	span  [8]byte
	hex   [32]byte // one nibble per byte
	delta int64    // nanoseconds to add to every timestamp
}

// minHexRun is the shortest run of hex digits in a string that is re-stamped. Shorter runs are
// numbers and words; 12 leaves UUIDs their last group and keeps collisions with ordinary text out.
const minHexRun = 12

func newTemplate(body []byte, isJSON, traces bool, items int, base time.Time) (*template, error) {
	t := &template{body: body, json: isJSON, items: items, base: base}
	var err error
	switch {
	case isJSON:
		t.patches, err = scanJSON(body)
	case traces:
		err = scanProto(body, 0, tracesRequestSchema, &t.patches)
	default:
		err = scanProto(body, 0, logsRequestSchema, &t.patches)
	}
	if err != nil {
		return nil, fmt.Errorf("scan request: %w", err)
	}
	return t, nil
}

// stamp writes the template's body with m applied into dst and returns it.
func (t *template) stamp(dst []byte, m *stampMasks) []byte {
	dst = append(dst[:0], t.body...)
	for _, p := range t.patches {
		b := dst[p.off : p.off+p.n]
		switch {
		case p.kind == patchHex:
			for i, c := range b {
				b[i] = hexDigits[unhex(c)^m.hex[i%len(m.hex)]]
			}
		case p.kind == patchTime && t.json:
			v, err := strconv.ParseUint(string(b), 10, 64)
			if err != nil {
				continue
			}
			var tmp [20]byte
			if s := strconv.AppendUint(tmp[:0], uint64(int64(v)+m.delta), 10); len(s) == len(b) {
				copy(b, s)
			}
		case p.kind == patchTime:
			binary.LittleEndian.PutUint64(b, uint64(int64(binary.LittleEndian.Uint64(b))+m.delta))
		case t.json: // ids as hex
			mask := m.trace[:]
			if p.kind == patchSpanID {
				mask = m.span[:]
			}
			for i := 0; i+1 < len(b); i += 2 {
				v := unhex(b[i])<<4 | unhex(b[i+1])
				v ^= mask[i/2]
				b[i], b[i+1] = hexDigits[v>>4], hexDigits[v&15]
			}
		default:
			mask := m.trace[:]
			if p.kind == patchSpanID {
				mask = m.span[:]
			}
			for i := range b {
				b[i] ^= mask[i]
			}
		}
	}
	return dst
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10
	}
	return 0
}

// Protobuf: the fields of the OTLP messages that hold something to re-stamp.
// https://github.com/open-telemetry/opentelemetry-proto/tree/main/opentelemetry/proto

type pbKind uint8

const (
	pbMessage pbKind = iota + 1
	pbTraceID
	pbSpanID
	pbTime
	pbText
)

type pbField struct {
	kind pbKind
	sub  pbSchema
}

type pbSchema map[uint64]pbField

var (
	anyValueSchema = pbSchema{1: {kind: pbText}}                         // AnyValue.string_value
	keyValueSchema = pbSchema{2: {kind: pbMessage, sub: anyValueSchema}} // KeyValue.value
	logSchema      = pbSchema{1: {kind: pbTime}, 11: {kind: pbTime},     // time_unix_nano, observed_time_unix_nano
		5: {kind: pbMessage, sub: anyValueSchema}, 6: {kind: pbMessage, sub: keyValueSchema}, // body, attributes
		9: {kind: pbTraceID}, 10: {kind: pbSpanID}}
	eventSchema = pbSchema{1: {kind: pbTime}, 3: {kind: pbMessage, sub: keyValueSchema}}
	spanSchema  = pbSchema{1: {kind: pbTraceID}, 2: {kind: pbSpanID}, 4: {kind: pbSpanID}, // trace_id, span_id, parent_span_id
		7: {kind: pbTime}, 8: {kind: pbTime}, 9: {kind: pbMessage, sub: keyValueSchema},
		11: {kind: pbMessage, sub: eventSchema}, 15: {kind: pbMessage, sub: pbSchema{2: {kind: pbText}}}} // status.message
	// ExportLogsServiceRequest.resource_logs -> ResourceLogs.scope_logs -> ScopeLogs.log_records, and
	// the same path for spans.
	logsRequestSchema   = pbSchema{1: {kind: pbMessage, sub: pbSchema{2: {kind: pbMessage, sub: pbSchema{2: {kind: pbMessage, sub: logSchema}}}}}}
	tracesRequestSchema = pbSchema{1: {kind: pbMessage, sub: pbSchema{2: {kind: pbMessage, sub: pbSchema{2: {kind: pbMessage, sub: spanSchema}}}}}}
)

var errTruncated = errors.New("truncated protobuf")

// scanProto records the patches in the protobuf message b, which starts at off in the request.
func scanProto(b []byte, off int, s pbSchema, out *[]patch) error {
	for i := 0; i < len(b); {
		key, n := binary.Uvarint(b[i:])
		if n <= 0 {
			return errTruncated
		}
		i += n
		f := s[key>>3]
		switch key & 7 {
		case 0:
			if _, n = binary.Uvarint(b[i:]); n <= 0 {
				return errTruncated
			}
			i += n
		case 1:
			if i+8 > len(b) {
				return errTruncated
			}
			if f.kind == pbTime {
				*out = append(*out, patch{off: int32(off + i), n: 8, kind: patchTime})
			}
			i += 8
		case 5:
			if i+4 > len(b) {
				return errTruncated
			}
			i += 4
		case 2:
			l, n := binary.Uvarint(b[i:])
			if n <= 0 || l > uint64(len(b)-i-n) {
				return errTruncated
			}
			i += n
			v := b[i : i+int(l)]
			switch f.kind {
			case pbMessage:
				if err := scanProto(v, off+i, f.sub, out); err != nil {
					return err
				}
			case pbTraceID:
				if l == 16 {
					*out = append(*out, patch{off: int32(off + i), n: 16, kind: patchTraceID})
				}
			case pbSpanID:
				if l == 8 {
					*out = append(*out, patch{off: int32(off + i), n: 8, kind: patchSpanID})
				}
			case pbText:
				hexRuns(v, off+i, out)
			}
			i += int(l)
		default:
			return fmt.Errorf("unexpected wire type %d", key&7)
		}
	}
	return nil
}

// scanJSON records the patches in an OTLP/JSON request as pdata writes it (compact, keys as in
// https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding).
func scanJSON(b []byte) ([]patch, error) {
	var out []patch
	var key []byte
	for i := 0; i < len(b); i++ {
		if b[i] != '"' {
			continue
		}
		j := i + 1
		for j < len(b) && b[j] != '"' {
			if b[j] == '\\' {
				j++
			}
			j++
		}
		if j >= len(b) {
			return nil, errors.New("unterminated JSON string")
		}
		s := b[i+1 : j]
		if j+1 < len(b) && b[j+1] == ':' {
			key = s
			i = j
			continue
		}
		off := i + 1
		switch string(key) {
		case "traceId":
			if len(s) == 32 {
				out = append(out, patch{off: int32(off), n: 32, kind: patchTraceID})
			}
		case "spanId", "parentSpanId":
			if len(s) == 16 {
				out = append(out, patch{off: int32(off), n: 16, kind: patchSpanID})
			}
		case "timeUnixNano", "observedTimeUnixNano", "startTimeUnixNano", "endTimeUnixNano":
			out = append(out, patch{off: int32(off), n: int32(len(s)), kind: patchTime})
		case "stringValue", "message":
			hexRuns(s, off, &out)
		}
		i = j
	}
	return out, nil
}

// hexRuns records every run of at least minHexRun lowercase hex digits in s that is not part of a
// longer word.
func hexRuns(s []byte, off int, out *[]patch) {
	isHex := func(c byte) bool { return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' }
	isWord := func(c byte) bool { return isHex(c) || c >= 'g' && c <= 'z' || c >= 'A' && c <= 'Z' }
	for i := 0; i < len(s); {
		if !isHex(s[i]) || i > 0 && isWord(s[i-1]) {
			i++
			continue
		}
		j := i
		for j < len(s) && isHex(s[j]) {
			j++
		}
		if j-i >= minHexRun && (j == len(s) || !isWord(s[j])) {
			*out = append(*out, patch{off: int32(off + i), n: int32(j - i), kind: patchHex})
		}
		i = j
	}
}

const hexDigits = "0123456789abcdef"

func putUint64(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}
