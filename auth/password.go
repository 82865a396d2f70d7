package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// argon2id parameters for new hashes: OWASP's recommendation (m=19 MiB, t=2, p=1), chosen over
// RFC 9106's 64 MiB so that the bounded number of verifications that may run at once (see
// Service.argon) stays small in memory. Verification reads the parameters from the stored hash,
// so they can be raised later without invalidating existing passwords.
const (
	argonMemory  = 19 * 1024 // KiB
	argonTime    = 2
	argonThreads = 1
	argonSaltLen = 16
	argonKeyLen  = 32
)

// Bounds on parameters read from a stored hash, so a corrupt row cannot ask for gigabytes.
const (
	maxArgonMemory = 1 << 20 // KiB: 1 GiB
	maxArgonTime   = 16
)

type argonParams struct {
	memory, time uint32
	threads      uint8
	salt, key    []byte
}

// encodeHash formats p the PHC way: $argon2id$v=19$m=19456,t=2,p=1$<salt>$<key>, salt and key in
// unpadded standard base64 (https://github.com/P-H-C/phc-string-format/blob/master/phc-sf-spec.md).
func encodeHash(p argonParams) string {
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.memory, p.time, p.threads,
		base64.RawStdEncoding.EncodeToString(p.salt), base64.RawStdEncoding.EncodeToString(p.key))
}

var errBadHash = errors.New("malformed argon2id hash")

// decodeHash parses what encodeHash writes, rejecting other versions and out-of-range parameters.
func decodeHash(s string) (argonParams, error) {
	var p argonParams
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" || parts[1] != "argon2id" || parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, errBadHash
	}
	var m, t, threads uint64
	for i, kv := range strings.Split(parts[3], ",") {
		k, v, ok := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil {
			return p, errBadHash
		}
		switch {
		case i == 0 && k == "m":
			m = n
		case i == 1 && k == "t":
			t = n
		case i == 2 && k == "p":
			threads = n
		default:
			return p, errBadHash
		}
	}
	if threads < 1 || threads > 255 || t < 1 || t > maxArgonTime || m < 8*threads || m > maxArgonMemory {
		return p, errBadHash
	}
	salt, err := base64.RawStdEncoding.Strict().DecodeString(parts[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, errBadHash
	}
	key, err := base64.RawStdEncoding.Strict().DecodeString(parts[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, errBadHash
	}
	return argonParams{memory: uint32(m), time: uint32(t), threads: uint8(threads), salt: salt, key: key}, nil
}

// hashPassword returns the encoded argon2id hash of password with a fresh salt.
func (s *Service) hashPassword(ctx context.Context, password string) (string, error) {
	salt := make([]byte, argonSaltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	p := argonParams{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt}
	if err := s.acquireArgon(ctx); err != nil {
		return "", err
	}
	p.key = argon2.IDKey([]byte(password), salt, p.time, p.memory, p.threads, argonKeyLen)
	s.releaseArgon()
	return encodeHash(p), nil
}

// verifyPassword reports whether password matches the encoded hash, comparing in constant time.
func (s *Service) verifyPassword(ctx context.Context, encoded, password string) (bool, error) {
	p, err := decodeHash(encoded)
	if err != nil {
		return false, err
	}
	if err := s.acquireArgon(ctx); err != nil {
		return false, err
	}
	key := argon2.IDKey([]byte(password), p.salt, p.time, p.memory, p.threads, uint32(len(p.key)))
	s.releaseArgon()
	return subtle.ConstantTimeCompare(key, p.key) == 1, nil
}

// dummyVerify spends what verifying a real password costs, so that a wrong user name answers as
// slowly as a wrong password and response times do not reveal which users exist.
func (s *Service) dummyVerify(ctx context.Context) {
	s.dummyOnce.Do(func() {
		salt := make([]byte, argonSaltLen)
		rand.Read(salt)
		key := make([]byte, argonKeyLen)
		rand.Read(key)
		s.dummyHash = encodeHash(argonParams{memory: argonMemory, time: argonTime, threads: argonThreads, salt: salt, key: key})
	})
	s.verifyPassword(ctx, s.dummyHash, "not the password")
}

// acquireArgon waits for one of a bounded number of argon2 slots: each run holds argonMemory, and
// a burst of logins (or an attack) must not grow memory without bound.
func (s *Service) acquireArgon(ctx context.Context) error {
	select {
	case s.argon <- struct{}{}:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("wait to verify password: %w", ctx.Err())
	}
}

func (s *Service) releaseArgon() { <-s.argon }
