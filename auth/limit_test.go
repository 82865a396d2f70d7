package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestAddrKey(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
	f("", "")
	f("  ", "")
	f("192.0.2.1", "192.0.2.1")
	f(" 192.0.2.1 ", "192.0.2.1")
	f("192.0.2.1:4321", "192.0.2.1")
	f("::ffff:192.0.2.1", "192.0.2.1")
	f("[::ffff:192.0.2.1]:80", "192.0.2.1")
	f("2001:db8:1:2:3:4:5:6", "2001:db8:1:2::/64")
	f("[2001:db8:1:2::9]:443", "2001:db8:1:2::/64")
	f("fe80::1%eth0", "fe80::/64")
	f("unix-socket", "unix-socket")
	f(strings.Repeat("x", 100), strings.Repeat("x", maxAddrKeyLen))
}

func TestUserKey(t *testing.T) {
	f := func(in, want string) {
		t.Helper()
		if got := userKey(in); got != want {
			t.Errorf("userKey(%d bytes) = %d bytes, want %d", len(in), len(got), len(want))
		}
	}
	f("alice", "alice")
	f(strings.Repeat("a", maxNameLen), strings.Repeat("a", maxNameLen))
	f(strings.Repeat("a", 1000), strings.Repeat("a", maxNameLen+1))
}

func TestRateLimitError(t *testing.T) {
	var err error = fmt.Errorf("sign in: %w", &RateLimitError{RetryAfter: 90*time.Second + time.Millisecond, scope: "for this user name"})
	var rl *RateLimitError
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != 90*time.Second+time.Millisecond {
		t.Fatalf("errors.Is/As(%v) = %v, %+v; want ErrRateLimited and the RetryAfter", err, errors.Is(err, ErrRateLimited), rl)
	}
	if errors.Is(err, ErrUnauthenticated) {
		t.Errorf("a rate limit error is ErrUnauthenticated; want a distinct error (429, not 401)")
	}
	const want = "sign in: rate limited: too many failed sign-ins for this user name; try again in 1m31s"
	if err.Error() != want {
		t.Errorf("Error() = %q, want %q (rounded up to a second)", err.Error(), want)
	}
}

// TestLimitTable follows one key of a table allowing 3 failures in 10 minutes.
func TestLimitTable(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	tab := newLimitTable(3, 10*time.Minute, 100)
	m := time.Minute
	for i, st := range []struct {
		at    time.Duration // since start
		op    string        // fail, refund (the failure at refund), reset or check
		arg   time.Duration // for refund
		retry time.Duration // retryAfter after op
	}{
		{0, "check", 0, 0},
		{0, "fail", 0, 0},
		{1 * m, "fail", 0, 0},
		{2 * m, "fail", 0, 8 * m},   // locked until the first failure is 10 minutes old
		{5 * m, "check", 0, 5 * m},  // still
		{5 * m, "refund", 2 * m, 0}, // the failure at 2m taken back
		{5 * m, "fail", 0, 5 * m},   // locked again
		{10 * m, "check", 0, 0},     // the failure at 0 has left the window
		{11 * m, "fail", 0, 0},      // 1m left too: 5m, 11m
		{11 * m, "fail", 0, 4 * m},  // 5m, 11m, 11m: locked until 5m+10m
		{11 * m, "reset", 0, 0},     // forgotten
		{11 * m, "check", 0, 0},     // and stays so
		{30 * m, "fail", 0, 0},
		{31 * m, "fail", 0, 0},
		{39 * m, "fail", 0, m},
		{40*m - time.Nanosecond, "check", 0, time.Nanosecond},
		{40 * m, "check", 0, 0},
		{60 * m, "check", 0, 0},
		{60 * m, "refund", 60 * m, 0}, // taking back a failure that is not there is harmless
		{60 * m, "fail", 0, 0},
		{60 * m, "fail", 0, 0},        // two at the same instant
		{60 * m, "refund", 60 * m, 0}, // take back one of them
		{60 * m, "fail", 0, 0},
		{60 * m, "fail", 0, 10 * m},
		{70*m - time.Second, "check", 0, time.Second},
	} {
		now := start.Add(st.at)
		switch st.op {
		case "fail":
			tab.add("k", now)
		case "refund":
			tab.remove("k", start.Add(st.arg))
		case "reset":
			tab.reset("k")
		}
		if got := tab.retryAfter("k", now); got != st.retry {
			t.Errorf("step %d (%s at %v): retryAfter = %v, want %v", i, st.op, st.at, got, st.retry)
		}
	}
	if n := tab.len(); n > 1 {
		t.Errorf("table holds %d keys, want at most 1", n)
	}
}

// The tables hold at most limitTableSize keys, however many clients fail.
func TestLimitTableBound(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	l := newLoginLimiter()
	tab := l.addrs
	key := func(i int) string { return "198.51.100." + strconv.Itoa(i) }

	// Fill the table past its size: one failure per key, a millisecond apart; key 1 fails again
	// later, so it is not the oldest.
	for i := range limitTableSize + 10 {
		tab.add(key(i), start.Add(time.Duration(i)*time.Millisecond))
		if i == 100 {
			tab.add(key(1), start.Add(time.Duration(i)*time.Millisecond))
		}
	}
	now := start.Add((limitTableSize + 10) * time.Millisecond)
	if n := tab.len(); n != limitTableSize {
		t.Errorf("after %d keys: table holds %d, want %d", limitTableSize+10, n, limitTableSize)
	}
	for _, tc := range []struct {
		key  string
		kept bool
	}{
		{key(0), false}, // the oldest went first
		{key(2), false},
		{key(10), false},
		{key(1), true}, // failed again more recently
		{key(11), true},
		{key(limitTableSize + 9), true},
	} {
		if _, kept := tab.m[tc.key]; kept != tc.kept {
			t.Errorf("key %s kept = %v, want %v", tc.key, kept, tc.kept)
		}
	}

	// A key locked out stays locked out while the table churns, as long as it is not the oldest.
	for range addrFailureLimit {
		tab.add("203.0.113.9", now)
	}
	if d := tab.retryAfter("203.0.113.9", now); d != failureWindow {
		t.Fatalf("retryAfter of a locked key = %v, want %v", d, failureWindow)
	}

	// Once the window has passed, a new key clears out the expired ones.
	later := now.Add(failureWindow)
	tab.add("new", later)
	if n := tab.len(); n != 1 {
		t.Errorf("a window after the last failure: table holds %d keys, want 1 (the new one)", n)
	}
}

// TestLoginLimiter drives begin and done the way Login and Basic authentication do.
func TestLoginLimiter(t *testing.T) {
	start := time.Unix(1_000_000, 0)
	wrong := unauthenticated("wrong user name or password")
	type step struct {
		user, addr string
		at         time.Duration
		result     error         // passed to done, unless the attempt was limited
		retry      time.Duration // 0: begin allows the attempt; else the RetryAfter wanted
		scope      string
	}
	fails := func(n int, user, addr string, at time.Duration) []step {
		var out []step
		for range n {
			out = append(out, step{user: user, addr: addr, at: at, result: wrong})
		}
		return out
	}
	// spray is n failures from addr, each for another user name.
	spray := func(n int, addr string, at time.Duration) []step {
		var out []step
		for i := range n {
			out = append(out, step{user: "spray" + strconv.Itoa(i), addr: addr, at: at, result: wrong})
		}
		return out
	}
	cat := func(parts ...[]step) []step {
		var out []step
		for _, p := range parts {
			out = append(out, p...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"per user", cat(
			fails(5, "alice", "192.0.2.1", 0),
			[]step{
				{user: "alice", addr: "192.0.2.2", at: time.Minute, retry: 14 * time.Minute, scope: "user"},
				{user: "alice", addr: "", at: time.Minute, retry: 14 * time.Minute, scope: "user"},
				{user: "bob", addr: "192.0.2.1", at: time.Minute, result: nil},
				{user: "alice", addr: "192.0.2.2", at: 15 * time.Minute, result: nil},
			})},
		{"per address", cat(
			fails(4, "u1", "192.0.2.1", 0), fails(4, "u2", "192.0.2.1", 0), fails(4, "u3", "192.0.2.1", 0),
			fails(4, "u4", "192.0.2.1", 0), fails(4, "u5", "192.0.2.1:999", time.Minute),
			[]step{
				{user: "u6", addr: "192.0.2.1", at: 2 * time.Minute, retry: 13 * time.Minute, scope: "address"},
				{user: "u6", addr: "192.0.2.2", at: 2 * time.Minute, result: nil},
				{user: "u6", addr: "", at: 2 * time.Minute, result: nil},
				{user: "u6", addr: "192.0.2.1", at: 15 * time.Minute, result: wrong}, // the first 16 have left
			})},
		{"per IPv6 /64", cat(
			spray(20, "2001:db8::1", 0),
			[]step{
				{user: "v", addr: "2001:db8::ffff", at: 0, retry: failureWindow, scope: "address"},
				{user: "v", addr: "2001:db8:0:1::1", at: 0, result: nil},
			})},
		{"the longer wait wins: address", cat(
			fails(5, "alice", "192.0.2.9", 0), spray(20, "192.0.2.1", 5*time.Minute),
			[]step{{user: "alice", addr: "192.0.2.1", at: 5 * time.Minute, retry: 15 * time.Minute, scope: "address"}},
		)},
		{"the longer wait wins: user", cat(
			spray(20, "192.0.2.1", 0), fails(5, "alice", "192.0.2.9", 5*time.Minute),
			[]step{{user: "alice", addr: "192.0.2.1", at: 5 * time.Minute, retry: 15 * time.Minute, scope: "user"}},
		)},
		{"success resets the user but not the address", cat(
			fails(4, "alice", "192.0.2.1", 0),
			[]step{{user: "alice", addr: "192.0.2.1", at: 0, result: nil}},
			fails(4, "alice", "192.0.2.1", 0),
			[]step{{user: "alice", addr: "192.0.2.1", at: 0, result: nil}},
			spray(12, "192.0.2.1", 0),
			[]step{{user: "carol", addr: "192.0.2.1", at: 0, retry: failureWindow, scope: "address"}},
		)},
		{"errors that are not wrong passwords do not count", cat(
			[]step{
				{user: "alice", addr: "192.0.2.1", at: 0, result: context.Canceled},
				{user: "alice", addr: "192.0.2.1", at: 0, result: errors.New("database is locked")},
			},
			fails(5, "alice", "192.0.2.3", 0),
			[]step{{user: "alice", addr: "192.0.2.3", at: 0, retry: failureWindow, scope: "user"}},
		)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLoginLimiter()
			for i, st := range tc.steps {
				a, err := l.begin(st.user, st.addr, start.Add(st.at))
				var rl *RateLimitError
				if st.retry == 0 {
					if err != nil {
						t.Fatalf("step %d: begin(%q, %q) at %v = %v, want allowed", i, st.user, st.addr, st.at, err)
					}
					l.done(a, st.result)
					continue
				}
				if !errors.As(err, &rl) || rl.RetryAfter != st.retry || !strings.Contains(err.Error(), st.scope) {
					t.Fatalf("step %d: begin(%q, %q) at %v = %v; want a RateLimitError for this %s, retry after %v", i, st.user, st.addr, st.at, err, st.scope, st.retry)
				}
			}
		})
	}
}

// An attempt counts from the moment it starts, so concurrent guesses cannot all slip through
// before the first has failed.
func TestLoginLimiterCountsAttemptsInFlight(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	l := newLoginLimiter()
	var inFlight []attempt
	for i := range userFailureLimit {
		a, err := l.begin("alice", "192.0.2."+strconv.Itoa(i), now)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		inFlight = append(inFlight, a)
	}
	if _, err := l.begin("alice", "192.0.2.99", now); !errors.Is(err, ErrRateLimited) {
		t.Fatalf("attempt %d with %d in flight = %v, want ErrRateLimited", userFailureLimit+1, userFailureLimit, err)
	}
	l.done(inFlight[0], nil) // one was right after all
	if _, err := l.begin("alice", "192.0.2.99", now); err != nil {
		t.Errorf("attempt after a success = %v, want allowed", err)
	}
}

// Login and HTTP Basic share the limit; the service counts what it refuses.
func TestLoginRateLimited(t *testing.T) {
	ctx := context.Background()
	env := newTestEnv(t)
	s := env.open(t)
	createUser(t, s, "alice", "alice password", RoleViewer)
	createUser(t, s, "bob", "bob password", RoleViewer)
	alice := Principal{Kind: KindUser, Name: "alice", Role: RoleViewer}
	wantLimited := func(t *testing.T, what string, err error, retry time.Duration) {
		t.Helper()
		var rl *RateLimitError
		if !errors.Is(err, ErrRateLimited) || !errors.As(err, &rl) || rl.RetryAfter != retry {
			t.Fatalf("%s = %v; want a RateLimitError, retry after %v", what, err, retry)
		}
	}

	t.Run("per user", func(t *testing.T) {
		for i := range userFailureLimit {
			env.clock.Advance(time.Minute)
			addr := "192.0.2." + strconv.Itoa(i) // a new address each time: only the user limit applies
			if _, err := s.Login(ctx, "bob", "wrong password", addr); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Login(bob, wrong password, %s) = %v, want ErrUnauthenticated", addr, err)
			}
		}
		limited := env.counter(`lookout_auth_rate_limited_total{kind="login"}`)
		failures := env.counter(`lookout_auth_failures_total{kind="login"}`)
		_, err := s.Login(ctx, "bob", "bob password", "192.0.2.100")
		wantLimited(t, "Login(bob, right password) after 5 failures", err, 11*time.Minute)
		if got := env.counter(`lookout_auth_rate_limited_total{kind="login"}`); got != limited+1 {
			t.Errorf("rate limited logins = %d, want %d", got, limited+1)
		}
		if got := env.counter(`lookout_auth_failures_total{kind="login"}`); got != failures {
			t.Errorf("login failures = %d, want %d: a refused attempt is not a failure", got, failures)
		}
		// HTTP Basic for bob is locked out too, from anywhere.
		r := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
		r.SetBasicAuth("bob", "bob password")
		_, err = s.AuthenticateRequestFrom(r, "198.51.100.1")
		wantLimited(t, "Basic bob after 5 failed sign-ins", err, 11*time.Minute)
		// Others are not.
		if _, err := s.Login(ctx, "alice", "alice password", "192.0.2.100"); err != nil {
			t.Errorf("Login(alice) while bob is locked out: %v", err)
		}
		env.clock.Advance(11 * time.Minute)
		if _, err := s.Login(ctx, "bob", "bob password", "192.0.2.100"); err != nil {
			t.Errorf("Login(bob) once the oldest failure is 15 minutes old: %v", err)
		}
	})

	t.Run("reset on success", func(t *testing.T) {
		// 4 failures, a success, 4 more: without the reset the fifth attempt would be refused.
		for round := range 2 {
			for i := range userFailureLimit - 1 {
				if _, err := s.Login(ctx, "alice", "wrong password", "192.0.2.200"); !errors.Is(err, ErrUnauthenticated) {
					t.Fatalf("round %d, failure %d: %v, want ErrUnauthenticated", round, i, err)
				}
			}
			if _, err := s.Login(ctx, "alice", "alice password", "192.0.2.200"); err != nil {
				t.Fatalf("round %d: Login(alice, right password) after 4 failures = %v, want a session", round, err)
			}
		}
		// The address keeps its count: 8 failures.
		if got := len(s.limiter.addrs.m["192.0.2.200"].Value.(*limitEntry).fails); got != 2*(userFailureLimit-1) {
			t.Errorf("failures counted for the address = %d, want %d", got, 2*(userFailureLimit-1))
		}
	})

	t.Run("per address", func(t *testing.T) {
		env.clock.Advance(failureWindow)
		const addr = "203.0.113.5"
		for i := range addrFailureLimit {
			user := "guess" + strconv.Itoa(i) // unknown users: each costs a dummy verification
			if _, err := s.Login(ctx, user, "password", addr); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Login(%s, %s) = %v, want ErrUnauthenticated", user, addr, err)
			}
		}
		_, err := s.Login(ctx, "alice", "alice password", addr)
		wantLimited(t, "Login(alice, right password) from an address with 20 failures", err, failureWindow)
		if !strings.Contains(err.Error(), "from this address") {
			t.Errorf("error %q does not say the address is limited", err)
		}
		if _, err := s.Login(ctx, "alice", "alice password", "203.0.113.6"); err != nil {
			t.Errorf("Login(alice) from another address: %v", err)
		}
	})

	t.Run("Basic", func(t *testing.T) {
		env.clock.Advance(failureWindow)
		basic := func(user, password, remote string) *http.Request {
			r := httptest.NewRequest(http.MethodGet, "/api/v1/query", nil)
			r.RemoteAddr = remote
			r.SetBasicAuth(user, password)
			return r
		}
		// Verified before the guessing started: in the cache, and so not limited.
		if p, err := s.AuthenticateRequest(basic("alice", "alice password", "192.0.2.50:1000")); err != nil || p != alice {
			t.Fatalf("Basic alice = %+v, %v; want %+v", p, err, alice)
		}
		failures := env.counter(`lookout_auth_failures_total{kind="basic"}`)
		for i := range userFailureLimit {
			remote := "192.0.2." + strconv.Itoa(60+i) + ":1000"
			if _, err := s.AuthenticateRequest(basic("alice", "guess"+strconv.Itoa(i), remote)); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Basic alice, wrong password, from %s = %v, want ErrUnauthenticated", remote, err)
			}
		}
		if got := env.counter(`lookout_auth_failures_total{kind="basic"}`); got != failures+userFailureLimit {
			t.Errorf("basic failures = %d, want %d", got, failures+userFailureLimit)
		}
		limited := env.counter(`lookout_auth_rate_limited_total{kind="basic"}`)
		_, err := s.AuthenticateRequest(basic("alice", "guess again", "192.0.2.70:1000"))
		wantLimited(t, "Basic alice after 5 failures", err, failureWindow)
		if got := env.counter(`lookout_auth_rate_limited_total{kind="basic"}`); got != limited+1 {
			t.Errorf("rate limited basic = %d, want %d", got, limited+1)
		}
		_, err = s.Login(ctx, "alice", "alice password", "192.0.2.70")
		wantLimited(t, "Login(alice) after 5 failed Basic attempts", err, failureWindow)
		if p, err := s.AuthenticateRequest(basic("alice", "alice password", "192.0.2.50:1000")); err != nil || p != alice {
			t.Errorf("cached Basic alice while locked out = %+v, %v; want %+v (cache hits are not limited)", p, err, alice)
		}

		// The address comes from RemoteAddr without its port, or from the caller.
		env.clock.Advance(failureWindow)
		for i := range addrFailureLimit {
			remote := "[2001:db8::" + strconv.Itoa(i) + "]:" + strconv.Itoa(2000+i)
			if _, err := s.AuthenticateRequest(basic("guess"+strconv.Itoa(i), "password", remote)); !errors.Is(err, ErrUnauthenticated) {
				t.Fatalf("Basic from %s = %v, want ErrUnauthenticated", remote, err)
			}
		}
		_, err = s.AuthenticateRequest(basic("bob", "bob password", "[2001:db8::ff]:3000"))
		wantLimited(t, "Basic bob from the same /64 after 20 failures", err, failureWindow)
		r := basic("bob", "bob password", "[2001:db8::ff]:3000") // a proxy's address ...
		if p, err := s.AuthenticateRequestFrom(r, "192.0.2.80"); err != nil || p.Name != "bob" {
			t.Errorf("AuthenticateRequestFrom(bob, 192.0.2.80) = %+v, %v; want bob", p, err) // ... and the client's
		}
	})
}
