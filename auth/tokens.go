package auth

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

const (
	keyPrefix = "lk_" // makes a leaked key recognisable to secret scanners
	keyBytes  = 32
)

// newSecret returns a new API key and the hex SHA-256 under which it is stored. The key carries 256
// random bits, so a fast hash cannot be brute-forced and lookup by hash is safe.
func newSecret() (secret, hash string, err error) {
	b := make([]byte, keyBytes)
	if _, err := rand.Read(b); err != nil {
		return "", "", fmt.Errorf("generate secret: %w", err)
	}
	secret = keyPrefix + base64.RawURLEncoding.EncodeToString(b)
	h := sha256.Sum256([]byte(secret))
	return secret, hex.EncodeToString(h[:]), nil
}

// CreateToken creates an API key (or, with RoleIngest, an ingest token) called name and returns its
// secret, which is shown once: only its hash is stored. The name must be unused (ErrExists).
func (s *Service) CreateToken(ctx context.Context, name string, role Role) (string, error) {
	if err := checkName("token", name); err != nil {
		return "", err
	}
	if !role.valid() {
		return "", fmt.Errorf("%w: unknown role %q (want viewer, editor, admin or ingest)", ErrInvalid, role)
	}
	secret, hash, err := newSecret()
	if err != nil {
		return "", err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE name = ?`, name).Scan(&one); {
	case err == nil:
		return "", fmt.Errorf("token %q: %w", name, ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, role, secret_sha256, created_at) VALUES (?, ?, ?, ?)`,
		name, role, hash, s.now().UnixMilli()); err != nil {
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("create token %q: %w", name, err)
	}
	return secret, nil
}

// RevokeToken deletes the token called name (ErrNotFound if there is none). This process refuses it
// at once; another process that used it within the last 30 seconds may accept it until then.
func (s *Service) RevokeToken(ctx context.Context, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM tokens WHERE name = ?`, name)
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("revoke token %q: %w", name, err)
	}
	s.tokenCache.clear() // keyed by secret hash, not name; dropping all is cheap and simple
	if n == 0 {
		return fmt.Errorf("token %q: %w", name, ErrNotFound)
	}
	return nil
}

// ListTokens returns every API key and ingest token, by name, without secrets.
func (s *Service) ListTokens(ctx context.Context) ([]TokenInfo, error) {
	s.flushUse(ctx)
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_at, last_used_at FROM tokens ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []TokenInfo
	for rows.Next() {
		var (
			t       TokenInfo
			created int64
			used    sql.NullInt64
		)
		if err := rows.Scan(&t.Name, &t.Role, &created, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.CreatedAt = time.UnixMilli(created).UTC()
		if used.Valid {
			t.LastUsedAt = time.UnixMilli(used.Int64).UTC()
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}

// noteUse remembers that the token with this hash was used at ms; recordUse writes it later, so
// authentication stays a read.
func (s *Service) noteUse(hash [32]byte, ms int64) {
	s.usedMu.Lock()
	s.used[hash] = ms
	s.usedMu.Unlock()
}

// recordUse writes token use times every lastUsedFlushPeriod until Close.
func (s *Service) recordUse() {
	defer close(s.done)
	t := time.NewTicker(lastUsedFlushPeriod)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			s.flushUse(ctx)
			cancel()
		}
	}
}

// flushUse writes the pending use times. It is best effort: a failure drops them with a warning.
func (s *Service) flushUse(ctx context.Context) {
	s.usedMu.Lock()
	used := s.used
	if len(used) == 0 {
		s.usedMu.Unlock()
		return
	}
	s.used = make(map[[32]byte]int64)
	s.usedMu.Unlock()
	err := s.writeUse(ctx, used)
	s.health.Observe(err)
	if err != nil {
		s.log.Warn("record token last use", "err", err, "tokens", len(used))
	}
}

func (s *Service) writeUse(ctx context.Context, used map[[32]byte]int64) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	stmt, err := tx.PrepareContext(ctx, `UPDATE tokens SET last_used_at = ?1
		WHERE secret_sha256 = ?2 AND (last_used_at IS NULL OR last_used_at < ?1)`)
	if err != nil {
		return err
	}
	defer stmt.Close()
	for h, ms := range used {
		if _, err := stmt.ExecContext(ctx, ms, hex.EncodeToString(h[:])); err != nil {
			return err
		}
	}
	return tx.Commit()
}
