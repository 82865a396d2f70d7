package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// testClock is a settable time source.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// lockedBuffer collects log output from several goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// testEnv is one data directory with the clock, metrics and logs its services share.
type testEnv struct {
	dir     string
	clock   *testClock
	metrics *metrics.Set
	logs    *lockedBuffer
}

const adminPassword = "admin password"

func newTestEnv(t testing.TB) *testEnv {
	return &testEnv{
		dir:     filepath.Join(t.TempDir(), "data"),
		clock:   &testClock{t: time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)},
		metrics: metrics.NewSet(),
		logs:    &lockedBuffer{},
	}
}

// open opens a Service on the environment's directory; two opens are two processes sharing meta.db.
func (e *testEnv) open(t testing.TB) *Service {
	t.Helper()
	return e.openConfig(t, Config{})
}

func (e *testEnv) openConfig(t testing.TB, cfg Config) *Service {
	t.Helper()
	cfg.DataDir, cfg.AdminPassword, cfg.InsecureIngest = e.dir, adminPassword, true
	s, err := Open(context.Background(), cfg, Options{
		Logger:  slog.New(slog.NewTextHandler(e.logs, nil)),
		Metrics: e.metrics,
		Now:     e.clock.Now,
	})
	if err != nil {
		t.Fatalf("Open(%s): %v", e.dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func (e *testEnv) counter(name string) uint64 { return e.metrics.GetOrCreateCounter(name).Get() }

func createUser(t testing.TB, s *Service, name, password string, role Role) {
	t.Helper()
	if err := s.CreateUser(context.Background(), name, password, role); err != nil {
		t.Fatalf("CreateUser(%q, %q): %v", name, role, err)
	}
}

func login(t testing.TB, s *Service, user, password string) Session {
	t.Helper()
	sess, err := s.Login(context.Background(), user, password, "192.0.2.1")
	if err != nil {
		t.Fatalf("Login(%q): %v", user, err)
	}
	return sess
}

// wantSession checks that id is a live session of want.
func wantSession(t *testing.T, s *Service, id string, want Principal) Session {
	t.Helper()
	p, sess, err := s.Session(context.Background(), id)
	if err != nil || p != want {
		t.Fatalf("Session = %+v, %v; want %+v, nil", p, err, want)
	}
	return sess
}

func wantNoSession(t *testing.T, s *Service, id string) {
	t.Helper()
	p, _, err := s.Session(context.Background(), id)
	if !errors.Is(err, ErrUnauthenticated) {
		t.Fatalf("Session = %+v, %v; want ErrUnauthenticated", p, err)
	}
}

// sessionRows counts the stored sessions of user, or of everyone if user is empty.
func sessionRows(t *testing.T, s *Service, user string) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM sessions WHERE ?1 = '' OR user = ?1`, user).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestLogin(t *testing.T) {
	env := newTestEnv(t)
	s := env.open(t)
	const password = "alice password"
	createUser(t, s, "alice", password, RoleEditor)
	start := env.clock.Now()

	for _, tc := range []struct {
		name, user, password string
		want                 error
		reason               string
	}{
		{"right password", "alice", password, nil, ""},
		{"wrong password", "alice", "alice passwore", ErrUnauthenticated, "wrong user name or password"},
		{"unknown user", "nobody", password, ErrUnauthenticated, "wrong user name or password"},
		{"user name in another case", "Alice", password, ErrUnauthenticated, "wrong user name or password"},
		{"empty password", "alice", "", ErrUnauthenticated, "required"},
		{"empty user", "", password, ErrUnauthenticated, "required"},
		{"overlong password", "alice", strings.Repeat("x", maxPasswordLen+1), ErrUnauthenticated, "wrong user name or password"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			failures := env.counter(`lookout_auth_failures_total{kind="login"}`)
			sess, err := s.Login(context.Background(), tc.user, tc.password, "192.0.2.1")
			if tc.want != nil {
				if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.reason) {
					t.Fatalf("Login(%q, %d-byte password) = %v, %v; want %v saying %q", tc.user, len(tc.password), sess, err, tc.want, tc.reason)
				}
				if sess != (Session{}) {
					t.Errorf("Login(%q) failed but returned %v", tc.user, sess)
				}
				if tc.password != "" && strings.Contains(err.Error(), tc.password) {
					t.Errorf("error %q contains the password", err)
				}
				if got := env.counter(`lookout_auth_failures_total{kind="login"}`); got != failures+1 {
					t.Errorf("login failures = %d, want %d", got, failures+1)
				}
				return
			}
			if err != nil {
				t.Fatalf("Login(%q) = %v, want a session", tc.user, err)
			}
			want := Session{ID: sess.ID, CSRF: sess.CSRF, User: "alice", Role: RoleEditor, ExpiresAt: start.Add(12 * time.Hour)}
			if sess != want {
				t.Errorf("Login(%q) = %+v, want %+v", tc.user, sess, want)
			}
			if len(sess.ID) != 43 || len(sess.CSRF) != 43 || sess.ID == sess.CSRF {
				t.Errorf("Login(%q): ID %d characters, CSRF %d; want 43 each (32 random bytes, base64url), and different", tc.user, len(sess.ID), len(sess.CSRF))
			}
		})
	}
}

func TestSession(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleEditor)
	alice := Principal{Kind: KindUser, Name: "alice", Role: RoleEditor}
	first := login(t, s, "alice", "alice password")
	second := login(t, s, "alice", "alice password")

	t.Run("lookup", func(t *testing.T) {
		for _, want := range []Session{first, second} {
			got := wantSession(t, s, want.ID, alice)
			if got != want {
				t.Errorf("Session(%.6s...) = %+v, want what Login returned, %+v", want.ID, got, want)
			}
		}
		hits := env.counter("lookout_auth_cache_hits_total")
		wantSession(t, s, first.ID, alice)
		if got := env.counter("lookout_auth_cache_hits_total"); got != hits+1 {
			t.Errorf("cache hits after a repeated lookup = %d, want %d", got, hits+1)
		}
	})

	t.Run("CSRF token per session", func(t *testing.T) {
		if first.CSRF == second.CSRF || first.ID == second.ID {
			t.Errorf("two sessions share an ID or a CSRF token")
		}
		for _, tc := range []struct {
			token string
			want  bool
		}{
			{first.CSRF, true},
			{second.CSRF, false},
			{first.CSRF + "x", false},
			{first.CSRF[1:], false},
			{"", false},
		} {
			if got := first.ValidCSRF(tc.token); got != tc.want {
				t.Errorf("ValidCSRF(%q) = %v, want %v", tc.token, got, tc.want)
			}
		}
		if (Session{}).ValidCSRF("") {
			t.Errorf("a zero Session accepts an empty CSRF token")
		}
	})

	t.Run("unknown or malformed ids", func(t *testing.T) {
		flipped := []byte(first.ID)
		flipped[10] ^= 1
		for _, id := range []string{"", "short", first.ID + "A", first.ID[1:], string(flipped), first.CSRF,
			strings.Repeat("+", 43), strings.Repeat("A", 43)} {
			if p, _, err := s.Session(ctx, id); !errors.Is(err, ErrUnauthenticated) {
				t.Errorf("Session(%q) = %+v, %v; want ErrUnauthenticated", id, p, err)
			}
		}
	})

	t.Run("stored hashed", func(t *testing.T) {
		h := sha256.Sum256([]byte(first.ID))
		var stored, user, csrf string
		err := s.db.QueryRow(`SELECT id_sha256, user, csrf FROM sessions WHERE id_sha256 = ?`, hex.EncodeToString(h[:])).Scan(&stored, &user, &csrf)
		if err != nil || user != "alice" || csrf != first.CSRF {
			t.Fatalf("session row by hash: %q, %q, %v; want alice and the CSRF token", user, csrf, err)
		}
		rows := 0
		if err := s.db.QueryRow(`SELECT count(*) FROM sessions WHERE instr(id_sha256 || user || csrf, ?) > 0`, first.ID).Scan(&rows); err != nil || rows != 0 {
			t.Errorf("%d rows, %v contain the session id; want 0", rows, err)
		}
	})

	t.Run("secrets not printed or logged", func(t *testing.T) {
		var logged bytes.Buffer
		slog.New(slog.NewJSONHandler(&logged, nil)).Info("signed in", "session", first)
		for _, out := range []string{fmt.Sprint(first), fmt.Sprintf("%+v", first), logged.String(), env.logs.String()} {
			if strings.Contains(out, first.ID) || strings.Contains(out, first.CSRF) {
				t.Errorf("output contains the session id or CSRF token: %s", out)
			}
		}
		if !strings.Contains(logged.String(), `"user":"alice"`) {
			t.Errorf("logged session %s does not name its user", logged.String())
		}
	})
}

func TestSessionExpiry(t *testing.T) {
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	alice := Principal{Kind: KindUser, Name: "alice", Role: RoleViewer}

	type step struct {
		advance time.Duration // from the previous step
		live    bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"used just before the idle timeout", []step{{2*time.Hour - time.Minute, true}}},
		{"idle for the timeout", []step{{2 * time.Hour, false}}},
		{"use restarts the idle timeout", []step{{90 * time.Minute, true}, {90 * time.Minute, true}, {119 * time.Minute, true}, {2 * time.Hour, false}}},
		{"absolute lifetime", []step{
			{110 * time.Minute, true}, {110 * time.Minute, true}, {110 * time.Minute, true}, {110 * time.Minute, true},
			{110 * time.Minute, true}, {110 * time.Minute, true}, // 11h
			{59*time.Minute + 59*time.Second, true}, // just before 12h
			{time.Second, false},
		}},
		// A use is recorded at most once a minute, so the idle timeout counts from the last
		// recorded use: here 20 seconds before the last one.
		{"idle timeout to a minute's precision", []step{
			{2*time.Hour - 2*time.Minute, true}, {20 * time.Second, true}, {2*time.Hour - 10*time.Second, false},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sess := login(t, s, "alice", "alice password")
			var elapsed time.Duration
			for i, st := range tc.steps {
				env.clock.Advance(st.advance)
				elapsed += st.advance
				p, _, err := s.Session(context.Background(), sess.ID)
				if live := err == nil; live != st.live || live && p != alice {
					t.Fatalf("step %d, %v after sign-in: Session = %+v, %v; want live=%v", i, elapsed, p, err, st.live)
				}
				if !st.live && !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("step %d: Session error %v, want ErrUnauthenticated", i, err)
				}
			}
			if tc.steps[len(tc.steps)-1].live {
				return
			}
			h := sha256.Sum256([]byte(sess.ID))
			var n int
			if err := s.db.QueryRow(`SELECT count(*) FROM sessions WHERE id_sha256 = ?`, hex.EncodeToString(h[:])).Scan(&n); err != nil || n != 0 {
				t.Errorf("expired session: %d rows, %v; want it deleted when looked up", n, err)
			}
		})
	}
}

// last_seen_at is written at most once a minute per session, not on every request.
func TestSessionActivityWrites(t *testing.T) {
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	sess := login(t, s, "alice", "alice password")
	signedIn := env.clock.Now()
	h := sha256.Sum256([]byte(sess.ID))
	lastSeen := func() time.Time {
		var ms int64
		if err := s.db.QueryRow(`SELECT last_seen_at FROM sessions WHERE id_sha256 = ?`, hex.EncodeToString(h[:])).Scan(&ms); err != nil {
			t.Fatal(err)
		}
		return time.UnixMilli(ms).UTC()
	}
	for _, st := range []struct {
		advance time.Duration
		want    time.Duration // last_seen_at after the lookup, since sign-in
	}{
		{0, 0},
		{30 * time.Second, 0},
		{29 * time.Second, 0},
		{time.Second, time.Minute},
		{59 * time.Second, time.Minute},
		{10 * time.Minute, 12*time.Minute - time.Second},
	} {
		env.clock.Advance(st.advance)
		wantSession(t, s, sess.ID, Principal{Kind: KindUser, Name: "alice", Role: RoleViewer})
		now := env.clock.Now().Sub(signedIn)
		if got := lastSeen().Sub(signedIn); got != st.want {
			t.Errorf("lookup at %v after sign-in: last_seen_at = sign-in + %v, want + %v", now, got, st.want)
		}
	}
}

func TestLogout(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	alice := Principal{Kind: KindUser, Name: "alice", Role: RoleViewer}
	phone := login(t, s, "alice", "alice password")
	laptop := login(t, s, "alice", "alice password")
	wantSession(t, s, phone.ID, alice) // cached

	if err := s.Logout(ctx, phone.ID); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	wantNoSession(t, s, phone.ID)
	for _, id := range []string{phone.ID, "", "not a session id"} {
		if err := s.Logout(ctx, id); err != nil {
			t.Errorf("Logout(%q) of no session = %v, want nil", id, err)
		}
	}
	wantSession(t, s, laptop.ID, alice) // the other session lives on, and is now cached

	// Another process's sign-out reaches this one within the cache period.
	other := env.open(t)
	if err := other.Logout(ctx, laptop.ID); err != nil {
		t.Fatal(err)
	}
	env.clock.Advance(29 * time.Second)
	wantSession(t, s, laptop.ID, alice)
	env.clock.Advance(time.Second)
	wantNoSession(t, s, laptop.ID)
}

// Sessions follow their user: the current role, and no session once the user is deleted or their
// password changes; at once in the process that made the change, within 30 seconds in another.
func TestSessionFollowsUser(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		change func(*Service) error
		want   Principal // zero: the session ends
	}{
		{"role change", func(s *Service) error { return s.SetRole(ctx, "alice", RoleAdmin) },
			Principal{Kind: KindUser, Name: "alice", Role: RoleAdmin}},
		{"user deleted", func(s *Service) error { return s.DeleteUser(ctx, "alice") }, Principal{}},
		{"password changed", func(s *Service) error { return s.SetPassword(ctx, "alice", "new alice password") }, Principal{}},
	} {
		for _, elsewhere := range []bool{false, true} {
			name := tc.name
			if elsewhere {
				name += " by another process"
			}
			t.Run(name, func(t *testing.T) {
				env := newTestEnv(t)
				s := env.open(t)
				createUser(t, s, "alice", "alice password", RoleEditor)
				before := Principal{Kind: KindUser, Name: "alice", Role: RoleEditor}
				sess := login(t, s, "alice", "alice password")
				wantSession(t, s, sess.ID, before) // now cached
				changer := s
				if elsewhere {
					changer = env.open(t)
				}
				if err := tc.change(changer); err != nil {
					t.Fatal(err)
				}
				if elsewhere {
					env.clock.Advance(29 * time.Second)
					wantSession(t, s, sess.ID, before) // the cached answer stands until it expires
					env.clock.Advance(time.Second)
				}
				p, got, err := s.Session(ctx, sess.ID)
				switch {
				case tc.want == Principal{}:
					if !errors.Is(err, ErrUnauthenticated) {
						t.Fatalf("Session after %s = %+v, %v; want ErrUnauthenticated", name, p, err)
					}
					if n := sessionRows(t, s, "alice"); n != 0 {
						t.Errorf("%d sessions of alice left, want 0", n)
					}
				case err != nil || p != tc.want || got.Role != tc.want.Role:
					t.Fatalf("Session after %s = %+v, %+v, %v; want %+v", name, p, got, err, tc.want)
				}
			})
		}
	}
}

func TestSessionsMigrateFromV1(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	// A meta.db as the previous release left it: schema version 1, one admin.
	s0 := env.open(t)
	if err := s0.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", filepath.Join(env.dir, dbFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{"DROP TABLE sessions", "PRAGMA user_version = 1"} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	s := env.open(t)
	var version int
	if err := s.db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil || version != 2 {
		t.Errorf("user_version after upgrade = %d, %v; want 2", version, err)
	}
	sess := login(t, s, "admin", adminPassword)
	wantSession(t, s, sess.ID, Principal{Kind: KindUser, Name: "admin", Role: RoleAdmin})
}

// Login keeps the sessions table bounded: at most maxSessionsPerUser per user, the oldest going
// first, and up to expiredPerLogin expired sessions deleted each time.
func TestSessionHousekeeping(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	hashOf := func(user string) string {
		var h string
		if err := s.db.QueryRow(`SELECT password_hash FROM users WHERE name = ?`, user).Scan(&h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	// createSession is what Login does after the password check; calling it directly spares the
	// test a hundred argon2 runs.
	create := func(user string, role Role) Session {
		t.Helper()
		sess, err := s.createSession(ctx, user, role, hashOf(user))
		if err != nil {
			t.Fatalf("createSession(%q): %v", user, err)
		}
		env.clock.Advance(time.Millisecond)
		return sess
	}

	oldest := create("alice", RoleViewer)
	for range maxSessionsPerUser {
		create("alice", RoleViewer)
	}
	if n := sessionRows(t, s, "alice"); n != maxSessionsPerUser {
		t.Errorf("after %d sign-ins: %d sessions, want %d", maxSessionsPerUser+1, n, maxSessionsPerUser)
	}
	wantNoSession(t, s, oldest.ID)
	for range 50 {
		create("admin", RoleAdmin)
	}

	env.clock.Advance(12 * time.Hour)
	for _, want := range []int{1 + 150 - expiredPerLogin, 2} {
		create("admin", RoleAdmin)
		if n := sessionRows(t, s, ""); n != want {
			t.Errorf("sessions after a sign-in with up to 150 expired = %d, want %d", n, want)
		}
	}

	// A password changed between the check and the insert leaves no session behind.
	stale := hashOf("alice")
	if err := s.SetPassword(ctx, "alice", "new alice password"); err != nil {
		t.Fatal(err)
	}
	if sess, err := s.createSession(ctx, "alice", RoleViewer, stale); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("createSession with the old password's hash = %v, %v; want ErrUnauthenticated", sess, err)
	}
}

func TestListUsers(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	created := env.clock.Now()
	createUser(t, s, "bob", "bob password", RoleViewer)
	createUser(t, s, "alice", "alice password", RoleEditor)
	env.clock.Advance(time.Hour)
	if err := s.SetRole(ctx, "bob", RoleEditor); err != nil {
		t.Fatal(err)
	}
	got, err := s.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []UserInfo{
		{Name: "admin", Role: RoleAdmin, CreatedAt: created, UpdatedAt: created},
		{Name: "alice", Role: RoleEditor, CreatedAt: created, UpdatedAt: created},
		{Name: "bob", Role: RoleEditor, CreatedAt: created, UpdatedAt: created.Add(time.Hour)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ListUsers =\n%+v\nwant\n%+v", got, want)
	}
}

func TestDeleteUser(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "bob", "bob password", RoleViewer)
	if p, err := s.authenticateUser(ctx, "bob", "bob password", ""); err != nil { // cached
		t.Fatalf("bob before deletion: %+v, %v", p, err)
	}
	for _, tc := range []struct {
		name, user string
		want       error
		reason     string
	}{
		{"unknown user", "nobody", ErrNotFound, "not found"},
		{"last admin", "admin", ErrInvalid, `"admin" is the last admin; make another user admin before you delete it`},
		{"viewer", "bob", nil, ""},
		{"again", "bob", ErrNotFound, "not found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.DeleteUser(ctx, tc.user)
			if !errors.Is(err, tc.want) || err != nil && !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("DeleteUser(%q) = %v, want %v saying %q", tc.user, err, tc.want, tc.reason)
			}
		})
	}
	if p, err := s.authenticateUser(ctx, "bob", "bob password", ""); !errors.Is(err, ErrUnauthenticated) {
		t.Errorf("Basic credentials of a deleted user = %+v, %v; want ErrUnauthenticated", p, err)
	}
	createUser(t, s, "carol", "carol password", RoleAdmin)
	if err := s.DeleteUser(ctx, "admin"); err != nil {
		t.Errorf("DeleteUser(admin) with another admin = %v, want nil", err)
	}
	if err := s.DeleteUser(ctx, "carol"); !errors.Is(err, ErrInvalid) {
		t.Errorf("DeleteUser(carol), now the last admin = %v, want ErrInvalid", err)
	}
}

func TestSetRole(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	if p, err := s.authenticateUser(ctx, "alice", "alice password", ""); err != nil || p.Role != RoleViewer { // cached
		t.Fatalf("alice = %+v, %v; want a viewer", p, err)
	}
	for _, tc := range []struct {
		name, user string
		role       Role
		want       error
	}{
		{"unknown user", "nobody", RoleViewer, ErrNotFound},
		{"ingest is not a user role", "alice", RoleIngest, ErrInvalid},
		{"unknown role", "alice", "root", ErrInvalid},
		{"demote the last admin", "admin", RoleEditor, ErrInvalid},
		{"last admin stays admin", "admin", RoleAdmin, nil},
		{"promote", "alice", RoleAdmin, nil},
		{"demote an admin who is not the last", "admin", RoleViewer, nil},
		{"demote the new last admin", "alice", RoleViewer, ErrInvalid},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := s.SetRole(ctx, tc.user, tc.role); !errors.Is(err, tc.want) {
				t.Errorf("SetRole(%q, %q) = %v, want %v", tc.user, tc.role, err, tc.want)
			}
		})
	}
	// The Basic cache does not keep the old role.
	if p, err := s.authenticateUser(ctx, "alice", "alice password", ""); err != nil || p.Role != RoleAdmin {
		t.Errorf("alice after promotion = %+v, %v; want an admin", p, err)
	}
}

func TestSessionConfig(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ttl, idle time.Duration
		ok        bool
	}{
		{"defaults", 0, 0, true},
		{"set", time.Hour, 10 * time.Minute, true},
		{"shortest", time.Minute, time.Minute, true},
		{"lifetime too short", 30 * time.Second, 0, false},
		{"idle timeout too short", 0, 59 * time.Second, false},
		{"negative", -time.Hour, 0, false},
	} {
		cfg := Config{DataDir: "d", SessionTTL: tc.ttl, SessionIdleTimeout: tc.idle}
		if err := cfg.Validate(); tc.ok && err != nil || !tc.ok && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: Validate(SessionTTL %v, SessionIdleTimeout %v) = %v, want ok=%v", tc.name, tc.ttl, tc.idle, err, tc.ok)
		}
	}

	env := newTestEnv(t)
	s := env.openConfig(t, Config{SessionTTL: time.Hour, SessionIdleTimeout: 10 * time.Minute})
	admin := Principal{Kind: KindUser, Name: "admin", Role: RoleAdmin}
	sess := login(t, s, "admin", adminPassword)
	if want := env.clock.Now().Add(time.Hour); !sess.ExpiresAt.Equal(want) {
		t.Errorf("ExpiresAt with SessionTTL 1h = %v, want %v", sess.ExpiresAt, want)
	}
	env.clock.Advance(9 * time.Minute)
	wantSession(t, s, sess.ID, admin)
	env.clock.Advance(10 * time.Minute)
	wantNoSession(t, s, sess.ID)
}
