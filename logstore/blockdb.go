package logstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/lookout-dev/lookout/internal/sqlitex"
)

// blockDB is the durable half of the store: compressed blocks of records in
// SQLite, appended by one writer goroutine that commits whatever has queued
// up in one transaction (group commit), so one fsync acknowledges many
// requests.
type blockDB struct {
	db *sql.DB // readers
	w  *sql.DB // the single writer connection
	// health is whether commits reach the disk, for Ping.
	health *sqlitex.WriteHealth

	reqs chan *writeReq
	done chan struct{}
	// onCommit is called by the writer after each commit with the highest
	// block id of each table it wrote.
	onCommit func(last, records [2]int64)
	// checkpoints returns the indexers' durable checkpoints, written along
	// with the next commit (or on the idle tick).
	checkpoints func() (logs, spans int64)
	lastCP      [2]int64
}

type storedBlock struct {
	table        string
	data         []byte
	count        int
	minTs, maxTs int64
	group        *groupMeta // for group blocks
}

// groupMeta is what the store keeps in memory about a group block.
type groupMeta struct {
	id           int64
	firstBlock   int64
	day          int64
	minTs, maxTs int64
	count        int
	bloomOff     int64
	bloomLen     int

	// For log groups: the service and severity that every record of the
	// group has (its groupKey), unless keyed is false (a group stored
	// before they were recorded). They let CountLogs count the group
	// without reading it.
	service, severity string
	keyed             bool
	// dup is set once a record of a log group may share its digest with
	// another stored record (see dupTracker); always set when not keyed.
	dup atomic.Bool
}

type serviceSeen struct {
	signal, service, operation string
	lastSeen                   int64
}

type writeReq struct {
	blocks   []storedBlock
	services []serviceSeen
	// dupGroups are stored log groups to mark as holding a record that
	// may have a copy (groupMeta.dup).
	dupGroups []int64
	ids       []int64 // filled by the writer: the id of each block
	err       chan error
}

const (
	tableLogs       = "log_blocks"
	tableSpans      = "span_blocks"
	tableLogGroups  = "log_groups"
	tableSpanGroups = "span_groups"
)

// signalTables is the schema of one signal's tables: request blocks, kept
// until indexed, and group blocks.
func signalTables(sig string) string {
	return strings.NewReplacer("$s", sig).Replace(`
	CREATE TABLE $s_blocks (
		id     INTEGER PRIMARY KEY AUTOINCREMENT,
		min_ts INTEGER NOT NULL,
		max_ts INTEGER NOT NULL,
		count  INTEGER NOT NULL,
		data   BLOB NOT NULL
	);
	CREATE INDEX $s_blocks_max_ts ON $s_blocks(max_ts);
	CREATE TABLE $s_groups (
		id          INTEGER PRIMARY KEY AUTOINCREMENT,
		first_block INTEGER NOT NULL,
		day         INTEGER NOT NULL,
		min_ts      INTEGER NOT NULL,
		max_ts      INTEGER NOT NULL,
		count       INTEGER NOT NULL,
		bloom_off   INTEGER NOT NULL,
		bloom_len   INTEGER NOT NULL,
		data        BLOB NOT NULL
	);
	CREATE INDEX $s_groups_max_ts ON $s_groups(max_ts);
	CREATE INDEX $s_groups_first_block ON $s_groups(first_block);`)
}

var migrations = []string{
	// 1: request blocks (until indexed), group blocks, checkpoints and the
	// services catalogue.
	signalTables("log") + signalTables("span") + `
	CREATE TABLE checkpoints (
		signal   TEXT PRIMARY KEY,
		block_id INTEGER NOT NULL
	) WITHOUT ROWID;
	CREATE TABLE services (
		signal    TEXT NOT NULL,
		service   TEXT NOT NULL,
		operation TEXT NOT NULL,
		last_seen INTEGER NOT NULL,
		PRIMARY KEY (signal, service, operation)
	) WITHOUT ROWID;`,
	// 2: the service and severity of each log group and whether it may
	// hold a copy of a record stored elsewhere, so that a count can use
	// its metadata. Groups stored before are taken as unknown.
	`ALTER TABLE log_groups ADD COLUMN service TEXT;
	ALTER TABLE log_groups ADD COLUMN severity TEXT;
	ALTER TABLE log_groups ADD COLUMN dup INTEGER NOT NULL DEFAULT 1;`,
}

func openBlockDB(ctx context.Context, path string) (*blockDB, error) {
	if err := sqlitex.PrivateFiles(path); err != nil {
		return nil, err
	}
	// page_size and auto_vacuum only take effect before the first table
	// exists; incremental auto-vacuum lets retention give disk back.
	w, err := sql.Open("sqlite", sqlitex.DSN(path, "page_size(8192)", "auto_vacuum(INCREMENTAL)"))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	if err := sqlitex.Migrate(ctx, w, migrations); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %q: %w", path, err)
	}
	health, err := sqlitex.NewWriteHealth(ctx, w, path)
	if err != nil {
		w.Close()
		return nil, err
	}
	r, err := sql.Open("sqlite", sqlitex.DSN(path, "query_only(ON)"))
	if err != nil {
		w.Close()
		return nil, err
	}
	r.SetMaxOpenConns(8)
	r.SetMaxIdleConns(8)
	return &blockDB{db: r, w: w, health: health, reqs: make(chan *writeReq, 256), done: make(chan struct{})}, nil
}

var errClosed = errors.New("store is closed")

// append queues blocks for the writer and waits until they are committed.
func (b *blockDB) append(ctx context.Context, req *writeReq) error {
	req.err = make(chan error, 1)
	select {
	case b.reqs <- req:
	case <-b.done:
		return errClosed
	case <-ctx.Done():
		return ctx.Err()
	}
	// Once queued the write happens whatever the caller does; wait for it so
	// that an acknowledgement always means durable. A request queued after
	// the writer's last drain (the channel has room after the writer has
	// gone; Close races the indexer's regrouped writes) is never written:
	// without the done case it waited forever, and Close with it, which
	// held the process after SIGTERM.
	select {
	case err := <-req.err:
		return err
	case <-b.done:
		select {
		case err := <-req.err:
			return err
		default:
			return errClosed
		}
	}
}

// runWriter is the single writer loop. It stops when stop is closed, after
// committing whatever is queued.
func (b *blockDB) runWriter(stop <-chan struct{}) {
	defer close(b.done)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		var first *writeReq
		select {
		case first = <-b.reqs:
		case <-tick.C:
			b.writeCheckpoints()
			continue
		case <-stop:
			b.drain()
			b.writeCheckpoints()
			return
		}
		group := []*writeReq{first}
		bytes := len(first.blocks)
	collect:
		for len(group) < 512 && bytes < 4096 {
			select {
			case r := <-b.reqs:
				group = append(group, r)
				bytes += len(r.blocks)
			default:
				break collect
			}
		}
		err := b.commit(group)
		for _, r := range group {
			r.err <- err
		}
	}
}

func (b *blockDB) drain() {
	for {
		select {
		case r := <-b.reqs:
			r.err <- b.commit([]*writeReq{r})
		default:
			return
		}
	}
}

// commit writes the group in one transaction and records whether the
// disk took it, for Ping.
func (b *blockDB) commit(group []*writeReq) error {
	err := b.write(group)
	b.health.Observe(err)
	return err
}

func (b *blockDB) write(group []*writeReq) (err error) {
	ctx := context.Background()
	tx, err := b.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	var last, records [2]int64
	stmts := map[string]*sql.Stmt{}
	for _, r := range group {
		r.ids = r.ids[:0]
		for _, blk := range r.blocks {
			st := stmts[blk.table]
			if st == nil {
				q := "INSERT INTO " + blk.table + "(min_ts, max_ts, count, data) VALUES (?, ?, ?, ?)"
				switch {
				case blk.table == tableLogGroups:
					q = "INSERT INTO " + blk.table + "(min_ts, max_ts, count, data, first_block, day, bloom_off, bloom_len, service, severity, dup) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
				case blk.group != nil:
					q = "INSERT INTO " + blk.table + "(min_ts, max_ts, count, data, first_block, day, bloom_off, bloom_len) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
				}
				st, err = tx.PrepareContext(ctx, q)
				if err != nil {
					return err
				}
				stmts[blk.table] = st
			}
			args := []any{blk.minTs, blk.maxTs, blk.count, blk.data}
			if g := blk.group; g != nil {
				args = append(args, g.firstBlock, g.day, g.bloomOff, g.bloomLen)
				if blk.table == tableLogGroups {
					args = append(args, g.service, g.severity, g.dup.Load())
				}
			}
			res, err := st.ExecContext(ctx, args...)
			if err != nil {
				return fmt.Errorf("insert block: %w", err)
			}
			id, err := res.LastInsertId()
			if err != nil {
				return err
			}
			r.ids = append(r.ids, id)
			if blk.group != nil {
				continue
			}
			i := 0
			if blk.table == tableSpans {
				i = 1
			}
			last[i] = id
			records[i] += int64(blk.count)
		}
		for _, id := range r.dupGroups {
			if _, err := tx.ExecContext(ctx, "UPDATE "+tableLogGroups+" SET dup = 1 WHERE id = ?", id); err != nil {
				return fmt.Errorf("mark group: %w", err)
			}
		}
		for _, s := range r.services {
			if _, err := tx.ExecContext(ctx, `INSERT INTO services(signal, service, operation, last_seen) VALUES (?, ?, ?, ?)
				ON CONFLICT(signal, service, operation) DO UPDATE SET last_seen = max(last_seen, excluded.last_seen)`,
				s.signal, s.service, s.operation, s.lastSeen); err != nil {
				return fmt.Errorf("upsert service: %w", err)
			}
		}
	}
	if err := b.checkpointsTx(ctx, tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	if b.onCommit != nil {
		b.onCommit(last, records)
	}
	return nil
}

func (b *blockDB) checkpointsTx(ctx context.Context, tx *sql.Tx) error {
	if b.checkpoints == nil {
		return nil
	}
	l, s := b.checkpoints()
	for i, v := range [2]int64{l, s} {
		if v <= b.lastCP[i] {
			continue
		}
		sig := [2]string{"logs", "spans"}[i]
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints(signal, block_id) VALUES (?, ?)
			ON CONFLICT(signal) DO UPDATE SET block_id = excluded.block_id`, sig, v); err != nil {
			return fmt.Errorf("write checkpoint: %w", err)
		}
		// Request blocks up to the checkpoint live on in group blocks.
		table := [2]string{tableLogs, tableSpans}[i]
		if _, err := tx.ExecContext(ctx, "DELETE FROM "+table+" WHERE id <= ?", v); err != nil {
			return fmt.Errorf("delete indexed blocks: %w", err)
		}
	}
	// Only remember them once the transaction commits; harmless to rewrite.
	b.lastCP = [2]int64{max(l, b.lastCP[0]), max(s, b.lastCP[1])}
	return nil
}

func (b *blockDB) writeCheckpoints() {
	if b.checkpoints == nil {
		return
	}
	l, s := b.checkpoints()
	if l <= b.lastCP[0] && s <= b.lastCP[1] {
		return
	}
	_ = b.commit(nil)
}

func (b *blockDB) checkpoint(ctx context.Context, signal string) (int64, error) {
	var id int64
	err := b.db.QueryRowContext(ctx, "SELECT block_id FROM checkpoints WHERE signal = ?", signal).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	return id, err
}

type rawBlock struct {
	id    int64
	count int
	data  []byte
}

// blocksAfter returns stored blocks with id > after, in id order, stopping
// once maxRecords records are gathered.
func (b *blockDB) blocksAfter(ctx context.Context, table string, after int64, maxRecords int) ([]rawBlock, error) {
	rows, err := b.db.QueryContext(ctx, "SELECT id, count, data FROM "+table+" WHERE id > ? ORDER BY id LIMIT 256", after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []rawBlock
	n := 0
	for rows.Next() && n < maxRecords {
		var rb rawBlock
		if err := rows.Scan(&rb.id, &rb.count, &rb.data); err != nil {
			return nil, err
		}
		out = append(out, rb)
		n += rb.count
	}
	return out, rows.Err()
}

func (b *blockDB) block(ctx context.Context, table string, id int64) ([]byte, error) {
	var data []byte
	err := b.db.QueryRowContext(ctx, "SELECT data FROM "+table+" WHERE id = ?", id).Scan(&data)
	return data, err
}

// lastID returns the newest block id of table and how many records the
// blocks after `after` hold.
func (b *blockDB) lastID(ctx context.Context, table string, after int64) (last, records int64, err error) {
	var id, n sql.NullInt64
	err = b.db.QueryRowContext(ctx, "SELECT (SELECT max(id) FROM "+table+"), (SELECT sum(count) FROM "+table+" WHERE id > ?)", after).Scan(&id, &n)
	return id.Int64, n.Int64, err
}

func (b *blockDB) services(ctx context.Context, after int64) ([]serviceSeen, error) {
	rows, err := b.db.QueryContext(ctx, "SELECT signal, service, operation, last_seen FROM services WHERE last_seen >= ?", after)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []serviceSeen
	for rows.Next() {
		var s serviceSeen
		if err := rows.Scan(&s.signal, &s.service, &s.operation, &s.lastSeen); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

// deleteBefore removes a signal's blocks (from each of tables) and
// catalogue entries whose newest record is older than cutoff (unix ns),
// then gives freed pages back to the file system. It runs on the writer
// connection, between group commits.
func (b *blockDB) deleteBefore(ctx context.Context, signal string, cutoff int64, tables ...string) (int64, error) {
	var total int64
	for _, table := range tables {
		// Delete in slices so the writer's group commits interleave.
		for {
			res, err := b.w.ExecContext(ctx, "DELETE FROM "+table+" WHERE id IN (SELECT id FROM "+table+" WHERE max_ts < ? LIMIT 500)", cutoff)
			if err != nil {
				return total, fmt.Errorf("delete expired blocks: %w", err)
			}
			n, _ := res.RowsAffected()
			total += n
			if n == 0 {
				break
			}
		}
	}
	if _, err := b.w.ExecContext(ctx, "DELETE FROM services WHERE signal = ? AND last_seen < ?", signal, cutoff); err != nil {
		return total, fmt.Errorf("delete expired services: %w", err)
	}
	if total > 0 {
		if _, err := b.w.ExecContext(ctx, "PRAGMA incremental_vacuum"); err != nil {
			return total, fmt.Errorf("vacuum: %w", err)
		}
	}
	return total, nil
}

// groups returns the metadata of every group block of table.
func (b *blockDB) groups(ctx context.Context, table string) ([]*groupMeta, error) {
	q := "SELECT id, first_block, day, min_ts, max_ts, count, bloom_off, bloom_len FROM " + table
	logs := table == tableLogGroups
	if logs {
		q = "SELECT id, first_block, day, min_ts, max_ts, count, bloom_off, bloom_len, service, severity, dup FROM " + table
	}
	rows, err := b.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []*groupMeta
	for rows.Next() {
		g := &groupMeta{}
		dest := []any{&g.id, &g.firstBlock, &g.day, &g.minTs, &g.maxTs, &g.count, &g.bloomOff, &g.bloomLen}
		var svc, sev sql.NullString
		var dup bool
		if logs {
			dest = append(dest, &svc, &sev, &dup)
		}
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		g.service, g.severity, g.keyed = svc.String, sev.String, svc.Valid && sev.Valid
		g.dup.Store(dup || !g.keyed)
		out = append(out, g)
	}
	return out, rows.Err()
}

// deleteGroupsAfter removes group blocks built from request blocks after
// cp: a replay rebuilds them.
func (b *blockDB) deleteGroupsAfter(ctx context.Context, table string, cp int64) (int64, error) {
	res, err := b.w.ExecContext(ctx, "DELETE FROM "+table+" WHERE first_block > ?", cp)
	if err != nil {
		return 0, fmt.Errorf("delete groups after the checkpoint: %w", err)
	}
	return res.RowsAffected()
}

// ping checks the database answers, can take a write lock and, after a
// commit failed for lack of storage, takes writes again.
func (b *blockDB) ping(ctx context.Context) error {
	if _, err := b.w.ExecContext(ctx, "BEGIN IMMEDIATE; ROLLBACK"); err != nil {
		return err
	}
	return b.health.Check(ctx)
}

func (b *blockDB) close() error {
	return errors.Join(b.db.Close(), b.w.Close())
}
