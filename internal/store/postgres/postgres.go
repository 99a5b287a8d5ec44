// Package postgres is the PostgreSQL backend of the store (pgx through
// database/sql), for deployments with several instances.
//
// Transactions run at READ COMMITTED: LockClient's SELECT … FOR UPDATE makes
// a concurrent Tx on the same client wait, and each later statement sees
// what the previous holder committed, so read-check-write sequences do not
// lose updates. Deadlocks and serialisation failures are retried by Tx.
package postgres

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/watchword/watchword/internal/store/sqlstore"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Config configures Open.
type Config struct {
	// URL is a PostgreSQL connection URL or keyword/value string.
	URL string
	// Now is the clock of Tx.Now; nil means time.Now.
	Now func() time.Time
}

// migrationLockID is the advisory lock that serialises migrations across
// instances starting at once (crc32 of "watchword-migrations"), distinct
// from goose's default so that another goose user of the database does not
// block us.
const migrationLockID = 0x431d8b1b

// dialect is the sqlstore dialect of PostgreSQL.
var dialect = sqlstore.Dialect{
	Name:              "postgres",
	Rebind:            sqlstore.DollarPlaceholders,
	IsUniqueViolation: func(err error) bool { return pgCode(err) == "23505" },
	// 40001 serialization_failure, 40P01 deadlock_detected.
	IsRetryable:      func(err error) bool { c := pgCode(err); return c == "40001" || c == "40P01" },
	TxOptions:        &sql.TxOptions{Isolation: sql.LevelReadCommitted},
	LockClientSuffix: " FOR UPDATE",
	SkipLockedSuffix: " FOR UPDATE SKIP LOCKED",
	Savepoints:       true,
}

func pgCode(err error) string {
	var e *pgconn.PgError
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// Open connects to cfg.URL and migrates the database.
func Open(ctx context.Context, cfg Config) (*sqlstore.DB, error) {
	cc, err := pgx.ParseConfig(cfg.URL)
	if err != nil {
		// pgx's message may quote the URL, password included.
		return nil, errors.New("postgres: invalid connection URL")
	}
	db := stdlib.OpenDB(*cc)
	db.SetMaxOpenConns(20)
	db.SetMaxIdleConns(10)
	db.SetConnMaxIdleTime(5 * time.Minute)
	db.SetConnMaxLifetime(time.Hour)
	fail := func(err error) (*sqlstore.DB, error) {
		db.Close()
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if err := db.PingContext(ctx); err != nil {
		return fail(err)
	}
	// pg_try_advisory_lock polled every second for up to five minutes: the
	// first instance migrates, the others wait and then find nothing to do.
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fail(err)
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return fail(err)
	}
	applied, err := sqlstore.Migrate(ctx, db, goose.DialectPostgres, sub, goose.WithSessionLocker(locker))
	if err != nil {
		return fail(err)
	}
	return sqlstore.New(sqlstore.Config{
		Write: db, Dialect: dialect, Now: cfg.Now, MigrationsApplied: applied,
	}), nil
}
