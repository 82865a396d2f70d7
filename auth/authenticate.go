package auth

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// AuthenticateRequest returns who r is, from "Authorization: Bearer <api key>" or HTTP Basic
// credentials of a user. Failures wrap ErrUnauthenticated with a reason safe to send back; a
// *RateLimitError (ErrRateLimited) means Basic credentials were refused unchecked because too many
// sign-ins failed for that user name or from that address; any other error means meta.db could not
// answer.
//
// The client address for the rate limit is the host of r.RemoteAddr: right when clients connect
// directly. Behind a reverse proxy every client would share the proxy's address, so a web layer
// that trusts a proxy calls AuthenticateRequestFrom with the client address it derives instead.
//
// The returned principal may hold RoleIngest (an ingest token used as an API key): callers check
// Principal.Role.Allows for what the request needs, which an ingest token never satisfies.
func (s *Service) AuthenticateRequest(r *http.Request) (Principal, error) {
	return s.AuthenticateRequestFrom(r, r.RemoteAddr)
}

// AuthenticateRequestFrom is AuthenticateRequest with the client address given: addr is the
// client's IP address (a host:port is accepted and the port ignored; empty means unknown, and then
// only the per-user limit applies). Pass the same address as to Login, so that password guesses
// through the sign-in form and through HTTP Basic share one count.
//
// Basic credentials verified within the last minute (the cache) are not rate limited. Past that,
// a verification is limited like any other: someone guessing at a user's password can lock that
// user's Basic credentials out too, for up to 15 minutes after the guessing stops. Data sources
// are better given an API key, which is not rate limited (it cannot be guessed).
func (s *Service) AuthenticateRequestFrom(r *http.Request, addr string) (Principal, error) {
	h := r.Header.Get("Authorization")
	if h == "" {
		return Principal{}, unauthenticated("no credentials")
	}
	scheme, cred, ok := parseAuthorization(h)
	switch {
	case !ok:
		return Principal{}, unauthenticated("malformed Authorization header")
	case strings.EqualFold(scheme, "Bearer"):
		p, err := s.authenticateKey(r.Context(), cred)
		if errors.Is(err, ErrUnauthenticated) {
			s.failBearer.Inc()
		}
		return p, err
	case strings.EqualFold(scheme, "Basic"):
		user, password, ok := decodeBasic(cred)
		if !ok {
			s.failBasic.Inc()
			return Principal{}, unauthenticated("malformed Basic credentials")
		}
		p, err := s.authenticateUser(r.Context(), user, password, addr)
		switch {
		case errors.Is(err, ErrUnauthenticated):
			s.failBasic.Inc()
		case errors.Is(err, ErrRateLimited):
			s.limitedBasic.Inc()
		}
		return p, err
	default:
		return Principal{}, unauthenticated("unsupported authorization scheme; use Bearer or Basic")
	}
}

// AuthenticateIngest checks the Authorization header (HTTP) or metadata value (gRPC) of an OTLP
// request: "Bearer <token>" where the token is the configured ingest token or any API key with role
// ingest, the generated one included. It returns nil whatever the header when ingest
// authentication is off.
func (s *Service) AuthenticateIngest(ctx context.Context, authorization string) error {
	if s.insecureIngest {
		return nil
	}
	err := s.authenticateIngest(ctx, authorization)
	if errors.Is(err, ErrUnauthenticated) {
		s.failIngest.Inc()
	}
	return err
}

func (s *Service) authenticateIngest(ctx context.Context, authorization string) error {
	if authorization == "" {
		return unauthenticated("no ingest token; send Authorization: Bearer <token>")
	}
	scheme, token, ok := parseAuthorization(authorization)
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return unauthenticated("ingest needs Authorization: Bearer <token>")
	}
	if s.hasEnvIngest {
		// Comparing fixed-size digests keeps the time independent of where the strings differ and
		// of the configured token's length.
		d := sha256.Sum256([]byte(token))
		if subtle.ConstantTimeCompare(d[:], s.envIngest[:]) == 1 {
			return nil
		}
	}
	p, err := s.authenticateKey(ctx, token)
	if errors.Is(err, ErrUnauthenticated) {
		return unauthenticated("unknown or revoked ingest token")
	}
	if err != nil {
		return err
	}
	if p.Role != RoleIngest {
		return unauthenticated("API key " + p.Name + " has role " + string(p.Role) + ", not ingest")
	}
	return nil
}

// authenticateKey looks an API key up by the SHA-256 of its secret. Only hits are cached, so a key
// created by another process works at once.
func (s *Service) authenticateKey(ctx context.Context, secret string) (Principal, error) {
	if !looksLikeKey(secret) {
		return Principal{}, unauthenticated("unknown or revoked API key")
	}
	h := sha256.Sum256([]byte(secret))
	now := s.now()
	if p, ok := s.tokenCache.get(h, now); ok {
		s.cacheHits.Inc()
		s.noteUse(h, now.UnixMilli())
		return p, nil
	}
	gen := s.tokenCache.generation()
	var name, role string
	err := s.db.QueryRowContext(ctx, `SELECT name, role FROM tokens WHERE secret_sha256 = ?`,
		hex.EncodeToString(h[:])).Scan(&name, &role)
	if errors.Is(err, sql.ErrNoRows) {
		return Principal{}, unauthenticated("unknown or revoked API key")
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up API key: %w", err)
	}
	p := Principal{Kind: KindToken, Name: name, Role: Role(role)}
	s.tokenCache.put(h, p, now, gen)
	s.noteUse(h, now.UnixMilli())
	return p, nil
}

// authenticateUser verifies a user's password, subject to the sign-in rate limit unless the
// credentials are in the cache. The cache key is an HMAC under a per-process random key, so neither
// the password nor a fast unkeyed hash of it is kept in memory.
func (s *Service) authenticateUser(ctx context.Context, user, password, addr string) (Principal, error) {
	mac := hmac.New(sha256.New, s.cacheKey)
	mac.Write([]byte(user))
	mac.Write([]byte{0})
	mac.Write([]byte(password))
	var key [32]byte
	mac.Sum(key[:0])

	now := s.now()
	if p, ok := s.basicCache.get(key, now); ok {
		s.cacheHits.Inc()
		return p, nil
	}
	gen := s.basicCache.generation()
	a, err := s.limiter.begin(user, addr, now)
	if err != nil {
		return Principal{}, err
	}
	role, _, err := s.verifyUser(ctx, user, password)
	s.limiter.done(a, err)
	if err != nil {
		return Principal{}, err
	}
	p := Principal{Kind: KindUser, Name: user, Role: role}
	s.basicCache.put(key, p, now, gen)
	return p, nil
}

// verifyUser checks user's password against meta.db and returns the user's role and the stored
// hash it matched. An unknown user costs a dummy verification, so that the time taken does not
// tell which users exist.
func (s *Service) verifyUser(ctx context.Context, user, password string) (Role, string, error) {
	if len(password) > maxPasswordLen { // no stored password is this long, and argon2 is linear in it
		return "", "", unauthenticated("wrong user name or password")
	}
	var hash, role string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash, role FROM users WHERE name = ?`, user).Scan(&hash, &role)
	if errors.Is(err, sql.ErrNoRows) {
		s.dummyVerify(ctx)
		return "", "", unauthenticated("wrong user name or password")
	}
	if err != nil {
		return "", "", fmt.Errorf("look up user: %w", err)
	}
	ok, err := s.verifyPassword(ctx, hash, password)
	if err != nil {
		return "", "", fmt.Errorf("verify password of user %q: %w", user, err)
	}
	if !ok {
		return "", "", unauthenticated("wrong user name or password")
	}
	return Role(role), hash, nil
}

// parseAuthorization splits an Authorization value into its scheme and a single credentials token
// (RFC 9110 section 11.4: auth-scheme 1*SP token68). Auth-param lists are not used by Bearer or
// Basic and are refused.
func parseAuthorization(h string) (scheme, credentials string, ok bool) {
	scheme, rest, found := strings.Cut(h, " ")
	credentials = strings.TrimLeft(rest, " ")
	if !found || scheme == "" || credentials == "" || strings.ContainsAny(scheme, "\t\r\n") ||
		strings.ContainsAny(credentials, " \t\r\n") {
		return "", "", false
	}
	return scheme, credentials, true
}

// decodeBasic decodes Basic credentials (RFC 7617): base64 of user ":" password. The user name
// cannot contain a colon; the password can.
func decodeBasic(credentials string) (user, password string, ok bool) {
	b, err := base64.StdEncoding.DecodeString(credentials)
	if err != nil {
		return "", "", false
	}
	user, password, ok = strings.Cut(string(b), ":")
	if !ok || user == "" {
		return "", "", false
	}
	return user, password, true
}

// looksLikeKey is a cheap check that spares the database a lookup for what newSecret cannot have
// made.
func looksLikeKey(s string) bool {
	return len(s) == len(keyPrefix)+base64.RawURLEncoding.EncodedLen(keyBytes) && strings.HasPrefix(s, keyPrefix)
}
