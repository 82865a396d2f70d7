package web_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/exemplar"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/model/metadata"
	"github.com/prometheus/prometheus/promql/promqltest"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/util/annotations"
	"github.com/prometheus/prometheus/util/teststorage"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/query"
	"github.com/lookout-dev/lookout/web"
)

// promData is loaded at t=0 with one sample every 15s up to 1500s.
const promData = `
load 15s
  http_requests_total{job="api", instance="a"} 0+10x100
  http_requests_total{job="api", instance="b"} 0+20x100
  http_requests_total{job="web", instance="a"} 0+5x100
  up{job="api"} 1x100
  request_duration_seconds{job="api"} {{schema:0 sum:5 count:4 buckets:[1 2 1]}}x100
`

// promFixture serves the real handler over a real TSDB.
type promFixture struct {
	*fixture
	h *web.Handler
}

// newPromFixture builds the handler with the Prometheus API over q; set,
// if not nil, adjusts the options first.
func newPromFixture(t *testing.T, q storage.Queryable, set func(*web.Options)) *promFixture {
	t.Helper()
	a, st := openDeps(t)
	opts := web.Options{
		Auth: a, Sessions: a, Logs: st,
		PromQL: &web.PromQLOptions{
			Engine:    engineWith(query.Config{}),
			Queryable: q,
			Metadata:  testMetadata{},
			BuildInfo: web.BuildInfo{Version: "1.2.3", Revision: "abc", Branch: "main"},
		},
	}
	if set != nil {
		set(&opts)
	}
	h, err := web.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return &promFixture{fixture: serveFixture(t, h, a, st, auth.RoleViewer, auth.RoleIngest), h: h}
}

// engineWith is a PromQL engine with cfg's bounds.
func engineWith(cfg query.Config) *query.Engine {
	e, err := query.NewEngine(cfg, query.Options{})
	if err != nil {
		panic(err) // only a metrics registry can make it fail
	}
	return e
}

// promResponse is Prometheus' API envelope.
type promResponse struct {
	Status    string          `json:"status"`
	Data      json.RawMessage `json:"data"`
	ErrorType string          `json:"errorType"`
	Error     string          `json:"error"`
	Warnings  []string        `json:"warnings"`
	Infos     []string        `json:"infos"`
}

// queryData is the data of /api/v1/query and /api/v1/query_range.
type queryData struct {
	ResultType string          `json:"resultType"`
	Result     json.RawMessage `json:"result"`
	Stats      json.RawMessage `json:"stats"`
}

// promSeries is one element of a vector or matrix result.
type promSeries struct {
	Metric    map[string]string `json:"metric"`
	Value     []any             `json:"value"`
	Values    [][]any           `json:"values"`
	Histogram []any             `json:"histogram"`
}

// query sends form to path as GET (in the URL) or POST (form-encoded
// body), as the admin with HTTP Basic, and decodes the envelope.
func (f *promFixture) query(t *testing.T, method, path string, form url.Values) (int, promResponse) {
	t.Helper()
	var body io.Reader
	target := f.srv.URL + path
	if method == http.MethodPost {
		body = strings.NewReader(form.Encode())
	} else if len(form) > 0 {
		target += "?" + form.Encode()
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.SetBasicAuth("admin", "admin-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var pr promResponse
	if err := json.Unmarshal(b, &pr); err != nil {
		t.Fatalf("%s %s: %d, body %q is not JSON: %v", method, path, resp.StatusCode, b, err)
	}
	return resp.StatusCode, pr
}

func decode[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("decode %s: %v", raw, err)
	}
	return v
}

// result decodes a vector or matrix result.
func result(t *testing.T, pr promResponse, wantType string) []promSeries {
	t.Helper()
	d := decode[queryData](t, pr.Data)
	if d.ResultType != wantType {
		t.Fatalf("resultType %q, want %q (%s)", d.ResultType, wantType, pr.Data)
	}
	return decode[[]promSeries](t, d.Result)
}

// num reads a JSON sample value, which Prometheus writes as a string.
func num(t *testing.T, v any) float64 {
	t.Helper()
	s, ok := v.(string)
	if !ok {
		t.Fatalf("value %v (%T) is not a string", v, v)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func form(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

func TestPromQuery(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, promData), nil)
	const rateA = `rate(http_requests_total{job="api",instance="a"}[1m])`
	// checkRate wants one vector sample of 10 per 15s.
	checkRate := func(t *testing.T, pr promResponse) {
		res := result(t, pr, "vector")
		if len(res) != 1 || res[0].Metric["instance"] != "a" || res[0].Metric["__name__"] != "" || !near(num(t, res[0].Value[1]), 10.0/15) || res[0].Value[0] != 600.0 {
			t.Fatalf("got %s, want one sample [600, 0.666...] without __name__", pr.Data)
		}
	}
	cases := []struct {
		name   string
		method string
		path   string
		form   url.Values
		check  func(t *testing.T, pr promResponse)
	}{
		{"instant rate GET", "GET", "/api/v1/query", form("query", rateA, "time", "600"), checkRate},
		{"instant rate POST", "POST", "/api/v1/query", form("query", rateA, "time", "600"), checkRate},
		{"instant at RFC 3339 time", "GET", "/api/v1/query", form("query", rateA, "time", "1970-01-01T00:10:00Z"), checkRate},
		{"instant sum by job", "GET", "/api/v1/query", form("query", `sum by (job) (rate(http_requests_total[1m]))`, "time", "600"),
			func(t *testing.T, pr promResponse) {
				got := map[string]float64{}
				for _, s := range result(t, pr, "vector") {
					got[s.Metric["job"]] = num(t, s.Value[1])
				}
				if len(got) != 2 || !near(got["api"], 2) || !near(got["web"], 5.0/15) {
					t.Fatalf("got %v, want api 2 and web 0.333", got)
				}
			}},
		{"Grafana health check", "POST", "/api/v1/query", form("query", "1+1", "time", "4"),
			func(t *testing.T, pr promResponse) {
				d := decode[queryData](t, pr.Data)
				if d.ResultType != "scalar" || string(d.Result) != `[4,"2"]` {
					t.Fatalf("got %s, want scalar [4,\"2\"]", pr.Data)
				}
			}},
		{"string", "GET", "/api/v1/query", form("query", `"hello"`, "time", "1.5"),
			func(t *testing.T, pr promResponse) {
				d := decode[queryData](t, pr.Data)
				if d.ResultType != "string" || string(d.Result) != `[1.5,"hello"]` {
					t.Fatalf("got %s, want string [1.5,\"hello\"]", pr.Data)
				}
			}},
		{"millisecond time kept", "GET", "/api/v1/query", form("query", "time()", "time", "1435781451.781"),
			func(t *testing.T, pr promResponse) {
				d := decode[queryData](t, pr.Data)
				if string(d.Result) != `[1435781451.781,"1435781451.781"]` {
					t.Fatalf("got %s, want [1435781451.781,\"1435781451.781\"]", d.Result)
				}
			}},
		{"native histogram", "GET", "/api/v1/query", form("query", "request_duration_seconds", "time", "600"),
			func(t *testing.T, pr promResponse) {
				res := result(t, pr, "vector")
				if len(res) != 1 || res[0].Value != nil || len(res[0].Histogram) != 2 {
					t.Fatalf("got %s, want one histogram sample", pr.Data)
				}
				h, _ := res[0].Histogram[1].(map[string]any)
				if h["count"] != "4" || h["sum"] != "5" || len(h["buckets"].([]any)) != 3 {
					t.Fatalf("histogram %v, want count 4, sum 5, 3 buckets", h)
				}
			}},
		{"limit truncates with a warning", "GET", "/api/v1/query", form("query", "http_requests_total", "time", "600", "limit", "1"),
			func(t *testing.T, pr promResponse) {
				if res := result(t, pr, "vector"); len(res) != 1 || !slices.Contains(pr.Warnings, "results truncated due to limit") {
					t.Fatalf("got %s %v, want 1 sample and a truncation warning", pr.Data, pr.Warnings)
				}
			}},
		{"rate of a gauge is an info", "GET", "/api/v1/query", form("query", "rate(up[1m])", "time", "600"),
			func(t *testing.T, pr promResponse) {
				if len(pr.Infos) != 1 || !strings.Contains(pr.Infos[0], "might not be a counter") || !strings.Contains(pr.Infos[0], "(1:6)") {
					t.Fatalf("infos %q, want one saying up might not be a counter, with its position", pr.Infos)
				}
			}},
		{"stats", "GET", "/api/v1/query", form("query", "up", "time", "600", "stats", "true"),
			func(t *testing.T, pr promResponse) {
				if d := decode[queryData](t, pr.Data); !strings.Contains(string(d.Stats), `"timings"`) {
					t.Fatalf("stats %s, want timings", d.Stats)
				}
			}},
		{"lookback_delta", "GET", "/api/v1/query", form("query", "up", "time", "1600", "lookback_delta", "30s"),
			func(t *testing.T, pr promResponse) {
				if res := result(t, pr, "vector"); len(res) != 0 {
					t.Fatalf("got %s, want nothing 100s after the last sample with a 30s lookback", pr.Data)
				}
			}},
		{"range rate", "GET", "/api/v1/query_range", form("query", rateA, "start", "300", "end", "600", "step", "60"),
			func(t *testing.T, pr promResponse) {
				res := result(t, pr, "matrix")
				if len(res) != 1 || len(res[0].Values) != 6 {
					t.Fatalf("got %s, want one series of 6 points", pr.Data)
				}
				for i, p := range res[0].Values {
					if p[0] != float64(300+60*i) || !near(num(t, p[1]), 10.0/15) {
						t.Fatalf("point %d = %v, want [%d, 0.666...]", i, p, 300+60*i)
					}
				}
			}},
		{"Grafana range query", "POST", "/api/v1/query_range",
			form("query", `sum by (job) (rate(http_requests_total[1m]))`, "start", "300", "end", "600", "step", "15"),
			func(t *testing.T, pr promResponse) {
				res := result(t, pr, "matrix")
				if len(res) != 2 {
					t.Fatalf("got %s, want 2 series", pr.Data)
				}
				want := map[string]float64{"api": 2, "web": 5.0 / 15}
				for _, s := range res {
					if len(s.Values) != 21 {
						t.Fatalf("%v: %d points, want 21", s.Metric, len(s.Values))
					}
					for _, p := range s.Values {
						if !near(num(t, p[1]), want[s.Metric["job"]]) {
							t.Fatalf("%v at %v = %v, want %v", s.Metric, p[0], p[1], want[s.Metric["job"]])
						}
					}
				}
			}},
		{"range step in duration syntax", "GET", "/api/v1/query_range", form("query", "up", "start", "0", "end", "120", "step", "1m"),
			func(t *testing.T, pr promResponse) {
				if res := result(t, pr, "matrix"); len(res) != 1 || len(res[0].Values) != 3 {
					t.Fatalf("got %s, want one series of 3 points", pr.Data)
				}
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, pr := f.query(t, c.method, c.path, c.form)
			if code != http.StatusOK || pr.Status != "success" {
				t.Fatalf("%s %s %v = %d %+v, want 200 success", c.method, c.path, c.form, code, pr)
			}
			c.check(t, pr)
		})
	}
}

// TestPromLargeAnswer sends an answer of many parts, from a range query
// long enough to be split across cores, and checks it arrives whole,
// gzipped or not.
func TestPromLargeAnswer(t *testing.T) {
	var load strings.Builder
	load.WriteString("load 15s\n")
	for i := range 100 {
		fmt.Fprintf(&load, "  c{i=\"%03d\"} 0+%dx1000\n", i, 15*(i+1))
	}
	f := newPromFixture(t, promqltest.LoadedStorage(t, load.String()), nil)
	q := form("query", "rate(c[1m])", "start", "60", "end", "14985", "step", "15")
	code, pr := f.query(t, http.MethodGet, "/api/v1/query_range", q)
	if code != http.StatusOK {
		t.Fatalf("%d %s", code, pr.Error)
	}
	series := result(t, pr, "matrix")
	if len(series) != 100 {
		t.Fatalf("%d series, want 100", len(series))
	}
	for i, s := range series {
		if want := fmt.Sprintf("%03d", i); s.Metric["i"] != want {
			t.Fatalf("series %d is i=%q, want %q: not sorted", i, s.Metric["i"], want)
		}
		if len(s.Values) != 996 {
			t.Fatalf("i=%s: %d points, want 996", s.Metric["i"], len(s.Values))
		}
		for j, p := range s.Values {
			if ts, v := p[0].(float64), num(t, p[1]); ts != float64(60+15*j) || !near(v, float64(i+1)) {
				t.Fatalf("i=%s point %d = [%v, %v], want [%d, %d]", s.Metric["i"], j, ts, v, 60+15*j, i+1)
			}
		}
	}

	// The same bytes uncompressed.
	raw := func(encoding string) ([]byte, string) {
		req, err := http.NewRequest(http.MethodGet, f.srv.URL+"/api/v1/query_range?"+q.Encode(), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth("admin", "admin-password-1")
		req.Header.Set("Accept-Encoding", encoding)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body := io.Reader(resp.Body)
		if resp.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Fatal(err)
		}
		return b, resp.Header.Get("Content-Encoding")
	}
	zipped, enc := raw("gzip")
	if enc != "gzip" {
		t.Errorf("Content-Encoding %q, want gzip", enc)
	}
	plain, enc := raw("identity")
	if enc != "" {
		t.Errorf("Content-Encoding %q for identity", enc)
	}
	if len(plain) < 1<<20 || !bytes.Equal(plain, zipped) {
		t.Errorf("identity answer of %d bytes, gzipped %d bytes: want the same, over 1 MiB", len(plain), len(zipped))
	}
}

func TestPromQueryErrors(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, promData), nil)
	cases := []struct {
		name     string
		path     string
		form     url.Values
		wantCode int
		wantType string
		wantMsg  string
	}{
		{"bad query has its position", "/api/v1/query", form("query", "sum(rate(up[1m]", "time", "600"),
			400, "bad_data", `invalid parameter "query": 1:16: parse error: unclosed left parenthesis`},
		{"missing query", "/api/v1/query", form("time", "600"),
			400, "bad_data", `invalid parameter "query": `},
		{"bad time", "/api/v1/query", form("query", "up", "time", "yesterday"),
			400, "bad_data", `invalid parameter "time": invalid time value for 'time': cannot parse "yesterday" to a valid timestamp`},
		{"negative limit", "/api/v1/query", form("query", "up", "limit", "-1"),
			400, "bad_data", `invalid parameter "limit": limit must be non-negative`},
		{"bad timeout", "/api/v1/query", form("query", "up", "timeout", "soon"),
			400, "bad_data", `invalid parameter "timeout": cannot parse "soon" to a valid duration`},
		{"bad lookback_delta", "/api/v1/query", form("query", "up", "lookback_delta", "far"),
			400, "bad_data", "error parsing lookback delta duration"},
		{"missing start", "/api/v1/query_range", form("query", "up", "end", "600", "step", "15"),
			400, "bad_data", `invalid parameter "start": cannot parse "" to a valid timestamp`},
		{"missing step", "/api/v1/query_range", form("query", "up", "start", "0", "end", "600"),
			400, "bad_data", `invalid parameter "step": cannot parse "" to a valid duration`},
		{"end before start", "/api/v1/query_range", form("query", "up", "start", "600", "end", "0", "step", "15"),
			400, "bad_data", `invalid parameter "end": end timestamp must not be before start time`},
		{"zero step", "/api/v1/query_range", form("query", "up", "start", "0", "end", "600", "step", "0"),
			400, "bad_data", "zero or negative query resolution step widths are not accepted. Try a positive integer"},
		{"step too small", "/api/v1/query_range", form("query", "up", "start", "0", "end", "86400", "step", "1"),
			400, "bad_data", "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"},
		{"evaluation error is execution", "/api/v1/query", form("query", "http_requests_total + on(job) http_requests_total", "time", "600"),
			422, "execution", "found duplicate series for the match group"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, pr := f.query(t, "GET", c.path, c.form)
			if code != c.wantCode || pr.Status != "error" || pr.ErrorType != c.wantType || !strings.Contains(pr.Error, c.wantMsg) {
				t.Fatalf("GET %s %v = %d %+v, want %d %s with %q", c.path, c.form, code, pr, c.wantCode, c.wantType, c.wantMsg)
			}
		})
	}
}

func TestPromLimits(t *testing.T) {
	st := promqltest.LoadedStorage(t, promData)
	cases := []struct {
		name     string
		set      func(*web.Options)
		path     string
		form     url.Values
		wantCode int
		wantType string
		wantMsg  string
	}{
		{"max series", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{MaxSeries: 2}) }, "/api/v1/query", form("query", "sum(http_requests_total)", "time", "600"),
			422, "execution", "query selects more than 2 series; narrow the selectors"},
		{"max series counts across selectors", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{MaxSeries: 2}) }, "/api/v1/query", form("query", `up + on(job) http_requests_total{instance="b"}`, "time", "600"),
			200, "", ""},
		{"max series on the series API", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{MaxSeries: 2}) }, "/api/v1/series", form("match[]", "http_requests_total"),
			422, "execution", "query selects more than 2 series; narrow the selectors"},
		{"max samples", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{MaxSamples: 10}) }, "/api/v1/query_range", form("query", "http_requests_total", "start", "300", "end", "600", "step", "15"),
			422, "execution", "query processing would load too many samples into memory"},
		{"within max samples", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{MaxSamples: 100}) }, "/api/v1/query_range", form("query", "http_requests_total", "start", "300", "end", "600", "step", "15"),
			200, "", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newPromFixture(t, st, c.set)
			code, pr := f.query(t, "GET", c.path, c.form)
			if code != c.wantCode || pr.ErrorType != c.wantType || !strings.Contains(pr.Error, c.wantMsg) {
				t.Fatalf("GET %s %v = %d %+v, want %d %q with %q", c.path, c.form, code, pr, c.wantCode, c.wantType, c.wantMsg)
			}
		})
	}
}

// blockingQueryable is a store whose Select waits until its context ends,
// announcing on entered that it got there.
type blockingQueryable struct {
	storage.Queryable
	entered chan struct{}
}

func (b blockingQueryable) Querier(mint, maxt int64) (storage.Querier, error) {
	q, err := b.Queryable.Querier(mint, maxt)
	return blockingQuerier{Querier: q, entered: b.entered}, err
}

type blockingQuerier struct {
	storage.Querier
	entered chan struct{}
}

func (q blockingQuerier) Select(ctx context.Context, _ bool, _ *storage.SelectHints, _ ...*labels.Matcher) storage.SeriesSet {
	select {
	case q.entered <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return storage.ErrSeriesSet(ctx.Err())
}

func TestPromTimeoutAndCancel(t *testing.T) {
	st := blockingQueryable{Queryable: promqltest.LoadedStorage(t, promData), entered: make(chan struct{}, 1)}
	cases := []struct {
		name string
		set  func(*web.Options)
		form url.Values
	}{
		{"timeout parameter", nil, form("query", "up", "time", "600", "timeout", "20ms")},
		{"server query timeout", func(o *web.Options) { o.PromQL.Engine = engineWith(query.Config{Timeout: 20 * time.Millisecond}) }, form("query", "up", "time", "600")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newPromFixture(t, st, c.set)
			code, pr := f.query(t, "GET", "/api/v1/query", c.form)
			if code != http.StatusServiceUnavailable || pr.ErrorType != "timeout" || pr.Error == "" {
				t.Fatalf("blocked query = %d %+v, want 503 timeout", code, pr)
			}
		})
	}

	t.Run("client goes away", func(t *testing.T) {
		st := blockingQueryable{Queryable: st.Queryable, entered: make(chan struct{}, 1)}
		f := newPromFixture(t, st, nil)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, "GET", "/api/v1/query?query=up&time=600", nil)
		req.SetBasicAuth("admin", "admin-password-1")
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			defer close(done)
			f.h.ServeHTTP(rec, req)
		}()
		<-st.entered
		cancel()
		<-done
		var pr promResponse
		_ = json.Unmarshal(rec.Body.Bytes(), &pr)
		if rec.Code != 499 || pr.ErrorType != "canceled" {
			t.Fatalf("canceled query = %d %s, want 499 canceled", rec.Code, rec.Body)
		}
	})
}

// failingQueryable is a store that fails as a broken disk would, with a
// message that must not reach a client.
type failingQueryable struct{}

const secret = "sqlite: disk I/O error reading /var/lib/lookout/metrics.db"

func (failingQueryable) Querier(int64, int64) (storage.Querier, error) { return failingQuerier{}, nil }

type failingQuerier struct{}

func (failingQuerier) Select(context.Context, bool, *storage.SelectHints, ...*labels.Matcher) storage.SeriesSet {
	return storage.ErrSeriesSet(errors.New(secret))
}

func (failingQuerier) LabelValues(context.Context, string, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errors.New(secret)
}

func (failingQuerier) LabelNames(context.Context, *storage.LabelHints, ...*labels.Matcher) ([]string, annotations.Annotations, error) {
	return nil, nil, errors.New(secret)
}

func (failingQuerier) Close() error { return nil }

func TestPromStoreErrorsAreInternal(t *testing.T) {
	f := newPromFixture(t, failingQueryable{}, nil)
	cases := []struct {
		path string
		form url.Values
	}{
		{"/api/v1/query", form("query", "up", "time", "600")},
		{"/api/v1/query_range", form("query", "rate(up[1m])", "start", "0", "end", "600", "step", "15")},
		{"/api/v1/series", form("match[]", "up")},
		{"/api/v1/labels", nil},
		{"/api/v1/label/job/values", nil},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			code, pr := f.query(t, "GET", c.path, c.form)
			if code != http.StatusInternalServerError || pr.ErrorType != "internal" || !strings.Contains(pr.Error, "request id") || strings.Contains(pr.Error, "sqlite") {
				t.Fatalf("GET %s = %d %+v, want 500 internal with a request id and no internals", c.path, code, pr)
			}
		})
	}
}

func TestPromSeriesAndLabels(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, promData), nil)
	cases := []struct {
		name     string
		method   string
		path     string
		form     url.Values
		wantCode int
		want     string // data as JSON (or, when it starts with "#", how many elements), or the error message for a non-200
		wantWarn bool
	}{
		{"series", "GET", "/api/v1/series", form("match[]", "up"), 200, `[{"__name__":"up","job":"api"}]`, false},
		{"series POST in a time range", "POST", "/api/v1/series", form("match[]", "up", "start", "0", "end", "600"), 200, `[{"__name__":"up","job":"api"}]`, false},
		{"series before the data", "GET", "/api/v1/series", form("match[]", "up", "start", "-7200", "end", "-3600"), 200, `[]`, false},
		{"series of two match[] merged", "GET", "/api/v1/series", form("match[]", "up", "match[]", `http_requests_total{job="web"}`, "match[]", `up{job="api"}`), 200,
			`[{"__name__":"http_requests_total","instance":"a","job":"web"},{"__name__":"up","job":"api"}]`, false},
		{"series limit", "GET", "/api/v1/series", form("match[]", `{job="api"}`, "limit", "2"), 200, "#2", true},
		{"series needs match[]", "GET", "/api/v1/series", nil, 400, "no match[] parameter provided", false},
		{"series needs a non-empty matcher", "GET", "/api/v1/series", form("match[]", `{job=~".*"}`), 400, "match[] must contain at least one non-empty matcher", false},
		{"series bad matcher", "GET", "/api/v1/series", form("match[]", `up{`), 400, `invalid parameter "match[]"`, false},
		{"series bad start", "GET", "/api/v1/series", form("match[]", "up", "start", "now"), 400, `invalid parameter "start": invalid time value for 'start'`, false},
		{"labels", "GET", "/api/v1/labels", nil, 200, `["__name__","instance","job"]`, false},
		{"labels POST with match[]", "POST", "/api/v1/labels", form("match[]", "up"), 200, `["__name__","job"]`, false},
		{"labels limit", "GET", "/api/v1/labels", form("limit", "1"), 200, `["__name__"]`, true},
		{"label values", "GET", "/api/v1/label/job/values", nil, 200, `["api","web"]`, false},
		{"metric names", "GET", "/api/v1/label/__name__/values", nil, 200, `["http_requests_total","request_duration_seconds","up"]`, false},
		{"label values with match[]", "GET", "/api/v1/label/instance/values", form("match[]", `http_requests_total{job="web"}`), 200, `["a"]`, false},
		{"label values of two match[]", "GET", "/api/v1/label/instance/values", form("match[]", `up`, "match[]", `{instance="b"}`), 200, `["b"]`, false},
		{"label values after the data", "GET", "/api/v1/label/job/values", form("start", "100000", "end", "200000"), 200, `[]`, false},
		{"label values escaped name", "GET", "/api/v1/label/U__job/values", nil, 200, `["api","web"]`, false},
		{"label values limit", "GET", "/api/v1/label/job/values", form("limit", "1"), 200, `["api"]`, true},
		{"label values bad name", "GET", "/api/v1/label/%FF/values", nil, 400, "invalid label name", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, pr := f.query(t, c.method, c.path, c.form)
			if code != c.wantCode {
				t.Fatalf("%s %s %v = %d %+v, want %d", c.method, c.path, c.form, code, pr, c.wantCode)
			}
			if code != 200 {
				if pr.ErrorType != "bad_data" || !strings.Contains(pr.Error, c.want) {
					t.Fatalf("%s %s %v = %+v, want bad_data with %q", c.method, c.path, c.form, pr, c.want)
				}
				return
			}
			if n, ok := strings.CutPrefix(c.want, "#"); ok {
				if got := len(decode[[]any](t, pr.Data)); strconv.Itoa(got) != n {
					t.Fatalf("%s %s %v = %s, want %s elements", c.method, c.path, c.form, pr.Data, n)
				}
			} else if string(pr.Data) != c.want {
				t.Fatalf("%s %s %v = %s, want %s", c.method, c.path, c.form, pr.Data, c.want)
			}
			if truncated := slices.Contains(pr.Warnings, "results truncated due to limit"); truncated != c.wantWarn {
				t.Fatalf("%s %s %v: warnings %q, want truncation warning %v", c.method, c.path, c.form, pr.Warnings, c.wantWarn)
			}
		})
	}
}

// testMetadata is a metric store's metadata: two families, one with two
// entries.
type testMetadata struct{}

func (testMetadata) Metadata(_ context.Context, metric string, limit int) (map[string][]metadata.Metadata, error) {
	all := map[string][]metadata.Metadata{
		"http_requests_total": {{Type: model.MetricTypeCounter, Help: "Requests served."}},
		"up":                  {{Type: model.MetricTypeGauge, Help: "Target up."}, {Type: model.MetricTypeGauge, Help: "Target up, again."}},
	}
	res := map[string][]metadata.Metadata{}
	for name, ms := range all {
		if (metric == "" || metric == name) && (limit <= 0 || len(res) < limit) {
			res[name] = ms
		}
	}
	return res, nil
}

func TestPromMetadataAndBuildInfo(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, promData), nil)
	cases := []struct {
		name     string
		path     string
		form     url.Values
		wantCode int
		want     string
	}{
		{"all families", "/api/v1/metadata", nil, 200,
			`{"http_requests_total":[{"type":"counter","unit":"","help":"Requests served."}],"up":[{"type":"gauge","unit":"","help":"Target up."},{"type":"gauge","unit":"","help":"Target up, again."}]}`},
		{"one metric", "/api/v1/metadata", form("metric", "http_requests_total"), 200,
			`{"http_requests_total":[{"type":"counter","unit":"","help":"Requests served."}]}`},
		{"limit per metric", "/api/v1/metadata", form("metric", "up", "limit_per_metric", "1"), 200,
			`{"up":[{"type":"gauge","unit":"","help":"Target up."}]}`},
		{"limit 0 is none", "/api/v1/metadata", form("limit", "0"), 200, `{}`},
		{"unknown metric", "/api/v1/metadata", form("metric", "nope"), 200, `{}`},
		{"bad limit", "/api/v1/metadata", form("limit", "ten"), 400, "limit must be a number"},
		{"bad limit per metric", "/api/v1/metadata", form("limit_per_metric", "ten"), 400, "limit_per_metric must be a number"},
		{"format query", "/api/v1/format_query", form("query", "sum(rate(x[5m]))by(job)"), 200, `"sum by (job) (rate(x[5m]))"`},
		{"format bad query", "/api/v1/format_query", form("query", "sum("), 400, `invalid parameter "query"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, pr := f.query(t, "GET", c.path, c.form)
			got := string(pr.Data)
			if code != 200 {
				got = pr.Error
			}
			if code != c.wantCode || !strings.Contains(got, c.want) {
				t.Fatalf("GET %s %v = %d %+v, want %d with %s", c.path, c.form, code, pr, c.wantCode, c.want)
			}
		})
	}

	t.Run("limit 1", func(t *testing.T) {
		_, pr := f.query(t, "GET", "/api/v1/metadata", form("limit", "1"))
		if m := decode[map[string]any](t, pr.Data); len(m) != 1 {
			t.Fatalf("limit 1 = %s, want one family", pr.Data)
		}
	})

	t.Run("buildinfo", func(t *testing.T) {
		code, pr := f.query(t, "GET", "/api/v1/status/buildinfo", nil)
		bi := decode[map[string]any](t, pr.Data)
		if code != 200 || bi["version"] != "1.2.3" || bi["revision"] != "abc" || bi["branch"] != "main" || !strings.HasPrefix(bi["goVersion"].(string), "go") {
			t.Fatalf("buildinfo = %d %s", code, pr.Data)
		}
		if _, ok := bi["features"]; ok {
			t.Fatalf("buildinfo %s has features: Grafana would take lookout for Mimir", pr.Data)
		}
	})
}

func TestPromExemplars(t *testing.T) {
	st := teststorage.New(t)
	app := st.Appender(context.Background())
	series := labels.FromStrings("__name__", "http_requests_total", "job", "api")
	ref, err := app.Append(0, series, 10_000, 1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.AppendExemplar(ref, series, exemplar.Exemplar{Labels: labels.FromStrings("trace_id", "5b8efff798038103d269b633813fc60c"), Value: 0.25, Ts: 10_500, HasTs: true}); err != nil {
		t.Fatal(err)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}

	t.Run("configured", func(t *testing.T) {
		f := newPromFixture(t, st, func(o *web.Options) { o.PromQL.Exemplars = st })
		code, pr := f.query(t, "POST", "/api/v1/query_exemplars", form("query", `rate(http_requests_total{job="api"}[1m])`, "start", "0", "end", "60"))
		want := `[{"seriesLabels":{"__name__":"http_requests_total","job":"api"},"exemplars":[{"labels":{"trace_id":"5b8efff798038103d269b633813fc60c"},"value":"0.25","timestamp":10.500}]}]`
		if code != 200 || string(pr.Data) != want {
			t.Fatalf("query_exemplars = %d %s, want %s", code, pr.Data, want)
		}
	})
	t.Run("not configured", func(t *testing.T) {
		f := newPromFixture(t, st, nil)
		code, pr := f.query(t, "GET", "/api/v1/query_exemplars", form("query", "up"))
		if code != 404 || pr.ErrorType != "not_found" {
			t.Fatalf("query_exemplars without exemplars = %d %+v, want 404", code, pr)
		}
	})
}

var promRoutes = []string{
	"/api/v1/query", "/api/v1/query_range", "/api/v1/series", "/api/v1/labels",
	"/api/v1/label/job/values", "/api/v1/metadata", "/api/v1/status/buildinfo",
	"/api/v1/query_exemplars", "/api/v1/format_query",
}

func TestPromAuthAndDisabled(t *testing.T) {
	f := newPromFixture(t, promqltest.LoadedStorage(t, promData), nil)
	off := newFixture(t) // no PromQL options
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "admin-password-1") }
	for _, path := range promRoutes {
		for _, method := range []string{"GET", "POST"} {
			t.Run(method+" "+path, func(t *testing.T) {
				if code, body, _ := f.do(t, method, path, nil); code != 401 || body["errorType"] != "unauthorized" {
					t.Fatalf("anonymous %s %s = %d %v, want 401", method, path, code, body)
				}
				ingest := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.tokensFor(auth.RoleIngest)) }
				if code, body, _ := f.do(t, method, path, ingest); code != 403 {
					t.Fatalf("ingest token %s %s = %d %v, want 403", method, path, code, body)
				}
				if code, body, _ := off.do(t, method, path, admin); code != 404 || body["error"] != "metrics are not enabled" {
					t.Fatalf("%s %s without PromQL = %d %v, want 404 metrics are not enabled", method, path, code, body)
				}
			})
		}
	}
	t.Run("viewer API key", func(t *testing.T) {
		viewer := func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+f.tokensFor(auth.RoleViewer)) }
		if code, body, _ := f.do(t, "GET", "/api/v1/query?query=up&time=600", viewer); code != 200 || body["status"] != "success" {
			t.Fatalf("viewer query = %d %v, want 200", code, body)
		}
	})
	t.Run("parse_query is not served", func(t *testing.T) {
		if code, body, _ := f.do(t, "POST", "/api/v1/parse_query?query=up", admin); code != 404 || body["errorType"] != "not_found" {
			t.Fatalf("parse_query = %d %v, want 404", code, body)
		}
	})
	t.Run("gzip when accepted", func(t *testing.T) {
		_, _, hdr := f.do(t, "GET", "/api/v1/query_range?query=http_requests_total&start=0&end=1500&step=15", func(r *http.Request) {
			admin(r)
			r.Header.Set("Accept-Encoding", "gzip")
		})
		if hdr.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", hdr.Get("Content-Encoding"))
		}
	})
}

func TestPromNewRejects(t *testing.T) {
	st := promqltest.LoadedStorage(t, promData)
	a, logs := openDeps(t)
	newHandler := func(p *web.PromQLOptions) error {
		_, err := web.New(web.Options{Auth: a, Sessions: a, Logs: logs, PromQL: p})
		return err
	}
	cases := []struct {
		name    string
		opts    *web.PromQLOptions
		wantErr string
	}{
		{"no queryable", &web.PromQLOptions{Engine: engineWith(query.Config{})}, "PromQL.Queryable and PromQL.Engine are required"},
		{"no engine", &web.PromQLOptions{Queryable: st}, "PromQL.Queryable and PromQL.Engine are required"},
		{"engine and store", &web.PromQLOptions{Queryable: st, Engine: engineWith(query.Config{})}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := newHandler(c.opts)
			if (c.wantErr == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), c.wantErr)) {
				t.Fatalf("New = %v, want error %q", err, c.wantErr)
			}
		})
	}
}

// BenchmarkPromQueryRange is DESIGN.md's PromQL target through the whole
// handler: rate() over 100 series at 120 steps, encoded as JSON.
func BenchmarkPromQueryRange(b *testing.B) {
	var load strings.Builder
	load.WriteString("load 15s\n")
	for i := range 100 {
		load.WriteString(`  http_requests_total{job="api", instance="i` + strconv.Itoa(i) + `"} 0+` + strconv.Itoa(i+1) + "x1000\n")
	}
	st := promqltest.LoadedStorage(b, load.String())
	a, logs := openDeps(b)
	h, err := web.New(web.Options{Auth: a, Sessions: a, Logs: logs, PromQL: &web.PromQLOptions{Queryable: st, Engine: engineWith(query.Config{})}})
	if err != nil {
		b.Fatal(err)
	}
	tok, err := a.CreateToken(context.Background(), "bench", auth.RoleViewer)
	if err != nil {
		b.Fatal(err)
	}
	target := "/api/v1/query_range?" + form("query", "rate(http_requests_total[1m])", "start", "3000", "end", "10140", "step", "60").Encode()
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("GET", target, nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("%d %s", rec.Code, rec.Body)
		}
	}
}
