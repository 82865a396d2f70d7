package logstore

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/ptrace"

	"github.com/lookout-dev/lookout/internal/otlpgen"
)

// dirSize is the bytes of every file below dir.
func dirSize(dir string) int64 {
	var n int64
	filepath.Walk(dir, func(_ string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			n += fi.Size()
		}
		return nil
	})
	return n
}

// BenchmarkIngestLogs measures logs stored durably and indexed: b.N
// requests of 1000 realistic records, until the index has caught up. It
// reports records/s and bytes on disk per record.
func BenchmarkIngestLogs(b *testing.B) {
	g := otlpgen.NewGenerator(1, 10)
	now := time.Now()
	reqs := make([]plog.Logs, 64)
	for i := range reqs {
		reqs[i] = g.Logs(1000, now)
	}
	dir := b.TempDir()
	s := openTestStore(b, dir)
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		// Re-delivered pool requests would be deduplicated; shift them.
		ld := reqs[i%len(reqs)]
		if i >= len(reqs) {
			ld = shiftLogs(ld, time.Duration(i/len(reqs))*time.Microsecond)
		}
		retryOverloaded(b, func() error { return s.ConsumeLogs(ctx, ld) })
	}
	reportIngest(b, s, dir, start, "record")
}

// retryOverloaded calls f until the store stops refusing it as overloaded,
// as a client honouring 429 would.
func retryOverloaded(b *testing.B, f func() error) {
	for {
		err := f()
		if err == ErrOverloaded {
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err != nil {
			b.Fatal(err)
		}
		return
	}
}

// reportIngest waits until everything is indexed and reports items per
// second and bytes on disk per item (of 1000 per op).
func reportIngest(b *testing.B, s *Store, dir string, start time.Time, unit string) {
	waitIndexedFor(b, s, 10*time.Minute)
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N*1000)/el.Seconds(), unit+"s/s")
	s.Close()
	b.ReportMetric(float64(dirSize(dir))/float64(b.N*1000), "disk-B/"+unit)
	b.ReportMetric(float64(dirSize(filepath.Join(dir, "index")))/float64(b.N*1000), "index-B/"+unit)
}

func shiftLogs(ld plog.Logs, d time.Duration) plog.Logs {
	out := plog.NewLogs()
	ld.CopyTo(out)
	rls := out.ResourceLogs()
	for i := 0; i < rls.Len(); i++ {
		sls := rls.At(i).ScopeLogs()
		for j := 0; j < sls.Len(); j++ {
			lrs := sls.At(j).LogRecords()
			for k := 0; k < lrs.Len(); k++ {
				lr := lrs.At(k)
				lr.SetTimestamp(lr.Timestamp() + pcommon.Timestamp(d))
			}
		}
	}
	return out
}

// BenchmarkIngestSpans is BenchmarkIngestLogs for spans.
func BenchmarkIngestSpans(b *testing.B) {
	g := otlpgen.NewGenerator(1, 10)
	now := time.Now()
	reqs := make([]ptrace.Traces, b.N)
	for i := range reqs {
		reqs[i] = g.Traces(1000, now)
	}
	dir := b.TempDir()
	s := openTestStore(b, dir)
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for i := 0; i < b.N; i++ {
		retryOverloaded(b, func() error { return s.ConsumeTraces(ctx, reqs[i]) })
	}
	reportIngest(b, s, dir, start, "span")
}
