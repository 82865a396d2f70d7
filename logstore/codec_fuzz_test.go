package logstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
)

var update = flag.Bool("update", false, "rewrite the generated seed corpus in testdata/fuzz")

// seedLogs is a logs payload with a value of every kind, nesting, ids and
// the odd corners (NaN, empty values), so that seeds cover every branch of
// the decoder.
func seedLogs() plog.Logs {
	ld := testLogs(time.Unix(1700000000, 0), 3)
	lr := ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty()
	lr.SetObservedTimestamp(pcommon.Timestamp(1700000000123456789))
	lr.SetEventName("user.login")
	body := lr.Body().SetEmptyMap()
	body.PutStr("msg", "hello")
	body.PutEmptySlice("list").AppendEmpty().SetDouble(math.NaN())
	a := lr.Attributes()
	a.PutEmptyBytes("digest").FromRaw([]byte{0xde, 0xad, 0xbe, 0xef})
	a.PutDouble("ratio", 0.25)
	a.PutDouble("inf", math.Inf(-1))
	a.PutBool("cached", true)
	a.PutInt("neg", -42)
	a.PutEmpty("nothing")
	a.PutEmptyMap("user").PutEmptyMap("address").PutStr("city", "Zürich")
	return ld
}

// seedBlocks encodes real payloads and derives broken variants of them:
// what a torn write, a flipped bit or a hostile file could leave on disk.
func seedBlocks() map[string][]byte {
	seeds := map[string][]byte{}
	logs := encodeLogs(seedLogs(), time.Unix(1700000000, 0))[0].data
	spans := encodeTraces(testTraces(time.Unix(1700000000, 0)), time.Unix(1700000000, 0))[0].data
	seeds["logs"] = logs
	seeds["spans"] = spans
	seeds["logs-truncated"] = logs[:len(logs)/2]
	seeds["spans-truncated"] = spans[:len(spans)-3]
	flip := append([]byte(nil), logs...)
	flip[len(flip)/3] ^= 0xff
	seeds["logs-flipped"] = flip
	// A header whose record count claims far more than the block holds.
	seeds["huge-count"] = append([]byte{blockMagicLogs, blockVersion, 0, 0}, binary.AppendUvarint(nil, 1<<40)...)
	// Two records whose offsets run backwards.
	back := []byte{blockMagicLogs, blockVersion, 1, 0, 0, 2}
	back = binary.LittleEndian.AppendUint32(back, 4)
	back = binary.LittleEndian.AppendUint32(back, 0)
	seeds["offsets-backwards"] = append(back, 0, 0, 0, 0, 0, 0, 0, 0)
	// A slice nested as deep as the decoder allows, each claiming the
	// whole rest of the block.
	deep := []byte{blockMagicLogs, blockVersion, 1, 1, 0, 1, 0}
	for range 70 {
		deep = append(deep, valSlice, 0xff, 0x7f)
	}
	seeds["deep-slices"] = deep
	return seeds
}

// TestWriteBlockSeeds writes the seed corpus of FuzzDecodeBlock from real
// encoded blocks, with -update, so that the seeds follow the codec.
func TestWriteBlockSeeds(t *testing.T) {
	if !*update {
		t.Skip("rewrites testdata/fuzz/FuzzDecodeBlock with -update")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeBlock")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seedBlocks() {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// FuzzDecodeBlock feeds arbitrary bytes, as a block read back from disk,
// to everything that reads blocks: the header, each record as a log and as
// a span, the cheap peeks a query makes before decoding, and the
// regrouping the indexer does. Each must fail with an error, never panic,
// and what decodes must be answerable as JSON and survive regrouping.
func FuzzDecodeBlock(f *testing.F) {
	for _, b := range seedBlocks() {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, magic := range []byte{blockMagicLogs, blockMagicSpans} {
			h, err := decodeHeader(data, magic)
			if err != nil {
				continue
			}
			g := newRegrouper(magic)
			var decoded []any
			for i := range h.offsets {
				rec := h.recordBytes(i)
				logBody(rec)
				logTimestamp(rec)
				spanTraceID(rec)
				hasRequired(rec, [][][]byte{{[]byte("x")}})
				var v any
				if magic == blockMagicLogs {
					logDigest(h, i)
					v, err = decodeLog(h, i)
				} else {
					v, err = decodeSpan(h, i)
				}
				if err != nil {
					continue
				}
				if _, err := json.Marshal(v); err != nil {
					t.Fatalf("record %d decodes but is no JSON: %v", i, err)
				}
				if err := g.add(h, i); err != nil {
					t.Fatalf("record %d decodes but does not regroup: %v", i, err)
				}
				decoded = append(decoded, v)
			}
			if len(decoded) == 0 {
				continue
			}
			h2, err := decodeHeader(g.bytes(), magic)
			if err != nil {
				t.Fatalf("regrouped block does not decode: %v", err)
			}
			for i, want := range decoded {
				var got any
				if magic == blockMagicLogs {
					got, err = decodeLog(h2, i)
				} else {
					got, err = decodeSpan(h2, i)
				}
				if err != nil || !reflect.DeepEqual(got, want) {
					t.Fatalf("regrouped record %d = %+v, %v; want %+v", i, got, err, want)
				}
			}
		}
	})
}

// TestDecodeNestedClaimsAllocateLittle decodes a block whose values nest
// as deep as allowed, each claiming the rest of a 1 MiB block: sized by
// their claims, the collections asked for over a gigabyte before the
// first one failed.
func TestDecodeNestedClaimsAllocateLittle(t *testing.T) {
	const size = 1 << 20
	e := encoder{}
	e.buf = append(e.buf, blockMagicLogs, blockVersion, 1, 0, 1, 0, 0, 0) // one empty resource, one empty scope
	e.uvarint(1)
	e.buf = binary.LittleEndian.AppendUint32(e.buf, 0)
	e.buf = append(e.buf, 0, 0, 0, 0, 0, 0) // resource, scope, times, severity, text
	for range 64 {
		e.buf = append(e.buf, valSlice)
		e.uvarint(size)
	}
	e.buf = append(e.buf, bytes.Repeat([]byte{0xff}, size)...) // no value's tag
	h, err := decodeHeader(e.buf, blockMagicLogs)
	if err != nil {
		t.Fatal(err)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err = decodeLog(h, 0)
	runtime.ReadMemStats(&after)
	if err == nil {
		t.Fatal("decodeLog of a truncated record succeeded")
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("decoding a %d B block allocated %d MiB", len(e.buf), got>>20)
	}
}

// TestNonFiniteDoublesAnswerAsJSON stores doubles JSON has no number for:
// encoding/json refused the whole answer over one of them, and the query
// language still matches them by their text.
func TestNonFiniteDoublesAnswerAsJSON(t *testing.T) {
	ctx := context.Background()
	s := openTestStore(t, t.TempDir())
	defer s.Close()
	ld, lr := oneLog()
	lr.Body().SetDouble(math.Inf(1))
	lr.Attributes().PutDouble("ratio", math.NaN())
	lr.Attributes().PutEmptySlice("list").AppendEmpty().SetDouble(math.Inf(-1))
	if err := s.ConsumeLogs(ctx, ld); err != nil {
		t.Fatal(err)
	}
	waitIndexed(t, s)
	res, err := s.SearchLogs(ctx, LogQuery{Query: "ratio:NaN"})
	if err != nil || res.Total != 1 {
		t.Fatalf("SearchLogs(ratio:NaN) = %v, total %d, want 1", err, res.Total)
	}
	b, err := json.Marshal(res)
	if err != nil {
		t.Fatalf("answer is no JSON: %v", err)
	}
	for _, want := range []string{`"body":"+Inf"`, `"ratio":"NaN"`, `"list":["-Inf"]`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("answer %s lacks %s", b, want)
		}
	}
}
