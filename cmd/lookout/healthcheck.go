package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// healthcheckCmd runs "lookout healthcheck": it asks the lookout serving
// on this host, found through the same --http-addr / LOOKOUT_HTTP_ADDR
// (and config file) as serve reads, for /readyz, and exits 0 only on a 200.
// It is the Docker image's HEALTHCHECK, which has no shell or curl to run.
func healthcheckCmd(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	timeout := 3 * time.Second
	cfg, err := loadConfig("healthcheck", args, getenv, stderr, func(fs *flag.FlagSet) {
		fs.DurationVar(&timeout, "timeout", timeout, "healthcheck only: how long to wait for the answer")
	})
	if err != nil {
		return configError(stderr, err)
	}
	u, err := healthcheckURL(cfg)
	if err != nil {
		fmt.Fprintf(stderr, "lookout healthcheck: %v\n", err)
		return 1
	}
	// Over TLS, the certificate lookout serves is trusted as it is: the
	// server asked is this host's own.
	var tlsConf *tls.Config
	if cfg.TLSCertFile != "" {
		if tlsConf, err = localTLS(cfg); err != nil {
			fmt.Fprintf(stderr, "lookout healthcheck: %v\n", err)
			return 1
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	status, body, err := getReady(ctx, u, tlsConf)
	if err != nil {
		fmt.Fprintf(stderr, "lookout healthcheck: %v\n", err)
		return 1
	}
	if status != http.StatusOK {
		// /readyz's body names what is not ready; Docker keeps it in the
		// container's health log.
		fmt.Fprintf(stderr, "lookout healthcheck: %s answered %d: %s\n", u, status, body)
		return 1
	}
	fmt.Fprintln(stdout, "ready")
	return 0
}

// healthcheckURL is the /readyz address of the lookout listening on
// cfg.HTTPAddr from this host: a wildcard or empty host is asked on
// loopback.
func healthcheckURL(cfg config) (string, error) {
	host, port, err := net.SplitHostPort(cfg.HTTPAddr)
	if err != nil {
		return "", fmt.Errorf("http-addr %q: %w", cfg.HTTPAddr, err)
	}
	if port == "" || port == "0" {
		return "", fmt.Errorf("http-addr %q has no fixed port to ask", cfg.HTTPAddr)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		// The wildcard listeners Go opens for "" and "::" take IPv4 too.
		host = "127.0.0.1"
	}
	scheme := "http"
	if cfg.TLSCertFile != "" {
		scheme = "https"
	}
	u := url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port), Path: "/readyz"}
	return u.String(), nil
}

// getReady asks u once, bypassing any HTTP proxy in the environment: the
// server is local.
func getReady(ctx context.Context, u string, tlsConf *tls.Config) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", err
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true, TLSClientConfig: tlsConf}}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}
