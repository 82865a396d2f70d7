package sqlitex_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lookout-dev/lookout/internal/disktest"
	"github.com/lookout-dev/lookout/internal/sqlitex"
)

// TestWriteHealthOnFullDisk fills the file system under a database and
// checks that Check reports the failed write until space is freed, and
// then clears without another write from outside. The disk is filled when
// the database's WAL has been checkpointed, so SQLite can still write a
// small transaction into the WAL file's old space: a probe that only wrote
// a row would call a full disk ready.
func TestWriteHealthOnFullDisk(t *testing.T) {
	ctx := context.Background()
	mnt := disktest.Mount(t, "8m")
	path := filepath.Join(mnt, "x.db")
	if err := sqlitex.PrivateFiles(path); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("sqlite", sqlitex.DSN(path))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	h, err := sqlitex.NewWriteHealth(ctx, db, path)
	if err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) error {
		_, err := db.ExecContext(ctx, q, args...)
		return err
	}
	if err := exec("CREATE TABLE t (b BLOB)"); err != nil {
		t.Fatal(err)
	}
	// A WAL of about 1 MiB, all of it checkpointed: the next transaction
	// starts the WAL over in the space it has.
	if err := exec("INSERT INTO t VALUES (zeroblob(1 << 20))"); err != nil {
		t.Fatal(err)
	}
	if err := exec("PRAGMA wal_checkpoint(PASSIVE)"); err != nil {
		t.Fatal(err)
	}
	if err := h.Check(ctx); err != nil {
		t.Fatalf("Check before any failure = %v, want nil", err)
	}

	free := disktest.Fill(t, mnt)
	err = exec("INSERT INTO t VALUES (zeroblob(4 << 20))")
	if !sqlitex.StorageFailure(err) {
		t.Fatalf("4 MiB insert on a full disk = %v, want a storage failure", err)
	}
	h.Observe(err)
	// Why the probe writes new space: a row alone still fits.
	if err := exec("INSERT INTO t VALUES (1)"); err != nil {
		t.Logf("a one-row insert on the full disk failed too (%v); the WAL had no room left", err)
	}
	for range 3 {
		if err := h.Check(ctx); err == nil || !strings.Contains(err.Error(), "full") {
			t.Fatalf("Check on a full disk after a failed write = %v, want the failure", err)
		}
	}

	free()
	if err := h.Check(ctx); err != nil {
		t.Fatalf("Check once space is freed = %v, want nil", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM write_probe").Scan(&n); err != nil || n != 1 {
		t.Errorf("write_probe rows = %d, %v; want the probe's one", n, err)
	}
	// A failure that is not the storage's says nothing about readiness.
	h.Observe(exec("INSERT INTO nowhere VALUES (1)"))
	if err := h.Check(ctx); err != nil {
		t.Errorf("Check after a bad statement = %v, want nil", err)
	}
}
