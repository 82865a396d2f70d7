package ingest

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/golang/snappy"
	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zlib"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	spb "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// compressors produce each Content-Encoding as the Collector's exporters
// (confighttp) and other clients write it.
var compressors = map[string]func(w io.Writer) io.WriteCloser{
	"gzip": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
	"zstd": func(w io.Writer) io.WriteCloser {
		zw, _ := zstd.NewWriter(w, zstd.WithEncoderConcurrency(1))
		return zw
	},
	"snappy (framed)":  func(w io.Writer) io.WriteCloser { return snappy.NewBufferedWriter(w) },
	"snappy (block)":   func(w io.Writer) io.WriteCloser { return &snappyBlockWriter{w: w} },
	"x-snappy-framed":  func(w io.Writer) io.WriteCloser { return snappy.NewBufferedWriter(w) },
	"deflate (zlib)":   func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
	"deflate (raw)":    func(w io.Writer) io.WriteCloser { fw, _ := flate.NewWriter(w, flate.DefaultCompression); return fw },
	"zlib":             func(w io.Writer) io.WriteCloser { return zlib.NewWriter(w) },
	"lz4":              func(w io.Writer) io.WriteCloser { return lz4.NewWriter(w) },
	"gzip (as x-gzip)": func(w io.Writer) io.WriteCloser { return gzip.NewWriter(w) },
}

// snappyBlockWriter writes one snappy block on Close, as confighttp does
// for Content-Encoding: snappy behind its framed-snappy feature gate.
type snappyBlockWriter struct {
	w   io.Writer
	buf bytes.Buffer
}

func (s *snappyBlockWriter) Write(p []byte) (int, error) { return s.buf.Write(p) }
func (s *snappyBlockWriter) Close() error {
	_, err := s.w.Write(snappy.Encode(nil, s.buf.Bytes()))
	return err
}

func compress(t testing.TB, name string, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	w := compressors[name](&buf)
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// headerOf is the Content-Encoding a compressor's output is sent with.
func headerOf(name string) string {
	if name == "gzip (as x-gzip)" {
		return "x-gzip"
	}
	h, _, _ := strings.Cut(name, " ")
	return h
}

func TestHTTPEncodings(t *testing.T) {
	c := &consumer{}
	cfg := DefaultConfig()
	cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 1<<20, 64<<20
	r := openReceiver(t, cfg, Options{Logs: c, Traces: c})
	logs := fixture(t, "logs.pb")
	bomb := make([]byte, 8<<20) // 8 MiB of zeros: a few KiB compressed
	post := func(t *testing.T, enc string, body []byte) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+r.HTTPAddr().String()+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", ctProto)
		req.Header.Set("Content-Encoding", enc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		st := &spb.Status{}
		_ = proto.Unmarshal(b, st)
		return resp.StatusCode, st.Message
	}
	for name := range compressors {
		t.Run(name, func(t *testing.T) {
			before := c.logs
			if code, msg := post(t, headerOf(name), compress(t, name, logs)); code != 200 {
				t.Fatalf("status %d (%s), want 200", code, msg)
			}
			if c.logs == before {
				t.Fatal("no records stored")
			}
			if code, msg := post(t, headerOf(name), compress(t, name, bomb)); code != 413 || !strings.Contains(msg, "once decompressed") {
				t.Fatalf("8 MiB bomb: status %d (%s), want 413 once decompressed", code, msg)
			}
			if code, msg := post(t, headerOf(name), []byte("definitely not compressed data")); code != 400 {
				t.Fatalf("garbage: status %d (%s), want 400", code, msg)
			}
			if got := r.budget.used.Load(); got != 0 {
				t.Fatalf("budget holds %d bytes after the requests, want 0", got)
			}
		})
	}
}

func TestGRPCEncodings(t *testing.T) {
	c := &consumer{}
	cfg := DefaultConfig()
	cfg.MaxRequestBytes, cfg.MaxInFlightBytes = 1<<20, 64<<20
	r := openReceiver(t, cfg, Options{Logs: c, Traces: c})
	conn, err := grpc.NewClient(r.GRPCAddr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := plogotlp.NewGRPCClient(conn)
	req := plogotlp.NewExportRequest()
	if err := req.UnmarshalJSON(fixture(t, "logs.json")); err != nil {
		t.Fatal(err)
	}
	bomb := plogotlp.NewExportRequest()
	bomb.Logs().ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(strings.Repeat("a", 4<<20))
	for _, enc := range []string{"gzip", "zstd", "snappy"} {
		t.Run(enc, func(t *testing.T) {
			before := c.logs
			if _, err := client.Export(context.Background(), req, grpc.UseCompressor(enc)); err != nil {
				t.Fatalf("export: %v", err)
			}
			if c.logs == before {
				t.Fatal("no records stored")
			}
			_, err := client.Export(context.Background(), bomb, grpc.UseCompressor(enc))
			if status.Code(err) != codes.ResourceExhausted {
				t.Fatalf("4 MiB compressed to a few KiB: %v, want RESOURCE_EXHAUSTED", err)
			}
			waitFor(t, "the reservations to be released", func() bool { return r.budget.used.Load() == 0 })
		})
	}
}
