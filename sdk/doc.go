// Package sdk instruments a Go service for lookout in a few lines: one
// call to Start sets up OpenTelemetry tracer, meter and logger providers
// that send traces, metrics and logs to lookout over OTLP, and the
// Telemetry it returns wraps HTTP and gRPC servers and clients so that
// every request records a span and the four golden signals (latency,
// traffic, errors, saturation) per route.
//
// Logs written through Telemetry.Logger carry the trace_id and span_id of
// the request they were written in, so lookout shows a trace's log lines
// under its spans, and a log line links to its trace.
//
// Configuration comes from Config or, where a field is empty, from the
// standard OpenTelemetry environment variables (OTEL_SERVICE_NAME,
// OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_ENDPOINT,
// OTEL_EXPORTER_OTLP_PROTOCOL, OTEL_EXPORTER_OTLP_HEADERS, ...) and
// LOOKOUT_INGEST_TOKEN.
//
// The app never waits for lookout: spans and log records go through
// bounded queues, exports retry with backoff for a while and are then
// dropped, and every drop is counted (Telemetry.Stats and the metric
// lookout_sdk_dropped_total). Shutdown sends what is buffered.
//
// The package is a thin layer over the OpenTelemetry Go SDK and imports
// nothing else of lookout; anything it sets up is also reachable as a
// plain OpenTelemetry provider.
package sdk
