package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/prometheus/prometheus/util/teststorage"

	"github.com/lookout-dev/lookout/alerts"
	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/web"
)

// openAlerting opens a real alerts.Manager over st: rules manager and the
// embedded Alertmanager with its default configuration.
func openAlerting(t *testing.T, st *teststorage.TestStorage) *alerts.Manager {
	t.Helper()
	cfg := alerts.DefaultConfig()
	cfg.BuiltinRules = false
	cfg.DataDir = t.TempDir()
	cfg.ExternalURL, _ = url.Parse("http://lookout.example:8080")
	m, err := alerts.Open(context.Background(), cfg, alerts.Options{Queryable: st, Appendable: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// TestHEADIsGETWithoutBody: wherever GET reads, HEAD answers what GET does
// without the body (RFC 9110, section 9.3.2), the embedded Alertmanager's
// API included, whose own router answers HEAD 405.
func TestHEADIsGETWithoutBody(t *testing.T) {
	st := teststorage.New(t)
	am := openAlerting(t, st)
	f := newPromFixture(t, st, func(o *web.Options) {
		o.Alerts = am
		o.Alertmanager = am.AlertmanagerAPI()
	})
	viewer := f.tokensFor(auth.RoleViewer)
	send := func(method, path string) (int, []byte) {
		t.Helper()
		req, _ := http.NewRequest(method, f.srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+viewer)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, path := range []string{
		"/healthz",
		"/metrics",
		"/api/v1/logs?query=*",
		"/api/v1/traces",
		"/api/v1/services",
		"/api/v1/query?query=1",
		"/api/v1/query_range?query=1&start=0&end=60&step=15",
		"/api/v1/series?match[]=up",
		"/api/v1/labels",
		"/api/v1/label/job/values",
		"/api/v1/metadata",
		"/api/v1/status/buildinfo",
		"/api/v1/format_query?query=up",
		"/api/v1/rules",
		"/api/v1/alerts",
		"/alertmanager/api/v2/status",
		"/alertmanager/api/v2/alerts",
		"/alertmanager/api/v2/alerts/groups",
		"/alertmanager/api/v2/silences",
		"/alertmanager/api/v2/receivers",
	} {
		t.Run(path, func(t *testing.T) {
			get, _ := send("GET", path)
			if get != http.StatusOK {
				t.Fatalf("GET %s = %d, want 200", path, get)
			}
			head, body := send("HEAD", path)
			if head != get || len(body) > 0 {
				t.Fatalf("HEAD %s = %d with %d bytes, want %d without a body, as GET", path, head, len(body), get)
			}
		})
	}
}
