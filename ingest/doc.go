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
// decompression, so a compression bomb cannot balloon memory) with a 413
// the client can read (see refuseHTTP); an unknown content type or encoding
// with 415; a missing or wrong ingest token with 401 / UNAUTHENTICATED.
// Bodies may be compressed as the Collector's exporters and the SDKs send
// them (encoding.go, grpc_compress.go).
//
// Memory: ingest holds a budget (Config.MaxInFlightBytes, a share of
// lookout's --max-memory) and every request reserves from it what it will
// cost once decoded and stored, estimated from its bytes before pdata
// builds anything (cost.go), and keeps it until its consumer returns. A
// request that does not fit, or a store that reports it is overloaded, is
// refused with 429 / RESOURCE_EXHAUSTED and a retry delay (Retry-After,
// RetryInfo); one that could never fit the budget with 413 /
// RESOURCE_EXHAUSTED without a retry delay. So memory stays bounded however
// hard clients push and whatever shape their requests have. Spans without
// ids are dropped and reported as a partial success.
package ingest
