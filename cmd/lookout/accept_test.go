package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

// edgeGen draws OTLP items from edge values: timestamps at and past every
// bound, values nested to and past the depth blocks keep, empty and huge
// strings, bytes, zero and full ids, empty resources and scopes.
type edgeGen struct {
	r   *rand.Rand
	now time.Time
}

func (g *edgeGen) timestamp() pcommon.Timestamp {
	switch g.r.IntN(9) {
	case 0:
		return 0
	case 1:
		return pcommon.Timestamp(math.MaxUint64)
	case 2:
		return pcommon.Timestamp(math.MaxInt64)
	case 3:
		return pcommon.NewTimestampFromTime(g.now.Add(-8 * 24 * time.Hour)) // past the 7-day retention
	case 4:
		return pcommon.NewTimestampFromTime(g.now.Add(3 * 24 * time.Hour)) // past a day ahead
	case 5:
		return pcommon.NewTimestampFromTime(g.now.Add(20 * time.Hour))
	case 6:
		return pcommon.NewTimestampFromTime(g.now.Add(-6 * 24 * time.Hour))
	case 7:
		return 1
	}
	return pcommon.NewTimestampFromTime(g.now.Add(-time.Duration(g.r.Int64N(int64(time.Hour)))))
}

// value fills v with an edge value.
func (g *edgeGen) value(v pcommon.Value) {
	switch g.r.IntN(8) {
	case 0:
		v.SetStr("")
	case 1:
		v.SetStr(strings.Repeat("é huge ", 20000))
	case 2:
		v.SetEmptyBytes().FromRaw([]byte{0, 1, 2, 0xff})
	case 3:
		v.SetInt(math.MinInt64)
	case 4:
		v.SetDouble(math.Inf(-1))
	case 5:
		nest(v, []int{1, 20, 63, 64, 65, 100}[g.r.IntN(6)])
	case 6:
		v.SetEmptyMap()
	default:
		v.SetStr("plain text " + strconv.Itoa(g.r.IntN(1000)))
	}
}

// nest makes v a value whose deepest part sits at depth d, alternating
// arrays and maps.
func nest(v pcommon.Value, d int) {
	for i := range d {
		if i%2 == 0 {
			v = v.SetEmptySlice().AppendEmpty()
		} else {
			v = v.SetEmptyMap().PutEmpty("k")
		}
	}
	v.SetStr("deepest")
}

func (g *edgeGen) attrs(m pcommon.Map) {
	for i := range g.r.IntN(3) {
		g.value(m.PutEmpty("edge." + strconv.Itoa(i)))
	}
}

func (g *edgeGen) id(n int) []byte {
	b := make([]byte, n)
	switch g.r.IntN(4) {
	case 0: // zero
	case 1:
		for i := range b {
			b[i] = 0xff
		}
	default:
		for i := range b {
			b[i] = byte(g.r.Uint32())
		}
	}
	return b
}

// logs is a request whose records all carry probe.req=tag.
func (g *edgeGen) logs(tag string) plog.Logs {
	ld := plog.NewLogs()
	for range g.r.IntN(3) {
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "edge")
		if g.r.IntN(8) == 0 {
			g.attrs(rl.Resource().Attributes())
		}
		for range g.r.IntN(3) {
			sl := rl.ScopeLogs().AppendEmpty()
			if g.r.IntN(8) == 0 {
				g.attrs(sl.Scope().Attributes())
			}
			for range g.r.IntN(4) {
				lr := sl.LogRecords().AppendEmpty()
				lr.SetTimestamp(g.timestamp())
				if g.r.IntN(2) == 0 {
					lr.SetObservedTimestamp(g.timestamp())
				}
				g.value(lr.Body())
				g.attrs(lr.Attributes())
				lr.Attributes().PutStr("probe.req", tag)
				lr.SetTraceID(pcommon.TraceID(g.id(16)))
				lr.SetSpanID(pcommon.SpanID(g.id(8)))
				lr.SetSeverityNumber(plog.SeverityNumber(g.r.IntN(25)))
			}
		}
	}
	return ld
}

// traces is a request whose spans all carry probe.req=tag; each span that
// has ids has its own trace, so a span found is a trace found.
func (g *edgeGen) traces(tag string) ptrace.Traces {
	td := ptrace.NewTraces()
	for range g.r.IntN(3) {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "edge")
		if g.r.IntN(8) == 0 {
			g.attrs(rs.Resource().Attributes())
		}
		for range g.r.IntN(3) {
			ss := rs.ScopeSpans().AppendEmpty()
			for range g.r.IntN(4) {
				sp := ss.Spans().AppendEmpty()
				tid := g.id(16)
				if tid[0] != 0 || tid[15] != 0 { // unique, unless zero
					tid[0], tid[1], tid[2], tid[3] = byte(g.r.Uint32()), byte(g.r.Uint32()), byte(g.r.Uint32()), 1
				}
				sp.SetTraceID(pcommon.TraceID(tid))
				sp.SetSpanID(pcommon.SpanID(g.id(8)))
				sp.SetName("edge op")
				start := g.timestamp()
				sp.SetStartTimestamp(start)
				sp.SetEndTimestamp(start + pcommon.Timestamp(g.r.IntN(1e9)))
				g.attrs(sp.Attributes())
				sp.Attributes().PutStr("probe.req", tag)
				if g.r.IntN(4) == 0 {
					g.attrs(sp.Events().AppendEmpty().Attributes())
				}
			}
		}
	}
	return td
}

// sendOTLP sends one request over a transport and returns how many items
// lookout reported rejected.
type sender func(t *testing.T, signal string, req any) int64

func httpSender(base string, asJSON bool) sender {
	return func(t *testing.T, signal string, req any) int64 {
		t.Helper()
		var (
			body []byte
			err  error
		)
		type marshaler interface {
			MarshalProto() ([]byte, error)
			MarshalJSON() ([]byte, error)
		}
		m := req.(marshaler)
		ct := "application/x-protobuf"
		if asJSON {
			body, err = m.MarshalJSON()
			ct = "application/json"
		} else {
			body, err = m.MarshalProto()
		}
		if err != nil {
			t.Fatal(err)
		}
		hreq, _ := http.NewRequest("POST", "http://"+base+"/v1/"+signal, bytes.NewReader(body))
		hreq.Header.Set("Content-Type", ct)
		hreq.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := http.DefaultClient.Do(hreq)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("POST /v1/%s = %d %s", signal, resp.StatusCode, b)
		}
		switch signal {
		case "logs":
			r := plogotlp.NewExportResponse()
			if asJSON {
				err = r.UnmarshalJSON(b)
			} else {
				err = r.UnmarshalProto(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			return r.PartialSuccess().RejectedLogRecords()
		default:
			r := ptraceotlp.NewExportResponse()
			if asJSON {
				err = r.UnmarshalJSON(b)
			} else {
				err = r.UnmarshalProto(b)
			}
			if err != nil {
				t.Fatal(err)
			}
			return r.PartialSuccess().RejectedSpans()
		}
	}
}

func grpcSender(t *testing.T, addr string) sender {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	logs, traces := plogotlp.NewGRPCClient(conn), ptraceotlp.NewGRPCClient(conn)
	return func(t *testing.T, signal string, req any) int64 {
		t.Helper()
		ctx := metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+e2eToken)
		switch r := req.(type) {
		case plogotlp.ExportRequest:
			resp, err := logs.Export(ctx, r)
			if err != nil {
				t.Fatalf("gRPC logs: %v", err)
			}
			return resp.PartialSuccess().RejectedLogRecords()
		case ptraceotlp.ExportRequest:
			resp, err := traces.Export(ctx, r)
			if err != nil {
				t.Fatalf("gRPC traces: %v", err)
			}
			return resp.PartialSuccess().RejectedSpans()
		}
		t.Fatalf("request %T", req)
		return 0
	}
}

// TestEveryItemFoundOrRejected sends random requests drawn from edge
// values over every transport; for each, the items found through the API
// plus the items reported rejected are the items sent.
func TestEveryItemFoundOrRejected(t *testing.T) {
	s := startServer(t, t.TempDir())
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	g := &edgeGen{r: rand.New(rand.NewPCG(seed, 12)), now: time.Now()}
	senders := map[string]sender{
		"http-protobuf": httpSender(s.addr.OTLPHTTP, false),
		"http-json":     httpSender(s.addr.OTLPHTTP, true),
		"grpc":          grpcSender(t, s.addr.OTLPGRPC),
	}
	type sent struct {
		tag, signal   string
		items, reject int64
	}
	var all []sent
	n := 0
	for name, send := range senders {
		for range 25 {
			n++
			tag := fmt.Sprintf("%s-%d", name, n)
			ld := g.logs(tag)
			all = append(all, sent{tag, "logs", int64(ld.LogRecordCount()), send(t, "logs", plogotlp.NewExportRequestFromLogs(ld))})
			n++
			tag = fmt.Sprintf("%s-%d", name, n)
			td := g.traces(tag)
			all = append(all, sent{tag, "traces", int64(td.SpanCount()), send(t, "traces", ptraceotlp.NewExportRequestFromTraces(td))})
		}
	}
	window := url.Values{
		"start": {strconv.FormatInt(g.now.Add(-8*24*time.Hour).Unix(), 10)},
		"end":   {strconv.FormatInt(g.now.Add(2*24*time.Hour).Unix(), 10)},
		"limit": {"1000"},
	}
	found := func(x sent) int64 {
		q := url.Values{"query": {`probe.req:"` + x.tag + `"`}}
		for k, v := range window {
			q[k] = v
		}
		if x.signal == "logs" {
			var res struct {
				Total int64 `json:"total"`
			}
			if code := apiGet(t, s.addr.HTTP, "/api/v1/logs?"+q.Encode(), &res); code != 200 {
				t.Fatalf("logs search %s: %d", x.tag, code)
			}
			return res.Total
		}
		var res struct {
			Traces []struct {
				SpanCount int64 `json:"span_count"`
			} `json:"traces"`
		}
		if code := apiGet(t, s.addr.HTTP, "/api/v1/traces?"+q.Encode(), &res); code != 200 {
			t.Fatalf("trace search %s: %d", x.tag, code)
		}
		var spans int64
		for _, tr := range res.Traces {
			spans += tr.SpanCount
		}
		return spans
	}
	var items, rejected int64
	for _, x := range all {
		items += x.items
		rejected += x.reject
		x := x
		deadline := time.Now().Add(30 * time.Second)
		for {
			got := found(x)
			if got+x.reject == x.items {
				break
			}
			if time.Now().After(deadline) {
				t.Errorf("%s %s: sent %d, found %d, reported rejected %d", x.signal, x.tag, x.items, got, x.reject)
				break
			}
			time.Sleep(50 * time.Millisecond) // polling the indexer, with a deadline
		}
	}
	t.Logf("%d requests, %d items, %d rejected", len(all), items, rejected)
	if rejected == 0 || rejected == items {
		t.Errorf("%d of %d items rejected: the edge values should give some of each", rejected, items)
	}
}
