package ingest

import (
	"io"
	"sync"

	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"google.golang.org/grpc/encoding"
	_ "google.golang.org/grpc/encoding/gzip" // gRPC's own gzip, registered by its import
)

// The grpc-encodings of OTLP/gRPC requests: gzip, and the zstd and snappy
// the Collector's otlp exporter offers (configgrpc registers "zstd" as
// zstd frames and "snappy" as the snappy framing format). gRPC itself caps
// what it reads from a decompressor at the maximum message size; these
// decoders are set up to hold no more than their format needs on the way.
//
// gRPC looks compressors up in a process-wide registry, which only
// encoding.RegisterCompressor fills; a server option takes one legacy
// decompressor at most. So they are registered once, when the first
// Receiver is opened (not at package load, per the house rules: importing
// ingest has no side effects), and only under names nothing else has
// registered, as the Collector's own registrations do.
var registerCompressors sync.Once

func registerGRPCCompressors() {
	registerCompressors.Do(func() {
		for _, c := range []encoding.Compressor{zstdCompressor{}, snappyCompressor{}} {
			if encoding.GetCompressor(c.Name()) == nil {
				encoding.RegisterCompressor(c)
			}
		}
	})
}

// zstdCompressor is gRPC's "zstd".
type zstdCompressor struct{}

func (zstdCompressor) Name() string { return "zstd" }

func (zstdCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return zstd.NewWriter(w, zstd.WithEncoderConcurrency(1), zstd.WithWindowSize(512<<10))
}

func (zstdCompressor) Decompress(r io.Reader) (io.Reader, error) {
	// No decoding ahead on other goroutines, history allocated as data
	// arrives, and windows bounded (the exporters use 512 KiB to 8 MiB).
	d, err := zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1),
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(32<<20),
		zstd.WithDecoderMaxMemory(64<<20))
	if err != nil {
		return nil, err
	}
	// gRPC closes a decompressor's reader that is an io.Closer.
	return d.IOReadCloser(), nil
}

// snappyCompressor is gRPC's "snappy": the snappy framing format.
type snappyCompressor struct{}

func (snappyCompressor) Name() string { return "snappy" }

func (snappyCompressor) Compress(w io.Writer) (io.WriteCloser, error) {
	return s2.NewWriter(w, s2.WriterSnappyCompat(), s2.WriterConcurrency(1)), nil
}

func (snappyCompressor) Decompress(r io.Reader) (io.Reader, error) {
	// A snappy frame's chunks hold at most 64 KiB each.
	return s2.NewReader(r, s2.ReaderMaxBlockSize(64<<10)), nil
}
