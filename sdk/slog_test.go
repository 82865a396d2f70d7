package sdk

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	sdklog "go.opentelemetry.io/otel/sdk/log"
)

func TestLoggerCorrelates(t *testing.T) {
	r := newRecorded(t)
	var out bytes.Buffer
	r.log = slog.New(newHandler(r.lp, slog.LevelInfo, &out))
	ctx, span := r.tracer.Start(context.Background(), "work")
	log := r.Logger().With("component", "billing").WithGroup("order")
	log.DebugContext(ctx, "not sent: below the level")
	log.InfoContext(ctx, "charged", "amount", 42)
	log.Warn("no context, no trace")
	span.End()

	logs := r.logs.all()
	if len(logs) != 2 {
		t.Fatalf("%d records sent, want 2 (info with context, warn without)", len(logs))
	}
	if logs[0].TraceID() != span.SpanContext().TraceID() || logs[0].SpanID() != span.SpanContext().SpanID() {
		t.Errorf("OTLP record: trace %s span %s, want %s %s", logs[0].TraceID(), logs[0].SpanID(),
			span.SpanContext().TraceID(), span.SpanContext().SpanID())
	}
	if logs[1].TraceID().IsValid() {
		t.Errorf("record logged without a context has trace %s", logs[1].TraceID())
	}
	if got := logs[0].Body().AsString(); got != "charged" {
		t.Errorf("body %q, want charged", got)
	}
	if logs[0].Severity() != 9 { // OTel's INFO
		t.Errorf("severity %v, want INFO (9)", logs[0].Severity())
	}

	lines := bytes.Split(bytes.TrimSpace(out.Bytes()), []byte("\n"))
	if len(lines) != 2 {
		t.Fatalf("%d JSON lines, want 2:\n%s", len(lines), out.String())
	}
	var first map[string]any
	if err := json.Unmarshal(lines[0], &first); err != nil {
		t.Fatal(err)
	}
	order, _ := first["order"].(map[string]any)
	if first["msg"] != "charged" || first["component"] != "billing" || order["amount"] != 42.0 ||
		order["trace_id"] != span.SpanContext().TraceID().String() {
		t.Errorf("JSON line %s: want msg, component, order.amount and the trace id", lines[0])
	}
}

// TestQueueBound fills a log queue whose exporter never returns and checks
// the records past the bound are dropped at once and counted.
func TestQueueBound(t *testing.T) {
	st := newStats(slog.New(slog.DiscardHandler))
	release := make(chan struct{})
	exp := &blockingExporter{release: release}
	lp := sdklog.NewLoggerProvider(sdklog.WithProcessor(countLogs(st, exp, 8, sdklog.WithExportMaxBatchSize(4))))
	log := slog.New(newHandler(lp, slog.LevelInfo, nil))
	for range 100 {
		log.Info("x")
	}
	if got := st.snapshot().LogsDropped; got < 100-8 {
		t.Errorf("dropped %d of 100 records with a queue of 8, want at least 92", got)
	}
	close(release)
	if err := lp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	s := st.snapshot()
	if s.LogsExported+s.LogsDropped != 100 {
		t.Errorf("exported %d + dropped %d, want 100 in all", s.LogsExported, s.LogsDropped)
	}
}

type blockingExporter struct{ release chan struct{} }

func (e *blockingExporter) Export(ctx context.Context, _ []sdklog.Record) error {
	select {
	case <-e.release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
func (e *blockingExporter) Shutdown(context.Context) error   { return nil }
func (e *blockingExporter) ForceFlush(context.Context) error { return nil }
