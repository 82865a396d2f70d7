package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/logstore"
	"github.com/lookout-dev/lookout/web"
)

type fixture struct {
	srv    *httptest.Server
	auth   *auth.Service
	store  *logstore.Store
	tokens map[auth.Role]string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	a, st := openDeps(t)
	h, err := web.New(web.Options{
		Auth: a, Sessions: a, Logs: st,
		Ready: []web.Check{{Name: "logstore", Func: st.Ping}},
		Metrics: func(w http.ResponseWriter) {
			io.WriteString(w, "lookout_up 1\n")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return serveFixture(t, h, a, st, auth.RoleViewer, auth.RoleIngest)
}

// openDeps opens the auth service and log store a handler needs.
func openDeps(t testing.TB) (*auth.Service, *logstore.Store) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	a, err := auth.Open(ctx, auth.Config{DataDir: dir, AdminPassword: "admin-password-1"}, auth.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	st, err := logstore.Open(ctx, logstore.Config{Dir: dir + "/logs", LogsRetention: 24 * time.Hour, TracesRetention: 24 * time.Hour}, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return a, st
}

// serveFixture serves h, built over a and st, with an API key "t-<role>"
// for each of roles.
func serveFixture(t *testing.T, h http.Handler, a *auth.Service, st *logstore.Store, roles ...auth.Role) *fixture {
	t.Helper()
	f := &fixture{srv: httptest.NewServer(h), auth: a, store: st, tokens: map[auth.Role]string{}}
	t.Cleanup(f.srv.Close)
	for _, r := range roles {
		tok, err := a.CreateToken(context.Background(), "t-"+string(r), r)
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[r] = tok
	}
	return f
}

func (f *fixture) do(t *testing.T, method, path string, set func(*http.Request)) (int, map[string]any, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(method, f.srv.URL+path, nil)
	if set != nil {
		set(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]any
	b, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(b, &body)
	return resp.StatusCode, body, resp.Header
}

func TestAPIRefusesWithoutCredentials(t *testing.T) {
	f := newFixture(t)
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	basic := func(u, p string) func(*http.Request) {
		return func(r *http.Request) { r.SetBasicAuth(u, p) }
	}
	cases := []struct {
		name string
		path string
		set  func(*http.Request)
		want int
	}{
		{"anonymous logs", "/api/v1/logs", nil, 401},
		{"anonymous traces", "/api/v1/traces", nil, 401},
		{"anonymous trace", "/api/v1/traces/5b8efff798038103d269b633813fc60c", nil, 401},
		{"anonymous services", "/api/v1/services", nil, 401},
		{"anonymous unknown api", "/api/v1/nope", nil, 401},
		{"wrong password", "/api/v1/logs", basic("admin", "wrong-password"), 401},
		{"unknown user", "/api/v1/logs", basic("mallory", "admin-password-1"), 401},
		{"garbage bearer", "/api/v1/logs", bearer("lk_nope"), 401},
		{"ingest token may not read", "/api/v1/logs", bearer(f.tokensFor(auth.RoleIngest)), 403},
		{"viewer key reads", "/api/v1/logs", bearer(f.tokensFor(auth.RoleViewer)), 200},
		{"admin basic reads", "/api/v1/services", basic("admin", "admin-password-1"), 200},
		{"unknown api authed", "/api/v1/nope", basic("admin", "admin-password-1"), 404},
		{"healthz is open", "/healthz", nil, 200},
		{"readyz is open", "/readyz", nil, 200},
		{"metrics is open", "/metrics", nil, 200},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, body, hdr := f.do(t, "GET", c.path, c.set)
			if code != c.want {
				t.Fatalf("GET %s = %d, want %d (%v)", c.path, code, c.want, body)
			}
			if code == 401 {
				if hdr.Get("WWW-Authenticate") == "" || body["status"] != "error" || body["errorType"] != "unauthorized" {
					t.Fatalf("401 answer: %v %v", hdr, body)
				}
			}
		})
	}
}

func (f *fixture) tokensFor(r auth.Role) string { return f.tokens[r] }

func TestAPIBadInput(t *testing.T) {
	f := newFixture(t)
	admin := func(r *http.Request) { r.SetBasicAuth("admin", "admin-password-1") }
	cases := []struct {
		path, wantMsg string
		want          int
	}{
		{"/api/v1/logs?query=%22unclosed", "position", 400},
		{"/api/v1/logs?start=yesterday", `invalid parameter "start"`, 400},
		{"/api/v1/logs?limit=-1", `invalid parameter "limit"`, 400},
		{"/api/v1/logs?direction=sideways", `invalid parameter "direction"`, 400},
		{"/api/v1/logs?start=2026-01-02T00:00:00Z&end=2026-01-01T00:00:00Z", "before start", 400},
		{"/api/v1/traces/xyz", "not 32 hex digits", 400},
		{"/api/v1/traces/5b8efff798038103d269b633813fc60c", "not found", 404},
		{"/api/v1/traces?min_duration=fast", `invalid parameter "min_duration"`, 400},
		{"/api/v1/traces?error=maybe", "error must be true or false", 400},
		{"/api/v1/traces?query=duration:>soon", "not a duration", 400},
	}
	for _, c := range cases {
		t.Run(c.path, func(t *testing.T) {
			code, body, _ := f.do(t, "GET", c.path, admin)
			msg, _ := body["error"].(string)
			if code != c.want || body["status"] != "error" || !strings.Contains(msg, c.wantMsg) {
				t.Fatalf("GET %s = %d %v, want %d with %q", c.path, code, body, c.want, c.wantMsg)
			}
		})
	}
}

func TestReadyzReportsClosedStore(t *testing.T) {
	f := newFixture(t)
	if err := f.store.Close(); err != nil {
		t.Fatal(err)
	}
	code, body, _ := f.do(t, "GET", "/readyz", nil)
	reasons, _ := body["reasons"].(map[string]any)
	if code != 503 || reasons["logstore"] == nil {
		t.Fatalf("readyz after close = %d %v, want 503 naming logstore", code, body)
	}
}
