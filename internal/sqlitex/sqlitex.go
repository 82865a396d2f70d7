// Package sqlitex holds what lookout's SQLite stores share: how a database
// is opened (WAL, synchronous=FULL) and how its embedded, versioned
// migrations are applied.
package sqlitex

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/lookout-dev/lookout/internal/private"
)

// PrivateFiles makes the database at path owner-only before SQLite opens
// it: it creates the file empty with mode 0600 if it does not exist (SQLite
// creates it 0644 less the umask, and keeps the mode of a file that
// exists), and takes group and other permissions away from an existing
// database and its -wal, -shm and -journal files, which an older lookout
// left 0644. SQLite creates those companions with the database file's mode,
// so new ones follow.
func PrivateFiles(path string) error {
	if err := private.File(path); err != nil {
		return fmt.Errorf("create %q: %w", path, err)
	}
	for _, suffix := range []string{"-wal", "-shm", "-journal"} {
		if err := private.Tighten(path + suffix); err != nil {
			return err
		}
	}
	return nil
}

// DSN is the data source name for the database at path: WAL journal,
// synchronous=FULL (a commit is on disk when it returns), a busy timeout,
// and any extra pragmas such as "query_only(ON)".
func DSN(path string, extra ...string) string {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	q.Add("_pragma", "foreign_keys(ON)")
	// The -wal file is truncated back to 64 MiB after a checkpoint instead
	// of staying at the size of the largest burst.
	q.Add("_pragma", "journal_size_limit(67108864)")
	for _, p := range extra {
		q.Add("_pragma", p)
	}
	// Escaped, so that '?', '#' or '%' in the data directory cannot be read
	// as URI syntax.
	p := filepath.ToSlash(path)
	if !strings.HasPrefix(p, "/") && filepath.IsAbs(path) {
		p = "/" + p // a Windows drive letter
	}
	return "file:" + (&url.URL{Path: p}).EscapedPath() + "?" + q.Encode()
}

// Migrate brings db up to len(migrations), recording the version in
// PRAGMA user_version; migration i (from 0) takes the schema from version i
// to i+1 in one transaction. A database newer than this program is refused.
func Migrate(ctx context.Context, db *sql.DB, migrations []string) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this lookout (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}
