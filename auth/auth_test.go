package auth_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/lookout-dev/lookout/auth"
	"github.com/lookout-dev/lookout/internal/disktest"
)

// clock is a settable time source for cache expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// syncBuffer collects log output from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// harness is one data directory with the clock, metrics and logs its services share.
type harness struct {
	dir     string
	clock   *clock
	metrics *metrics.Set
	logs    *syncBuffer
}

func newHarness(t testing.TB) *harness {
	return &harness{
		dir:     filepath.Join(t.TempDir(), "data"),
		clock:   &clock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		metrics: metrics.NewSet(),
		logs:    &syncBuffer{},
	}
}

func (h *harness) open(t testing.TB, cfg auth.Config) *auth.Service {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = h.dir
	}
	s, err := auth.Open(context.Background(), cfg, auth.Options{
		Logger:  slog.New(slog.NewTextHandler(h.logs, nil)),
		Metrics: h.metrics,
		Now:     h.clock.Now,
	})
	if err != nil {
		t.Fatalf("Open(%s): %v", cfg.DataDir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (h *harness) counter(name string) uint64 { return h.metrics.GetOrCreateCounter(name).Get() }

func (h *harness) readSecret(t *testing.T, name string) (string, fs.FileInfo) {
	t.Helper()
	path := filepath.Join(h.dir, name)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat %s: %v", name, err)
	}
	if got := fi.Mode().Perm(); got != 0o600 {
		t.Errorf("%s has mode %v, want 0600", name, got)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b)), fi
}

func basicRequest(user, password string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
	r.SetBasicAuth(user, password)
	return r
}

func headerRequest(authorization string) *http.Request {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
	if authorization != "" {
		r.Header.Set("Authorization", authorization)
	}
	return r
}

func wantPrincipal(t *testing.T, s *auth.Service, r *http.Request, want auth.Principal) {
	t.Helper()
	got, err := s.AuthenticateRequest(r)
	if err != nil || got != want {
		t.Errorf("AuthenticateRequest(%q) = %+v, %v; want %+v, nil", r.Header.Get("Authorization"), got, err, want)
	}
}

func wantUnauthenticated(t *testing.T, s *auth.Service, r *http.Request) {
	t.Helper()
	got, err := s.AuthenticateRequest(r)
	if !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("AuthenticateRequest(%q) = %+v, %v; want ErrUnauthenticated", r.Header.Get("Authorization"), got, err)
	}
}

var admin = auth.Principal{Kind: auth.KindUser, Name: "admin", Role: auth.RoleAdmin}

func TestOpenGeneratesAdminPassword(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, auth.Config{})

	fi, err := os.Stat(h.dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := fi.Mode().Perm(); got != 0o700 {
		t.Errorf("data dir has mode %v, want 0700", got)
	}
	password, _ := h.readSecret(t, "initial-admin-password")
	if len(password) < 24 {
		t.Errorf("generated password has %d characters, want at least 24", len(password))
	}
	wantPrincipal(t, s, basicRequest("admin", password), admin)
	wantUnauthenticated(t, s, basicRequest("admin", password+"x"))

	logs := h.logs.String()
	if !strings.Contains(logs, filepath.Join(h.dir, "initial-admin-password")) {
		t.Errorf("logs do not name the password file:\n%s", logs)
	}
	if strings.Contains(logs, password) {
		t.Errorf("logs contain the generated password:\n%s", logs)
	}
}

func TestOpenWithAdminPassword(t *testing.T) {
	h := newHarness(t)
	const password = "correct horse battery"
	s := h.open(t, auth.Config{AdminPassword: password})

	if _, err := os.Stat(filepath.Join(h.dir, "initial-admin-password")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("initial-admin-password: stat error %v, want not exist", err)
	}
	wantPrincipal(t, s, basicRequest("admin", password), admin)
	if strings.Contains(h.logs.String(), password) {
		t.Errorf("logs contain the admin password:\n%s", h.logs.String())
	}
}

func TestReopenKeepsSecrets(t *testing.T) {
	h := newHarness(t)
	s1 := h.open(t, auth.Config{})
	password, pwInfo := h.readSecret(t, "initial-admin-password")
	ingest, ingestInfo := h.readSecret(t, "ingest-token")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	// A password configured after the first start does not replace the stored one.
	s2 := h.open(t, auth.Config{AdminPassword: "a later password"})
	password2, pwInfo2 := h.readSecret(t, "initial-admin-password")
	ingest2, ingestInfo2 := h.readSecret(t, "ingest-token")
	if password2 != password || !os.SameFile(pwInfo, pwInfo2) {
		t.Errorf("initial-admin-password was rewritten on the second start")
	}
	if ingest2 != ingest || !os.SameFile(ingestInfo, ingestInfo2) {
		t.Errorf("ingest-token was rewritten on the second start")
	}
	wantPrincipal(t, s2, basicRequest("admin", password), admin)
	wantUnauthenticated(t, s2, basicRequest("admin", "a later password"))
	if err := s2.AuthenticateIngest(context.Background(), "Bearer "+ingest); err != nil {
		t.Errorf("generated ingest token after reopen: %v", err)
	}
	tokens, err := s2.ListTokens(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(tokens) != 1 || tokens[0].Role != auth.RoleIngest {
		t.Fatalf("ListTokens = %+v, want the one generated ingest token", tokens)
	}

	// A revoked generated token stays revoked: the next start does not make a new one.
	if err := s2.RevokeToken(context.Background(), tokens[0].Name); err != nil {
		t.Fatal(err)
	}
	if err := s2.Close(); err != nil {
		t.Fatal(err)
	}
	s3 := h.open(t, auth.Config{})
	if tokens, err := s3.ListTokens(context.Background()); err != nil || len(tokens) != 0 {
		t.Errorf("ListTokens after revoking the generated token and reopening = %+v, %v; want none", tokens, err)
	}
	if err := s3.AuthenticateIngest(context.Background(), "Bearer "+ingest); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Errorf("revoked generated ingest token: %v, want ErrUnauthenticated", err)
	}
	if got, _ := h.readSecret(t, "ingest-token"); got != ingest {
		t.Errorf("ingest-token was rewritten after its token was revoked")
	}
}

func TestAuthenticateIngest(t *testing.T) {
	const envToken = "env-ingest-token-0123456789"
	ctx := context.Background()

	t.Run("generated", func(t *testing.T) {
		h := newHarness(t)
		s := h.open(t, auth.Config{})
		token, _ := h.readSecret(t, "ingest-token")
		if strings.Contains(h.logs.String(), token) {
			t.Errorf("logs contain the ingest token")
		}
		adminKey, err := s.CreateToken(ctx, "ops", auth.RoleAdmin)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			header string
			ok     bool
		}{
			{"Bearer " + token, true},
			{"bearer  " + token, true},
			{"Bearer " + envToken, false},
			{"Bearer " + token + "x", false},
			{"Bearer " + adminKey, false}, // API keys need role ingest
			{"Basic " + base64.StdEncoding.EncodeToString([]byte("ingest:"+token)), false},
			{token, false},
			{"", false},
		} {
			err := s.AuthenticateIngest(ctx, tc.header)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("AuthenticateIngest(%q) = %v, want ok=%v", tc.header, err, tc.ok)
			}
			if err != nil && strings.Contains(err.Error(), token) {
				t.Errorf("error %q contains the token", err)
			}
		}
		if got := h.counter(`lookout_auth_failures_total{kind="ingest"}`); got != 6 {
			t.Errorf("ingest failures = %d, want 6", got)
		}
	})

	t.Run("configured", func(t *testing.T) {
		h := newHarness(t)
		s := h.open(t, auth.Config{IngestToken: envToken})
		if _, err := os.Stat(filepath.Join(h.dir, "ingest-token")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ingest-token: stat error %v, want not exist when a token is configured", err)
		}
		key, err := s.CreateToken(ctx, "collector", auth.RoleIngest)
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			header string
			ok     bool
		}{
			{"Bearer " + envToken, true},
			{"Bearer " + key, true},
			{"Bearer " + envToken + "x", false},
			{"Bearer " + envToken[:len(envToken)-1], false},
		} {
			err := s.AuthenticateIngest(ctx, tc.header)
			if tc.ok && err != nil || !tc.ok && !errors.Is(err, auth.ErrUnauthenticated) {
				t.Errorf("AuthenticateIngest(%q) = %v, want ok=%v", tc.header, err, tc.ok)
			}
		}
		if strings.Contains(h.logs.String(), envToken) {
			t.Errorf("logs contain the configured ingest token")
		}
	})

	t.Run("insecure", func(t *testing.T) {
		h := newHarness(t)
		s := h.open(t, auth.Config{InsecureIngest: true})
		for _, header := range []string{"", "Bearer anything", "garbage"} {
			if err := s.AuthenticateIngest(ctx, header); err != nil {
				t.Errorf("AuthenticateIngest(%q) with ingest auth off = %v, want nil", header, err)
			}
		}
		if _, err := os.Stat(filepath.Join(h.dir, "ingest-token")); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ingest-token: stat error %v, want not exist with ingest auth off", err)
		}
		if logs := h.logs.String(); !strings.Contains(logs, "level=WARN") || !strings.Contains(logs, "ingest authentication is off") {
			t.Errorf("no WARN line about ingest authentication being off:\n%s", logs)
		}
	})
}

func TestTokenRoles(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open(t, auth.Config{InsecureIngest: true})

	for _, role := range []auth.Role{auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin, auth.RoleIngest} {
		t.Run(string(role), func(t *testing.T) {
			name := "key-" + string(role)
			secret, err := s.CreateToken(ctx, name, role)
			if err != nil {
				t.Fatalf("CreateToken(%q, %q): %v", name, role, err)
			}
			if !strings.HasPrefix(secret, "lk_") || len(secret) != 46 {
				t.Errorf("secret %q: want lk_ and 43 base64url characters", secret)
			}
			want := auth.Principal{Kind: auth.KindToken, Name: name, Role: role}
			wantPrincipal(t, s, headerRequest("Bearer "+secret), want)
			wantPrincipal(t, s, headerRequest("Bearer "+secret), want) // cached

			if err := s.RevokeToken(ctx, name); err != nil {
				t.Fatalf("RevokeToken(%q): %v", name, err)
			}
			wantUnauthenticated(t, s, headerRequest("Bearer "+secret))
			if err := s.RevokeToken(ctx, name); !errors.Is(err, auth.ErrNotFound) {
				t.Errorf("RevokeToken(%q) twice = %v, want ErrNotFound", name, err)
			}
		})
	}

	for _, tc := range []struct {
		name string
		role auth.Role
		want error
	}{
		{"", auth.RoleViewer, auth.ErrInvalid},
		{"has space", auth.RoleViewer, auth.ErrInvalid},
		{"-leading-dash", auth.RoleViewer, auth.ErrInvalid},
		{strings.Repeat("x", 65), auth.RoleViewer, auth.ErrInvalid},
		{"ok", "root", auth.ErrInvalid},
		{"ok", "", auth.ErrInvalid},
	} {
		if _, err := s.CreateToken(ctx, tc.name, tc.role); !errors.Is(err, tc.want) {
			t.Errorf("CreateToken(%q, %q) = %v, want %v", tc.name, tc.role, err, tc.want)
		}
	}
	if _, err := s.CreateToken(ctx, "dup", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, "dup", auth.RoleAdmin); !errors.Is(err, auth.ErrExists) {
		t.Errorf("CreateToken of an existing name = %v, want ErrExists", err)
	}
}

func TestListTokens(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open(t, auth.Config{IngestToken: "env-ingest-token-0123456789"})
	created := h.clock.Now()
	grafana, err := s.CreateToken(ctx, "grafana", auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateToken(ctx, "ci", auth.RoleEditor); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(time.Hour)
	used := h.clock.Now()
	if _, err := s.AuthenticateRequest(headerRequest("Bearer " + grafana)); err != nil {
		t.Fatal(err)
	}

	got, err := s.ListTokens(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []auth.TokenInfo{
		{Name: "ci", Role: auth.RoleEditor, CreatedAt: created},
		{Name: "grafana", Role: auth.RoleViewer, CreatedAt: created, LastUsedAt: used},
	}
	if len(got) != len(want) {
		t.Fatalf("ListTokens = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].Name != want[i].Name || got[i].Role != want[i].Role ||
			!got[i].CreatedAt.Equal(want[i].CreatedAt) || !got[i].LastUsedAt.Equal(want[i].LastUsedAt) {
			t.Errorf("ListTokens[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
}

// The CLI creates and revokes tokens from its own process while the server runs.
func TestTokenFromAnotherProcess(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	server := h.open(t, auth.Config{})
	cli := h.open(t, auth.Config{})

	secret, err := cli.CreateToken(ctx, "from-cli", auth.RoleEditor)
	if err != nil {
		t.Fatal(err)
	}
	want := auth.Principal{Kind: auth.KindToken, Name: "from-cli", Role: auth.RoleEditor}
	wantPrincipal(t, server, headerRequest("Bearer "+secret), want)

	// Revocation elsewhere reaches the server when its cache entry expires.
	if err := cli.RevokeToken(ctx, "from-cli"); err != nil {
		t.Fatal(err)
	}
	h.clock.Advance(29 * time.Second)
	wantPrincipal(t, server, headerRequest("Bearer "+secret), want)
	h.clock.Advance(time.Second)
	wantUnauthenticated(t, server, headerRequest("Bearer "+secret))
}

func TestRoleAllows(t *testing.T) {
	f := func(have, need auth.Role, want bool) {
		t.Helper()
		if got := have.Allows(need); got != want {
			t.Errorf("Role(%q).Allows(%q) = %v, want %v", have, need, got, want)
		}
	}
	v, e, a, i := auth.RoleViewer, auth.RoleEditor, auth.RoleAdmin, auth.RoleIngest
	f(v, v, true)
	f(v, e, false)
	f(v, a, false)
	f(v, i, false)
	f(e, v, true)
	f(e, e, true)
	f(e, a, false)
	f(e, i, false)
	f(a, v, true)
	f(a, e, true)
	f(a, a, true)
	f(a, i, false)
	f(i, v, false)
	f(i, e, false)
	f(i, a, false)
	f(i, i, true)
	f("", "", false)
	f("root", v, false)
	f(a, "root", false)
}

func TestParseRole(t *testing.T) {
	f := func(in string, want auth.Role, wantErr bool) {
		t.Helper()
		got, err := auth.ParseRole(in)
		if got != want || (err != nil) != wantErr || err != nil && !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("ParseRole(%q) = %q, %v; want %q, error %v", in, got, err, want, wantErr)
		}
	}
	f("viewer", auth.RoleViewer, false)
	f("Editor", auth.RoleEditor, false)
	f(" admin ", auth.RoleAdmin, false)
	f("ingest", auth.RoleIngest, false)
	f("", "", true)
	f("root", "", true)
}

func TestBasicCache(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open(t, auth.Config{AdminPassword: "admin password"})
	if err := s.CreateUser(ctx, "grafana", "grafana password", auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	grafana := auth.Principal{Kind: auth.KindUser, Name: "grafana", Role: auth.RoleViewer}
	hits := func() uint64 { return h.counter("lookout_auth_cache_hits_total") }

	steps := []struct {
		name     string
		advance  time.Duration
		password string
		ok       bool
		hits     uint64
	}{
		{"first verification", 0, "grafana password", true, 0},
		{"second is a hit", 0, "grafana password", true, 1},
		{"wrong password", 0, "grafana passwore", false, 1},
		{"wrong password is not cached", 0, "grafana passwore", false, 1},
		{"hit just before expiry", 59 * time.Second, "grafana password", true, 2},
		{"miss after expiry", 2 * time.Second, "grafana password", true, 2},
		{"hit again", 0, "grafana password", true, 3},
	}
	for _, st := range steps {
		h.clock.Advance(st.advance)
		r := basicRequest("grafana", st.password)
		if st.ok {
			wantPrincipal(t, s, r, grafana)
		} else {
			wantUnauthenticated(t, s, r)
		}
		if got := hits(); got != st.hits {
			t.Errorf("%s: cache hits = %d, want %d", st.name, got, st.hits)
		}
	}
	if got := h.counter(`lookout_auth_failures_total{kind="basic"}`); got != 2 {
		t.Errorf("basic failures = %d, want 2", got)
	}

	// A new password takes effect at once, cache or not.
	if err := s.SetPassword(ctx, "grafana", "new grafana password"); err != nil {
		t.Fatal(err)
	}
	wantUnauthenticated(t, s, basicRequest("grafana", "grafana password"))
	wantPrincipal(t, s, basicRequest("grafana", "new grafana password"), grafana)
}

func TestAuthenticateRequestRefuses(t *testing.T) {
	h := newHarness(t)
	const password = "admin-password"
	s := h.open(t, auth.Config{AdminPassword: password})
	basic := func(userPass string) string {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(userPass))
	}
	for _, tc := range []struct {
		name, header, reason, failureKind string
	}{
		{"no credentials", "", "no credentials", ""},
		{"scheme only", "Bearer", "malformed", ""},
		{"two tokens", "Bearer a b", "malformed", ""},
		{"other scheme", "Digest abc", "unsupported authorization scheme", ""},
		{"not base64", "Basic !!!", "malformed Basic", "basic"},
		{"no colon", basic("admin"), "malformed Basic", "basic"},
		{"empty user", basic(":" + password), "malformed Basic", "basic"},
		{"wrong password", basic("admin:not the password"), "wrong user name or password", "basic"},
		{"unknown user", basic("nobody:" + password), "wrong user name or password", "basic"},
		{"password as bearer", "Bearer " + password, "unknown or revoked API key", "bearer"},
		{"unknown key", "Bearer lk_" + strings.Repeat("A", 43), "unknown or revoked API key", "bearer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			metric := `lookout_auth_failures_total{kind="` + tc.failureKind + `"}`
			before := h.counter(metric)
			p, err := s.AuthenticateRequest(headerRequest(tc.header))
			if !errors.Is(err, auth.ErrUnauthenticated) || !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("AuthenticateRequest(%q) = %+v, %v; want ErrUnauthenticated saying %q", tc.header, p, err, tc.reason)
			}
			if strings.Contains(err.Error(), password) {
				t.Errorf("error %q contains the password", err)
			}
			if tc.failureKind != "" && h.counter(metric) != before+1 {
				t.Errorf("%s = %d, want %d", metric, h.counter(metric), before+1)
			}
		})
	}
}

func TestSecretsStoredHashed(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	const adminPassword, userPassword = "admin password", "viewer password"
	s := h.open(t, auth.Config{AdminPassword: adminPassword})
	if err := s.CreateUser(ctx, "viewer", userPassword, auth.RoleViewer); err != nil {
		t.Fatal(err)
	}
	key, err := s.CreateToken(ctx, "key", auth.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	ingest, _ := h.readSecret(t, "ingest-token")

	db, err := sql.Open("sqlite", filepath.Join(h.dir, "meta.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var mode string
	var version int
	if err := db.QueryRow("PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
		t.Errorf("journal_mode = %q, %v; want wal", mode, err)
	}
	if err := db.QueryRow("PRAGMA user_version").Scan(&version); err != nil || version != 2 {
		t.Errorf("user_version = %d, %v; want 2", version, err)
	}

	rows, err := db.Query("SELECT name, password_hash FROM users UNION ALL SELECT name, secret_sha256 FROM tokens")
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var name, stored string
		if err := rows.Scan(&name, &stored); err != nil {
			t.Fatal(err)
		}
		n++
		for _, secret := range []string{adminPassword, userPassword, key, ingest} {
			if strings.Contains(stored, secret) {
				t.Errorf("%s: stored %q contains a secret", name, stored)
			}
		}
		if strings.HasPrefix(stored, "$") && !strings.HasPrefix(stored, "$argon2id$v=19$m=") {
			t.Errorf("%s: stored hash %q is not argon2id", name, stored)
		}
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if n != 4 {
		t.Errorf("found %d stored credentials, want 4 (2 users, 2 tokens)", n)
	}
}

func TestUserErrors(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	s := h.open(t, auth.Config{AdminPassword: "admin password"})
	for _, tc := range []struct {
		name, password string
		role           auth.Role
		want           error
	}{
		{"alice", "pw-7chr", auth.RoleViewer, auth.ErrInvalid},
		{"alice", "ünïcödé", auth.RoleViewer, auth.ErrInvalid}, // 7 characters, more bytes
		{"alice", strings.Repeat("x", 1025), auth.RoleViewer, auth.ErrInvalid},
		{"alice", "long enough", auth.RoleIngest, auth.ErrInvalid},
		{"alice", "long enough", "root", auth.ErrInvalid},
		{"al:ice", "long enough", auth.RoleViewer, auth.ErrInvalid},
		{"", "long enough", auth.RoleViewer, auth.ErrInvalid},
		{"admin", "long enough", auth.RoleViewer, auth.ErrExists},
	} {
		err := s.CreateUser(ctx, tc.name, tc.password, tc.role)
		if !errors.Is(err, tc.want) {
			t.Errorf("CreateUser(%q, %d-byte password, %q) = %v, want %v", tc.name, len(tc.password), tc.role, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), tc.password) {
			t.Errorf("error %q contains the password", err)
		}
	}
	if err := s.SetPassword(ctx, "nobody", "long enough"); !errors.Is(err, auth.ErrNotFound) {
		t.Errorf("SetPassword of an unknown user = %v, want ErrNotFound", err)
	}
	if err := s.SetPassword(ctx, "admin", "short"); !errors.Is(err, auth.ErrInvalid) {
		t.Errorf("SetPassword with a short password = %v, want ErrInvalid", err)
	}
	wantPrincipal(t, s, basicRequest("admin", "admin password"), admin)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  auth.Config
		ok   bool
	}{
		{"defaults", auth.Config{DataDir: "d"}, true},
		{"everything", auth.Config{DataDir: "d", AdminPassword: "12345678", IngestToken: "0123456789abcdef"}, true},
		{"no data dir", auth.Config{}, false},
		{"short admin password", auth.Config{DataDir: "d", AdminPassword: "1234567"}, false},
		{"short ingest token", auth.Config{DataDir: "d", IngestToken: "0123456789abcde"}, false},
		{"ingest token with space", auth.Config{DataDir: "d", IngestToken: "0123456789 abcdef"}, false},
	} {
		err := tc.cfg.Validate()
		if tc.ok && err != nil || !tc.ok && !errors.Is(err, auth.ErrInvalid) {
			t.Errorf("%s: Validate() = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && (tc.cfg.AdminPassword != "" && strings.Contains(err.Error(), tc.cfg.AdminPassword) ||
			tc.cfg.IngestToken != "" && strings.Contains(err.Error(), tc.cfg.IngestToken)) {
			t.Errorf("%s: error %q repeats a secret", tc.name, err)
		}
	}
}

func TestPing(t *testing.T) {
	h := newHarness(t)
	s := h.open(t, auth.Config{})
	if err := s.Ping(context.Background()); err != nil {
		t.Errorf("Ping on an open service: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Ping(context.Background()); err == nil {
		t.Errorf("Ping after Close = nil, want an error")
	}
}

func BenchmarkAuthenticateRequestBearer(b *testing.B) {
	h := newHarness(b)
	s := h.open(b, auth.Config{InsecureIngest: true})
	secret, err := s.CreateToken(context.Background(), "bench", auth.RoleViewer)
	if err != nil {
		b.Fatal(err)
	}
	r := headerRequest("Bearer " + secret)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AuthenticateRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateRequestBasicCached(b *testing.B) {
	h := newHarness(b)
	s := h.open(b, auth.Config{AdminPassword: "admin password", InsecureIngest: true})
	r := basicRequest("admin", "admin password")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.AuthenticateRequest(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAuthenticateIngest(b *testing.B) {
	h := newHarness(b)
	const token = "env-ingest-token-0123456789"
	s := h.open(b, auth.Config{IngestToken: token})
	b.ReportAllocs()
	for b.Loop() {
		if err := s.AuthenticateIngest(context.Background(), "Bearer "+token); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPingOnFullDisk fills the file system under meta.db: a sign-in that
// cannot store its session makes Ping fail, and Ping succeeds again by
// itself once space is freed.
func TestPingOnFullDisk(t *testing.T) {
	ctx := context.Background()
	h := newHarness(t)
	mnt := disktest.Mount(t, "8m")
	h.dir = filepath.Join(mnt, "data")
	const password = "correct horse battery"
	s := h.open(t, auth.Config{AdminPassword: password})
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping after Open = %v, want nil", err)
	}
	free := disktest.Fill(t, mnt)
	// A sign-in can still fit in space SQLite had (its WAL file): sign in
	// until the disk says no.
	for i := 0; ; i++ {
		_, err := s.Login(ctx, "admin", password, "192.0.2.1")
		if err != nil {
			break
		}
		if i == 1000 {
			t.Fatal("1000 sign-ins stored on a full disk")
		}
	}
	if err := s.Ping(ctx); err == nil || !strings.Contains(err.Error(), "full") {
		t.Fatalf("Ping after a sign-in failed on a full disk = %v, want the failure", err)
	}
	free()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping once space is freed = %v, want nil", err)
	}
}
