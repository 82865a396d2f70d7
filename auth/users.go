package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// CreateUser creates a user who signs in with name and password. Users have role viewer, editor or
// admin; passwords have at least 8 characters.
func (s *Service) CreateUser(ctx context.Context, name, password string, role Role) error {
	if err := checkName("user", name); err != nil {
		return err
	}
	if role.rank() == 0 {
		return fmt.Errorf("%w: user role %q (want viewer, editor or admin)", ErrInvalid, role)
	}
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password) // before BEGIN, so argon2 does not hold the write lock
	if err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	defer tx.Rollback()
	var one int
	switch err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, name).Scan(&one); {
	case err == nil:
		return fmt.Errorf("user %q: %w", name, ErrExists)
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("create user %q: %w", name, err)
	}
	now := s.now().UnixMilli()
	if _, err := tx.ExecContext(ctx, `INSERT INTO users (name, role, password_hash, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?)`, name, role, hash, now, now); err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create user %q: %w", name, err)
	}
	return nil
}

// SetPassword replaces the password of user name (ErrNotFound if there is none). This process
// refuses the old password at once; another process that verified it within the last minute may
// accept it until then.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", name, err)
	}
	res, err := s.db.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?`,
		hash, s.now().UnixMilli(), name)
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", name, err)
	}
	if n == 0 {
		return fmt.Errorf("user %q: %w", name, ErrNotFound)
	}
	s.basicCache.clear()
	return nil
}
