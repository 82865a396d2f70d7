package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// TestQueriesMode runs the queries mode against a stand-in API and checks
// that it picks values from the data, authenticates, repeats each query and
// reports every one.
func TestQueriesMode(t *testing.T) {
	var mu sync.Mutex
	seen := map[string]int{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "admin" || p != "pw-123456" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		mu.Lock()
		seen[r.URL.Path+"?"+r.URL.RawQuery]++
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/logs":
			w.Write([]byte(`{"records":[{"trace_id":"0af7651916cd43dd8448eb211c80319c","service":"checkout","attributes":{"request.id":"rq-42"}}],"total":1}`))
		case "/api/v1/traces":
			w.Write([]byte(`{"traces":[{"trace_id":"0af7651916cd43dd8448eb211c80319c","root_service":"frontend"}]}`))
		case "/api/v1/services":
			w.Write([]byte(`{"services":[{"name":"checkout","operations":["GET /cart"]}]}`))
		default:
			w.Write([]byte(`{"trace_id":"0af7651916cd43dd8448eb211c80319c","spans":[{},{}]}`))
		}
	}))
	defer srv.Close()
	var out, errOut bytes.Buffer
	env := func(k string) string {
		if k == "LOOKOUT_ADMIN_PASSWORD" {
			return "pw-123456"
		}
		return ""
	}
	err := run(context.Background(), []string{"queries", "-api", srv.URL, "-repeat", "3", "-report", "json"}, env, &out, &errOut)
	if err != nil {
		t.Fatalf("queries: %v (%s)", err, errOut.String())
	}
	var res []queryResult
	if err := json.Unmarshal(out.Bytes(), &res); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, out.String())
	}
	if len(res) != 10 {
		t.Fatalf("%d queries reported, want 10: %+v", len(res), res)
	}
	for _, r := range res {
		if r.Results == 0 || r.MedianMS <= 0 || r.P90MS < r.MedianMS {
			t.Errorf("query %q: %+v", r.Name, r)
		}
	}
	found := false
	for k, n := range seen {
		if strings.Contains(k, "rq-42") && n == 3 {
			found = true
		}
	}
	if !found {
		t.Fatalf("no query used the request id from the data three times: %v", seen)
	}
}
