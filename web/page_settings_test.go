package web_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/web"
)

// newSettingsFixture is newFixture with account management on: its
// server is replaced by one whose handler has Accounts.
func newSettingsFixture(t *testing.T) *fixture {
	t.Helper()
	f := newFixture(t)
	h, err := web.New(web.Options{Auth: f.auth, Sessions: f.auth, Logs: f.store, Accounts: f.auth})
	if err != nil {
		t.Fatal(err)
	}
	g := *f
	g.srv = httptest.NewServer(h)
	t.Cleanup(g.srv.Close)
	return &g
}

// settingsCSRF is the session's CSRF token, read from the settings page.
func settingsCSRF(b *browser) string {
	b.t.Helper()
	_, page := b.do("GET", "/settings", nil, nil)
	return formToken(b.t, page)
}

// settingsSessionCSRF is the CSRF token of b's session, asked of auth: for users
// who may not see the settings page, and so get no form with it there.
func (f *fixture) settingsSessionCSRF(t *testing.T, b *browser) string {
	t.Helper()
	u, _ := url.Parse(f.srv.URL)
	for _, c := range b.c.Jar.Cookies(u) {
		if c.Name == "lookout_session" {
			_, s, err := f.auth.Session(context.Background(), c.Value)
			if err != nil {
				t.Fatal(err)
			}
			return s.CSRF
		}
	}
	t.Fatal("no session cookie")
	return ""
}

func (f *fixture) settingsUsers(t *testing.T) map[string]auth.Role {
	t.Helper()
	users, err := f.auth.ListUsers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]auth.Role{}
	for _, u := range users {
		out[u.Name] = u.Role
	}
	return out
}

func (f *fixture) settingsTokens(t *testing.T) []string {
	t.Helper()
	ts, err := f.auth.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tk := range ts {
		out = append(out, tk.Name+"/"+string(tk.Role))
	}
	return out
}

func (f *fixture) settingsCreateUser(t *testing.T, name, password string, role auth.Role) {
	t.Helper()
	if err := f.auth.CreateUser(context.Background(), name, password, role); err != nil {
		t.Fatalf("create user %s: %v", name, err)
	}
}

// settingsBearerStatus is the status of GET path with an API key.
func settingsBearerStatus(t *testing.T, base, path, key string) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+path, nil)
	req.Header.Set("Authorization", "Bearer "+key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

var settingsSecretRe = regexp.MustCompile(`data-testid="new-secret">\s*(lk_[A-Za-z0-9_-]+)\s*<`)

// TestSettingsRoles: only admins see settings or change anything there;
// viewers and editors get 403 and change nothing, with a valid CSRF token.
func TestSettingsRoles(t *testing.T) {
	f := newSettingsFixture(t)
	f.settingsCreateUser(t, "vera", "vera-password-1", auth.RoleViewer)
	f.settingsCreateUser(t, "eddie", "eddie-password-1", auth.RoleEditor)

	anon := newBrowser(t, f.srv.URL)
	if resp, _ := anon.do("GET", "/settings", nil, nil); resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fsettings" {
		t.Errorf("GET /settings signed out: %d to %q, want 303 to /login?next=%%2Fsettings", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := settingsBearerStatus(t, f.srv.URL, "/settings", f.tokensFor(auth.RoleViewer)); code != http.StatusForbidden {
		t.Errorf("GET /settings with a viewer API key: %d, want 403", code)
	}

	for _, u := range []struct{ name, password string }{{"vera", "vera-password-1"}, {"eddie", "eddie-password-1"}} {
		t.Run(u.name, func(t *testing.T) {
			b := newBrowser(t, f.srv.URL)
			b.signIn(u.name, u.password)
			resp, page := b.do("GET", "/settings", nil, nil)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(page, "needs admin") {
				t.Fatalf("GET /settings as %s: %d, want 403 saying it needs admin:\n%s", u.name, resp.StatusCode, page)
			}
			if strings.Contains(page, `data-testid="nav-settings"`) {
				t.Errorf("%s's navigation links to settings", u.name)
			}
			csrf := f.settingsSessionCSRF(t, b) // valid for this session: only the role is wrong
			usersBefore, tokensBefore := f.settingsUsers(t), f.settingsTokens(t)
			posts := []struct {
				path string
				form url.Values
			}{
				{"/settings/tokens", url.Values{"name": {"sneaky-" + u.name}, "role": {"admin"}}},
				{"/settings/tokens", url.Values{"name": {"sneaky-ingest-" + u.name}, "role": {"ingest"}}},
				{"/settings/users", url.Values{"name": {"sneaky-" + u.name}, "password": {"sneaky-password-1"}, "role": {"admin"}}},
				{"/settings/users/" + u.name + "/role", url.Values{"role": {"admin"}}},
				{"/settings/users/admin/password", url.Values{"password": {"taken-over-1"}}},
				{"/settings/users/admin/delete", url.Values{}},
				{"/settings/tokens/t-viewer/revoke", url.Values{}},
			}
			for _, p := range posts {
				p.form.Set("_csrf", csrf)
				resp, body := b.do("POST", p.path, p.form, nil)
				if resp.StatusCode != http.StatusForbidden {
					t.Errorf("POST %s as %s: %d, want 403\n%s", p.path, u.name, resp.StatusCode, body)
				}
				if settingsSecretRe.MatchString(body) {
					t.Errorf("POST %s as %s: the answer shows a secret", p.path, u.name)
				}
			}
			if got := f.settingsUsers(t); !maps.Equal(got, usersBefore) {
				t.Errorf("users after %s's posts: %v, want unchanged %v", u.name, got, usersBefore)
			}
			if got := f.settingsTokens(t); !slices.Equal(got, tokensBefore) {
				t.Errorf("tokens after %s's posts: %v, want unchanged %v", u.name, got, tokensBefore)
			}
		})
	}
	// The refused password reset left admin's password as it was.
	admin := newBrowser(t, f.srv.URL)
	admin.signIn("admin", "admin-password-1")
}

// TestSettingsCSRF: an admin's POST without the form's CSRF token, with a
// wrong one, or with one from another session is refused and changes
// nothing.
func TestSettingsCSRF(t *testing.T) {
	f := newSettingsFixture(t)
	f.settingsCreateUser(t, "ann", "ann-password-1", auth.RoleViewer)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	own := settingsCSRF(b)
	other := newBrowser(t, f.srv.URL)
	other.signIn("admin", "admin-password-1")
	foreign := settingsCSRF(other)
	if foreign == own {
		t.Fatalf("two sessions share the CSRF token %q", own)
	}

	actions := []struct {
		path string
		form url.Values
	}{
		{"/settings/users", url.Values{"name": {"mallory"}, "password": {"mallory-password-1"}, "role": {"admin"}}},
		{"/settings/users/ann/role", url.Values{"role": {"admin"}}},
		{"/settings/users/ann/password", url.Values{"password": {"mallory-knows-1"}}},
		{"/settings/users/ann/delete", url.Values{}},
		{"/settings/tokens", url.Values{"name": {"mallory"}, "role": {"admin"}}},
		{"/settings/tokens/t-viewer/revoke", url.Values{}},
	}
	tokens := []struct{ name, value string }{{"no token", ""}, {"wrong token", "forged-token"}, {"another session's token", foreign}}
	usersBefore, tokensBefore := f.settingsUsers(t), f.settingsTokens(t)
	for _, a := range actions {
		for _, tok := range tokens {
			form := url.Values{}
			for k, v := range a.form {
				form[k] = v
			}
			if tok.value != "" {
				form.Set("_csrf", tok.value)
			}
			resp, body := b.do("POST", a.path, form, nil)
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "did not come from this page") {
				t.Errorf("POST %s with %s: %d, want 403 refusing the form\n%s", a.path, tok.name, resp.StatusCode, body)
			}
		}
	}
	if got := f.settingsUsers(t); !maps.Equal(got, usersBefore) {
		t.Errorf("users after refused posts: %v, want unchanged %v", got, usersBefore)
	}
	if got := f.settingsTokens(t); !slices.Equal(got, tokensBefore) {
		t.Errorf("tokens after refused posts: %v, want unchanged %v", got, tokensBefore)
	}
	// ann's password did not change either.
	ann := newBrowser(t, f.srv.URL)
	ann.signIn("ann", "ann-password-1")

	// With its own token the same form goes through.
	resp, _ := b.do("POST", "/settings/users/ann/role", url.Values{"_csrf": {own}, "role": {"editor"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || f.settingsUsers(t)["ann"] != auth.RoleEditor {
		t.Errorf("POST /settings/users/ann/role with the session's token: %d, role %s, want 303 and editor", resp.StatusCode, f.settingsUsers(t)["ann"])
	}
}

// TestSettingsAPIKey: an admin creates an API key and sees its secret
// once; the key works as a Bearer token until it is revoked.
func TestSettingsAPIKey(t *testing.T) {
	f := newSettingsFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	csrf := settingsCSRF(b)

	resp, page := b.do("POST", "/settings/tokens", url.Values{"_csrf": {csrf}, "name": {"grafana"}, "role": {"viewer"}}, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("create API key grafana: %d, want 200\n%s", resp.StatusCode, page)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		t.Errorf("create API key answered with Location %q, want the page itself", loc)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("create API key: Cache-Control %q, want no-store", cc)
	}
	m := settingsSecretRe.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("create API key: no data-testid=new-secret with an lk_ key in:\n%s", page)
	}
	secret := m[1]
	if n := strings.Count(page, secret); n != 1 {
		t.Errorf("the secret appears %d times on its page, want once", n)
	}
	for _, want := range []string{"will not be shown again", "copy it", `data-testid="copy-secret"`} {
		if !strings.Contains(page, want) {
			t.Errorf("new-secret page lacks %q", want)
		}
	}
	noInlineCode(t, page)

	if code := settingsBearerStatus(t, f.srv.URL, "/api/v1/services", secret); code != http.StatusOK {
		t.Fatalf("GET /api/v1/services with the new key: %d, want 200", code)
	}
	resp, page = b.do("GET", "/settings", nil, nil)
	if resp.StatusCode != http.StatusOK || strings.Contains(page, secret) || strings.Contains(page, `data-testid="new-secret"`) {
		t.Fatalf("GET /settings after creating a key: %d; it must not show the secret again", resp.StatusCode)
	}
	row := regexp.MustCompile(`(?s)<tr data-testid="key-row" data-name="grafana">.*?</tr>`).FindString(page)
	if row == "" || !strings.Contains(row, "viewer") || !strings.Contains(row, "<time") {
		t.Errorf("GET /settings: key row for grafana %q, want its role and created and last-used times", row)
	}

	// A name that is taken is refused with 409, and no secret is shown.
	resp, page = b.do("POST", "/settings/tokens", url.Values{"_csrf": {csrf}, "name": {"grafana"}, "role": {"admin"}}, nil)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(page, "already") || settingsSecretRe.MatchString(page) {
		t.Errorf("create API key grafana again: %d, want 409 saying it exists, no secret", resp.StatusCode)
	}
	resp, page = b.do("POST", "/settings/tokens", url.Values{"_csrf": {csrf}, "name": {"x"}, "role": {"root"}}, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "viewer, editor or admin") {
		t.Errorf("create API key with role root: %d, want 400 naming the roles", resp.StatusCode)
	}

	// Revoke: the key is refused at once.
	resp, _ = b.do("POST", "/settings/tokens/grafana/revoke", url.Values{"_csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/settings?done=token-revoked&name=grafana" {
		t.Fatalf("revoke grafana: %d to %q, want 303 to /settings?done=token-revoked&name=grafana", resp.StatusCode, resp.Header.Get("Location"))
	}
	if code := settingsBearerStatus(t, f.srv.URL, "/api/v1/services", secret); code != http.StatusUnauthorized {
		t.Errorf("GET /api/v1/services with the revoked key: %d, want 401", code)
	}
	_, page = b.do("GET", "/settings?done=token-revoked&name=grafana", nil, nil)
	if !strings.Contains(page, "Token grafana revoked.") || strings.Contains(page, `data-name="grafana"`) {
		t.Errorf("settings after revoking grafana: want the notice and no row for it")
	}
	resp, page = b.do("POST", "/settings/tokens/grafana/revoke", url.Values{"_csrf": {csrf}}, nil)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(page, "There is no token called grafana") {
		t.Errorf("revoke grafana twice: %d, want 404 saying there is none", resp.StatusCode)
	}
}

// TestSettingsIngestToken: an ingest token is created from its own form,
// shown once and listed among ingest tokens; it cannot read.
func TestSettingsIngestToken(t *testing.T) {
	f := newSettingsFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	resp, page := b.do("POST", "/settings/tokens", url.Values{"_csrf": {settingsCSRF(b)}, "name": {"collector"}, "role": {"ingest"}}, nil)
	m := settingsSecretRe.FindStringSubmatch(page)
	if resp.StatusCode != http.StatusOK || m == nil || !strings.Contains(page, "ingest token") {
		t.Fatalf("create ingest token: %d, want 200 with the secret\n%s", resp.StatusCode, page)
	}
	if code := settingsBearerStatus(t, f.srv.URL, "/api/v1/services", m[1]); code != http.StatusForbidden {
		t.Errorf("GET /api/v1/services with an ingest token: %d, want 403", code)
	}
	_, page = b.do("GET", "/settings", nil, nil)
	if !strings.Contains(page, `data-testid="ingest-row" data-name="collector"`) || strings.Contains(page, m[1]) {
		t.Errorf("settings: want collector among ingest tokens and no secret")
	}
}

// TestSettingsUsers: create a user, change their role, reset their
// password and delete them; bad input is refused with a clear message and
// a password is never echoed.
func TestSettingsUsers(t *testing.T) {
	f := newSettingsFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	csrf := settingsCSRF(b)
	post := func(path string, form url.Values) (*http.Response, string) {
		t.Helper()
		form.Set("_csrf", csrf)
		return b.do("POST", path, form, nil)
	}
	seeOther := func(what string, resp *http.Response, body, want string) {
		t.Helper()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Fatalf("%s: %d to %q, want 303 to %q\n%s", what, resp.StatusCode, resp.Header.Get("Location"), want, body)
		}
	}

	resp, body := post("/settings/users", url.Values{"name": {"ann"}, "password": {"ann-secret-pass-1"}, "role": {"editor"}})
	seeOther("create ann", resp, body, "/settings?done=user-created&name=ann")
	_, page := b.do("GET", resp.Header.Get("Location"), nil, nil)
	row := regexp.MustCompile(`(?s)<tr data-testid="user-row" data-name="ann">.*?</tr>`).FindString(page)
	if !strings.Contains(page, "User ann created.") || !strings.Contains(row, `<td data-testid="user-role">editor</td>`) || !strings.Contains(row, "<time") {
		t.Fatalf("settings after creating ann: notice and row %q, want the notice and ann as editor with dates", row)
	}
	noInlineCode(t, page)
	ann := newBrowser(t, f.srv.URL)
	ann.signIn("ann", "ann-secret-pass-1")

	refusals := []struct {
		name, path string
		form       url.Values
		status     int
		text       string
	}{
		{"taken name", "/settings/users", url.Values{"name": {"ann"}, "password": {"other-pass-word-1"}, "role": {"viewer"}}, 409, "There is already a user called ann"},
		{"short password", "/settings/users", url.Values{"name": {"bob"}, "password": {"shortpw"}, "role": {"viewer"}}, 400, "Password is shorter than 8 characters."},
		{"bad name", "/settings/users", url.Values{"name": {"bad name"}, "password": {"bob-password-1"}, "role": {"viewer"}}, 400, "use letters, digits"},
		{"unknown role", "/settings/users", url.Values{"name": {"bob"}, "password": {"bob-password-1"}, "role": {"ingest"}}, 400, "viewer, editor or admin"},
		{"role of nobody", "/settings/users/nobody/role", url.Values{"role": {"viewer"}}, 404, "There is no user called nobody"},
		{"role unknown", "/settings/users/ann/role", url.Values{"role": {"root"}}, 400, "viewer, editor or admin"},
		{"password of nobody", "/settings/users/nobody/password", url.Values{"password": {"nobody-pass-1"}}, 404, "There is no user called nobody"},
		{"short reset", "/settings/users/ann/password", url.Values{"password": {"tiny"}}, 400, "shorter than 8"},
		{"delete nobody", "/settings/users/nobody/delete", url.Values{}, 404, "There is no user called nobody"},
	}
	for _, c := range refusals {
		resp, page := post(c.path, c.form)
		if resp.StatusCode != c.status || !strings.Contains(page, c.text) || !strings.Contains(page, `data-testid="error"`) {
			t.Errorf("%s: POST %s %v: %d, want %d with %q", c.name, c.path, c.form, resp.StatusCode, c.status, c.text)
		}
		if pw := c.form.Get("password"); pw != "" && strings.Contains(page, pw) {
			t.Errorf("%s: the page echoes the password %q", c.name, pw)
		}
		if c.path == "/settings/users" && !strings.Contains(page, `value="`+c.form.Get("name")+`"`) {
			t.Errorf("%s: the form lost the name %q", c.name, c.form.Get("name"))
		}
	}
	if _, ok := f.settingsUsers(t)["bob"]; ok {
		t.Errorf("a refused create made user bob")
	}

	resp, body = post("/settings/users/ann/role", url.Values{"role": {"viewer"}})
	seeOther("ann to viewer", resp, body, "/settings?done=role-changed&name=ann")
	if got := f.settingsUsers(t)["ann"]; got != auth.RoleViewer {
		t.Errorf("ann's role after the change: %s, want viewer", got)
	}

	resp, body = post("/settings/users/ann/password", url.Values{"password": {"ann-new-pass-2"}})
	seeOther("reset ann's password", resp, body, "/settings?done=password-reset&name=ann")
	if strings.Contains(body, "ann-new-pass-2") {
		t.Errorf("the reset answer echoes the password")
	}
	if resp, _ := ann.do("GET", "/api/v1/services", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("ann's session after the reset: %d, want 401 (sessions end)", resp.StatusCode)
	}
	ann.signIn("ann", "ann-new-pass-2")

	resp, body = post("/settings/users/ann/delete", url.Values{})
	seeOther("delete ann", resp, body, "/settings?done=user-deleted&name=ann")
	if _, ok := f.settingsUsers(t)["ann"]; ok {
		t.Errorf("ann still exists after delete")
	}
	if resp, _ := ann.do("GET", "/api/v1/services", nil, nil); resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("deleted ann's session: %d, want 401", resp.StatusCode)
	}

	// A notice names only what could be a user or token: a crafted link
	// cannot make the page say other words.
	_, page = b.do("GET", "/settings?done=user-deleted&name="+url.QueryEscape("everyone. Call +1 555 0100"), nil, nil)
	if strings.Contains(page, "555") {
		t.Errorf("a crafted notice name was shown")
	}
}

// TestSettingsLastAdmin: the last admin can be neither deleted nor
// demoted, and the page says why; with two admins, one may step down.
func TestSettingsLastAdmin(t *testing.T) {
	f := newSettingsFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	csrf := settingsCSRF(b)
	for _, c := range []struct {
		path string
		form url.Values
		hx   bool
	}{
		{"/settings/users/admin/delete", url.Values{}, false},
		{"/settings/users/admin/role", url.Values{"role": {"viewer"}}, false},
		{"/settings/users/admin/delete", url.Values{}, true},
	} {
		c.form.Set("_csrf", csrf)
		var hdr map[string]string
		if c.hx {
			hdr = map[string]string{"HX-Request": "true"}
		}
		resp, page := b.do("POST", c.path, c.form, hdr)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "is the last admin") {
			t.Errorf("POST %s (htmx %v) as the only admin: %d, want 400 saying admin is the last admin\n%s", c.path, c.hx, resp.StatusCode, page)
		}
		if c.hx && strings.Contains(page, "<html") {
			t.Errorf("POST %s from htmx: answered a whole page, want the settings content alone", c.path)
		}
	}
	if got := f.settingsUsers(t)["admin"]; got != auth.RoleAdmin {
		t.Fatalf("admin after refused changes: %q, want admin", got)
	}

	// With a second admin, admin may step down, and is sent away from a
	// page that is no longer theirs.
	f.settingsCreateUser(t, "root2", "root2-password-1", auth.RoleAdmin)
	resp, _ := b.do("POST", "/settings/users/admin/role", url.Values{"_csrf": {csrf}, "role": {"editor"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/" || f.settingsUsers(t)["admin"] != auth.RoleEditor {
		t.Errorf("admin steps down to editor: %d to %q, role %s; want 303 to / and editor", resp.StatusCode, resp.Header.Get("Location"), f.settingsUsers(t)["admin"])
	}
	if resp, _ := b.do("GET", "/settings", nil, nil); resp.StatusCode != http.StatusForbidden {
		t.Errorf("GET /settings as the demoted admin: %d, want 403", resp.StatusCode)
	}
}

// TestSettingsPage: the page lists users and tokens without secrets,
// carries the CSRF field in every form, confirms destructive actions for
// htmx, renders its content alone for htmx, and has no inline code.
func TestSettingsPage(t *testing.T) {
	f := newSettingsFixture(t)
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	resp, page := b.do("GET", "/settings", nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /settings: %d", resp.StatusCode)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET /settings: CSP %q", csp)
	}
	noInlineCode(t, page)
	for _, want := range []string{
		`data-testid="users"`, `data-testid="api-keys"`, `data-testid="ingest-tokens"`,
		`data-testid="user-row" data-name="admin"`, `data-testid="key-row" data-name="t-viewer"`,
		`data-testid="ingest-row" data-name="t-ingest"`, `hx-confirm="Delete your own user?`,
		`hx-confirm="Revoke API key t-viewer?`, `data-testid="nav-settings"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("GET /settings lacks %s", want)
		}
	}
	for _, secret := range f.tokens {
		if strings.Contains(page, secret) {
			t.Errorf("GET /settings shows a token's secret")
		}
	}
	forms := strings.Count(page, "<form ")
	if fields := strings.Count(page, `name="_csrf" value="`+formToken(t, page)+`"`); fields != forms {
		t.Errorf("GET /settings: %d forms but %d carry the session's _csrf field", forms, fields)
	}
	_, frag := b.do("GET", "/settings", nil, map[string]string{"HX-Request": "true"})
	if strings.Contains(frag, "<html") || !strings.Contains(frag, `data-testid="users"`) {
		t.Errorf("GET /settings from htmx: want the content without the layout")
	}
}

// TestSettingsPaging: a table shows at most 100 rows, with links to the
// rest that keep the other tables where they were.
func TestSettingsPaging(t *testing.T) {
	f := newSettingsFixture(t)
	for i := range 105 {
		if _, err := f.auth.CreateToken(context.Background(), fmt.Sprintf("key-%03d", i), auth.RoleViewer); err != nil {
			t.Fatal(err)
		}
	}
	b := newBrowser(t, f.srv.URL)
	b.signIn("admin", "admin-password-1")
	rows := regexp.MustCompile(`data-testid="key-row" data-name="([^"]+)"`)
	_, page := b.do("GET", "/settings?ingest_from=0", nil, nil)
	// 105 keys and t-viewer, by name: key-000 ... key-099 on the first page.
	if got := rows.FindAllStringSubmatch(page, -1); len(got) != 100 || got[0][1] != "key-000" || got[99][1] != "key-099" {
		t.Fatalf("first page: %d key rows, want 100 from key-000 to key-099", len(got))
	}
	next := regexp.MustCompile(`data-testid="keys-pager".*?<a href="([^"]+)">Next</a>`).FindStringSubmatch(page)
	if next == nil || !strings.Contains(page, "1–100 of 106") {
		t.Fatalf("first page: no keys pager saying 1–100 of 106 with a Next link")
	}
	link := strings.ReplaceAll(next[1], "&amp;", "&")
	if link != "/settings?ingest_from=0&keys_from=100" {
		t.Errorf("Next link %q, want /settings?ingest_from=0&keys_from=100", link)
	}
	_, page = b.do("GET", link, nil, nil)
	var names []string
	for _, m := range rows.FindAllStringSubmatch(page, -1) {
		names = append(names, m[1])
	}
	if want := []string{"key-100", "key-101", "key-102", "key-103", "key-104", "t-viewer"}; !slices.Equal(names, want) {
		t.Errorf("second page: key rows %v, want %v", names, want)
	}
	if !strings.Contains(page, "101–106 of 106") || !strings.Contains(page, ">Previous</a>") {
		t.Errorf("second page: want 101–106 of 106 and a Previous link")
	}
}
