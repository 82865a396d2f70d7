package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "lookout.yaml")
	os.WriteFile(file, []byte("data_dir: /from/file\nhttp_addr: :1111\nretention_logs: 3d\nlog_format: text\nmax_request_size: 8MiB\nmax_memory: 512MiB\n"), 0o600)
	env := map[string]string{
		"LOOKOUT_CONFIG":         file,
		"LOOKOUT_HTTP_ADDR":      ":2222",
		"LOOKOUT_OTLP_GRPC_ADDR": ":3333",
		"LOOKOUT_RETENTION_LOGS": "36h",
	}
	getenv := func(k string) string { return env[k] }
	c, err := loadConfig("serve", []string{"--otlp-grpc-addr", ":4444"}, getenv, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	f := func(name string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	f("data dir (file over default)", c.DataDir, "/from/file")
	f("http addr (env over file)", c.HTTPAddr, ":2222")
	f("grpc addr (flag over env)", c.OTLPGRPCAddr, ":4444")
	f("otlp http (default)", c.OTLPHTTPAddr, ":4318")
	f("logs retention (env over file)", time.Duration(c.RetLogs), 36*time.Hour)
	f("traces retention (default)", time.Duration(c.RetTraces), 7*24*time.Hour)
	f("log format (file)", c.LogFormat, "text")
	f("max request (file, units)", int64(c.MaxRequestSize), int64(8<<20))
	f("max memory (file)", int64(c.MaxMemory), int64(512<<20))
	f("max inflight (default: a share of max memory)", int64(c.MaxInflight), int64(0))
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(body), 0o600)
		return p
	}
	cases := []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"unknown key has file and line", []string{"--config", write("a.yaml", "http_addr: :1\nretention: 7d\n")}, nil, "a.yaml:2: field retention not found"},
		{"bad duration has line", []string{"--config", write("b.yaml", "\n\nretention_traces: forever\n")}, nil, "b.yaml:3:"},
		{"bad flag value", []string{"--retention-logs", "soon"}, nil, `"soon" is not a duration`},
		{"bad env value", nil, map[string]string{"LOOKOUT_MAX_REQUEST_SIZE": "huge"}, "LOOKOUT_MAX_REQUEST_SIZE"},
		{"short retention", []string{"--retention-logs", "5m"}, nil, "shorter than 1h"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "log-level"},
		{"bad trusted proxy", nil, map[string]string{"LOOKOUT_TRUSTED_PROXIES": "10.0.0.0/8, proxy.local"}, `trusted-proxies: "proxy.local" is not an address or a CIDR range`},
		{"missing file", []string{"--config", filepath.Join(dir, "missing.yaml")}, nil, "read config"},
		{"stray argument", []string{"extra"}, nil, "unexpected argument"},
		{"tls cert without key", []string{"--tls-cert-file", "cert.pem"}, nil, "tls-cert-file and tls-key-file must be set together"},
		{"tls key without cert (env)", nil, map[string]string{"LOOKOUT_TLS_KEY_FILE": "key.pem"}, "tls-cert-file and tls-key-file must be set together"},
		{"tls client CA without cert (file)", []string{"--config", write("c.yaml", "tls_client_ca_file: ca.pem\n")}, nil, "tls-client-ca-file needs tls-cert-file"},
		// A secret that auth would refuse at start names its variable and
		// what it needs, never its value.
		{"short admin password", nil, map[string]string{"LOOKOUT_ADMIN_PASSWORD": "hunter2"}, "LOOKOUT_ADMIN_PASSWORD is shorter than 8 characters"},
		{"short ingest token", nil, map[string]string{"LOOKOUT_INGEST_TOKEN": "s3cr3t"}, "LOOKOUT_INGEST_TOKEN is shorter than 16 characters"},
		{"ingest token with a space", nil, map[string]string{"LOOKOUT_INGEST_TOKEN": "0123456789 abcdef"}, "LOOKOUT_INGEST_TOKEN: invalid argument: ingest token must be printable ASCII without spaces"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := loadConfig("check-config", c.args, func(k string) string { return c.env[k] }, io.Discard)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("loadConfig(%v) error = %v, want it to contain %q", c.args, err, c.want)
			}
			for _, secret := range []string{"hunter2", "s3cr3t", "0123456789 abcdef"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("loadConfig error %q shows the secret", err)
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.yaml")
	os.WriteFile(good, []byte("retention_logs: 14d\n"), 0o600)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("retention_logs: 14d\nnope: 1\n"), 0o600)
	cases := []struct {
		args     []string
		wantCode int
		wantOut  string
	}{
		{[]string{"version"}, 0, "lookout "},
		{[]string{"check-config", "--config", good}, 0, "configuration is valid"},
		{[]string{"check-config", "--config", bad}, 1, "bad.yaml:2: field nope not found"},
		{[]string{"check-config", "--tls-cert-file", filepath.Join(dir, "missing.pem"), "--tls-key-file", good}, 1, "missing.pem"},
		{[]string{"frobnicate"}, 2, "unknown command"},
		{[]string{"token", "create", "--data-dir", dir, "--role", "viewer", "--name", "grafana"}, 0, "lk_"},
		{[]string{"token", "create", "--data-dir", dir, "--role", "root"}, 2, "unknown role"},
		{[]string{"token", "list", "--data-dir", dir}, 0, "grafana"},
		{[]string{"token", "revoke", "--data-dir", dir, "--name", "grafana"}, 0, "revoked"},
	}
	for _, c := range cases {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			var out bytes.Buffer
			code := run(c.args, func(string) string { return "" }, &out, &out)
			if code != c.wantCode || !strings.Contains(out.String(), c.wantOut) {
				t.Fatalf("lookout %v = %d %q, want %d containing %q", c.args, code, out.String(), c.wantCode, c.wantOut)
			}
		})
	}
}
