package auth

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestPasswordHashRoundTrip(t *testing.T) {
	s := &Service{argon: make(chan struct{}, 1)}
	ctx := context.Background()
	encoded, err := s.hashPassword(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(encoded, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Errorf("hashPassword = %q, want the PHC argon2id form with m=19456,t=2,p=1", encoded)
	}
	f := func(password string, want bool) {
		t.Helper()
		got, err := s.verifyPassword(ctx, encoded, password)
		if err != nil || got != want {
			t.Errorf("verifyPassword(%q) = %v, %v; want %v, nil", password, got, err, want)
		}
	}
	f("correct horse", true)
	f("correct horsf", false)
	f("", false)

	again, err := s.hashPassword(ctx, "correct horse")
	if err != nil {
		t.Fatal(err)
	}
	if again == encoded {
		t.Errorf("two hashes of one password are equal: the salt is not random")
	}
}

func TestDecodeHashRejects(t *testing.T) {
	const salt, key = "c2FsdHNhbHRzYWx0c2FsdA", "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U"
	good := "$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key
	if _, err := decodeHash(good); err != nil {
		t.Fatalf("decodeHash(%q): %v", good, err)
	}
	for _, bad := range []string{
		"",
		"plaintext",
		"$argon2i$v=19$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=16$m=19456,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$t=2,m=19456,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1,x=1$" + salt + "$" + key,
		"$argon2id$v=19$m=99999999,t=2,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=0,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=99,p=1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=0$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=256$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=-1$" + salt + "$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "=$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$$" + key,
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$",
		"$argon2id$v=19$m=19456,t=2,p=1$" + salt + "$" + key + "$",
	} {
		if p, err := decodeHash(bad); err == nil {
			t.Errorf("decodeHash(%q) = %+v, want an error", bad, p)
		}
	}
}

// An unknown user name costs an argon2 verification, like a wrong password.
func TestUnknownUserRunsDummyVerification(t *testing.T) {
	s, err := Open(context.Background(), Config{DataDir: filepath.Join(t.TempDir(), "d"), AdminPassword: "admin password"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := httptest.NewRequest("GET", "/", nil)
	r.SetBasicAuth("nobody", "some password")
	if _, err := s.AuthenticateRequest(r); err == nil {
		t.Fatal("unknown user authenticated")
	}
	if s.dummyHash == "" {
		t.Errorf("no dummy verification ran for an unknown user")
	}
}

func TestTTLCache(t *testing.T) {
	now := time.Unix(1000, 0)
	c := newTTLCache[int, string](3, time.Minute)

	gen := c.generation()
	c.put(1, "one", now, gen)
	if v, ok := c.get(1, now.Add(59*time.Second)); !ok || v != "one" {
		t.Errorf("get before expiry = %q, %v; want one, true", v, ok)
	}
	if _, ok := c.get(1, now.Add(time.Minute)); ok {
		t.Errorf("get at expiry hit, want miss")
	}

	// Bounded: the fourth entry evicts one of the others.
	for i := 1; i <= 4; i++ {
		c.put(i, "v", now, gen)
	}
	if n := c.len(); n != 3 {
		t.Errorf("len after 4 puts into a cache of 3 = %d, want 3", n)
	}
	if _, ok := c.get(4, now); !ok {
		t.Errorf("newest entry was evicted")
	}

	// An answer looked up before clear is not stored after it.
	stale := c.generation()
	c.clear()
	c.put(5, "stale", now, stale)
	if _, ok := c.get(5, now); ok || c.len() != 0 {
		t.Errorf("put with a generation from before clear was stored")
	}
}

func FuzzParseAuthorization(f *testing.F) {
	for _, s := range []string{"Bearer lk_abc", "Basic YWRtaW46cGFzc3dvcmQ=", "bearer  x", "Bearer", "Bearer a b", " Bearer x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, h string) {
		scheme, cred, ok := parseAuthorization(h)
		if !ok {
			if scheme != "" || cred != "" {
				t.Errorf("parseAuthorization(%q) = %q, %q, false; want empty results", h, scheme, cred)
			}
			return
		}
		if scheme == "" || cred == "" || strings.ContainsAny(scheme, " \t\r\n") || strings.ContainsAny(cred, " \t\r\n") {
			t.Errorf("parseAuthorization(%q) = %q, %q, true", h, scheme, cred)
		}
		if !strings.HasPrefix(h, scheme+" ") || !strings.HasSuffix(h, cred) {
			t.Errorf("parseAuthorization(%q) = %q, %q: not the parts of the input", h, scheme, cred)
		}
	})
}

func FuzzDecodeBasic(f *testing.F) {
	for _, s := range []string{"YWRtaW46cGFzc3dvcmQ=", "YWRtaW4=", "OnBhc3M=", "!!!", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, cred string) {
		user, password, ok := decodeBasic(cred)
		if ok && (user == "" || strings.Contains(user, ":")) {
			t.Errorf("decodeBasic(%q) = %q, %q, true; want a non-empty user without a colon", cred, user, password)
		}
	})
}

func FuzzDecodeHash(f *testing.F) {
	f.Add("$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U")
	f.Add("$argon2id$v=19$m=65536,t=1,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		p, err := decodeHash(s)
		if err != nil {
			return
		}
		if p.memory > maxArgonMemory || p.time < 1 || p.time > maxArgonTime || p.threads < 1 || len(p.salt) < 8 || len(p.key) < 16 {
			t.Errorf("decodeHash(%q) = %+v: parameters out of range", s, p)
		}
		if again, err := decodeHash(encodeHash(p)); err != nil || encodeHash(again) != encodeHash(p) {
			t.Errorf("decodeHash(encodeHash(decodeHash(%q))) = %+v, %v; want a round trip", s, again, err)
		}
	})
}
