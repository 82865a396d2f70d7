package sdk

import (
	"context"
	"errors"
	"io"
	"log/slog"

	"go.opentelemetry.io/contrib/bridges/otelslog"
	"go.opentelemetry.io/otel/log"
	"go.opentelemetry.io/otel/trace"
)

// handler sends records over OTLP through the otelslog bridge, which takes
// the trace and span ids from the record's context, and writes them as
// JSON with the same ids when asked.
type handler struct {
	level slog.Leveler
	otlp  slog.Handler
	json  slog.Handler // nil unless Config.LogJSON is set
}

func newHandler(lp log.LoggerProvider, level slog.Leveler, jsonOut io.Writer) *handler {
	if level == nil {
		level = slog.LevelInfo
	}
	h := &handler{level: level, otlp: otelslog.NewHandler(scope, otelslog.WithLoggerProvider(lp))}
	if jsonOut != nil {
		h.json = slog.NewJSONHandler(jsonOut, &slog.HandlerOptions{Level: level})
	}
	return h
}

func (h *handler) Enabled(_ context.Context, l slog.Level) bool {
	return l >= h.level.Level()
}

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	var jsonErr error
	if h.json != nil {
		jr := r.Clone()
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			jr.AddAttrs(slog.String("trace_id", sc.TraceID().String()), slog.String("span_id", sc.SpanID().String()))
		}
		jsonErr = h.json.Handle(ctx, jr)
	}
	return errors.Join(jsonErr, h.otlp.Handle(ctx, r))
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	c := *h
	c.otlp = h.otlp.WithAttrs(attrs)
	if h.json != nil {
		c.json = h.json.WithAttrs(attrs)
	}
	return &c
}

func (h *handler) WithGroup(name string) slog.Handler {
	c := *h
	c.otlp = h.otlp.WithGroup(name)
	if h.json != nil {
		c.json = h.json.WithGroup(name)
	}
	return &c
}
