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
// credentials of a user. Failures wrap ErrUnauthenticated with a reason safe to send back; any other
// error means meta.db could not answer.
//
// The returned principal may hold RoleIngest (an ingest token used as an API key): callers check
// Principal.Role.Allows for what the request needs, which an ingest token never satisfies.
func (s *Service) AuthenticateRequest(r *http.Request) (Principal, error) {
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
		p, err := s.authenticateUser(r.Context(), user, password)
		if errors.Is(err, ErrUnauthenticated) {
			s.failBasic.Inc()
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

// authenticateUser verifies a user's password. The cache key is an HMAC under a per-process random
// key, so neither the password nor a fast unkeyed hash of it is kept in memory.
func (s *Service) authenticateUser(ctx context.Context, user, password string) (Principal, error) {
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
	var hash, role string
	err := s.db.QueryRowContext(ctx, `SELECT password_hash, role FROM users WHERE name = ?`, user).Scan(&hash, &role)
	if errors.Is(err, sql.ErrNoRows) {
		s.dummyVerify(ctx)
		return Principal{}, unauthenticated("wrong user name or password")
	}
	if err != nil {
		return Principal{}, fmt.Errorf("look up user: %w", err)
	}
	ok, err := s.verifyPassword(ctx, hash, password)
	if err != nil {
		return Principal{}, fmt.Errorf("verify password of user %q: %w", user, err)
	}
	if !ok {
		return Principal{}, unauthenticated("wrong user name or password")
	}
	p := Principal{Kind: KindUser, Name: user, Role: Role(role)}
	s.basicCache.put(key, p, now, gen)
	return p, nil
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
