package web

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

func TestSafeNext(t *testing.T) {
	f := func(next, want string) {
		t.Helper()
		if got := safeNext(next); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", next, got, want)
		}
	}
	f("", "/")
	f("/logs?query=error", "/logs?query=error")
	f("/traces/abc#span-1", "/traces/abc#span-1")
	f("/static/", "/static/")
	f("//evil.example/x", "/")
	f("/\\evil.example", "/")
	f("/./\\evil.example/x", "/")
	f("/a/../\\evil.example", "/")
	f("https://evil.example/", "/")
	f("javascript:alert(1)", "/")
	f("/%2F%2Fevil.example", "/evil.example")
	f("/a/../../etc", "/etc")
	f("/x\r\nSet-Cookie: a=b", "/")
	f("relative", "/")
}

// FuzzSafeNext checks that wherever next points, the redirect the login
// page sends stays on this host.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/", "/logs?q=1", "//evil", "/\\evil", "/./\\evil", "/%2e%2e/x", "/a/..//evil", "http://x", "/\t/evil"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, next string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("GET", "http://lookout.test/login", nil)
		http.Redirect(w, r, safeNext(next), http.StatusSeeOther)
		loc := w.Header().Get("Location")
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatalf("next %q: Location %q does not parse: %v", next, loc, err)
		}
		target := r.URL.ResolveReference(u)
		if target.Host != "lookout.test" || target.Scheme != "http" {
			t.Fatalf("next %q: Location %q leaves the host (%s)", next, loc, target)
		}
		for _, c := range loc {
			if c == '\\' || c < 0x20 {
				t.Fatalf("next %q: Location %q has %q, which browsers may read as a slash or split on", next, loc, c)
			}
		}
		if len(loc) > 1 && loc[0] == '/' && loc[1] == '/' {
			t.Fatalf("next %q: Location %q is protocol-relative", next, loc)
		}
	})
}
