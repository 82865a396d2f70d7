package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"

	"github.com/lookout-dev/lookout/internal/certreload/certreloadtest"
	"github.com/lookout-dev/lookout/sdk"
)

// tlsServer is lookout serving TLS with a certificate from a CA made for
// the test.
type tlsServer struct {
	*server
	ca             *certreloadtest.CA
	certDir        string
	client         *http.Client // trusts ca, no client certificate
	certFile, keyF string
}

func startTLSServer(t *testing.T, extra ...string) *tlsServer {
	t.Helper()
	ca := certreloadtest.NewCA(t, "lookout test CA")
	certDir := t.TempDir()
	certFile, keyFile := ca.Server(t, "lookout-1").Write(t, certDir)
	args := append([]string{"--tls-cert-file", certFile, "--tls-key-file", keyFile}, extra...)
	s := startServer(t, t.TempDir(), args...)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool()}, ForceAttemptHTTP2: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &tlsServer{server: s, ca: ca, certDir: certDir, client: &http.Client{Transport: tr, Timeout: 30 * time.Second},
		certFile: certFile, keyF: keyFile}
}

// get calls the API over HTTPS as admin and decodes a 200's JSON into v.
func (s *tlsServer) get(t *testing.T, path string, v any) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+s.addr.HTTP+path, nil)
	req.SetBasicAuth("admin", e2ePassword)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode == 200 {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", path, err, b)
		}
	}
	return resp.StatusCode
}

// TestTLSEndToEnd serves every listener over TLS: the SDK sends logs,
// spans and metrics to https:// endpoints over OTLP/HTTP (trusting the CA
// through OTEL_EXPORTER_OTLP_CERTIFICATE) and OTLP/gRPC (through
// sdk.Config.TLS), and the API over HTTPS finds them.
func TestTLSEndToEnd(t *testing.T) {
	s := startTLSServer(t)
	t.Setenv("OTEL_EXPORTER_OTLP_CERTIFICATE", s.ca.WriteCA(t, t.TempDir(), "ca.pem"))
	services := map[string]sdk.Config{
		"tls-http": {Protocol: sdk.ProtocolHTTPProtobuf, Endpoint: "https://" + s.addr.OTLPHTTP},
		// The environment's CA applies to both; Config.TLS wins for gRPC.
		"tls-grpc": {Protocol: sdk.ProtocolGRPC, Endpoint: "https://" + s.addr.OTLPGRPC, TLS: &tls.Config{RootCAs: s.ca.Pool()}},
	}
	traceIDs := map[string]string{}
	for name, cfg := range services {
		cfg.ServiceName, cfg.Token, cfg.KeepGlobals = name, e2eToken, true
		tel, err := sdk.Start(context.Background(), cfg)
		if err != nil {
			t.Fatalf("%s: start sdk: %v", name, err)
		}
		ctx, span := tel.TracerProvider().Tracer("test").Start(context.Background(), "over tls")
		traceIDs[name] = span.SpanContext().TraceID().String()
		tel.Logger().InfoContext(ctx, "sent over tls")
		orders, _ := tel.MeterProvider().Meter("test").Int64Counter("tls_orders")
		orders.Add(ctx, 3)
		span.End()
		if err := tel.Shutdown(context.Background()); err != nil {
			t.Fatalf("%s: shutdown: %v", name, err)
		}
		if st := tel.Stats(); st.SpansExported != 1 || st.LogsExported == 0 || st.MetricExports == 0 || st.SpansDropped+st.LogsDropped+st.MetricExportsFailed != 0 {
			t.Fatalf("%s: stats %+v, want everything exported over TLS", name, st)
		}
	}
	for name, id := range traceIDs {
		var tr traceResponse
		eventually(t, name+"'s span", func() bool {
			return s.get(t, "/api/v1/traces/"+id, &tr) == 200 && len(tr.Spans) == 1
		})
		var lr logsResponse
		eventually(t, name+"'s log record", func() bool {
			return s.get(t, "/api/v1/logs?query=trace_id:"+id, &lr) == 200 && lr.Total == 1
		})
		q := url.Values{"query": {fmt.Sprintf(`sum(tls_orders_total{job=%q})`, name)}}
		var v promVector
		if code := s.get(t, "/api/v1/query?"+q.Encode(), &v); code != 200 || len(v.Data.Result) != 1 || v.Data.Result[0].Value[1] != "3" {
			t.Errorf("%s: %s = %d %+v, want 3", name, q.Get("query"), code, v.Data)
		}
	}
	// Plain HTTP to the HTTPS port is not served.
	if resp, err := http.Get("http://" + s.addr.HTTP + "/healthz"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == 200 {
			t.Error("plain HTTP to the TLS port answered 200")
		}
	}
}

// TestTLSUI signs in over HTTPS: the session cookie is Secure and every
// answer carries HSTS.
func TestTLSUI(t *testing.T) {
	s := startTLSServer(t)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Transport: s.client.Transport, Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	base := "https://" + s.addr.HTTP
	resp, err := c.Get(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000" {
		t.Errorf("GET /login: Strict-Transport-Security %q, want max-age=31536000", got)
	}
	u, _ := url.Parse(base + "/login")
	var csrf string
	for _, ck := range jar.Cookies(u) {
		if ck.Name == "lookout_login" {
			csrf = ck.Value
		}
	}
	if csrf == "" {
		t.Fatal("GET /login set no login cookie")
	}
	form := url.Values{"user": {"admin"}, "password": {e2ePassword}, "_csrf": {csrf}, "next": {"/"}}
	req, _ := http.NewRequest(http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST /login: %s, want 303", resp.Status)
	}
	var session *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == "lookout_session" {
			session = ck
		}
	}
	if session == nil || !session.Secure || !session.HttpOnly {
		t.Fatalf("POST /login: session cookie %v, want one that is Secure and HttpOnly", session)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got == "" {
		t.Error("POST /login: no Strict-Transport-Security")
	}
	resp, err = c.Get(base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("GET / with the session: %s, want 200", resp.Status)
	}
}

// serialAt is the serial number of the certificate a new handshake with
// addr presents.
func serialAt(addr string, ca *certreloadtest.CA, nextProto string) (string, error) {
	c, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: ca.Pool(), NextProtos: []string{nextProto}})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestTLSRotation replaces the certificate and key files while lookout
// runs: new handshakes on every port present the new certificate, without
// a restart, and connections keep working.
func TestTLSRotation(t *testing.T) {
	s := startTLSServer(t)
	ports := map[string]string{"http": s.addr.HTTP, "otlp-grpc": s.addr.OTLPGRPC, "otlp-http": s.addr.OTLPHTTP}
	first := map[string]string{}
	for name, addr := range ports {
		serial, err := serialAt(addr, s.ca, "h2")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		first[name] = serial
	}
	next := s.ca.Server(t, "lookout-2")
	next.Write(t, s.certDir)
	want := next.Cert.SerialNumber.String()
	for name, addr := range ports {
		if first[name] == want {
			t.Fatalf("%s: the first certificate has the new one's serial", name)
		}
		var got string
		eventually(t, name+" presenting the new certificate", func() bool {
			var err error
			got, err = serialAt(addr, s.ca, "h2")
			return err == nil && got == want
		})
	}
	if code := s.get(t, "/api/v1/services", nil); code != 200 {
		t.Errorf("API after rotation: %d", code)
	}
	if !strings.Contains(s.logs.String(), "tls_certificate_loaded") || !strings.Contains(s.logs.String(), "lookout-2") {
		t.Errorf("the reload is not logged:\n%s", s.logs)
	}
}

// TestTLSMutual asks OTLP senders for client certificates: without one,
// both OTLP ports refuse; with one from the client CA both accept; the UI
// port asks for none.
func TestTLSMutual(t *testing.T) {
	clientCA := certreloadtest.NewCA(t, "senders CA")
	s := startTLSServer(t, "--tls-client-ca-file", clientCA.WriteCA(t, t.TempDir(), "clients.pem"))
	good := clientCA.Client(t, "checkout").TLS(t)
	stranger := certreloadtest.NewCA(t, "other CA").Client(t, "stranger").TLS(t)

	logsSaying := func(body string) plogotlp.ExportRequest {
		ld := plog.NewLogs()
		rl := ld.ResourceLogs().AppendEmpty()
		rl.Resource().Attributes().PutStr("service.name", "mtls-sender")
		rl.ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
		return plogotlp.NewExportRequestFromLogs(ld)
	}
	postHTTP := func(cert *tls.Certificate, logs plogotlp.ExportRequest) error {
		body, err := logs.MarshalProto()
		if err != nil {
			return err
		}
		cfg := &tls.Config{RootCAs: s.ca.Pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		tr := &http.Transport{TLSClientConfig: cfg}
		defer tr.CloseIdleConnections()
		req, _ := http.NewRequest(http.MethodPost, "https://"+s.addr.OTLPHTTP+"/v1/logs", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/x-protobuf")
		req.Header.Set("Authorization", "Bearer "+e2eToken)
		resp, err := (&http.Client{Transport: tr, Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return errors.New(resp.Status)
		}
		return nil
	}
	postGRPC := func(cert *tls.Certificate, logs plogotlp.ExportRequest) error {
		cfg := &tls.Config{RootCAs: s.ca.Pool()}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		conn, err := grpc.NewClient(s.addr.OTLPGRPC, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
		if err != nil {
			return err
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+e2eToken)
		_, err = plogotlp.NewGRPCClient(conn).Export(ctx, logs)
		return err
	}
	for name, post := range map[string]func(*tls.Certificate, plogotlp.ExportRequest) error{"otlp-http": postHTTP, "otlp-grpc": postGRPC} {
		logs := logsSaying("hello over mTLS " + name)
		if err := post(nil, logs); err == nil {
			t.Errorf("%s: a sender without a client certificate was accepted", name)
		} else {
			t.Logf("%s without a certificate: %v", name, err)
		}
		if err := post(&stranger, logs); err == nil {
			t.Errorf("%s: a sender with a certificate from another CA was accepted", name)
		}
		if err := post(&good, logs); err != nil {
			t.Errorf("%s: a sender with a certificate from the client CA: %v", name, err)
		}
	}
	var lr logsResponse
	eventually(t, "both accepted records", func() bool {
		return s.get(t, "/api/v1/logs?query="+url.QueryEscape(`service:mtls-sender`), &lr) == 200 && lr.Total == 2
	})
	// The UI/API port asks browsers for no certificate.
	if code := s.get(t, "/healthz", nil); code != 200 {
		t.Errorf("GET /healthz without a client certificate: %d, want 200", code)
	}
	var metricsText bytes.Buffer
	req, _ := http.NewRequest(http.MethodGet, "https://"+s.addr.HTTP+"/metrics", nil)
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(&metricsText, resp.Body)
	resp.Body.Close()
	if !strings.Contains(metricsText.String(), "lookout_tls_certificate_expiry_timestamp_seconds") {
		t.Error("/metrics has no lookout_tls_certificate_expiry_timestamp_seconds")
	}
}

// TestDemoTLS runs lookout demo with TLS on: the demo's services trust the
// certificate the in-process lookout serves and send over https://; with
// mTLS the demo says why it cannot send instead of dropping everything.
func TestDemoTLS(t *testing.T) {
	ca := certreloadtest.NewCA(t, "demo CA")
	certFile, keyFile := ca.Server(t, "lookout-demo").Write(t, t.TempDir())
	args := []string{"demo", "--duration", "3s", "--rate", "20", "--tls-cert-file", certFile, "--tls-key-file", keyFile,
		"--http-addr", "127.0.0.1:0", "--otlp-grpc-addr", "127.0.0.1:0", "--otlp-http-addr", "127.0.0.1:0"}

	var stdout, stderr syncBuffer
	if code := run(append(args, "--data-dir", t.TempDir()), testEnv(nil), &stdout, &stderr); code != 0 {
		t.Fatalf("demo with TLS exited with %d\nstdout:\n%s\nstderr:\n%s", code, &stdout, &stderr)
	}
	out := stdout.String()
	m := parseDemoSummary(out)
	if m == nil || m[1] == "0" || m[4] == "0" || m[5] == "0" || m[6] != "0" || m[7] != "0" {
		t.Errorf("demo with TLS: want telemetry sent and none dropped:\n%s\n%s", out, &stderr)
	}
	if !strings.Contains(out, "UI        https://127.0.0.1:") {
		t.Errorf("the demo's output does not show an https:// UI address:\n%s", out)
	}

	var mstdout, mstderr syncBuffer
	clientCA := ca.WriteCA(t, t.TempDir(), "clients.pem")
	if code := run(append(args, "--data-dir", t.TempDir(), "--tls-client-ca-file", clientCA), testEnv(nil), &mstdout, &mstderr); code == 0 ||
		!strings.Contains(mstderr.String(), "no client certificate") {
		t.Errorf("demo under mTLS exited with %d, want 1 saying it has no client certificate\nstderr:\n%s", code, &mstderr)
	}
}
