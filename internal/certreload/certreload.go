// Package certreload serves lookout's TLS certificate from files that are
// replaced while it runs, as certbot and cert-manager replace them, and
// the client CA that OTLP senders' certificates are checked against.
//
// Nothing runs in the background: a handshake looks at the files' size
// and modification time, at most once per check interval (one second), and
// reads them only when those changed. A pair that does not load (the
// certificate written, its key not yet) keeps the last good one serving;
// it is logged once and counted, and the next change is tried again. So
// there is no goroutine to stop and nothing to close.
package certreload

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
)

// Config is what a user sets: PEM files.
type Config struct {
	// CertFile holds the certificate and any intermediates, leaf first;
	// KeyFile its private key.
	CertFile, KeyFile string
	// ClientCAFile, when set, holds the CAs whose client certificates
	// MutualConfig requires.
	ClientCAFile string
}

// Validate reports what is wrong with c.
func (c Config) Validate() error {
	if c.CertFile == "" || c.KeyFile == "" {
		return errors.New("tls-cert-file and tls-key-file must be set together")
	}
	return nil
}

// Options is what code sets.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// CheckInterval is the least time between two looks at the files;
	// one second when zero.
	CheckInterval time.Duration
}

// Reloader holds the current certificate and client CAs.
type Reloader struct {
	cfg      Config
	log      *slog.Logger
	now      func() time.Time
	interval time.Duration

	reloads, failures *metrics.Counter

	cert atomic.Pointer[tls.Certificate]
	cas  atomic.Pointer[x509.CertPool]
	// next is when the files may be looked at again (Unix nanoseconds).
	next atomic.Int64

	mu sync.Mutex // one check at a time; guards the fields below
	// What was last tried, loaded or not: a failed pair is not tried (or
	// logged) again until a file changes.
	certStat, keyStat, caStat fileStat
	certPEM, keyPEM, caPEM    []byte
}

// fileStat is what tells a replaced file without reading it.
type fileStat struct {
	size, mod int64
}

// Open loads the files; an error names the file and what is wrong with it.
func Open(cfg Config, opts Options) (*Reloader, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CheckInterval <= 0 {
		opts.CheckInterval = time.Second
	}
	r := &Reloader{
		cfg:      cfg,
		log:      opts.Logger,
		now:      opts.Now,
		interval: opts.CheckInterval,
		reloads:  opts.Metrics.GetOrCreateCounter("lookout_tls_reloads_total"),
		failures: opts.Metrics.GetOrCreateCounter("lookout_tls_reload_errors_total"),
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.loadPair(true); err != nil {
		return nil, err
	}
	if cfg.ClientCAFile != "" {
		if err := r.loadCAs(true); err != nil {
			return nil, err
		}
	}
	r.next.Store(r.now().Add(r.interval).UnixNano())
	opts.Metrics.GetOrCreateGauge("lookout_tls_certificate_expiry_timestamp_seconds", func() float64 {
		if leaf := r.cert.Load().Leaf; leaf != nil {
			return float64(leaf.NotAfter.Unix())
		}
		return 0
	})
	return r, nil
}

// ServerConfig serves the current certificate: TLS 1.2 or newer, HTTP/2
// or HTTP/1.1 by ALPN (gRPC needs h2).
func (r *Reloader) ServerConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.certificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// MutualConfig is ServerConfig that, with a client CA file configured,
// refuses a client without a certificate signed by one of its CAs. The CA
// file is reloaded as the certificate is.
func (r *Reloader) MutualConfig() *tls.Config {
	c := r.ServerConfig()
	if r.cfg.ClientCAFile == "" {
		return c
	}
	c.ClientAuth = tls.RequireAndVerifyClientCert
	c.ClientCAs = r.cas.Load()
	base := c.Clone()
	c.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		r.maybeCheck()
		per := base.Clone()
		per.ClientCAs = r.cas.Load()
		return per, nil
	}
	return c
}

// Certificate is the certificate served now.
func (r *Reloader) Certificate() *tls.Certificate { return r.cert.Load() }

func (r *Reloader) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeCheck()
	return r.cert.Load(), nil
}

// maybeCheck looks at the files if the interval has passed. A handshake
// that finds another one checking goes on with the current certificate.
func (r *Reloader) maybeCheck() {
	now := r.now()
	if now.UnixNano() < r.next.Load() || !r.mu.TryLock() {
		return
	}
	defer r.mu.Unlock()
	if now.UnixNano() < r.next.Load() {
		return
	}
	r.next.Store(now.Add(r.interval).UnixNano())
	if err := r.loadPair(false); err != nil {
		r.fail("tls_certificate_reload", err)
	}
	if r.cfg.ClientCAFile != "" {
		if err := r.loadCAs(false); err != nil {
			r.fail("tls_client_ca_reload", err)
		}
	}
}

// fail logs a file that did not load, once per change of the files (it is
// not tried again until they change), and counts it.
func (r *Reloader) fail(msg string, err error) {
	r.failures.Inc()
	r.log.Error(msg, "err", err)
}

// loadPair loads the certificate and key if either changed since the last
// try (always, at start). Called with mu held.
func (r *Reloader) loadPair(start bool) error {
	cs, cerr := stat(r.cfg.CertFile)
	ks, kerr := stat(r.cfg.KeyFile)
	if err := errors.Join(cerr, kerr); err != nil {
		if !start && cs == r.certStat && ks == r.keyStat {
			return nil // still missing: said already
		}
		r.certStat, r.keyStat = cs, ks
		return err
	}
	if !start && cs == r.certStat && ks == r.keyStat {
		return nil
	}
	r.certStat, r.keyStat = cs, ks
	certPEM, err := os.ReadFile(r.cfg.CertFile)
	if err != nil {
		return fmt.Errorf("read TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(r.cfg.KeyFile)
	if err != nil {
		return fmt.Errorf("read TLS key: %w", err)
	}
	if !start && bytes.Equal(certPEM, r.certPEM) && bytes.Equal(keyPEM, r.keyPEM) {
		return nil // touched, not changed
	}
	r.certPEM, r.keyPEM = certPEM, keyPEM
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("load TLS certificate %q and key %q: %w", r.cfg.CertFile, r.cfg.KeyFile, err)
	}
	r.cert.Store(&cert)
	if !start {
		r.reloads.Inc()
	}
	leaf := cert.Leaf
	r.log.Info("tls_certificate_loaded", "file", r.cfg.CertFile, "subject", leaf.Subject.String(),
		"dns_names", leaf.DNSNames, "serial", leaf.SerialNumber.String(), "not_after", leaf.NotAfter.UTC())
	if r.now().After(leaf.NotAfter) {
		r.log.Warn("tls_certificate_expired", "file", r.cfg.CertFile, "not_after", leaf.NotAfter.UTC())
	}
	return nil
}

// loadCAs loads the client CA file if it changed since the last try.
// Called with mu held.
func (r *Reloader) loadCAs(start bool) error {
	s, err := stat(r.cfg.ClientCAFile)
	if !start && s == r.caStat {
		return nil
	}
	r.caStat = s
	if err != nil {
		return err
	}
	b, err := os.ReadFile(r.cfg.ClientCAFile)
	if err != nil {
		return fmt.Errorf("read TLS client CA file: %w", err)
	}
	if !start && bytes.Equal(b, r.caPEM) {
		return nil
	}
	r.caPEM = b
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return fmt.Errorf("TLS client CA file %q holds no PEM certificate", r.cfg.ClientCAFile)
	}
	r.cas.Store(pool)
	if !start {
		r.reloads.Inc()
	}
	r.log.Info("tls_client_ca_loaded", "file", r.cfg.ClientCAFile)
	return nil
}

func stat(path string) (fileStat, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStat{}, fmt.Errorf("TLS file: %w", err)
	}
	return fileStat{size: fi.Size(), mod: fi.ModTime().UnixNano()}, nil
}
