package auth

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
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

// SetPassword replaces the password of user name (ErrNotFound if there is none) and ends all of
// their sessions, the caller's own included: a web layer that lets users change their own password
// signs them in again with the new one. It also forgets the user's failed sign-ins, so an
// administrator can let a locked-out user back in. This process refuses the old password at once;
// another process that verified it within the last minute may accept it over HTTP Basic until then.
func (s *Service) SetPassword(ctx context.Context, name, password string) error {
	if err := checkPassword(password); err != nil {
		return err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", name, err)
	}
	err = s.inTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = ?, updated_at = ? WHERE name = ?`,
			hash, s.now().UnixMilli(), name)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			return ErrNotFound
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("set password of user %q: %w", name, err)
	}
	s.basicCache.clear()
	s.sessionCache.clear()
	s.limiter.resetUser(name)
	return nil
}

// UserInfo describes a user. It never carries the password hash.
type UserInfo struct {
	Name      string
	Role      Role
	CreatedAt time.Time
	// UpdatedAt is when the role or password last changed.
	UpdatedAt time.Time
}

// ListUsers returns every user, by name.
func (s *Service) ListUsers(ctx context.Context) ([]UserInfo, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT name, role, created_at, updated_at FROM users ORDER BY name`)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []UserInfo
	for rows.Next() {
		var (
			u                UserInfo
			created, updated int64
		)
		if err := rows.Scan(&u.Name, &u.Role, &created, &updated); err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		u.CreatedAt, u.UpdatedAt = time.UnixMilli(created).UTC(), time.UnixMilli(updated).UTC()
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// DeleteUser deletes user name (ErrNotFound if there is none) and their sessions. It refuses, with
// ErrInvalid, to delete the last admin, who is the only one able to manage users. This process
// refuses the user at once; another process may accept their HTTP Basic credentials for up to a
// minute and their sessions for up to 30 seconds.
func (s *Service) DeleteUser(ctx context.Context, name string) error {
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if err := keepAnAdmin(ctx, tx, name, "delete"); err != nil {
			return err
		}
		// The foreign key cascades to sessions; deleting them first keeps that true even for a
		// connection that has foreign keys off.
		if _, err := tx.ExecContext(ctx, `DELETE FROM sessions WHERE user = ?`, name); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM users WHERE name = ?`, name)
		return err
	})
	if err != nil {
		return fmt.Errorf("delete user %q: %w", name, err)
	}
	s.basicCache.clear()
	s.sessionCache.clear()
	return nil
}

// SetRole gives user name the role viewer, editor or admin (ErrNotFound if there is no such user).
// It refuses, with ErrInvalid, to demote the last admin. Sessions stay, and carry the new role: at
// once in this process, within 30 seconds in another.
func (s *Service) SetRole(ctx context.Context, name string, role Role) error {
	if role.rank() == 0 {
		return fmt.Errorf("%w: user role %q (want viewer, editor or admin)", ErrInvalid, role)
	}
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if role != RoleAdmin {
			if err := keepAnAdmin(ctx, tx, name, "demote"); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE users SET role = ?, updated_at = ? WHERE name = ? AND role <> ?`,
			role, s.now().UnixMilli(), name, role)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil {
			return err
		} else if n == 0 {
			var one int // unchanged, or no such user?
			if err := tx.QueryRowContext(ctx, `SELECT 1 FROM users WHERE name = ?`, name).Scan(&one); errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			} else if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("set role of user %q: %w", name, err)
	}
	s.basicCache.clear()
	s.sessionCache.clear()
	return nil
}

// keepAnAdmin returns ErrNotFound if user name does not exist, and ErrInvalid if it is the last
// admin, whom the caller is about to remove or demote (verb). It runs inside the caller's
// transaction, which holds the write lock (BEGIN IMMEDIATE), so two processes cannot each remove
// one of the last two admins.
func keepAnAdmin(ctx context.Context, tx *sql.Tx, name, verb string) error {
	var role Role
	err := tx.QueryRowContext(ctx, `SELECT role FROM users WHERE name = ?`, name).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return ErrNotFound
	}
	if err != nil {
		return err
	}
	if role != RoleAdmin {
		return nil
	}
	var admins int
	if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE role = ?`, RoleAdmin).Scan(&admins); err != nil {
		return err
	}
	if admins <= 1 {
		return fmt.Errorf("%w: %q is the last admin; make another user admin before you %s it", ErrInvalid, name, verb)
	}
	return nil
}

// inTx runs f in a transaction and commits it if f returns nil. A failure of the storage is
// recorded for Ping.
func (s *Service) inTx(ctx context.Context, f func(*sql.Tx) error) (err error) {
	defer func() { s.health.Observe(err) }()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if err := f(tx); err != nil {
		return err
	}
	return tx.Commit()
}
