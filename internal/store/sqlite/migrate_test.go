package sqlite

import (
	"context"
	"database/sql"
	"io/fs"
	"path"
	"path/filepath"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/watchword/watchword/internal/store/sqlstore"
	"github.com/watchword/watchword/internal/store/storetest"
)

// migrationsAfter lists the embedded migrations after version v, in order.
func migrationsAfter(t *testing.T, v int) []string {
	t.Helper()
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil || len(names) < v {
		t.Fatalf("embedded migrations: %q, %v", names, err)
	}
	slices.Sort(names)
	out := []string{}
	for _, n := range names[v:] {
		out = append(out, path.Base(n))
	}
	return out
}

// openFilledAt migrates a new database to version v, runs fill on it, then
// opens it as the server would, checking that the later migrations ran.
func openFilledAt(t *testing.T, v int64, fill func(ctx context.Context, db *sql.DB)) *sqlstore.DB {
	t.Helper()
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", dsn(path, false))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, sub, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, v); err != nil {
		t.Fatalf("migrate to %d: %v", v, err)
	}
	fill(ctx, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s, err := Open(ctx, Config{Path: path})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if got, want := s.MigrationsApplied(), migrationsAfter(t, int(v)); !slices.Equal(got, want) {
		t.Errorf("migrations applied = %q, want %q", got, want)
	}
	return s
}

// TestMigrationBackfill fills a database at migration 1, then opens it:
// migration 2 must give the existing domains and clients their OAuth
// settings.
func TestMigrationBackfill(t *testing.T) {
	s := openFilledAt(t, 1, func(ctx context.Context, db *sql.DB) {
		for _, q := range storetest.V1Rows {
			if _, err := db.ExecContext(ctx, q); err != nil {
				t.Fatalf("%s: %v", q, err)
			}
		}
	})
	storetest.CheckV1Backfill(t, s)
}

// TestMigrationBackfillV2 fills a database at migration 2, then opens it:
// migration 3 must give domains their notification settings and mark the
// secrets that had already expired.
func TestMigrationBackfillV2(t *testing.T) {
	s := openFilledAt(t, 2, func(ctx context.Context, db *sql.DB) {
		for _, r := range storetest.V2Rows {
			if _, err := db.ExecContext(ctx, r.Query, r.Args...); err != nil {
				t.Fatalf("%s: %v", r.Query, err)
			}
		}
	})
	storetest.CheckV2Backfill(t, s)
}
