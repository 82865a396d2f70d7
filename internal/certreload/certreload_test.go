package certreload_test

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/lookout-dev/lookout/internal/certreload"
	"github.com/lookout-dev/lookout/internal/certreload/certreloadtest"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func serialOf(t *testing.T, r *certreload.Reloader) string {
	t.Helper()
	c, err := r.ServerConfig().GetCertificate(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf.SerialNumber.String()
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := certreloadtest.NewCA(t, "test CA")
	a, b, c := ca.Server(t, "a"), ca.Server(t, "b"), ca.Server(t, "c")
	certFile, keyFile := a.Write(t, dir)
	clk := &clock{t: time.Unix(1e9, 0)}
	set := metrics.NewSet()
	var logs bytes.Buffer
	r, err := certreload.Open(certreload.Config{CertFile: certFile, KeyFile: keyFile}, certreload.Options{
		Logger: slog.New(slog.NewTextHandler(&logs, nil)), Metrics: set, Now: clk.now,
	})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := serialOf(t, r), a.Cert.SerialNumber.String(); got != want {
		t.Fatalf("serial %s, want the first pair's %s", got, want)
	}

	b.Write(t, dir)
	if got, want := serialOf(t, r), a.Cert.SerialNumber.String(); got != want {
		t.Errorf("within the check interval: serial %s, want still %s", got, want)
	}
	clk.add(time.Second)
	if got, want := serialOf(t, r), b.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after the interval: serial %s, want the new pair's %s", got, want)
	}

	// A key that does not match keeps b serving, logged once and counted.
	if err := os.WriteFile(keyFile, c.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		clk.add(time.Second)
		if got, want := serialOf(t, r), b.Cert.SerialNumber.String(); got != want {
			t.Fatalf("after a bad pair: serial %s, want the last good %s", got, want)
		}
	}
	if n := strings.Count(logs.String(), "tls_certificate_reload"); n != 1 {
		t.Errorf("bad pair logged %d times, want once:\n%s", n, logs.String())
	}
	if got := set.GetOrCreateCounter("lookout_tls_reload_errors_total").Get(); got != 1 {
		t.Errorf("lookout_tls_reload_errors_total = %d, want 1", got)
	}

	// The certificate to match arrives: c serves.
	c.Write(t, dir)
	clk.add(time.Second)
	if got, want := serialOf(t, r), c.Cert.SerialNumber.String(); got != want {
		t.Fatalf("after the pair was completed: serial %s, want %s", got, want)
	}
	if got := set.GetOrCreateCounter("lookout_tls_reloads_total").Get(); got != 2 {
		t.Errorf("lookout_tls_reloads_total = %d, want 2", got)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	ca := certreloadtest.NewCA(t, "test CA")
	a, b := ca.Server(t, "a"), ca.Server(t, "b")
	certFile, keyFile := a.Write(t, dir)
	mismatched := filepath.Join(dir, "b-key.pem")
	if err := os.WriteFile(mismatched, b.KeyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "not.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		cfg  certreload.Config
		want string
	}{
		{"cert only", certreload.Config{CertFile: certFile}, "set together"},
		{"missing key", certreload.Config{CertFile: certFile, KeyFile: filepath.Join(dir, "nope.pem")}, "nope.pem"},
		{"mismatched key", certreload.Config{CertFile: certFile, KeyFile: mismatched}, "b-key.pem"},
		{"client CA not PEM", certreload.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: notPEM}, "no PEM certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := certreload.Open(tc.cfg, certreload.Options{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open(%+v) = %v, want an error saying %q", tc.cfg, err, tc.want)
			}
		})
	}
}

// handshake connects to ln with cert (none when nil) trusting ca, and
// returns the handshake's error.
func handshake(t *testing.T, addr string, ca *certreloadtest.CA, cert *tls.Certificate) error {
	t.Helper()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "localhost"}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	// TLS 1.3 reports a refused client certificate on the first read.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	return err
}

func TestMutualReloadsClientCA(t *testing.T) {
	dir := t.TempDir()
	serverCA := certreloadtest.NewCA(t, "server CA")
	oldCA, newCA := certreloadtest.NewCA(t, "old client CA"), certreloadtest.NewCA(t, "new client CA")
	certFile, keyFile := serverCA.Server(t, "lookout").Write(t, dir)
	caFile := oldCA.WriteCA(t, dir, "clients.pem")
	clk := &clock{t: time.Unix(1e9, 0)}
	r, err := certreload.Open(certreload.Config{CertFile: certFile, KeyFile: keyFile, ClientCAFile: caFile}, certreload.Options{Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", r.MutualConfig())
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	defer wg.Wait()
	defer ln.Close()
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("k"))
				}
			})
		}
	})
	addr := ln.Addr().String()
	oldClient, newClient := oldCA.Client(t, "old").TLS(t), newCA.Client(t, "new").TLS(t)

	if err := handshake(t, addr, serverCA, nil); err == nil {
		t.Error("a client without a certificate was let in")
	}
	if err := handshake(t, addr, serverCA, &oldClient); err != nil {
		t.Errorf("a client of the client CA was refused: %v", err)
	}
	if err := handshake(t, addr, serverCA, &newClient); err == nil {
		t.Error("a client of another CA was let in")
	}

	newCA.WriteCA(t, dir, "clients.pem")
	clk.add(time.Second)
	if err := handshake(t, addr, serverCA, &newClient); err != nil {
		t.Errorf("after the client CA file changed, a client of the new CA was refused: %v", err)
	}
	if err := handshake(t, addr, serverCA, &oldClient); err == nil {
		t.Error("after the client CA file changed, a client of the old CA was let in")
	}
}
