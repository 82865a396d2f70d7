package sqlitex

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"syscall"
	"time"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/lookout-dev/lookout/internal/private"
)

// WriteHealth tracks whether a database takes writes, for readiness. A
// store reports each write's outcome to Observe; Check answers /readyz.
//
// Checking a database's lock (BEGIN IMMEDIATE) or writing and rolling back
// says nothing about a full disk: neither needs a byte of new space. So once
// a real write has failed for lack of storage, Check probes until one
// works: it writes and syncs a file of probeBytes beside the database (new
// space that SQLite's WAL cannot hide, since a WAL reuses its own file after
// a checkpoint, so that a one-row write can succeed on a full disk) and
// commits a one-row upsert. The failure clears when both succeed, or when a
// real write does, so readiness comes back on its own even when no client
// writes in between (a load balancer sends nothing to an instance that
// answers 503).
type WriteHealth struct {
	w      *sql.DB // a connection that may write
	path   string
	failed atomic.Pointer[writeFailure]
}

type writeFailure struct{ err error }

// probeBytes is the new space a probe asks for: more than a typical commit
// of compressed blocks, small enough to cost nothing every few seconds.
const probeBytes = 256 << 10

// NewWriteHealth returns the write health of the database at path, whose
// writes go through w, and creates the one-row table its probe writes.
func NewWriteHealth(ctx context.Context, w *sql.DB, path string) (*WriteHealth, error) {
	if _, err := w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS write_probe (
		id INTEGER PRIMARY KEY CHECK (id = 1),
		at INTEGER NOT NULL
	)`); err != nil {
		return nil, fmt.Errorf("create write probe table in %q: %w", path, err)
	}
	return &WriteHealth{w: w, path: path}, nil
}

// Observe records a write's outcome. An error that says the storage failed
// (disk or quota full, an I/O error, a read-only or unopenable file)
// marks the database failing; a successful write (nil) clears that. Other
// errors, such as a constraint or a cancelled request, say nothing about the
// storage and are ignored.
func (h *WriteHealth) Observe(err error) {
	if err == nil {
		if h.failed.Load() != nil {
			h.failed.Store(nil)
		}
		return
	}
	if StorageFailure(err) {
		h.failed.Store(&writeFailure{err: err})
	}
}

// Check returns nil while writes succeed. After a failed write it probes
// (see WriteHealth) and returns the failure until a probe succeeds.
func (h *WriteHealth) Check(ctx context.Context) error {
	f := h.failed.Load()
	if f == nil {
		return nil
	}
	if err := h.probe(ctx); err != nil {
		// The write's own error says what happened (the probe's mostly
		// repeats it, with a path not every reader of /readyz should see).
		return fmt.Errorf("writes to %s fail: %w", filepath.Base(h.path), f.err)
	}
	// Only the failure the probe answered: one recorded meanwhile stands
	// until the next check.
	h.failed.CompareAndSwap(f, nil)
	return nil
}

func (h *WriteHealth) probe(ctx context.Context) error {
	if err := probeSpace(h.path + ".probe"); err != nil {
		return err
	}
	if _, err := h.w.ExecContext(ctx, `INSERT INTO write_probe (id, at) VALUES (1, ?)
		ON CONFLICT (id) DO UPDATE SET at = excluded.at`, time.Now().UnixMilli()); err != nil {
		return err
	}
	return nil
}

// probeSpace writes probeBytes to path, syncs and removes it. The name is
// fixed so that a crash mid-probe leaves one file that the next probe
// reuses.
func probeSpace(path string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, private.FileMode)
	if err != nil {
		return err
	}
	defer os.Remove(path)
	_, err = f.Write(make([]byte, probeBytes))
	if err == nil {
		err = f.Sync()
	}
	return errors.Join(err, f.Close())
}

// StorageFailure reports whether err says the storage under a database or
// file failed, rather than the request: the disk or a quota is full, an
// I/O error, a read-only or unopenable file, a corrupt database.
func StorageFailure(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // the primary code of an extended one
		case sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_READONLY,
			sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB:
			return true
		}
		return false
	}
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) ||
		errors.Is(err, syscall.EIO) || errors.Is(err, syscall.EROFS)
}
