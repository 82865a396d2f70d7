package ingest

import (
	"runtime"
	"strconv"
	"testing"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

// allocated is the fewest bytes f allocated in three runs. Allocation is
// deterministic enough to compare with; the minimum drops what other
// goroutines allocated meanwhile.
func allocated(f func()) int64 {
	var best int64 = -1
	for range 3 {
		var a, b runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&a)
		f()
		runtime.ReadMemStats(&b)
		if n := int64(b.TotalAlloc - a.TotalAlloc); best < 0 || n < best {
			best = n
		}
	}
	return best
}

type marshaler interface {
	exportRequest
	MarshalProto() ([]byte, error)
	MarshalJSON() ([]byte, error)
}

func newRequestOf(k msgKind) exportRequest {
	switch k {
	case kLogsRequest:
		return plogotlp.NewExportRequest()
	case kTracesRequest:
		return ptraceotlp.NewExportRequest()
	}
	return pmetricotlp.NewExportRequest()
}

// costShapes are requests of the shapes that cost most per wire byte, and
// ordinary ones.
func costShapes() []struct {
	name string
	kind msgKind
	req  marshaler
} {
	logs := func(f func(plog.Logs)) marshaler {
		ld := plog.NewLogs()
		f(ld)
		return plogotlp.NewExportRequestFromLogs(ld)
	}
	traces := func(f func(ptrace.SpanSlice)) marshaler {
		td := ptrace.NewTraces()
		f(td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans())
		return ptraceotlp.NewExportRequestFromTraces(td)
	}
	metrics := func(f func(pmetric.MetricSlice)) marshaler {
		md := pmetric.NewMetrics()
		f(md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics())
		return pmetricotlp.NewExportRequestFromMetrics(md)
	}
	const n = 10000
	return []struct {
		name string
		kind msgKind
		req  marshaler
	}{
		{"empty resources", kLogsRequest, logs(func(ld plog.Logs) {
			for range n {
				ld.ResourceLogs().AppendEmpty()
			}
		})},
		{"resources of one record", kLogsRequest, logs(func(ld plog.Logs) {
			for i := range n {
				rl := ld.ResourceLogs().AppendEmpty()
				rl.Resource().Attributes().PutStr("service.name", "svc-"+strconv.Itoa(i))
				rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().SetTimestamp(1)
			}
		})},
		{"records with attributes", kLogsRequest, logs(func(ld plog.Logs) {
			lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			for i := range n {
				lr := lrs.AppendEmpty()
				lr.Body().SetStr("GET /api/cart " + strconv.Itoa(i))
				for j := range 5 {
					lr.Attributes().PutInt("k"+strconv.Itoa(j), 1)
				}
			}
		})},
		{"nested values", kLogsRequest, logs(func(ld plog.Logs) {
			lrs := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords()
			for range n / 5 {
				s := lrs.AppendEmpty().Body().SetEmptySlice()
				for range 5 {
					s.AppendEmpty().SetEmptyMap().PutEmptySlice("x").AppendEmpty().SetBool(true)
				}
			}
		})},
		{"spans with events and links", kTracesRequest, traces(func(ss ptrace.SpanSlice) {
			for range n {
				sp := ss.AppendEmpty()
				sp.SetName("x")
				sp.Events().AppendEmpty().SetName("e")
				sp.Links().AppendEmpty().SetFlags(1)
				sp.Status().SetMessage("m")
			}
		})},
		{"sums", kMetricsRequest, metrics(func(ms pmetric.MetricSlice) {
			for range n {
				ms.AppendEmpty().SetEmptySum().DataPoints().AppendEmpty().SetIntValue(1)
			}
		})},
		{"histograms", kMetricsRequest, metrics(func(ms pmetric.MetricSlice) {
			for range n / 5 {
				dp := ms.AppendEmpty().SetEmptyHistogram().DataPoints().AppendEmpty()
				dp.BucketCounts().FromRaw(make([]uint64, 16))
				dp.ExplicitBounds().FromRaw(make([]float64, 15))
				dp.Exemplars().AppendEmpty().SetDoubleValue(1)
			}
		})},
		{"exponential histograms", kMetricsRequest, metrics(func(ms pmetric.MetricSlice) {
			for range n / 5 {
				dp := ms.AppendEmpty().SetEmptyExponentialHistogram().DataPoints().AppendEmpty()
				dp.Positive().BucketCounts().FromRaw(make([]uint64, 100))
			}
		})},
		{"summaries", kMetricsRequest, metrics(func(ms pmetric.MetricSlice) {
			for range n / 5 {
				dp := ms.AppendEmpty().SetEmptySummary().DataPoints().AppendEmpty()
				dp.QuantileValues().AppendEmpty().SetValue(1)
				dp.QuantileValues().AppendEmpty().SetValue(2)
			}
		})},
	}
}

// TestCostCoversDecoding checks the cost estimates against what pdata
// allocates decoding the same bytes: never below it (the budget would
// under-count), and not so far above that the budget refuses what fits.
func TestCostCoversDecoding(t *testing.T) {
	for _, tc := range costShapes() {
		t.Run(tc.name, func(t *testing.T) {
			pb, err := tc.req.MarshalProto()
			if err != nil {
				t.Fatal(err)
			}
			js, err := tc.req.MarshalJSON()
			if err != nil {
				t.Fatal(err)
			}
			pc, err := protoCost(tc.kind, pb)
			if err != nil {
				t.Fatalf("protoCost: %v", err)
			}
			jc, err := jsonCost(tc.kind, js)
			if err != nil {
				t.Fatalf("jsonCost: %v", err)
			}
			if pc.items != jc.items || pc.resources != jc.resources || pc.attributes != jc.attributes {
				t.Errorf("protobuf counts %+v, JSON counts %+v: want the same", pc, jc)
			}
			for _, c := range []struct {
				format string
				est    int64
				decode func()
			}{
				{"protobuf", pc.bytes, func() { _ = newRequestOf(tc.kind).UnmarshalProto(pb) }},
				{"JSON", jc.bytes, func() { _ = newRequestOf(tc.kind).UnmarshalJSON(js) }},
			} {
				got := allocated(c.decode)
				if c.est < got || c.est > 5*got/2 {
					t.Errorf("%s: estimate %d bytes, decoding allocated %d: want between 1x and 2.5x", c.format, c.est, got)
				}
			}
		})
	}
}

func TestCostCounts(t *testing.T) {
	td := ptrace.NewTraces()
	for range 3 {
		rs := td.ResourceSpans().AppendEmpty()
		rs.Resource().Attributes().PutStr("service.name", "a")
		for range 2 {
			ss := rs.ScopeSpans().AppendEmpty()
			ss.Scope().Attributes().PutStr("x", "y")
			sp := ss.Spans().AppendEmpty()
			sp.Attributes().PutStr("k", "v")
			sp.Attributes().PutEmptyMap("m").PutInt("i", 1)
		}
	}
	b, _ := ptraceotlp.NewExportRequestFromTraces(td).MarshalProto()
	c, err := protoCost(kTracesRequest, b)
	if err != nil {
		t.Fatal(err)
	}
	want := requestCost{resources: 3, scopes: 6, items: 6, attributes: 3 + 6 + 6*3}
	c.bytes = 0
	if c != want {
		t.Fatalf("protoCost counts = %+v, want %+v", c, want)
	}
}

func TestCostRefusesDeepNesting(t *testing.T) {
	ld := plog.NewLogs()
	v := ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body()
	for range maxDepth {
		v = v.SetEmptySlice().AppendEmpty()
	}
	req := plogotlp.NewExportRequestFromLogs(ld)
	pb, _ := req.MarshalProto()
	if _, err := protoCost(kLogsRequest, pb); err != errTooDeep {
		t.Errorf("protoCost of %d nested arrays: %v, want %v", maxDepth, err, errTooDeep)
	}
	js, _ := req.MarshalJSON()
	if _, err := jsonCost(kLogsRequest, js); err != errJSONTooDeep {
		t.Errorf("jsonCost of %d nested arrays: %v, want %v", maxDepth, err, errJSONTooDeep)
	}
}
