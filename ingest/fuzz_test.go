package ingest

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/VictoriaMetrics/metrics"
	"go.opentelemetry.io/collector/pdata/pmetric"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
)

// fuzzContentTypes and fuzzEncodings are what the fuzzer picks from by
// index, so that it spends its time on bodies rather than header spelling.
var (
	fuzzContentTypes = []string{ctProto, ctJSON, "application/json; charset=utf-8", "text/plain"}
	fuzzEncodings    = []string{"", "gzip", "zstd", "snappy", "x-snappy-framed", "deflate", "zlib", "lz4", "br"}
	fuzzPaths        = []string{"/v1/logs", "/v1/traces", "/v1/metrics"}
)

// FuzzHTTP sends arbitrary bodies, with every content type and encoding,
// through the OTLP/HTTP handler: whatever the bytes, the answer is one of
// OTLP's, an error answer is a google.rpc.Status, and every request gives
// its reservation back. The seeds (testdata/fuzz/FuzzHTTP) are valid and
// broken requests of each encoding and signal; plain go test runs them.
func FuzzHTTP(f *testing.F) {
	c := &consumer{}
	cfg := DefaultConfig()
	cfg.GRPCAddr, cfg.HTTPAddr = "", ""
	cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 256<<10, 8<<20
	r, err := Open(context.Background(), cfg, Options{Metrics: metrics.NewSet(), Logs: c, Traces: c, Metric: metricsSink{}})
	if err != nil {
		f.Fatal(err)
	}
	h := r.Handler()
	f.Fuzz(func(t *testing.T, path, ctype, enc uint8, body []byte) {
		ct := fuzzContentTypes[int(ctype)%len(fuzzContentTypes)]
		req := httptest.NewRequest("POST", fuzzPaths[int(path)%len(fuzzPaths)], bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		if e := fuzzEncodings[int(enc)%len(fuzzEncodings)]; e != "" {
			req.Header.Set("Content-Encoding", e)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		switch w.Code {
		case http.StatusOK:
		case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType, http.StatusTooManyRequests:
			st := &spb.Status{}
			var err error
			if w.Header().Get("Content-Type") == ctJSON {
				err = protojson.Unmarshal(w.Body.Bytes(), st)
			} else {
				err = proto.Unmarshal(w.Body.Bytes(), st)
			}
			if err != nil || st.Message == "" {
				t.Fatalf("%d answer is not a google.rpc.Status with a message: %q (%v)", w.Code, w.Body.Bytes(), err)
			}
		default:
			t.Fatalf("status %d for %s %s (%d bytes): %q", w.Code, ct, req.Header.Get("Content-Encoding"), len(body), w.Body.Bytes())
		}
		if got := r.budget.used.Load(); got != 0 {
			t.Fatalf("budget holds %d bytes after the request, want 0", got)
		}
	})
}

// metricsSink stores nothing and accepts every metric point.
type metricsSink struct{}

func (metricsSink) ConsumeMetrics(context.Context, pmetric.Metrics) error { return nil }
