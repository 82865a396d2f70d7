package web

import (
	"net/http/httptest"
	"net/netip"
	"testing"
)

func TestClientAddr(t *testing.T) {
	h := &Handler{opts: Options{TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.0.2.7/32"),
	}}}
	f := func(remote, xff, want string) {
		t.Helper()
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = remote
		if xff != "" {
			r.Header.Set("X-Forwarded-For", xff)
		}
		if got := h.clientAddr(r); got != want {
			t.Errorf("peer %s, X-Forwarded-For %q: client %s, want %s", remote, xff, got, want)
		}
	}
	// Not from a trusted proxy: the header is the client's own claim.
	f("203.0.113.9:5000", "198.51.100.1", "203.0.113.9")
	// Through one trusted proxy.
	f("10.1.2.3:443", "198.51.100.1", "198.51.100.1")
	// A client that forges the header: its forged entry is to the left of
	// what the proxy added, so it is not reached.
	f("10.1.2.3:443", "6.6.6.6, 198.51.100.1", "198.51.100.1")
	// Through two trusted proxies.
	f("192.0.2.7:443", "198.51.100.1, 10.9.9.9", "198.51.100.1")
	// A trusted proxy that added nothing, or only trusted hops.
	f("10.1.2.3:443", "", "10.1.2.3")
	f("10.1.2.3:443", "10.0.0.5", "10.0.0.5")
	// A malformed list counts against the proxy.
	f("10.1.2.3:443", "198.51.100.1, not-an-ip", "10.1.2.3")
	// IPv4 in IPv6 form is the same proxy.
	f("[::ffff:10.1.2.3]:443", "198.51.100.1", "198.51.100.1")
}
