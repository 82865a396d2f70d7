package metricstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/klauspost/compress/zstd"
	"github.com/prometheus/prometheus/model/histogram"
	"github.com/prometheus/prometheus/tsdb/encoding"
	"github.com/prometheus/prometheus/tsdb/record"
)

// A WAL row holds one commit's samples, zstd-compressed:
//
//	uvarint count, then per sample: uvarint series id, varint timestamp
//	delta from the previous sample, one kind byte and the value (8 bytes
//	float; a histogram in Prometheus' WAL encoding).
const (
	kindFloat byte = iota
	kindHistogram
	kindFloatHistogram
)

// batch is the samples one appender collected.
type batch struct {
	samples []sample
}

func (b *batch) len() int {
	if b == nil {
		return 0
	}
	return len(b.samples)
}

var (
	walEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderConcurrency(1))
	walDecoder, _ = zstd.NewReader(nil, zstd.WithDecoderConcurrency(0))
)

func encodeWAL(b *batch, buf []byte) []byte {
	e := encoding.Encbuf{B: buf[:0]}
	e.PutUvarint(len(b.samples))
	var prev int64
	for i := range b.samples {
		sm := &b.samples[i]
		e.PutUvarint64(sm.s.id)
		e.PutVarint64(sm.t - prev)
		prev = sm.t
		switch {
		case sm.fh != nil:
			e.PutByte(kindFloatHistogram)
			record.EncodeFloatHistogram(&e, sm.fh)
		case sm.h != nil:
			e.PutByte(kindHistogram)
			record.EncodeHistogram(&e, sm.h)
		default:
			e.PutByte(kindFloat)
			e.PutBE64(math.Float64bits(sm.v))
		}
	}
	return walEncoder.EncodeAll(e.B, nil)
}

// walSample is a decoded WAL sample; the series is still an id.
type walSample struct {
	id uint64
	sample
}

func decodeWAL(data []byte) ([]walSample, error) {
	raw, err := walDecoder.DecodeAll(data, nil)
	if err != nil {
		return nil, fmt.Errorf("decompress wal row: %w", err)
	}
	d := encoding.Decbuf{B: raw}
	n := d.Uvarint()
	if n < 0 || n > len(raw) {
		return nil, errors.New("corrupt wal row")
	}
	out := make([]walSample, 0, n)
	var prev int64
	for i := 0; i < n && d.Err() == nil; i++ {
		var ws walSample
		ws.id = d.Uvarint64()
		prev += d.Varint64()
		ws.t = prev
		switch d.Byte() {
		case kindFloat:
			ws.v = math.Float64frombits(d.Be64())
		case kindHistogram:
			ws.h = &histogram.Histogram{}
			record.DecodeHistogram(&d, ws.h)
		case kindFloatHistogram:
			ws.fh = &histogram.FloatHistogram{}
			record.DecodeFloatHistogram(&d, ws.fh)
		default:
			return nil, errors.New("corrupt wal row: unknown sample kind")
		}
		out = append(out, ws)
	}
	if d.Err() != nil {
		return nil, fmt.Errorf("corrupt wal row: %w", d.Err())
	}
	return out, nil
}

// appendUvarintString appends s with its length.
func appendUvarintString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}
