package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lookout-dev/lookout/internal/certreload/certreloadtest"
)

func TestHealthcheckURL(t *testing.T) {
	f := func(addr, want string) {
		t.Helper()
		got, err := healthcheckURL(config{HTTPAddr: addr})
		if err != nil {
			got = "error: " + err.Error()
		}
		if !strings.HasPrefix(got, want) {
			t.Errorf("healthcheckURL(%q) = %q, want %q", addr, got, want)
		}
	}
	f(":8080", "http://127.0.0.1:8080/readyz")
	f("0.0.0.0:8080", "http://127.0.0.1:8080/readyz")
	f("[::]:9000", "http://127.0.0.1:9000/readyz")
	f("10.1.2.3:8080", "http://10.1.2.3:8080/readyz")
	f("[::1]:8080", "http://[::1]:8080/readyz")
	f("lookout.internal:80", "http://lookout.internal:80/readyz")
	f("127.0.0.1:0", "error: http-addr \"127.0.0.1:0\" has no fixed port")
	f("8080", "error: http-addr \"8080\"")
}

// TestHealthcheck runs "lookout healthcheck" against a real lookout, found
// by the flag and by the environment as serve finds its address, and
// against servers that are not ready, absent or too slow.
func TestHealthcheck(t *testing.T) {
	s := startServer(t, t.TempDir())
	_, port, _ := strings.Cut(s.addr.HTTP, ":")

	notReady := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte(`{"status":"not ready","reasons":{"disk":"full"}}`))
	}))
	defer notReady.Close()
	hang := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-hang:
		}
	}))
	defer slow.Close()
	defer close(hang)

	cases := []struct {
		name     string
		args     []string
		env      map[string]string
		wantCode int
		wantOut  string
	}{
		{"ready by flag", []string{"--http-addr", s.addr.HTTP}, nil, 0, "ready"},
		{"ready by environment, wildcard host", nil, map[string]string{"LOOKOUT_HTTP_ADDR": ":" + port}, 0, "ready"},
		{"not ready", []string{"--http-addr", notReady.Listener.Addr().String()}, nil, 1, `answered 503: {"status":"not ready","reasons":{"disk":"full"}}`},
		{"nothing listening", []string{"--http-addr", unusedAddr(t)}, nil, 1, "connection refused"},
		{"too slow", []string{"--http-addr", slow.Listener.Addr().String(), "--timeout", "200ms"}, nil, 1, "deadline exceeded"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var out bytes.Buffer
			start := time.Now()
			code := run(append([]string{"healthcheck"}, c.args...), testEnv(c.env), &out, &out)
			if code != c.wantCode || !strings.Contains(out.String(), c.wantOut) {
				t.Fatalf("lookout healthcheck %v (env %v) = %d %q after %v, want %d containing %q",
					c.args, c.env, code, out.String(), time.Since(start), c.wantCode, c.wantOut)
			}
		})
	}
}

// Over TLS the healthcheck asks https:// and trusts the certificate the
// local lookout serves, whoever issued it.
func TestHealthcheckTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := certreloadtest.NewCA(t, "test CA").Server(t, "localhost").Write(t, dir)
	s := startServer(t, t.TempDir(), "--tls-cert-file", cert, "--tls-key-file", key)
	var out bytes.Buffer
	if code := run([]string{"healthcheck", "--http-addr", s.addr.HTTP, "--tls-cert-file", cert, "--tls-key-file", key}, testEnv(nil), &out, &out); code != 0 || !strings.Contains(out.String(), "ready") {
		t.Fatalf("healthcheck over TLS = %d %q, want 0 ready", code, out.String())
	}
	out.Reset()
	if code := run([]string{"healthcheck", "--http-addr", s.addr.HTTP}, testEnv(nil), &out, &out); code == 0 {
		t.Fatalf("healthcheck over plain HTTP against TLS = 0 %q, want a failure", out.String())
	}
}
