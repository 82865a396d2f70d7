package spanmetrics

import (
	"context"
	"fmt"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/ptrace"
)

// benchTraces is a request as an instrumented service sends it: one
// resource with the usual attributes and 100 spans over 20 operations.
func benchTraces(service string) ptrace.Traces {
	td := ptrace.NewTraces()
	rs := td.ResourceSpans().AppendEmpty()
	attrs := rs.Resource().Attributes()
	attrs.PutStr("service.name", service)
	attrs.PutStr("service.namespace", "shop")
	attrs.PutStr("service.instance.id", service+"-7f9c")
	attrs.PutStr("service.version", "1.4.2")
	attrs.PutStr("deployment.environment.name", "production")
	attrs.PutStr("host.name", "node-3")
	attrs.PutStr("telemetry.sdk.language", "go")
	attrs.PutInt("process.pid", 4242)
	spans := rs.ScopeSpans().AppendEmpty().Spans()
	for i := range 100 {
		s := spans.AppendEmpty()
		s.SetName(fmt.Sprintf("GET /api/v1/items/%d", i%20))
		s.SetKind(ptrace.SpanKind(1 + i%3))
		if i%17 == 0 {
			s.Status().SetCode(ptrace.StatusCodeError)
		}
		start := pcommon.NewTimestampFromTime(t0.Add(time.Duration(i) * time.Millisecond))
		s.SetStartTimestamp(start)
		s.SetEndTimestamp(start + pcommon.Timestamp((i*37%900)*int(time.Millisecond)))
		s.SetTraceID(pcommon.TraceID{byte(i), 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15})
		s.SetSpanID(pcommon.SpanID{byte(i), 1, 2, 3, 4, 5, 6, 7})
	}
	return td
}

func BenchmarkConsumeTraces(b *testing.B) {
	const spansPerRequest = 100
	report := func(b *testing.B) {
		b.ReportMetric(float64(b.N*spansPerRequest)/b.Elapsed().Seconds(), "spans/s")
	}
	b.Run("serial", func(b *testing.B) {
		c, _ := newTestConnector(b, Config{}, &collector{}, nil)
		td := benchTraces("checkout")
		b.ReportAllocs()
		for b.Loop() {
			if err := c.ConsumeTraces(context.Background(), td); err != nil {
				b.Fatal(err)
			}
		}
		report(b)
	})
	b.Run("parallel", func(b *testing.B) {
		c, _ := newTestConnector(b, Config{}, &collector{}, nil)
		tds := make([]ptrace.Traces, 8)
		for i := range tds {
			tds[i] = benchTraces(fmt.Sprintf("service-%d", i))
		}
		b.ReportAllocs()
		b.ResetTimer()
		var next chan int = make(chan int, 1)
		next <- 0
		b.RunParallel(func(pb *testing.PB) {
			i := <-next
			next <- i + 1
			td := tds[i%len(tds)]
			for pb.Next() {
				if err := c.ConsumeTraces(context.Background(), td); err != nil {
					b.Error(err)
					return
				}
			}
		})
		report(b)
	})
}

// BenchmarkFlush measures a flush of 9,750 series (150 services of 65):
// "collect" is the part that holds the connector's mutex, "flush" the
// whole flush, building the OTLP metrics included.
func BenchmarkFlush(b *testing.B) {
	c, _ := newTestConnector(b, Config{}, &collector{}, nil)
	for i := range 150 {
		if err := c.ConsumeTraces(context.Background(), benchTraces(fmt.Sprintf("service-%d", i))); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("collect", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			c.flushMu.Lock()
			c.collect()
			c.snap.release()
			c.flushMu.Unlock()
		}
	})
	b.Run("flush", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := c.Flush(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	})
}
