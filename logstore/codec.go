package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"sync/atomic"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// The block codec is lookout's own compact encoding of records, chosen over
// re-marshalling OTLP protobuf so that one record can be decoded from a block
// without decoding its neighbours (a query fetches a handful of records from
// many blocks). A block is:
//
//	magic byte, version byte
//	uvarint nResources, each: attrs
//	uvarint nScopes, each: name, version, attrs
//	uvarint nRecords, nRecords x uint32 little-endian offsets (from the start of the record area)
//	record area
//
// Values are tagged (valEmpty .. valMap) and strings are uvarint length + bytes.
// The whole block is compressed with zstd before it is stored.

const (
	blockMagicLogs  = 'L'
	blockMagicSpans = 'S'
	blockVersion    = 1
)

const (
	valEmpty byte = iota
	valStr
	valBool
	valInt
	valDouble
	valBytes
	valSlice
	valMap
)

var errCorrupt = errors.New("corrupt block")

type encoder struct{ buf []byte }

func (e *encoder) uvarint(v uint64) { e.buf = binary.AppendUvarint(e.buf, v) }
func (e *encoder) varint(v int64)   { e.buf = binary.AppendVarint(e.buf, v) }
func (e *encoder) str(s string)     { e.uvarint(uint64(len(s))); e.buf = append(e.buf, s...) }
func (e *encoder) bytes(b []byte)   { e.uvarint(uint64(len(b))); e.buf = append(e.buf, b...) }

func (e *encoder) value(v pcommon.Value) {
	switch v.Type() {
	case pcommon.ValueTypeStr:
		e.buf = append(e.buf, valStr)
		e.str(v.Str())
	case pcommon.ValueTypeBool:
		e.buf = append(e.buf, valBool)
		if v.Bool() {
			e.buf = append(e.buf, 1)
		} else {
			e.buf = append(e.buf, 0)
		}
	case pcommon.ValueTypeInt:
		e.buf = append(e.buf, valInt)
		e.varint(v.Int())
	case pcommon.ValueTypeDouble:
		e.buf = append(e.buf, valDouble)
		e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(v.Double()))
	case pcommon.ValueTypeBytes:
		e.buf = append(e.buf, valBytes)
		e.bytes(v.Bytes().AsRaw())
	case pcommon.ValueTypeSlice:
		e.buf = append(e.buf, valSlice)
		s := v.Slice()
		e.uvarint(uint64(s.Len()))
		for i := 0; i < s.Len(); i++ {
			e.value(s.At(i))
		}
	case pcommon.ValueTypeMap:
		e.buf = append(e.buf, valMap)
		e.attrs(v.Map())
	default:
		e.buf = append(e.buf, valEmpty)
	}
}

func (e *encoder) attrs(m pcommon.Map) {
	e.uvarint(uint64(m.Len()))
	m.Range(func(k string, v pcommon.Value) bool {
		e.str(k)
		e.value(v)
		return true
	})
}

// id appends a fixed-size id, or a zero length marker when the id is empty,
// so that records without trace context cost one byte.
func (e *encoder) id(b []byte) {
	for _, c := range b {
		if c != 0 {
			e.buf = append(e.buf, byte(len(b)))
			e.buf = append(e.buf, b...)
			return
		}
	}
	e.buf = append(e.buf, 0)
}

type decoder struct {
	buf []byte
	err error
}

func (d *decoder) fail() {
	if d.err == nil {
		d.err = errCorrupt
	}
	d.buf = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.buf)
	if n <= 0 {
		d.fail()
		return 0
	}
	d.buf = d.buf[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.buf) < 1 {
		d.fail()
		return 0
	}
	b := d.buf[0]
	d.buf = d.buf[1:]
	return b
}

func (d *decoder) raw(n uint64) []byte {
	if uint64(len(d.buf)) < n {
		d.fail()
		return nil
	}
	b := d.buf[:n]
	d.buf = d.buf[n:]
	return b
}

func (d *decoder) str() string { return string(d.raw(d.uvarint())) }

// count reads a collection length and checks it against what is left, so a
// corrupt length cannot make a decoder loop without bound.
func (d *decoder) count() int {
	n := d.uvarint()
	if n > uint64(len(d.buf)) {
		d.fail()
		return 0
	}
	return int(n)
}

// maxPrealloc bounds the room made for a collection before its elements
// are read. A length within what is left is no promise that the elements
// follow: up to 64 nested collections can each claim the rest of the block
// before the first one fails, and sizing each by its claim cost about
// 64 x 16 B x the block's size (a 1 MiB block asked for a gigabyte). Past
// the bound, room grows with what was actually read.
const maxPrealloc = 16

func prealloc(n int) int { return min(n, maxPrealloc) }

func (d *decoder) value(depth int) any {
	if depth > 64 {
		d.fail()
		return nil
	}
	switch d.byte() {
	case valStr:
		return d.str()
	case valBool:
		return d.byte() == 1
	case valInt:
		return d.varint()
	case valDouble:
		b := d.raw(8)
		if b == nil {
			return nil
		}
		f := math.Float64frombits(binary.LittleEndian.Uint64(b))
		if math.IsNaN(f) || math.IsInf(f, 0) {
			// JSON has no number for these, and encoding/json refuses the
			// whole answer over one of them. The text is what a query
			// matched before (strconv's), and no range could match them.
			return strconv.FormatFloat(f, 'g', -1, 64)
		}
		return f
	case valBytes:
		return Bytes(append([]byte(nil), d.raw(d.uvarint())...))
	case valSlice:
		n := d.count()
		s := make([]any, 0, prealloc(n))
		for i := 0; i < n && d.err == nil; i++ {
			s = append(s, d.value(depth+1))
		}
		return s
	case valMap:
		return d.attrs(depth + 1)
	case valEmpty:
		return nil
	default:
		d.fail() // a tag no encoder writes
		return nil
	}
}

func (d *decoder) attrs(depth int) map[string]any {
	n := d.count()
	m := make(map[string]any, prealloc(n))
	for i := 0; i < n && d.err == nil; i++ {
		k := d.str()
		m[k] = d.value(depth)
	}
	return m
}

// id reads what encoder.id wrote, as lower-case hex ("" when empty).
func (d *decoder) id() []byte {
	n := d.byte()
	if n == 0 {
		return nil
	}
	return d.raw(uint64(n))
}

// blockHeader is the decoded shared part of a block: resources and scopes
// referenced by index from records, and where each record starts.
type blockHeader struct {
	resources []map[string]any
	resDigest []uint64
	resRaw    [][]byte // each resource's encoding, for re-grouping
	scopeRaw  [][]byte
	services  []string
	scopes    []Scope
	offsets   []uint32
	records   []byte
	// times are the records' timestamps, sorted, once a count has needed
	// them (see countInRange); 8 bytes a record that the block cache
	// does not account for, a few percent of the block.
	times atomic.Pointer[[]int64]
}

func decodeHeader(b []byte, magic byte) (*blockHeader, error) {
	d := &decoder{buf: b}
	if d.byte() != magic || d.byte() != blockVersion {
		return nil, fmt.Errorf("%w: bad magic or version", errCorrupt)
	}
	h := &blockHeader{}
	nr := d.count()
	for i := 0; i < nr && d.err == nil; i++ {
		before := d.buf
		attrs := d.attrs(0)
		raw := before[:len(before)-len(d.buf)]
		h.resRaw = append(h.resRaw, raw)
		h.resDigest = append(h.resDigest, xxhash.Sum64(raw))
		h.resources = append(h.resources, attrs)
		svc, _ := attrs["service.name"].(string)
		h.services = append(h.services, svc)
	}
	ns := d.count()
	for i := 0; i < ns && d.err == nil; i++ {
		before := d.buf
		h.scopes = append(h.scopes, Scope{Name: d.str(), Version: d.str(), Attributes: d.attrs(0)})
		h.scopeRaw = append(h.scopeRaw, before[:len(before)-len(d.buf)])
	}
	n := d.count()
	offs := d.raw(uint64(n) * 4)
	if d.err != nil {
		return nil, d.err
	}
	h.offsets = make([]uint32, n)
	for i := range h.offsets {
		h.offsets[i] = binary.LittleEndian.Uint32(offs[i*4:])
	}
	h.records = d.buf
	// Records are written one after another, so their offsets never go
	// back: recordBytes relies on it to slice, and a record read within
	// its own bytes keeps decoding a block linear in its size.
	prev := uint32(0)
	for _, o := range h.offsets {
		if o < prev || int(o) > len(h.records) {
			return nil, fmt.Errorf("%w: record offsets out of order or past the end", errCorrupt)
		}
		prev = o
	}
	return h, nil
}

// record returns a decoder over record i's bytes alone, so a corrupt
// record cannot read into its neighbours.
func (h *blockHeader) record(i int) (*decoder, error) {
	if i < 0 || i >= len(h.offsets) {
		return nil, fmt.Errorf("%w: record %d of %d", errCorrupt, i, len(h.offsets))
	}
	return &decoder{buf: h.recordBytes(i)}, nil
}

func (h *blockHeader) resource(i uint64) (map[string]any, string, error) {
	if i >= uint64(len(h.resources)) {
		return nil, "", errCorrupt
	}
	return h.resources[i], h.services[i], nil
}

func (h *blockHeader) scope(i uint64) (Scope, error) {
	if i >= uint64(len(h.scopes)) {
		return Scope{}, errCorrupt
	}
	return h.scopes[i], nil
}

// recordBytes returns record i's encoding.
func (h *blockHeader) recordBytes(i int) []byte {
	end := len(h.records)
	if i+1 < len(h.offsets) {
		end = int(h.offsets[i+1])
	}
	return h.records[h.offsets[i]:end]
}

// regrouper copies records out of blocks into a new block, carrying the
// resources and scopes they refer to. The indexer uses it to store each
// group's records together, so a search reads one block per group.
type regrouper struct {
	magic     byte
	resources encoder
	scopes    encoder
	recs      encoder
	offsets   []uint32
	resMap    map[srcRef]uint64
	scopeMap  map[srcRef]uint64
}

type srcRef struct {
	h *blockHeader
	i uint64
}

func newRegrouper(magic byte) *regrouper {
	return &regrouper{magic: magic, resMap: map[srcRef]uint64{}, scopeMap: map[srcRef]uint64{}}
}

// add copies record i of h.
func (g *regrouper) add(h *blockHeader, i int) error {
	d := decoder{buf: h.recordBytes(i)}
	res, scope := d.uvarint(), d.uvarint()
	if d.err != nil || res >= uint64(len(h.resRaw)) || scope >= uint64(len(h.scopeRaw)) {
		return errCorrupt
	}
	nr, ok := g.resMap[srcRef{h, res}]
	if !ok {
		nr = uint64(len(g.resMap))
		g.resMap[srcRef{h, res}] = nr
		g.resources.buf = append(g.resources.buf, h.resRaw[res]...)
	}
	ns, ok := g.scopeMap[srcRef{h, scope}]
	if !ok {
		ns = uint64(len(g.scopeMap))
		g.scopeMap[srcRef{h, scope}] = ns
		g.scopes.buf = append(g.scopes.buf, h.scopeRaw[scope]...)
	}
	g.offsets = append(g.offsets, uint32(len(g.recs.buf)))
	g.recs.uvarint(nr)
	g.recs.uvarint(ns)
	g.recs.buf = append(g.recs.buf, d.buf...)
	return nil
}

func (g *regrouper) bytes() []byte {
	e := encoder{buf: make([]byte, 0, 16+len(g.resources.buf)+len(g.scopes.buf)+4*len(g.offsets)+len(g.recs.buf))}
	e.buf = append(e.buf, g.magic, blockVersion)
	e.uvarint(uint64(len(g.resMap)))
	e.buf = append(e.buf, g.resources.buf...)
	e.uvarint(uint64(len(g.scopeMap)))
	e.buf = append(e.buf, g.scopes.buf...)
	e.uvarint(uint64(len(g.offsets)))
	for _, o := range g.offsets {
		e.buf = binary.LittleEndian.AppendUint32(e.buf, o)
	}
	return append(e.buf, g.recs.buf...)
}
