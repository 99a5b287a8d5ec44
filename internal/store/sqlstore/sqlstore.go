// Package sqlstore is the database/sql implementation of store.Store shared
// by the SQLite and PostgreSQL backends. The backends differ only in the
// hooks of a Dialect, the schema files and how they open their pools.
//
// Queries are written once, with '?' placeholders. Times are BIGINT unix
// microseconds (NULL for optional times), lists and policies are JSON text.
package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/watchword/watchword/internal/store"
)

// Dialect holds what differs between databases.
type Dialect struct {
	// Name is used in error messages ("sqlite", "postgres").
	Name string
	// Rebind rewrites a query written with '?' placeholders; nil keeps it.
	Rebind func(query string) string
	// IsUniqueViolation reports a unique or primary-key violation from the
	// driver's error code.
	IsUniqueViolation func(error) bool
	// IsRetryable reports an error after which the whole transaction may be
	// run again (serialisation failure, deadlock); nil means never.
	IsRetryable func(error) bool
	// TxOptions are passed to BeginTx.
	TxOptions *sql.TxOptions
	// LockClientSuffix is appended to the SELECT of LockClient, e.g.
	// " FOR UPDATE". SQLite needs none: its transactions are IMMEDIATE, so a
	// Tx is already the only writer.
	LockClientSuffix string
	// SkipLockedSuffix is appended to the SELECT that picks the outbox rows
	// a dispatcher claims, e.g. " FOR UPDATE SKIP LOCKED", so that
	// concurrent claimers take disjoint rows without waiting for each
	// other. SQLite needs none, for the same reason as LockClientSuffix.
	SkipLockedSuffix string
	// Savepoints wraps each write that may violate a constraint in a
	// savepoint. PostgreSQL aborts the whole transaction on any failed
	// statement; the savepoint keeps the Tx usable after ErrAlreadyExists,
	// as it is on SQLite.
	Savepoints bool
}

func (d *Dialect) rebind(q string) string {
	if d.Rebind == nil {
		return q
	}
	return d.Rebind(q)
}

func (d *Dialect) retryable(err error) bool {
	return err != nil && d.IsRetryable != nil && d.IsRetryable(err)
}

// DollarPlaceholders rewrites '?' placeholders to $1, $2, ... as PostgreSQL
// expects. A '?' inside a single-quoted literal is left alone.
func DollarPlaceholders(q string) string {
	var b strings.Builder
	b.Grow(len(q) + 16)
	n, quoted := 0, false
	for i := 0; i < len(q); i++ {
		c := q[i]
		switch {
		case c == '\'':
			quoted = !quoted // '' inside a literal toggles twice: still quoted
		case c == '?' && !quoted:
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Config configures New.
type Config struct {
	// Write runs transactions and migrations. Read serves reads outside a
	// transaction; nil means Write. SQLite uses a separate pool of read-only
	// connections so that reads never wait for the single writer.
	Read, Write *sql.DB
	Dialect     Dialect
	// Now is the clock read by Tx.Now; nil means time.Now.
	Now func() time.Time
	// MigrationsApplied is reported by DB.MigrationsApplied.
	MigrationsApplied []string
}

// DB implements store.Store.
type DB struct {
	reader
	write   *sql.DB
	read    *sql.DB
	dialect *Dialect
	now     func() time.Time
	applied []string
}

var _ store.Store = (*DB)(nil)

// New returns a store over already migrated pools. Close closes them.
func New(cfg Config) *DB {
	d := cfg.Dialect
	db := &DB{write: cfg.Write, read: cfg.Read, dialect: &d, now: cfg.Now, applied: cfg.MigrationsApplied}
	if db.read == nil {
		db.read = db.write
	}
	if db.now == nil {
		db.now = time.Now
	}
	db.reader = reader{q: db.read, d: db.dialect}
	return db
}

// MigrationsApplied lists the migrations that opening this store applied,
// in order; it is empty when the schema was already up to date.
func (db *DB) MigrationsApplied() []string { return append([]string(nil), db.applied...) }

// Ping checks that the database answers.
func (db *DB) Ping(ctx context.Context) error {
	if err := db.write.PingContext(ctx); err != nil {
		return fmt.Errorf("%s: ping: %w", db.dialect.Name, err)
	}
	if db.read != db.write {
		if err := db.read.PingContext(ctx); err != nil {
			return fmt.Errorf("%s: ping: %w", db.dialect.Name, err)
		}
	}
	return nil
}

// Close closes the pools.
func (db *DB) Close() error {
	var errs []error
	if db.read != db.write {
		errs = append(errs, db.read.Close())
	}
	errs = append(errs, db.write.Close())
	return errors.Join(errs...)
}

// maxTxAttempts bounds how often Tx runs fn when the database reports a
// serialisation failure or deadlock.
const maxTxAttempts = 5

// Tx runs fn in a transaction and commits if fn returns nil; fn's error is
// returned as is. If fn panics, the transaction is rolled back and the panic
// goes on. On a retryable error (PostgreSQL 40001, 40P01) the transaction is
// rolled back and fn run again, at most maxTxAttempts times in all.
func (db *DB) Tx(ctx context.Context, fn func(tx store.Tx) error) error {
	for attempt := 1; ; attempt++ {
		retry, err := db.runTx(ctx, fn)
		if !retry || attempt == maxTxAttempts {
			return err
		}
		// Jittered back-off so that the transactions that collided do not
		// collide again at once.
		wait := time.Duration(rand.Int64N(int64(5*time.Millisecond) << attempt))
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return err
		}
	}
}

func (db *DB) runTx(ctx context.Context, fn func(tx store.Tx) error) (retry bool, err error) {
	sqlTx, err := db.write.BeginTx(ctx, db.dialect.TxOptions)
	if err != nil {
		return db.dialect.retryable(err), fmt.Errorf("%s: begin: %w", db.dialect.Name, err)
	}
	done := false
	defer func() {
		if !done { // fn failed or panicked
			_ = sqlTx.Rollback()
		}
	}()
	t := &txn{now: store.Truncate(db.now())}
	t.reader = reader{q: sqlTx, d: db.dialect, retry: &t.retry}
	if err := fn(t); err != nil {
		return t.retry.Load(), err
	}
	done = true
	if err := sqlTx.Commit(); err != nil {
		return t.retry.Load() || db.dialect.retryable(err), fmt.Errorf("%s: commit: %w", db.dialect.Name, err)
	}
	return false, nil
}

// querier is what *sql.DB and *sql.Tx have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

// reader implements store.Reader over a pool or a transaction.
type reader struct {
	q querier
	d *Dialect
	// retry, inside a transaction, records that a statement failed in a way
	// that makes re-running the transaction worthwhile, whatever fn then
	// does with the error.
	retry *atomic.Bool
}

func (r *reader) queryRow(ctx context.Context, query string, args ...any) *sql.Row {
	return r.q.QueryRowContext(ctx, r.d.rebind(query), args...)
}

func (r *reader) query(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	return r.q.QueryContext(ctx, r.d.rebind(query), args...)
}

func (r *reader) exec(ctx context.Context, query string, args ...any) (sql.Result, error) {
	return r.q.ExecContext(ctx, r.d.rebind(query), args...)
}

// fail maps a database error to the store's sentinels, or wraps it with op.
func (r *reader) fail(op string, err error) error {
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return store.ErrNotFound
	case r.d.IsUniqueViolation != nil && r.d.IsUniqueViolation(err):
		return store.ErrAlreadyExists
	}
	if r.retry != nil && r.d.retryable(err) {
		r.retry.Store(true)
	}
	return fmt.Errorf("%s: %s: %w", r.d.Name, op, err)
}

// txn implements store.Tx.
type txn struct {
	reader
	now   time.Time
	retry atomic.Bool
}

func (t *txn) Now() time.Time { return t.now }

// execOne runs a write that must touch exactly one row: none is ErrNotFound.
// guarded writes may violate a constraint and run inside a savepoint where
// the dialect needs one.
func (t *txn) execOne(ctx context.Context, op string, guarded bool, query string, args ...any) error {
	guarded = guarded && t.d.Savepoints
	if guarded {
		if _, err := t.exec(ctx, "SAVEPOINT ww_stmt"); err != nil {
			return t.fail(op, err)
		}
	}
	res, err := t.exec(ctx, query, args...)
	if guarded {
		stmt := "RELEASE SAVEPOINT ww_stmt"
		if err != nil {
			stmt = "ROLLBACK TO SAVEPOINT ww_stmt"
		}
		if _, spErr := t.exec(ctx, stmt); spErr != nil {
			return t.fail(op, spErr) // the transaction is unusable now
		}
	}
	if err != nil {
		return t.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return t.fail(op, err)
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}
