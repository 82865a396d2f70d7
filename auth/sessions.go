package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

const (
	defaultSessionTTL  = 12 * time.Hour
	defaultSessionIdle = 2 * time.Hour
	minSessionTimeout  = time.Minute
	// sessionTouchPeriod is how stale last_seen_at may get before a request writes it: a write per
	// minute per active session rather than one per request. The idle timeout is therefore exact
	// to within this much.
	sessionTouchPeriod = time.Minute
	// sessionCacheTTL bounds how long this process may act on a session row it read: a role change,
	// a deleted user or a sign-out made by another process takes effect within it.
	sessionCacheTTL = 30 * time.Second
	sessionIDBytes  = 32
	// maxSessionsPerUser bounds the rows one user can make by signing in again and again; the
	// oldest go first.
	maxSessionsPerUser = 100
	// expiredPerLogin bounds the expired sessions each Login deletes. Each Login adds one row and
	// removes up to this many dead ones, so dead rows cannot pile up however rarely anyone signs in.
	expiredPerLogin = 100
)

// Session is a signed-in UI session, created by Login.
//
// ID is the secret cookie value: whoever holds it acts as the user until the session ends. It must
// never be logged, put in a URL or shown on a page; only its SHA-256 is stored. String and LogValue
// leave ID and CSRF out, so printing or logging a Session by mistake does not leak them.
type Session struct {
	ID string
	// CSRF is the session's anti-forgery token: the web layer puts it in forms (or a header for
	// htmx) and checks what comes back with ValidCSRF. It is the same for the whole session.
	CSRF string
	User string
	// Role is the user's role when the session was created or last looked up.
	Role Role
	// ExpiresAt is when the session ends however active it is: the cookie's expiry. An idle
	// session ends earlier.
	ExpiresAt time.Time
}

// ValidCSRF reports whether token is the session's CSRF token, comparing in constant time.
func (s Session) ValidCSRF(token string) bool {
	return s.CSRF != "" && subtle.ConstantTimeCompare([]byte(token), []byte(s.CSRF)) == 1
}

// String describes the session without its secrets.
func (s Session) String() string {
	return fmt.Sprintf("session of user %q (%s) until %s", s.User, s.Role, s.ExpiresAt.Format(time.RFC3339))
}

// LogValue logs the session without its secrets.
func (s Session) LogValue() slog.Value {
	return slog.GroupValue(slog.String("user", s.User), slog.String("role", string(s.Role)),
		slog.Time("expires_at", s.ExpiresAt))
}

// sessionEntry is a session as cached: no id, which the caller has, and which should not sit in
// memory longer than the request that carries it.
type sessionEntry struct {
	user, csrf        string
	role              Role
	expires, lastSeen time.Time
}

func (e sessionEntry) result(id string) (Principal, Session) {
	return Principal{Kind: KindUser, Name: e.user, Role: e.role},
		Session{ID: id, CSRF: e.csrf, User: e.user, Role: e.role, ExpiresAt: e.expires}
}

// Login checks user's password and, if it is right, starts a session. It is subject to the sign-in
// rate limit: addr is the client's IP address, as the web layer determines it (see
// AuthenticateRequestFrom); empty means unknown. A wrong user name or password wraps
// ErrUnauthenticated, and takes as long as a right one; too many recent failures give a
// *RateLimitError (ErrRateLimited) at once, without checking the password.
//
// The session lasts Config.SessionTTL, or until it goes unused for Config.SessionIdleTimeout,
// until Logout, until the user is deleted or until their password is changed.
func (s *Service) Login(ctx context.Context, user, password, addr string) (Session, error) {
	if user == "" || password == "" {
		s.failLogin.Inc()
		return Session{}, unauthenticated("user name and password are required")
	}
	a, err := s.limiter.begin(user, addr, s.now())
	if err != nil {
		s.limitedLogin.Inc()
		return Session{}, err
	}
	role, hash, err := s.verifyUser(ctx, user, password)
	s.limiter.done(a, err)
	if err != nil {
		if errors.Is(err, ErrUnauthenticated) {
			s.failLogin.Inc()
		}
		return Session{}, err
	}
	sess, err := s.createSession(ctx, user, role, hash)
	if errors.Is(err, ErrUnauthenticated) {
		s.failLogin.Inc()
	}
	return sess, err
}

// createSession stores a new session for user, whose password hash was just verified to be hash.
func (s *Service) createSession(ctx context.Context, user string, role Role, hash string) (Session, error) {
	b := make([]byte, 2*sessionIDBytes)
	if _, err := rand.Read(b); err != nil {
		return Session{}, fmt.Errorf("generate session id: %w", err)
	}
	id := base64.RawURLEncoding.EncodeToString(b[:sessionIDBytes])
	csrf := base64.RawURLEncoding.EncodeToString(b[sessionIDBytes:])
	h := sha256.Sum256([]byte(id))
	now := s.now()
	expires := now.Add(s.sessionTTL)

	err := s.inTx(ctx, func(tx *sql.Tx) error {
		// Inserting only if the password is still the one verified closes the race with SetPassword
		// and DeleteUser: a sign-in with the old password that was under way cannot outlive them.
		res, err := tx.ExecContext(ctx, `INSERT INTO sessions (id_sha256, user, csrf, created_at, expires_at, last_seen_at)
			SELECT ?, name, ?, ?, ?, ? FROM users WHERE name = ? AND password_hash = ?`,
			hex.EncodeToString(h[:]), csrf, now.UnixMilli(), expires.UnixMilli(), now.UnixMilli(), user, hash)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return unauthenticated("wrong user name or password")
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE rowid IN (
			SELECT rowid FROM sessions WHERE user = ? ORDER BY created_at DESC, rowid DESC LIMIT -1 OFFSET ?)`,
			user, maxSessionsPerUser); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE rowid IN (
			SELECT rowid FROM sessions WHERE expires_at <= ? OR last_seen_at <= ? LIMIT ?)`,
			now.UnixMilli(), now.Add(-s.sessionIdle).UnixMilli(), expiredPerLogin)
		return err
	})
	if errors.Is(err, ErrUnauthenticated) {
		return Session{}, err
	}
	if err != nil {
		return Session{}, fmt.Errorf("create session: %w", err)
	}
	return Session{ID: id, CSRF: csrf, User: user, Role: role, ExpiresAt: time.UnixMilli(expires.UnixMilli()).UTC()}, nil
}

// Session returns who holds the session id (the cookie value) and the session itself. A malformed,
// unknown, signed-out or expired id wraps ErrUnauthenticated; any other error means meta.db could
// not answer.
//
// The principal carries the user's current role. Lookups are cached for up to 30 seconds: a role
// change, a deleted user or a changed password made through this Service takes effect at once; one
// made by another process (the CLI) takes effect within those 30 seconds.
func (s *Service) Session(ctx context.Context, id string) (Principal, Session, error) {
	h, ok := sessionHash(id)
	if !ok {
		return Principal{}, Session{}, unauthenticated("no valid session")
	}
	now := s.now()
	if e, ok := s.sessionCache.get(h, now); ok && now.Sub(e.lastSeen) < s.sessionTouch && s.live(e, now) {
		s.cacheHits.Inc()
		p, sess := e.result(id)
		return p, sess, nil
	}
	gen := s.sessionCache.generation()
	hexHash := hex.EncodeToString(h[:])
	var (
		e                 sessionEntry
		expires, lastSeen int64
	)
	err := s.db.QueryRowContext(ctx, `SELECT s.user, u.role, s.csrf, s.expires_at, s.last_seen_at
		FROM sessions AS s JOIN users AS u ON u.name = s.user WHERE s.id_sha256 = ?`, hexHash).
		Scan(&e.user, &e.role, &e.csrf, &expires, &lastSeen)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, Session{}, unauthenticated("not signed in, or signed out")
	}
	if err != nil {
		return Principal{}, Session{}, fmt.Errorf("look up session: %w", err)
	}
	e.expires, e.lastSeen = time.UnixMilli(expires).UTC(), time.UnixMilli(lastSeen).UTC()
	if !s.live(e, now) {
		// Best effort: Login deletes what this misses.
		if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_sha256 = ?`, hexHash); err != nil {
			s.log.Debug("delete expired session", "err", err)
		}
		return Principal{}, Session{}, unauthenticated("session expired; sign in again")
	}
	if now.Sub(e.lastSeen) >= s.sessionTouch {
		// Best effort too: a database that cannot take this write should not sign everyone out.
		// Remembering the time in the cache anyway keeps the retries (and their log lines) to one
		// per cache period.
		_, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = ?1 WHERE id_sha256 = ?2 AND last_seen_at < ?1`,
			now.UnixMilli(), hexHash)
		s.health.Observe(err)
		if err != nil {
			s.log.Warn("record session activity", "err", err)
		}
		e.lastSeen = now
	}
	s.sessionCache.put(h, e, now, gen)
	p, sess := e.result(id)
	return p, sess, nil
}

// live reports whether a session has neither reached its end nor been idle too long at now.
func (s *Service) live(e sessionEntry, now time.Time) bool {
	return now.Before(e.expires) && now.Sub(e.lastSeen) < s.sessionIdle
}

// Logout ends the session id. Ending one that does not exist, or has already ended, is not an
// error.
func (s *Service) Logout(ctx context.Context, id string) error {
	h, ok := sessionHash(id)
	if !ok {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `DELETE FROM sessions WHERE id_sha256 = ?`, hex.EncodeToString(h[:])); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	s.sessionCache.clear() // keyed by hash; signing out is rare, and a refill is one indexed read per session
	return nil
}

// sessionHash returns the SHA-256 of id, or false if id is not something Login could have made,
// which spares meta.db a lookup.
func sessionHash(id string) ([32]byte, bool) {
	if len(id) != base64.RawURLEncoding.EncodedLen(sessionIDBytes) {
		return [32]byte{}, false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return [32]byte{}, false
		}
	}
	return sha256.Sum256([]byte(id)), true
}
