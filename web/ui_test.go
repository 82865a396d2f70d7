package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/web"
)

// browser is an HTTP client with a cookie jar that does not follow
// redirects, so a test sees each answer.
type browser struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, c: &http.Client{
		Jar:           jar,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

func (b *browser) do(method, path string, form url.Values, header map[string]string) (*http.Response, string) {
	b.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, b.base+path, body)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(resp.Body)
	return resp, string(text)
}

var hiddenCSRF = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// formToken is the CSRF token in a page's form.
func formToken(t *testing.T, page string) string {
	t.Helper()
	m := hiddenCSRF.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in page:\n%s", page)
	}
	return m[1]
}

// signIn signs in through the login form and returns the session's CSRF
// token, read from the page it lands on.
func (b *browser) signIn(user, password string) {
	b.t.Helper()
	_, page := b.do("GET", "/login?next=/logs", nil, nil)
	resp, body := b.do("POST", "/login", url.Values{"user": {user}, "password": {password}, "_csrf": {formToken(b.t, page)}, "next": {"/logs"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/logs" {
		b.t.Fatalf("sign in as %s: %d %s %s", user, resp.StatusCode, resp.Header.Get("Location"), body)
	}
}

func TestLoginFlow(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)

	resp, page := b.do("GET", "/login", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"script-src 'self'", "frame-ancestors 'none'", "style-src 'self'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
		t.Errorf("CSP %q allows inline code", csp)
	}
	for k, want := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin", "X-Frame-Options": "DENY"} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if strings.Contains(page, "<script>") || strings.Contains(page, " style=") {
		t.Errorf("login page has inline script or style:\n%s", page)
	}
	cases := []struct {
		name       string
		form       url.Values
		wantStatus int
		wantText   string
	}{
		{"no CSRF token", url.Values{"user": {"admin"}, "password": {"admin-password-1"}}, http.StatusForbidden, "expired"},
		{"wrong CSRF token", url.Values{"user": {"admin"}, "password": {"admin-password-1"}, "_csrf": {"forged"}}, http.StatusForbidden, "expired"},
		{"wrong password", url.Values{"user": {"admin"}, "password": {"nope-nope"}, "_csrf": {"fresh"}}, http.StatusUnauthorized, "Wrong user name or password"},
	}
	for _, c := range cases {
		_, page := b.do("GET", "/login", nil, nil)
		if c.form.Get("_csrf") == "fresh" {
			c.form.Set("_csrf", formToken(t, page))
		}
		resp, body := b.do("POST", "/login", c.form, nil)
		if resp.StatusCode != c.wantStatus || !strings.Contains(body, c.wantText) {
			t.Errorf("%s: %d, want %d with %q", c.name, resp.StatusCode, c.wantStatus, c.wantText)
		}
		if hasCookie(resp, "lookout_session") {
			t.Errorf("%s: a session cookie was set", c.name)
		}
	}

	// An open redirect through next is refused.
	_, page = b.do("GET", "/login", nil, nil)
	resp, _ = b.do("POST", "/login", url.Values{"user": {"admin"}, "password": {"admin-password-1"}, "_csrf": {formToken(t, page)}, "next": {"//evil.example/x"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" {
		t.Fatalf("login with next=//evil.example: %d to %q, want / ", resp.StatusCode, resp.Header.Get("Location"))
	}
	var session *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == "lookout_session" {
			session = c
		}
	}
	if session == nil || !session.HttpOnly || session.SameSite != http.SameSiteLaxMode || session.Path != "/" {
		t.Fatalf("session cookie %+v: want HttpOnly, SameSite=Lax, Path=/", session)
	}

	// The session works for the API, which needs the CSRF header to
	// change anything.
	resp, _ = b.do("GET", "/api/v1/services", nil, nil)
	if resp.StatusCode != 200 {
		t.Fatalf("API with a session: %d", resp.StatusCode)
	}
	resp, _ = b.do("POST", "/api/v1/services", url.Values{}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("API POST with a session and no CSRF header: %d, want 403", resp.StatusCode)
	}

	// Logout needs the CSRF token too; afterwards the session is dead.
	resp, _ = b.do("POST", "/logout", url.Values{}, nil)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF token: %d, want 403", resp.StatusCode)
	}
	_, s, err := f.auth.Session(context.Background(), session.Value)
	if err != nil {
		t.Fatal(err)
	}
	resp, _ = b.do("POST", "/logout", url.Values{"_csrf": {s.CSRF}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Errorf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, _, err := f.auth.Session(context.Background(), session.Value); err == nil {
		t.Error("the session still works after logout")
	}
	resp, _ = b.do("GET", "/api/v1/services", nil, nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("API after logout: %d, want 401", resp.StatusCode)
	}
}

func hasCookie(resp *http.Response, name string) bool {
	for _, c := range resp.Cookies() {
		if c.Name == name && c.MaxAge >= 0 && c.Value != "" {
			return true
		}
	}
	return false
}

// TestLoginRateLimit: after five wrong passwords the user is refused with
// 429 and Retry-After, the right password included, and Basic with it.
func TestLoginRateLimit(t *testing.T) {
	f := newFixture(t)
	if err := f.auth.CreateUser(context.Background(), "ann", "ann-password-1", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	b := newBrowser(t, f.srv.URL)
	try := func(password string) *http.Response {
		_, page := b.do("GET", "/login", nil, nil)
		resp, _ := b.do("POST", "/login", url.Values{"user": {"ann"}, "password": {password}, "_csrf": {formToken(t, page)}}, nil)
		return resp
	}
	for i := range 5 {
		if resp := try("wrong-password"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := try("ann-password-1")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("sixth attempt, right password: %d Retry-After %q, want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/services", nil)
	req.SetBasicAuth("ann", "ann-password-1")
	basic, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	basic.Body.Close()
	if basic.StatusCode != http.StatusTooManyRequests || basic.Header.Get("Retry-After") == "" {
		t.Errorf("Basic while limited: %d, want 429 with Retry-After", basic.StatusCode)
	}
}

// TestCrossOrigin: a browser's state-changing request from another site
// is refused before any handler, whatever it carries.
func TestCrossOrigin(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	_, page := b.do("GET", "/login", nil, nil)
	resp, _ := b.do("POST", "/login", url.Values{"user": {"admin"}, "password": {"admin-password-1"}, "_csrf": {formToken(t, page)}},
		map[string]string{"Sec-Fetch-Site": "cross-site"})
	if resp.StatusCode != http.StatusForbidden || hasCookie(resp, "lookout_session") {
		t.Errorf("cross-site login: %d, want 403 and no session", resp.StatusCode)
	}
}

func TestStaticAssets(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	_, page := b.do("GET", "/login", nil, nil)
	m := regexp.MustCompile(`src="(/static/vendor/htmx[^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no htmx script in the page:\n%s", page)
	}
	resp, body := b.do("GET", strings.ReplaceAll(m[1], "&amp;", "&"), nil, nil)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") || !strings.HasPrefix(body, "/*! htmx") {
		t.Errorf("GET %s: %d, Cache-Control %q", m[1], resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
	for _, p := range []string{"/static/../ui.go", "/static/%2e%2e/ui.go", "/static/nothing.js"} {
		if resp, body := b.do("GET", p, nil, nil); resp.StatusCode == 200 {
			t.Errorf("GET %s: 200 %.80q, want no file", p, body)
		}
	}
}

// TestSignedInAPI: what a page's script fetches with the session cookie
// works, for GET.
func TestSignedInAPI(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	if resp, body := b.do("GET", "/api/v1/services", nil, nil); resp.StatusCode != 200 {
		t.Errorf("GET /api/v1/services signed in: %d %s", resp.StatusCode, body)
	}
}

// TestBasicCannotChangeUI: HTTP Basic credentials, which a browser adds on
// its own once it has them, read pages but change nothing through them.
func TestBasicCannotChangeUI(t *testing.T) {
	f := newFixture(t)
	req, _ := http.NewRequest("POST", f.srv.URL+"/settings/tokens", strings.NewReader(url.Values{"name": {"k"}, "role": {"viewer"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth("admin", "admin-password-1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("POST /settings/tokens with Basic credentials: %d, want 403", resp.StatusCode)
	}
	toks, err := f.auth.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range toks {
		if tok.Name == "k" {
			t.Error("a token was created through the UI with Basic credentials")
		}
	}
}

// TestSessionStoreDown: when meta.db cannot answer, a signed-in user gets
// an error page, not the login page.
func TestSessionStoreDown(t *testing.T) {
	f := newFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	if err := f.auth.Close(); err != nil {
		t.Fatal(err)
	}
	resp, body := b.do("GET", "/logs", nil, nil)
	if resp.StatusCode != http.StatusInternalServerError || !strings.Contains(body, "request id") {
		t.Errorf("page with meta.db closed: %d, want 500 with a request id", resp.StatusCode)
	}
}

// TestLoginLimitBehindProxy: behind a trusted proxy, failed sign-ins count
// against the client X-Forwarded-For names, so one client's guessing does
// not lock out the others.
func TestLoginLimitBehindProxy(t *testing.T) {
	a, st := openDeps(t)
	h, err := web.New(web.Options{Auth: a, Sessions: a, Logs: st, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	try := func(client, user, password string) int {
		b := newBrowser(t, srv.URL)
		via := map[string]string{"X-Forwarded-For": client}
		_, page := b.do("GET", "/login", nil, via)
		resp, _ := b.do("POST", "/login", url.Values{"user": {user}, "password": {password}, "_csrf": {formToken(t, page)}}, via)
		return resp.StatusCode
	}
	// Twenty failures from one client, each for a different user (so the
	// per-user limit is not what stops it).
	for i := range 20 {
		if code := try("198.51.100.1", fmt.Sprintf("nobody-%d", i), "wrong-password"); code != http.StatusUnauthorized {
			t.Fatalf("failure %d: %d, want 401", i+1, code)
		}
	}
	if code := try("198.51.100.1", "admin", "admin-password-1"); code != http.StatusTooManyRequests {
		t.Errorf("the guessing client signing in: %d, want 429", code)
	}
	if code := try("198.51.100.2", "admin", "admin-password-1"); code != http.StatusSeeOther {
		t.Errorf("another client behind the same proxy signing in: %d, want 303", code)
	}
}
