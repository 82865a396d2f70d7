package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/VictoriaMetrics/metrics"

	"github.com/lookout-dev/lookout/internal/private"
	"github.com/lookout-dev/lookout/internal/sqlitex"
)

// Role is what a principal may do. Viewer, editor and admin form a ladder; ingest stands apart and
// only lets its holder send telemetry.
type Role string

// The roles lookout knows.
const (
	RoleViewer Role = "viewer"
	RoleEditor Role = "editor"
	RoleAdmin  Role = "admin"
	RoleIngest Role = "ingest"
)

// ParseRole returns the Role named by s (case-insensitive), or an error wrapping ErrInvalid.
func ParseRole(s string) (Role, error) {
	r := Role(strings.ToLower(strings.TrimSpace(s)))
	if !r.valid() {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, editor, admin or ingest)", ErrInvalid, s)
	}
	return r, nil
}

// Allows reports whether a principal holding r may do what needs role need: admin includes editor,
// which includes viewer; ingest allows only ingest, and no other role allows ingest.
func (r Role) Allows(need Role) bool {
	if r == RoleIngest || need == RoleIngest {
		return r == need
	}
	return r.rank() > 0 && need.rank() > 0 && r.rank() >= need.rank()
}

func (r Role) rank() int {
	switch r {
	case RoleViewer:
		return 1
	case RoleEditor:
		return 2
	case RoleAdmin:
		return 3
	}
	return 0
}

func (r Role) valid() bool { return r == RoleIngest || r.rank() > 0 }

// Principal is who a request acts as.
type Principal struct {
	Kind string // KindUser or KindToken
	Name string // user name or token name
	Role Role
}

// Principal kinds.
const (
	KindUser  = "user"
	KindToken = "token"
)

// TokenInfo describes an API key or ingest token. It never carries the secret.
type TokenInfo struct {
	Name      string
	Role      Role
	CreatedAt time.Time
	// LastUsedAt is best effort: uses are written every 30 seconds and at Close, so another process
	// may see it lag by that much. It is zero if the token was never used.
	LastUsedAt time.Time
}

// Errors returned by the Service, checked with errors.Is. Each is wrapped with a reason that is safe
// to show to the caller: it never contains a secret.
var (
	// ErrUnauthenticated means the credentials are missing, malformed or wrong (HTTP 401).
	ErrUnauthenticated = errors.New("unauthenticated")
	// ErrInvalid means bad input: a malformed name, a short password, an unknown role (HTTP 400).
	ErrInvalid = errors.New("invalid argument")
	// ErrNotFound means the named user or token does not exist (HTTP 404).
	ErrNotFound = errors.New("not found")
	// ErrExists means a user or token with that name already exists (HTTP 409).
	ErrExists = errors.New("already exists")
	// ErrRateLimited means too many sign-ins failed recently for the user name or from the client
	// address, so this one was refused without checking the password (HTTP 429 with Retry-After).
	// The error is a *RateLimitError, which says when to try again.
	ErrRateLimited = errors.New("rate limited")
)

func unauthenticated(reason string) error {
	return fmt.Errorf("%w: %s", ErrUnauthenticated, reason)
}

// MinPasswordLen and MinIngestTokenLen are the fewest characters a
// password and an ingest token may have; cmd/lookout names them in its
// configuration errors and the README states them.
const (
	MinPasswordLen    = 8
	MinIngestTokenLen = 16
)

const (
	maxPasswordLen = 1024 // bytes; argon2 is linear in input length, so bound it
	maxNameLen     = 64

	adminUser           = "admin"
	adminPasswordFile   = "initial-admin-password"
	ingestTokenFile     = "ingest-token"
	ingestTokenName     = "ingest-token" // name of the generated ingest token in the tokens table
	ingestGeneratedKey  = "ingest_token_generated_at"
	dbFile              = "meta.db"
	basicCacheTTL       = time.Minute
	tokenCacheTTL       = 30 * time.Second
	cacheSize           = 1024
	lastUsedFlushPeriod = 30 * time.Second
)

// Config is what the operator sets.
type Config struct {
	// DataDir holds meta.db and the generated secret files. It is created with mode 0700 if missing.
	DataDir string
	// AdminPassword (LOOKOUT_ADMIN_PASSWORD) is the password of user admin, used only when that user
	// is created at first start. Secret: never logged.
	AdminPassword string
	// IngestToken (LOOKOUT_INGEST_TOKEN) is accepted as an OTLP ingest bearer token in addition to
	// the stored ones. Secret: never logged.
	IngestToken string
	// InsecureIngest turns ingest authentication off.
	InsecureIngest bool
	// SessionTTL is how long a UI session lasts after sign-in, however active (default 12h).
	SessionTTL time.Duration
	// SessionIdleTimeout ends a UI session that has not been used for this long (default 2h).
	SessionIdleTimeout time.Duration
}

// Validate reports what is wrong with c, without repeating any secret.
func (c Config) Validate() error {
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, fmt.Errorf("%w: data directory is empty", ErrInvalid))
	}
	if c.AdminPassword != "" {
		if err := checkPassword(c.AdminPassword); err != nil {
			errs = append(errs, fmt.Errorf("admin password: %w", err))
		}
	}
	if c.IngestToken != "" {
		if utf8.RuneCountInString(c.IngestToken) < MinIngestTokenLen {
			errs = append(errs, fmt.Errorf("%w: ingest token is shorter than %d characters", ErrInvalid, MinIngestTokenLen))
		}
		for i := 0; i < len(c.IngestToken); i++ {
			if b := c.IngestToken[i]; b <= ' ' || b > '~' {
				errs = append(errs, fmt.Errorf("%w: ingest token must be printable ASCII without spaces", ErrInvalid))
				break
			}
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"session lifetime", c.SessionTTL}, {"session idle timeout", c.SessionIdleTimeout}} {
		if d.v != 0 && d.v < minSessionTimeout {
			errs = append(errs, fmt.Errorf("%w: %s %v is shorter than %v", ErrInvalid, d.name, d.v, minSessionTimeout))
		}
	}
	return errors.Join(errs...)
}

// Options is what code sets.
type Options struct {
	Logger  *slog.Logger
	Metrics *metrics.Set     // may be nil
	Now     func() time.Time // nil means time.Now
}

// Service answers who a request is and manages users and tokens in meta.db.
type Service struct {
	db *sql.DB
	// health is whether writes to meta.db (sign-ins, token use) reach the
	// disk, for Ping.
	health  *sqlitex.WriteHealth
	dataDir string
	log     *slog.Logger
	now     func() time.Time

	insecureIngest bool
	envIngest      [sha256.Size]byte // SHA-256 of Config.IngestToken
	hasEnvIngest   bool

	cacheKey     []byte                            // per-process HMAC key for basic cache keys
	basicCache   *ttlCache[[32]byte, Principal]    // keyed by HMAC(user NUL password)
	tokenCache   *ttlCache[[32]byte, Principal]    // keyed by SHA-256(secret)
	sessionCache *ttlCache[[32]byte, sessionEntry] // keyed by SHA-256(session id)

	sessionTTL, sessionIdle, sessionTouch time.Duration
	limiter                               *loginLimiter

	argon     chan struct{} // bounds concurrent argon2 runs, and so their memory
	dummyOnce sync.Once
	dummyHash string

	failBasic, failBearer, failIngest, failLogin, cacheHits *metrics.Counter
	limitedLogin, limitedBasic                              *metrics.Counter

	usedMu sync.Mutex
	used   map[[32]byte]int64 // token hash -> last use, Unix ms, not yet written

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating and migrating if needed) <cfg.DataDir>/meta.db, creates user admin and the
// ingest token on first start, and starts the goroutine that records token use. Close stops it.
func Open(ctx context.Context, cfg Config, opts Options) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("auth config: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Metrics == nil {
		opts.Metrics = metrics.NewSet() // counted but not exported
	}
	if cfg.SessionTTL == 0 {
		cfg.SessionTTL = defaultSessionTTL
	}
	if cfg.SessionIdleTimeout == 0 {
		cfg.SessionIdleTimeout = defaultSessionIdle
	}
	if err := private.MkdirAll(cfg.DataDir); err != nil {
		return nil, fmt.Errorf("create data directory %q: %w", cfg.DataDir, err)
	}
	path := filepath.Join(cfg.DataDir, dbFile)
	db, err := openDB(ctx, path)
	if err != nil {
		return nil, err
	}
	health, err := sqlitex.NewWriteHealth(ctx, db, path)
	if err != nil {
		db.Close()
		return nil, err
	}
	s := &Service{
		db:             db,
		health:         health,
		dataDir:        cfg.DataDir,
		log:            opts.Logger,
		now:            opts.Now,
		insecureIngest: cfg.InsecureIngest,
		cacheKey:       make([]byte, 32),
		basicCache:     newTTLCache[[32]byte, Principal](cacheSize, basicCacheTTL),
		tokenCache:     newTTLCache[[32]byte, Principal](cacheSize, tokenCacheTTL),
		sessionCache:   newTTLCache[[32]byte, sessionEntry](cacheSize, sessionCacheTTL),
		sessionTTL:     cfg.SessionTTL,
		sessionIdle:    cfg.SessionIdleTimeout,
		sessionTouch:   min(sessionTouchPeriod, cfg.SessionIdleTimeout/2),
		limiter:        newLoginLimiter(),
		argon:          make(chan struct{}, max(2, runtime.GOMAXPROCS(0))),
		failBasic:      opts.Metrics.GetOrCreateCounter(`lookout_auth_failures_total{kind="basic"}`),
		failBearer:     opts.Metrics.GetOrCreateCounter(`lookout_auth_failures_total{kind="bearer"}`),
		failIngest:     opts.Metrics.GetOrCreateCounter(`lookout_auth_failures_total{kind="ingest"}`),
		failLogin:      opts.Metrics.GetOrCreateCounter(`lookout_auth_failures_total{kind="login"}`),
		limitedLogin:   opts.Metrics.GetOrCreateCounter(`lookout_auth_rate_limited_total{kind="login"}`),
		limitedBasic:   opts.Metrics.GetOrCreateCounter(`lookout_auth_rate_limited_total{kind="basic"}`),
		cacheHits:      opts.Metrics.GetOrCreateCounter(`lookout_auth_cache_hits_total`),
		used:           make(map[[32]byte]int64),
		stop:           make(chan struct{}),
		done:           make(chan struct{}),
	}
	if _, err := rand.Read(s.cacheKey); err != nil {
		db.Close()
		return nil, fmt.Errorf("generate cache key: %w", err)
	}
	if cfg.IngestToken != "" {
		s.envIngest = sha256.Sum256([]byte(cfg.IngestToken))
		s.hasEnvIngest = true
	}
	if err := s.bootstrap(ctx, cfg); err != nil {
		db.Close()
		return nil, err
	}
	if cfg.InsecureIngest {
		s.log.Warn("ingest authentication is off: anyone who can reach the OTLP ports can write telemetry; unset --insecure-ingest to require an ingest token")
	}
	go s.recordUse()
	return s, nil
}

// Close writes pending token use times, stops the background goroutine and closes meta.db.
func (s *Service) Close() error {
	s.closeOnce.Do(func() {
		close(s.stop)
		<-s.done
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.flushUse(ctx)
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close %s: %w", dbFile, err)
		}
	})
	return s.closeErr
}

// Ping reports whether meta.db is open and writable, for /readyz: it takes the write lock, writes a
// row and rolls back; after a write failed for lack of storage it also probes until one succeeds.
func (s *Service) Ping(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil) // BEGIN IMMEDIATE (see openDB): takes the write lock
	if err != nil {
		return fmt.Errorf("ping %s: %w", dbFile, err)
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES ('ping', '')
		ON CONFLICT (key) DO UPDATE SET value = excluded.value`)
	tx.Rollback() // before the probe, which needs the write lock
	if err != nil {
		return fmt.Errorf("ping %s: %w", dbFile, err)
	}
	return s.health.Check(ctx)
}

// checkName accepts 1 to 64 characters from [A-Za-z0-9._@+-], starting with a letter or digit:
// safe in a URL path, a log line and an HTTP Basic user name (no colon).
func checkName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: %s name is empty", ErrInvalid, kind)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%w: %s name is longer than %d characters", ErrInvalid, kind, maxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if alnum || i > 0 && strings.IndexByte("._@+-", c) >= 0 {
			continue
		}
		return fmt.Errorf("%w: %s name %q: use letters, digits and . _ @ + - and start with a letter or digit", ErrInvalid, kind, name)
	}
	return nil
}

func checkPassword(password string) error {
	if utf8.RuneCountInString(password) < MinPasswordLen {
		return fmt.Errorf("%w: password is shorter than %d characters", ErrInvalid, MinPasswordLen)
	}
	if len(password) > maxPasswordLen {
		return fmt.Errorf("%w: password is longer than %d bytes", ErrInvalid, maxPasswordLen)
	}
	return nil
}
