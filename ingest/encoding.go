package ingest

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// The Content-Encodings of OTLP/HTTP requests: what the Collector's
// otlphttp exporter sends (confighttp: gzip, zstd, snappy, deflate and zlib,
// lz4) and what the SDKs send (gzip). Every decoder's output is capped
// after decompression, so a small bomb cannot balloon memory, and each is
// set up to hold no more than its format needs: zstd without concurrent
// decoding ahead and with its window bounded by the cap, lz4 with one
// goroutine.
//
// Snappy: the Collector has sent Content-Encoding: snappy both as the
// framed format (snappy.NewBufferedWriter, its long-time default) and as a
// block (behind its confighttp.framedSnappy feature gate, which also adds
// x-snappy-framed for frames). A frame begins with the stream identifier
// chunk, which no block of OTLP data begins with, so "snappy" is read as
// whichever it is.
//
// Deflate: the Collector sends zlib (RFC 1950) for both deflate and zlib,
// as HTTP's "deflate" means; some clients send a raw RFC 1951 stream. A
// zlib header is checked for and raw deflate read otherwise.

// encodings lists the accepted Content-Encodings for error messages.
const encodings = "gzip, zstd, snappy, x-snappy-framed, deflate, zlib, lz4 or none"

// snappyFrameMagic is the stream identifier chunk a snappy frame begins with.
const snappyFrameMagic = "\xff\x06\x00\x00sNaPpY"

// knownEncoding normalises a Content-Encoding and reports whether it is
// accepted.
func knownEncoding(h string) (string, bool) {
	enc := strings.ToLower(strings.TrimSpace(h))
	switch enc {
	case "", "identity", "none":
		return "", true
	case "gzip", "x-gzip":
		return "gzip", true
	case "zstd", "snappy", "x-snappy-framed", "deflate", "zlib", "lz4":
		return enc, true
	}
	return enc, false
}

// decompress decodes src, compressed with enc, into at most limit bytes. grow
// is told how large the output has become before each read that may
// enlarge it, and stops decoding by returning false (the memory budget has
// no room).
func decompress(enc string, src []byte, limit int64, grow func(int64) bool) ([]byte, error) {
	if enc == "snappy" && !bytes.HasPrefix(src, []byte(snappyFrameMagic)) {
		return snappyBlock(src, limit, grow)
	}
	var zr io.Reader
	switch enc {
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(src))
		if err != nil {
			return nil, &malformedError{enc: enc, err: err}
		}
		defer r.Close()
		zr = r
	case "zstd":
		// Windows up to the exporters' default 8 MiB are accepted whatever
		// the cap (the decoder allocates history as data arrives).
		window := uint64(max(limit+1, 8<<20))
		r, err := zstd.NewReader(bytes.NewReader(src),
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(min(window, zstd.MaxWindowSize)),
			zstd.WithDecoderMaxMemory(window))
		if err != nil {
			return nil, &malformedError{enc: enc, err: err}
		}
		defer r.Close()
		zr = r
	case "snappy", "x-snappy-framed":
		// A snappy frame's chunks hold at most 64 KiB each.
		zr = s2.NewReader(bytes.NewReader(src), s2.ReaderMaxBlockSize(64<<10))
	case "deflate", "zlib":
		if isZlib(src) {
			r, err := zlib.NewReader(bytes.NewReader(src))
			if err != nil {
				return nil, &malformedError{enc: enc, err: err}
			}
			defer r.Close()
			zr = r
		} else {
			r := flate.NewReader(bytes.NewReader(src))
			defer r.Close()
			zr = r
		}
	case "lz4":
		r := lz4.NewReader(bytes.NewReader(src))
		if err := r.Apply(lz4.ConcurrencyOption(1)); err != nil {
			return nil, &malformedError{enc: enc, err: err}
		}
		zr = r
	default:
		return nil, fmt.Errorf("decompress %q: unknown encoding", enc)
	}
	return readCapped(zr, limit, grow, enc)
}

// readCapped reads r into memory, at most limit bytes, asking grow before
// each chunk.
func readCapped(r io.Reader, limit int64, grow func(int64) bool, enc string) ([]byte, error) {
	const chunk = 256 << 10
	var buf []byte
	for {
		if int64(len(buf)) > limit {
			return nil, &tooLargeError{limit: limit, decompressed: enc != ""}
		}
		if len(buf) == cap(buf) {
			next := min(int64(max(2*cap(buf), chunk)), limit+1)
			if next <= int64(cap(buf)) {
				next = int64(cap(buf)) + 1
			}
			if !grow(next) {
				return nil, errNoRoom
			}
			nb := make([]byte, len(buf), next)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			if int64(len(buf)) > limit {
				return nil, &tooLargeError{limit: limit, decompressed: enc != ""}
			}
			return buf, nil
		}
		if err != nil {
			if enc == "" {
				return nil, fmt.Errorf("read body: %w", err)
			}
			return nil, &malformedError{enc: enc, err: err}
		}
	}
}

// snappyBlock decodes one snappy block, whose header states its decoded
// size: checked against limit before anything is allocated.
func snappyBlock(src []byte, limit int64, grow func(int64) bool) ([]byte, error) {
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, &malformedError{enc: "snappy", err: err}
	}
	if int64(n) > limit {
		return nil, &tooLargeError{limit: limit, decompressed: true}
	}
	if !grow(int64(n)) {
		return nil, errNoRoom
	}
	out, err := s2.Decode(make([]byte, n), src)
	if err != nil {
		return nil, &malformedError{enc: "snappy", err: err}
	}
	return out, nil
}

// isZlib reports whether b starts with a zlib header (RFC 1950: deflate
// method, and a check value making the first two bytes a multiple of 31).
func isZlib(b []byte) bool {
	return len(b) >= 2 && b[0]&0x0f == 8 && b[0]>>4 <= 7 && (uint16(b[0])<<8|uint16(b[1]))%31 == 0
}

// malformedError is a body its encoding cannot decode: bad input.
type malformedError struct {
	enc string
	err error
}

func (e *malformedError) Error() string {
	return fmt.Sprintf("malformed %s body: %v", e.enc, e.err)
}
