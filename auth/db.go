package auth

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"

	_ "modernc.org/sqlite" // database/sql driver "sqlite"

	"github.com/lookout-dev/lookout/internal/sqlitex"
)

//go:embed migrations/*.sql
var migrations embed.FS

// openDB opens meta.db and brings its schema up to date.
//
// Every connection gets busy_timeout first (so the other pragmas wait rather than fail while the
// CLI or a server holds the lock), WAL so readers never block the writer across processes,
// synchronous=FULL because the database is tiny and a lost token would lock people out, and
// foreign keys. _txlock=immediate makes every transaction BEGIN IMMEDIATE: a transaction that
// starts as a reader and then writes cannot be retried by the busy handler in WAL mode, one that
// takes the write lock up front waits for it.
func openDB(ctx context.Context, path string) (*sql.DB, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	p := filepath.ToSlash(abs)
	if !strings.HasPrefix(p, "/") {
		p = "/" + p // Windows drive letter
	}
	// A file: URI, escaped so that '?', '#' or '%' in the data directory cannot be read as URI syntax.
	dsn := "file:" + (&url.URL{Path: p}).EscapedPath() +
		"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)" +
		"&_pragma=foreign_keys(1)&_txlock=immediate"
	// meta.db holds password hashes and token digests: owner-only.
	if err := sqlitex.PrivateFiles(path); err != nil {
		return nil, err
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	db.SetMaxOpenConns(4)
	if err := migrate(ctx, db); err != nil {
		db.Close()
		return nil, fmt.Errorf("open %q: %w", path, err)
	}
	return db, nil
}

// migrate applies migrations/NNNN_*.sql in order, recording the last one applied in
// PRAGMA user_version, all in one transaction so two processes starting together cannot both
// apply one.
func migrate(ctx context.Context, db *sql.DB) error {
	entries, err := fs.ReadDir(migrations, "migrations")
	if err != nil {
		return fmt.Errorf("read migrations: %w", err)
	}
	for i, e := range entries { // ReadDir sorts by name
		n, _, _ := strings.Cut(e.Name(), "_")
		if v, err := strconv.Atoi(n); err != nil || v != i+1 {
			return fmt.Errorf("migration %s: want number %04d", e.Name(), i+1)
		}
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("migrate: read schema version: %w", err)
	}
	if version > len(entries) {
		return fmt.Errorf("schema version %d is newer than this lookout supports (%d): run a newer lookout", version, len(entries))
	}
	if version == len(entries) {
		return nil
	}
	for _, e := range entries[version:] {
		script, err := migrations.ReadFile("migrations/" + e.Name())
		if err != nil {
			return fmt.Errorf("migration %s: %w", e.Name(), err)
		}
		if _, err := tx.ExecContext(ctx, string(script)); err != nil {
			return fmt.Errorf("migration %s: %w", e.Name(), err)
		}
	}
	// PRAGMA takes no bound parameters; the value is an int we computed.
	if _, err := tx.ExecContext(ctx, "PRAGMA user_version = "+strconv.Itoa(len(entries))); err != nil {
		return fmt.Errorf("migrate: set schema version: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}
