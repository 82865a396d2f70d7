// Package ingest receives OTLP logs, traces and metrics over gRPC and HTTP
// and hands them, decoded with pdata, to the stores. It is the left end of
// lookout's data path: it imports no store, only the consumer interfaces it
// declares (LogsConsumer, TracesConsumer, MetricsConsumer), which
// cmd/lookout satisfies with the stores.
//
// What it guarantees a client: an acknowledgement (HTTP 200 / gRPC OK)
// means the consumer returned, and consumers return only once data is
// durable. Bad input is refused with 400 / INVALID_ARGUMENT and a message
// that says what was wrong; a body over the size limit (checked after
// decompression, so a gzip bomb cannot balloon memory) with 413; an unknown
// content type or encoding with 415; a missing or wrong ingest token with
// 401 / UNAUTHENTICATED. When the in-flight byte budget is spent or a store
// reports that it is overloaded, requests are refused with 429 /
// RESOURCE_EXHAUSTED and a retry delay (Retry-After, RetryInfo), so memory
// stays bounded however hard clients push. Spans without ids are dropped
// and reported as a partial success.
package ingest
