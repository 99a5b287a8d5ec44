// Package sqlite is the SQLite backend of the store (modernc.org/sqlite, no
// cgo), for single-instance deployments and tests.
//
// Transactions are BEGIN IMMEDIATE, so a Tx takes the write lock when it
// starts and concurrent writers queue (busy_timeout) instead of failing to
// upgrade a read lock. In-process writers share one connection; reads
// outside a Tx use a separate pool of read-only connections, which WAL lets
// run alongside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"time"

	"github.com/pressly/goose/v3"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/watchword/watchword/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures Open.
type Config struct {
	// Path is the database file, created if missing. ":memory:" is a private
	// in-memory database for tests: it lives in one connection, so reads
	// outside a Tx wait while a Tx runs.
	Path string
	// Now is the clock of Tx.Now; nil means time.Now.
	Now func() time.Time
}

// busyTimeout is how long a writer waits for another process's write
// transaction before giving up with SQLITE_BUSY.
const busyTimeout = 10 * time.Second

// dialect is the sqlstore dialect of SQLite.
var dialect = sqlstore.Dialect{
	Name:              "sqlite",
	IsUniqueViolation: isUniqueViolation,
}

func isUniqueViolation(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	return e.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || e.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
}

// Open opens (creating if needed) and migrates the database at cfg.Path.
func Open(ctx context.Context, cfg Config) (*sqlstore.DB, error) {
	if cfg.Path == "" {
		return nil, errors.New("sqlite: no database path")
	}
	memory := cfg.Path == ":memory:"
	write, err := sql.Open("sqlite", dsn(cfg.Path, false))
	if err != nil {
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	// One writer connection: in-process transactions queue in the pool
	// rather than polling the file lock; the busy timeout still covers
	// other processes (the CLI) writing to the same file.
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0) // a closed :memory: connection would lose the database
	read := write
	fail := func(err error) (*sqlstore.DB, error) {
		if read != write {
			read.Close()
		}
		write.Close()
		return nil, fmt.Errorf("sqlite: %w", err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fail(err)
	}
	applied, err := sqlstore.Migrate(ctx, write, goose.DialectSQLite3, sub)
	if err != nil {
		return fail(err)
	}
	if !memory {
		if read, err = sql.Open("sqlite", dsn(cfg.Path, true)); err != nil {
			return fail(err)
		}
		n := max(4, runtime.GOMAXPROCS(0))
		read.SetMaxOpenConns(n)
		read.SetMaxIdleConns(n)
		if err := read.PingContext(ctx); err != nil {
			return fail(err)
		}
	}
	return sqlstore.New(sqlstore.Config{
		Read: read, Write: write, Dialect: dialect, Now: cfg.Now, MigrationsApplied: applied,
	}), nil
}

// dsn builds a modernc DSN. The path goes in a file: URI, escaped, so that
// no character of it is taken for a parameter.
func dsn(path string, readOnly bool) string {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeout.Milliseconds()))
	q.Add("_pragma", "foreign_keys(1)")
	q.Add("_pragma", "synchronous(NORMAL)")
	if path != ":memory:" {
		q.Add("_pragma", "journal_mode(WAL)")
	}
	q.Set("_txlock", "immediate")
	if readOnly {
		// A mistaken write through the read pool fails instead of taking
		// the write lock behind the writer's back.
		q.Set("_query_only", "1")
	}
	p := path
	if path != ":memory:" {
		p = (&url.URL{Path: path}).EscapedPath()
	}
	return "file:" + p + "?" + q.Encode()
}
