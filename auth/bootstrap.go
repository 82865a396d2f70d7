package auth

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
)

// bootstrap creates what a first start needs: user admin and, unless the operator configured one
// or turned ingest authentication off, an ingest token. Each runs in a transaction that holds the
// write lock while the secret file is written, so a CLI and a server starting together on a fresh
// data directory cannot leave a file that disagrees with the database. The file is written before
// the commit: if the commit fails the next start generates a new secret and replaces the file; the
// other order could commit a secret nobody has a copy of.
func (s *Service) bootstrap(ctx context.Context, cfg Config) error {
	if err := s.bootstrapAdmin(ctx, cfg.AdminPassword); err != nil {
		return fmt.Errorf("create user %s: %w", adminUser, err)
	}
	if cfg.IngestToken == "" && !cfg.InsecureIngest {
		if err := s.bootstrapIngestToken(ctx); err != nil {
			return fmt.Errorf("create ingest token: %w", err)
		}
	}
	return nil
}

func (s *Service) bootstrapAdmin(ctx context.Context, password string) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, adminUser).Scan(&one); {
	case err == nil:
		if password != "" {
			s.log.Info("user admin already exists; the configured admin password applies only at first start")
		}
		return nil
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}

	generated := password == ""
	if generated {
		b := make([]byte, 24)
		if _, err := rand.Read(b); err != nil {
			return err
		}
		password = base64.RawURLEncoding.EncodeToString(b)
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	now := s.now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, adminUser, RoleAdmin, hash, now, now); err != nil {
		return err
	}
	path := filepath.Join(s.dataDir, adminPasswordFile)
	if generated {
		if err := writeSecretFile(path, password); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		if generated {
			os.Remove(path)
		}
		return err
	}
	if generated {
		s.log.Info("created user admin with a generated password; sign in and change it", "path", path)
	} else {
		s.log.Info("created user admin with the configured password")
	}
	return nil
}

func (s *Service) bootstrapIngestToken(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var at string
	switch err := tx.QueryRowContext(ctx, `SELECT value FROM settings WHERE key = ?`, ingestGeneratedKey).Scan(&at); {
	case err == nil:
		return nil // generated on an earlier start; revoking it does not bring it back
	case !errors.Is(err, sql.ErrNoRows):
		return err
	}

	secret, hash, err := newSecret()
	if err != nil {
		return err
	}
	// The name is taken only if an operator created a token with it before the ingest token was ever
	// generated (say, while LOOKOUT_INGEST_TOKEN was set); keep theirs and pick another.
	name := ingestTokenName
	for i := 2; ; i++ {
		var one int
		err := tx.QueryRowContext(ctx, `SELECT 1 FROM tokens WHERE name = ?`, name).Scan(&one)
		if errors.Is(err, sql.ErrNoRows) {
			break
		}
		if err != nil {
			return err
		}
		name = ingestTokenName + "-" + strconv.Itoa(i)
	}
	now := s.now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO tokens (name, role, secret_sha256, created_at)
		VALUES (?, ?, ?, ?)`, name, RoleIngest, hash, now); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO settings (key, value) VALUES (?, ?)`,
		ingestGeneratedKey, strconv.FormatInt(now, 10)); err != nil {
		return err
	}
	path := filepath.Join(s.dataDir, ingestTokenFile)
	if err := writeSecretFile(path, secret); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		os.Remove(path)
		return err
	}
	s.log.Info("generated an ingest token; send it as Authorization: Bearer <token>", "path", path, "token_name", name)
	return nil
}

// writeSecretFile writes secret and a newline to path with mode 0600, atomically. The content goes
// to a new file created with O_EXCL (os.CreateTemp) in the same directory, which is synced and
// renamed over path: nothing follows a symlink planted at path, a reader never sees half a secret,
// and a stale file from a lost database is replaced.
func writeSecretFile(path, secret string) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := f.Chmod(0o600); err != nil { // CreateTemp already uses 0600; say it anyway
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable; not every OS can sync a directory
		d.Sync()
		d.Close()
	}
	return nil
}
