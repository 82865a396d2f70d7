package ingest

import (
	"errors"
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// What a request costs once decoded, estimated from its bytes before pdata
// builds anything: the budget is spent on what decoding and storing will
// hold, not on wire bytes. On the wire an empty resource is 2 bytes and
// decoded it is a ~130-byte struct behind a pointer; an attribute is a few
// bytes and decoded a KeyValue, an AnyValue box and a string copy. Sized by
// bytes alone, a request of many tiny resources cost 27-130 times its size.
//
// The protobuf estimate walks the message with protowire, knowing just
// enough of the OTLP schema to tell which fields are messages, and adds a
// weight per message kind (pdata's struct, its slot in the parent's slice,
// amortised slice growth, boxes for oneofs), the bytes of strings and byte
// fields (pdata copies them), and 8 bytes per element of packed varint
// arrays. The weights were measured against pdata's allocations
// (TestCostCoversDecoding keeps them honest). JSON has no cheap schema walk;
// every JSON object is one decoded message, so it is counted at the
// heaviest message's weight, plus its bytes.

// msgKind is an OTLP message type the cost walk knows.
type msgKind uint8

const (
	kUnknown msgKind = iota
	kLogsRequest
	kTracesRequest
	kMetricsRequest
	kResourceLogs
	kResourceSpans
	kResourceMetrics
	kScopeLogs
	kScopeSpans
	kScopeMetrics
	kResource
	kScope
	kEntityRef
	kKeyValue
	kAnyValue
	kArrayValue
	kKeyValueList
	kLogRecord
	kSpan
	kSpanEvent
	kSpanLink
	kStatus
	kMetric
	kGauge
	kSum
	kHistogram
	kExpHistogram
	kSummary
	kNumberPoint
	kHistogramPoint
	kExpHistogramPoint
	kBuckets
	kSummaryPoint
	kQuantile
	kExemplar
)

// weight is the bytes one decoded message of kind k holds besides its
// strings, measured on pdata v1.70 (amd64) and rounded up.
func weight(k msgKind) int64 {
	switch k {
	case kLogsRequest, kTracesRequest, kMetricsRequest:
		return 64
	case kResourceLogs, kResourceSpans, kResourceMetrics:
		return 176
	case kScopeLogs, kScopeSpans, kScopeMetrics:
		return 144
	case kResource, kScope, kStatus:
		return 0 // held inline by their parent
	case kEntityRef:
		return 128
	case kKeyValue:
		return 112
	case kAnyValue:
		return 48
	case kArrayValue, kKeyValueList:
		return 48
	case kLogRecord:
		return 176
	case kSpan:
		return 272
	case kSpanEvent:
		return 96
	case kSpanLink:
		return 112
	case kMetric:
		return 128
	case kGauge, kSum, kHistogram, kExpHistogram, kSummary:
		return 48
	case kNumberPoint:
		return 128
	case kHistogramPoint:
		return 208
	case kExpHistogramPoint:
		return 224
	case kBuckets:
		return 32
	case kSummaryPoint:
		return 144
	case kQuantile:
		return 48
	case kExemplar:
		return 112
	}
	return 0
}

// jsonObjectWeight is what one JSON object is counted at: the heaviest
// message's weight.
const jsonObjectWeight = 272

// fieldKind says what field num of a message of kind k holds: a message of
// the returned kind, a packed array of varints (packedVarints), or
// anything else (kUnknown: skipped, or counted by its bytes).
func fieldKind(k msgKind, num protowire.Number) (child msgKind, packedVarints bool) {
	switch k {
	case kLogsRequest:
		if num == 1 {
			return kResourceLogs, false
		}
	case kTracesRequest:
		if num == 1 {
			return kResourceSpans, false
		}
	case kMetricsRequest:
		if num == 1 {
			return kResourceMetrics, false
		}
	case kResourceLogs, kResourceSpans, kResourceMetrics:
		switch num {
		case 1:
			return kResource, false
		case 2, 1000: // 1000: the deprecated instrumentation_library_* field pdata still reads
			return k + (kScopeLogs - kResourceLogs), false
		}
	case kScopeLogs:
		switch num {
		case 1:
			return kScope, false
		case 2:
			return kLogRecord, false
		}
	case kScopeSpans:
		switch num {
		case 1:
			return kScope, false
		case 2:
			return kSpan, false
		}
	case kScopeMetrics:
		switch num {
		case 1:
			return kScope, false
		case 2:
			return kMetric, false
		}
	case kResource:
		switch num {
		case 1:
			return kKeyValue, false
		case 3:
			return kEntityRef, false
		}
	case kScope:
		if num == 3 {
			return kKeyValue, false
		}
	case kKeyValue:
		if num == 2 {
			return kAnyValue, false
		}
	case kAnyValue:
		switch num {
		case 5:
			return kArrayValue, false
		case 6:
			return kKeyValueList, false
		}
	case kArrayValue:
		if num == 1 {
			return kAnyValue, false
		}
	case kKeyValueList:
		if num == 1 {
			return kKeyValue, false
		}
	case kLogRecord:
		switch num {
		case 5:
			return kAnyValue, false
		case 6:
			return kKeyValue, false
		}
	case kSpan:
		switch num {
		case 9:
			return kKeyValue, false
		case 11:
			return kSpanEvent, false
		case 13:
			return kSpanLink, false
		case 15:
			return kStatus, false
		}
	case kSpanEvent:
		if num == 3 {
			return kKeyValue, false
		}
	case kSpanLink:
		if num == 4 {
			return kKeyValue, false
		}
	case kMetric:
		switch num {
		case 5:
			return kGauge, false
		case 7:
			return kSum, false
		case 9:
			return kHistogram, false
		case 10:
			return kExpHistogram, false
		case 11:
			return kSummary, false
		case 12:
			return kKeyValue, false
		}
	case kGauge, kSum:
		if num == 1 {
			return kNumberPoint, false
		}
	case kHistogram:
		if num == 1 {
			return kHistogramPoint, false
		}
	case kExpHistogram:
		if num == 1 {
			return kExpHistogramPoint, false
		}
	case kSummary:
		if num == 1 {
			return kSummaryPoint, false
		}
	case kNumberPoint:
		switch num {
		case 7:
			return kKeyValue, false
		case 5:
			return kExemplar, false
		}
	case kHistogramPoint:
		switch num {
		case 9:
			return kKeyValue, false
		case 8:
			return kExemplar, false
		}
	case kExpHistogramPoint:
		switch num {
		case 1:
			return kKeyValue, false
		case 8, 9:
			return kBuckets, false
		case 11:
			return kExemplar, false
		}
	case kBuckets:
		if num == 2 {
			return kUnknown, true
		}
	case kSummaryPoint:
		switch num {
		case 7:
			return kKeyValue, false
		case 6:
			return kQuantile, false
		}
	case kExemplar:
		if num == 7 {
			return kKeyValue, false
		}
	}
	return kUnknown, false
}

// maxDepth bounds how deeply messages may nest. pdata decodes recursively,
// so a request of a few megabytes of nested AnyValues would otherwise grow
// a goroutine's stack by gigabytes. OTLP itself nests 6 deep before
// attribute values, and each level of a value is 2 (an array) or 3 (a map)
// messages: 512 leaves room for the 64 levels the log store keeps, so that
// a record nested deeper than that is refused alone, as a partial success,
// and the rest of its request is stored; only a request past 512 is
// refused whole.
const maxDepth = 512

// requestCost is what a request holds once decoded and what it is made of.
type requestCost struct {
	resources, scopes, items, attributes int
	// bytes is the estimated memory of the decoded request.
	bytes int64
}

var errTooDeep = fmt.Errorf("messages nested deeper than %d levels", maxDepth)

// protoCost estimates the decoded cost of an OTLP/protobuf export request
// of kind k. It fails on bytes that are not a well-formed protobuf message
// and on nesting deeper than maxDepth.
func protoCost(k msgKind, b []byte) (requestCost, error) {
	var c requestCost
	err := c.walk(k, b, 0)
	return c, err
}

func (c *requestCost) walk(k msgKind, b []byte, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	c.bytes += weight(k)
	c.count(k)
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		if typ != protowire.BytesType {
			n = protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		child, packed := fieldKind(k, num)
		switch {
		case child != kUnknown:
			if err := c.walk(child, v, depth+1); err != nil {
				return err
			}
		case packed:
			// Each varint, however short on the wire, is a uint64 decoded.
			// pdata appends them one by one, so the slice's growth
			// allocates about three times the final array.
			for _, x := range v {
				if x < 0x80 {
					c.bytes += 24
				}
			}
		default:
			c.bytes += int64(len(v))
		}
	}
	return nil
}

var errJSONTooDeep = errors.New("JSON nested deeper than the limit")

// jsonCost estimates the decoded cost of an OTLP/JSON export request in one
// pass over its bytes: every object outside a string becomes one message,
// whose kind follows from its key (and, for "values" and "dataPoints", from
// its parent's kind); every scalar element of an array becomes an element
// of a decoded slice. It fails only on nesting deeper than the protobuf
// limit allows (arrays and objects both count).
func jsonCost(k msgKind, b []byte) (requestCost, error) {
	c := requestCost{bytes: int64(len(b))}
	// stack holds, per open container, the kind of object it is (objects)
	// or that its elements are (arrays, with array set).
	type level struct {
		kind  msgKind
		array bool
	}
	stack := make([]level, 0, 16)
	var key []byte // the last object key read
	top := func() level {
		if len(stack) == 0 {
			return level{}
		}
		return stack[len(stack)-1]
	}
	for i := 0; i < len(b); i++ {
		x := b[i]
		switch x {
		case ' ', '\t', '\r', '\n', ',', ':':
			continue
		case '"':
			j := i + 1
			for j < len(b) && b[j] != '"' {
				if b[j] == '\\' {
					j++
				}
				j++
			}
			s := b[min(i+1, len(b)):min(j, len(b))]
			i = j
			if t := top(); t.array {
				c.bytes += 24 // a string element of a repeated scalar field
				continue
			}
			// A string followed by a colon is a key.
			for j = i + 1; j < len(b) && (b[j] == ' ' || b[j] == '\t' || b[j] == '\r' || b[j] == '\n'); j++ {
			}
			if j < len(b) && b[j] == ':' {
				key = s
			}
		case '{', '[':
			var kind msgKind
			if t := top(); t.array {
				kind = t.kind
			} else if len(stack) == 0 {
				kind = k
			} else {
				kind = jsonKind(t.kind, key)
			}
			if x == '{' {
				c.count(kind)
				if w := weight(kind); kind == kUnknown {
					c.bytes += jsonObjectWeight
				} else {
					c.bytes += w
				}
			}
			stack = append(stack, level{kind: kind, array: x == '['})
			key = nil
			// An OTLP/JSON message is an object, and a repeated field an
			// array around it, so JSON nests up to twice as deep.
			if len(stack) > 2*maxDepth {
				return c, errJSONTooDeep
			}
		case '}', ']':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		default:
			// A number, true, false or null: an element of a decoded slice
			// when inside an array.
			if top().array {
				c.bytes += 24
			}
			for i+1 < len(b) && !strings.ContainsRune(",]}: \t\r\n", rune(b[i+1])) {
				i++
			}
		}
	}
	return c, nil
}

// jsonKind is the kind of the object under key in an object of kind
// parent, for OTLP/JSON's lowerCamelCase keys and the snake_case pdata also
// reads; kUnknown when the key is not a known message field.
func jsonKind(parent msgKind, key []byte) msgKind {
	switch string(key) {
	case "resourceLogs", "resource_logs":
		return kResourceLogs
	case "resourceSpans", "resource_spans":
		return kResourceSpans
	case "resourceMetrics", "resource_metrics":
		return kResourceMetrics
	case "scopeLogs", "scope_logs":
		return kScopeLogs
	case "scopeSpans", "scope_spans":
		return kScopeSpans
	case "scopeMetrics", "scope_metrics":
		return kScopeMetrics
	case "resource":
		return kResource
	case "scope":
		return kScope
	case "entityRefs", "entity_refs":
		return kEntityRef
	case "attributes", "metadata", "filteredAttributes", "filtered_attributes":
		return kKeyValue
	case "body", "value":
		return kAnyValue
	case "arrayValue", "array_value":
		return kArrayValue
	case "kvlistValue", "kvlist_value":
		return kKeyValueList
	case "values":
		if parent == kKeyValueList {
			return kKeyValue
		}
		return kAnyValue
	case "logRecords", "log_records":
		return kLogRecord
	case "spans":
		return kSpan
	case "events":
		return kSpanEvent
	case "links":
		return kSpanLink
	case "status":
		return kStatus
	case "metrics":
		return kMetric
	case "gauge":
		return kGauge
	case "sum":
		return kSum
	case "histogram":
		return kHistogram
	case "exponentialHistogram", "exponential_histogram":
		return kExpHistogram
	case "summary":
		return kSummary
	case "dataPoints", "data_points":
		switch parent {
		case kGauge, kSum:
			return kNumberPoint
		case kHistogram:
			return kHistogramPoint
		case kExpHistogram:
			return kExpHistogramPoint
		case kSummary:
			return kSummaryPoint
		}
	case "positive", "negative":
		return kBuckets
	case "quantileValues", "quantile_values":
		return kQuantile
	case "exemplars":
		return kExemplar
	}
	return kUnknown
}

// count tallies a message of kind k in c's counts.
func (c *requestCost) count(k msgKind) {
	switch k {
	case kResourceLogs, kResourceSpans, kResourceMetrics:
		c.resources++
	case kScopeLogs, kScopeSpans, kScopeMetrics:
		c.scopes++
	case kLogRecord, kSpan, kNumberPoint, kHistogramPoint, kExpHistogramPoint, kSummaryPoint:
		c.items++
	case kKeyValue:
		c.attributes++
	}
}
