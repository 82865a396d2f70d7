package spanmetrics

import (
	"encoding/binary"
	"math"

	"github.com/cespare/xxhash/v2"
	"go.opentelemetry.io/collector/pdata/pcommon"
)

// hashAttrs hashes a resource's attributes, whatever their order, to find
// its series. Like the connector, it trusts the hash: two resources
// collide with a chance of about n²/2⁶⁵ for n resources.
func hashAttrs(m pcommon.Map) uint64 {
	var sum uint64
	for k, v := range m.All() {
		sum += hashAttr(k, v)
	}
	return sum
}

func hashAttr(k string, v pcommon.Value) uint64 {
	var d xxhash.Digest
	d.Reset()
	var b [9]byte
	b[0] = byte(v.Type())
	_, _ = d.WriteString(k)
	switch v.Type() {
	case pcommon.ValueTypeStr:
		_, _ = d.Write(b[:1])
		_, _ = d.WriteString(v.Str())
	case pcommon.ValueTypeInt:
		binary.LittleEndian.PutUint64(b[1:], uint64(v.Int()))
		_, _ = d.Write(b[:])
	case pcommon.ValueTypeDouble:
		binary.LittleEndian.PutUint64(b[1:], math.Float64bits(v.Double()))
		_, _ = d.Write(b[:])
	case pcommon.ValueTypeBool:
		if v.Bool() {
			b[1] = 1
		}
		_, _ = d.Write(b[:2])
	case pcommon.ValueTypeBytes:
		_, _ = d.Write(b[:1])
		_, _ = d.Write(v.Bytes().AsRaw())
	default: // maps, slices, empty: rare on resources, worth an allocation
		_, _ = d.Write(b[:1])
		_, _ = d.WriteString(v.AsString())
	}
	return d.Sum64()
}
