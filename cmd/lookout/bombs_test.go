package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// bomb is one query built to cost more than any query may: sent to a
// real server, it must be answered (refused, or timed out) within the
// query timeout plus a second, and leave the server up and small.
type bomb struct {
	name, path string
	form       url.Values
}

func promBomb(name, q string) bomb {
	return bomb{name, "/api/v1/query", url.Values{"query": {q}}}
}

func promRangeBomb(name, q string, span, step time.Duration) bomb {
	end := time.Now()
	return bomb{name, "/api/v1/query_range", url.Values{"query": {q},
		"start": {strconv.FormatInt(end.Add(-span).Unix(), 10)}, "end": {strconv.FormatInt(end.Unix(), 10)}, "step": {step.String()}}}
}

func logBomb(name, q string) bomb {
	return bomb{name, "/api/v1/logs", url.Values{"query": {q}, "limit": {"100"}, "start": {strconv.FormatInt(time.Now().Add(-24*time.Hour).Unix(), 10)}}}
}

// queryBombs is open-ended: a new kind of bomb is one line.
var queryBombs = []bomb{
	promBomb("subquery of a year at 1ms", `rate(up[1y:1ms])`),
	promBomb("subquery of a day at 1ms", `rate(up[1d:1ms])`),
	promBomb("subquery of 30 days at 1ms", `rate(up[30d:1ms])`),
	promBomb("nested subqueries", `max_over_time(max_over_time(rate(up[5m])[30d:1s])[30d:1s])`),
	promBomb("subquery pinned with @", `max_over_time(up[1y:10ms] @ end())`),
	promBomb("duration expression step", `max_over_time(up[1d:1ms*1])`),
	promBomb("count_values over every series", `count_values("v", {__name__=~".+"})`),
	promBomb("label_replace over every series", `label_replace({__name__=~".+"}, "copy", "$1", "__name__", "(.*)")`),
	promBomb("huge topk", `topk(1e18, {__name__=~".+"})`),
	promBomb("huge limitk", `limitk(1e18, {__name__=~".+"})`),
	promBomb("huge quantile input", `quantile_over_time(0.5, {__name__=~".+"}[1y])`),
	promBomb("long range with @", `sum_over_time({__name__=~".+"}[10y] @ end())`),
	promBomb("deep unary nesting", strings.Repeat("-", 60000)+"up"),
	promBomb("deep parentheses", strings.Repeat("(", 30000)+"up"+strings.Repeat(")", 30000)),
	promBomb("long query text", strings.Repeat("up + ", 200000)+"up"),
	promBomb("long chain within the text limit", strings.Repeat("up+", 21000)+"up"),
	promBomb("deep function nesting", strings.Repeat("abs(", 15000)+"up"+strings.Repeat(")", 15000)),
	promBomb("regexp over every label value", `{__name__=~".+", job=~"(a|b|c|d|e|f|g)*x(a|b)*"}`),
	promRangeBomb("range query at 1s over a week", `up`, 7*24*time.Hour, time.Second),
	promRangeBomb("range subquery over a day", `max_over_time({__name__=~".+"}[1d:1s])`, 24*time.Hour, time.Minute),
	promRangeBomb("range of a year with subquery", `max_over_time(up[1h:1s])`, 365*24*time.Hour, time.Hour),
	logBomb("wildcards around letters", `*e*r*o*r*`),
	logBomb("many wildcards", `a*b*c*d*e*f*g*h*i*j*k*l*m*n*o*p`),
	logBomb("stacked negations", `NOT NOT NOT NOT a`),
	logBomb("negation of a rare word", `NOT crash`),
	logBomb("deep parentheses", strings.Repeat("(", 30000)+"a"+strings.Repeat(")", 30000)),
	logBomb("deep negations", strings.Repeat("NOT ", 15000)+"a"),
	logBomb("long query text", strings.Repeat("a OR ", 100000)+"a"),
}

// peakRSS is a process' peak resident set size (VmHWM) in bytes.
func peakRSS(t *testing.T, pid int) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// TestQueryBombs sends every bomb to a real server process with data in
// it: each is answered with a refusal, a timeout or an answer, within the
// query timeout and a second, and afterwards the server is up and its
// peak memory stayed under a bound.
func TestQueryBombs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	const timeout = 3 * time.Second
	c := startChild(t, t.TempDir(), "--query-timeout", timeout.String())
	for n := range 20 {
		logs, spans := crashBatch(n)
		for path, body := range map[string][]byte{"/v1/logs": logs, "/v1/traces": spans, "/v1/metrics": crashMetrics(n)} {
			if code, err := postOTLP(c.addr.OTLPHTTP, path, body); err != nil || code != 200 {
				t.Fatalf("seed %s: %d %v", path, code, err)
			}
		}
	}
	client := &http.Client{Timeout: timeout + time.Minute}
	for _, b := range queryBombs {
		req, _ := http.NewRequest("POST", "http://"+c.addr.HTTP+b.path, strings.NewReader(b.form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth("admin", e2ePassword)
		start := time.Now()
		resp, err := client.Do(req)
		took := time.Since(start)
		if err != nil {
			t.Fatalf("%s: %v (the server is down?)", b.name, err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		switch resp.StatusCode {
		case 200, 400, 413, 414, 422, 503:
		default:
			t.Errorf("%s: %d %.300s, want an answer, a refusal or a timeout", b.name, resp.StatusCode, body)
		}
		if took > timeout+time.Second {
			t.Errorf("%s: answered %d after %v, past the %v timeout and a second", b.name, resp.StatusCode, took.Round(time.Millisecond), timeout)
		}
		t.Logf("%s: %d in %v: %.160s", b.name, resp.StatusCode, took.Round(time.Millisecond), body)
	}
	resp, err := http.Get("http://" + c.addr.HTTP + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("after the bombs: /healthz %v %v", resp, err)
	}
	resp.Body.Close()
	// The server is this test binary, built with the race detector, which
	// multiplies memory several times; the bombs asked for gigabytes to
	// hundreds of gigabytes.
	const bound = 1 << 30
	if rss := peakRSS(t, c.cmd.Process.Pid); rss > bound {
		t.Errorf("peak RSS %d MiB, over %d MiB", rss>>20, bound>>20)
	} else {
		t.Logf("peak RSS %d MiB", rss>>20)
	}
}
