package auth

import (
	"container/list"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Sign-in rate limits: failed password verifications counted per user name and per client address
// over a sliding window. The per-user limit stops guessing one account's password from many
// addresses; the per-address limit stops one client spraying guesses over many accounts.
const (
	userFailureLimit = 5
	addrFailureLimit = 20
	failureWindow    = 15 * time.Minute
	limitTableSize   = 10_000 // keys per table; two tables (users, addresses)
	maxAddrKeyLen    = 64     // an address that does not parse is cut to this many bytes
)

// RateLimitError is the error Login and HTTP Basic authentication return while a user name or a
// client address is locked out. errors.Is(err, ErrRateLimited) reports it; errors.As finds it for
// RetryAfter, which a web layer sends as Retry-After (rounded up to whole seconds).
type RateLimitError struct {
	// RetryAfter is how long until an attempt will be allowed again, if no other fails meanwhile.
	RetryAfter time.Duration
	scope      string // "for this user name" or "from this address"
}

// Error says what was limited and when to retry, without naming the user or the address.
func (e *RateLimitError) Error() string {
	secs := (e.RetryAfter + time.Second - 1) / time.Second
	scope := e.scope
	if scope == "" {
		scope = "recently"
	}
	return fmt.Sprintf("%v: too many failed sign-ins %s; try again in %v", ErrRateLimited, scope, secs*time.Second)
}

// Unwrap returns ErrRateLimited.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// loginLimiter counts failed sign-ins per user name and per client address. An attempt is counted
// when it starts (begin), not when it has failed: otherwise a burst of concurrent attempts would all
// pass the check before the first failure was recorded. A success then takes its count back.
type loginLimiter struct {
	mu    sync.Mutex
	users *limitTable
	addrs *limitTable
}

func newLoginLimiter() *loginLimiter {
	return &loginLimiter{
		users: newLimitTable(userFailureLimit, failureWindow, limitTableSize),
		addrs: newLimitTable(addrFailureLimit, failureWindow, limitTableSize),
	}
}

// attempt is one counted sign-in, to be settled with done.
type attempt struct {
	user, addr string // table keys; addr is empty when the address is unknown
	at         time.Time
}

// begin counts an attempt by user from addr at now, or, if either is locked out, counts nothing and
// returns a *RateLimitError with the longer wait.
func (l *loginLimiter) begin(user, addr string, now time.Time) (attempt, error) {
	a := attempt{user: userKey(user), addr: addrKey(addr), at: now}
	l.mu.Lock()
	defer l.mu.Unlock()
	var err *RateLimitError
	if d := l.users.retryAfter(a.user, now); d > 0 {
		err = &RateLimitError{RetryAfter: d, scope: "for this user name"}
	}
	if a.addr != "" {
		if d := l.addrs.retryAfter(a.addr, now); d > 0 && (err == nil || d > err.RetryAfter) {
			err = &RateLimitError{RetryAfter: d, scope: "from this address"}
		}
	}
	if err != nil {
		return attempt{}, err
	}
	l.users.add(a.user, now)
	if a.addr != "" {
		l.addrs.add(a.addr, now)
	}
	return a, nil
}

// done settles an attempt with the result of the verification: a failure (ErrUnauthenticated)
// stays counted; a success clears the user's failures and takes back the attempt from the address
// (whose other failures stay); any other error (meta.db could not answer, the context ended) says
// nothing about the password, so the attempt is taken back from both.
func (l *loginLimiter) done(a attempt, err error) {
	if errors.Is(err, ErrUnauthenticated) {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if err == nil {
		l.users.reset(a.user)
	} else {
		l.users.remove(a.user, a.at)
	}
	if a.addr != "" {
		l.addrs.remove(a.addr, a.at)
	}
}

// resetUser forgets the failures of user, for an administrator who has just set a new password.
func (l *loginLimiter) resetUser(user string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.users.reset(userKey(user))
}

// userKey bounds the memory a user name takes. No stored user has a name longer than maxNameLen,
// so names past that share one counter, which only slows whoever sends them.
func userKey(user string) string {
	if len(user) > maxNameLen {
		return user[:maxNameLen+1]
	}
	return user
}

// addrKey normalises a client address: the port, if any, is dropped, an IPv4-mapped IPv6 address
// counts as IPv4, and IPv6 addresses count per /64, since one host commonly holds a whole /64. A
// string that is not an address is used as it is, cut to maxAddrKeyLen bytes; an empty one means
// the address is unknown and only the per-user limit applies.
func addrKey(addr string) string {
	addr = strings.TrimSpace(addr)
	if addr == "" {
		return ""
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		ap, err2 := netip.ParseAddrPort(addr)
		if err2 != nil {
			if len(addr) > maxAddrKeyLen {
				addr = addr[:maxAddrKeyLen]
			}
			return addr
		}
		ip = ap.Addr()
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is4() {
		return ip.String()
	}
	p, _ := ip.Prefix(64) // cannot fail for an IPv6 address and 64
	return p.String()
}

// limitTable keeps, per key, the times of its most recent failures within a window: at most limit
// of them, for at most size keys. When it is full, keys whose failures have all left the window go
// first, then the key whose last failure is oldest.
type limitTable struct {
	limit  int
	window time.Duration
	size   int
	m      map[string]*list.Element // of *limitEntry
	lru    list.List                // *limitEntry, oldest last failure first
}

type limitEntry struct {
	key   string
	fails []time.Time // ascending, within the window, at most limit
}

func newLimitTable(limit int, window time.Duration, size int) *limitTable {
	return &limitTable{limit: limit, window: window, size: size, m: make(map[string]*list.Element)}
}

// retryAfter returns how long key stays locked out, or 0 if an attempt may go ahead.
func (t *limitTable) retryAfter(key string, now time.Time) time.Duration {
	el, ok := t.m[key]
	if !ok {
		return 0
	}
	e := el.Value.(*limitEntry)
	t.prune(e, now)
	if len(e.fails) == 0 {
		t.delete(el)
		return 0
	}
	if len(e.fails) < t.limit {
		return 0
	}
	return e.fails[0].Add(t.window).Sub(now)
}

// add records a failure of key at now.
func (t *limitTable) add(key string, now time.Time) {
	el, ok := t.m[key]
	if !ok {
		t.makeRoom(now)
		el = t.lru.PushBack(&limitEntry{key: key, fails: make([]time.Time, 0, 1)})
		t.m[key] = el
	}
	e := el.Value.(*limitEntry)
	t.prune(e, now)
	if len(e.fails) == t.limit {
		e.fails = append(e.fails[:0], e.fails[1:]...)
	}
	e.fails = append(e.fails, now)
	t.lru.MoveToBack(el)
}

// remove takes back one failure of key recorded at at, if it is still there.
func (t *limitTable) remove(key string, at time.Time) {
	el, ok := t.m[key]
	if !ok {
		return
	}
	e := el.Value.(*limitEntry)
	for i := len(e.fails) - 1; i >= 0; i-- {
		if e.fails[i].Equal(at) {
			e.fails = append(e.fails[:i], e.fails[i+1:]...)
			break
		}
	}
	if len(e.fails) == 0 {
		t.delete(el)
	}
}

func (t *limitTable) reset(key string) {
	if el, ok := t.m[key]; ok {
		t.delete(el)
	}
}

// makeRoom ensures there is room for one more key. The list is ordered by last failure, so keys
// whose failures have all left the window are at its front; they go first, then, if the table is
// still full, the key whose last failure is oldest. Both loops stop at the first key they keep, so
// the work is bounded by what is deleted.
func (t *limitTable) makeRoom(now time.Time) {
	for el := t.lru.Front(); el != nil; el = t.lru.Front() {
		e := el.Value.(*limitEntry)
		if len(e.fails) > 0 && now.Sub(e.fails[len(e.fails)-1]) < t.window {
			break
		}
		t.delete(el)
	}
	for t.lru.Len() > 0 && t.lru.Len() >= t.size {
		t.delete(t.lru.Front())
	}
}

// prune drops failures that have left the window.
func (t *limitTable) prune(e *limitEntry, now time.Time) {
	i := 0
	for i < len(e.fails) && now.Sub(e.fails[i]) >= t.window {
		i++
	}
	if i > 0 {
		e.fails = append(e.fails[:0], e.fails[i:]...)
	}
}

func (t *limitTable) delete(el *list.Element) {
	delete(t.m, el.Value.(*limitEntry).key)
	t.lru.Remove(el)
}

func (t *limitTable) len() int { return len(t.m) }
