// Package web serves lookout's main port: health and readiness probes,
// self-metrics, the JSON API over logs and traces, the Prometheus-compatible
// query API (promapi.go, Prometheus' PromQL engine over
// PromQLOptions.Queryable) and, in later releases, the UI. It is the right
// end of the data path: it calls the stores through the small interfaces it
// declares (LogSearcher, MetadataSource) or Prometheus' own
// (storage.Queryable), and auth through Authenticator. Every route but
// /healthz, /readyz and /metrics needs a signed-in principal; errors use
// Prometheus' API shape {"status":"error","errorType":...,"error":...} and
// never carry internals.
package web
