package storetest

import (
	"context"
	"database/sql"
	"io/fs"
	"path"
	"slices"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/watchword/watchword/internal/store"
)

// MigrationEnv is what the migration tests need of a backend.
type MigrationEnv struct {
	// Migrations holds the backend's *.sql files at its root.
	Migrations fs.FS
	Dialect    goose.Dialect
	// OpenRaw returns a connection to a new, empty database.
	OpenRaw func(t *testing.T) *sql.DB
	// Open opens that same database as the server does (migrating it) and
	// returns the store and the migrations this open applied.
	Open func(t *testing.T) (store.Store, []string)
	// Rebind rewrites '?' placeholders for the dialect; nil keeps them.
	Rebind func(string) string
}

// RunMigrationTests fills databases left at older migrations with rows of
// that time, opens them as the server would, and checks what the later
// migrations made of the rows.
func RunMigrationTests(t *testing.T, env MigrationEnv) {
	rebind := env.Rebind
	if rebind == nil {
		rebind = func(q string) string { return q }
	}
	t.Run("V1Backfill", func(t *testing.T) {
		s := env.openFilledAt(t, 1, func(ctx context.Context, db *sql.DB) {
			for _, q := range V1Rows {
				if _, err := db.ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
		})
		CheckV1Backfill(t, s)
	})
	t.Run("V2Backfill", func(t *testing.T) {
		s := env.openFilledAt(t, 2, func(ctx context.Context, db *sql.DB) {
			for _, r := range V2Rows {
				if _, err := db.ExecContext(ctx, rebind(r.Query), r.Args...); err != nil {
					t.Fatalf("%s: %v", r.Query, err)
				}
			}
		})
		CheckV2Backfill(t, s)
	})
	t.Run("V4Backfill", func(t *testing.T) {
		s := env.openFilledAt(t, 4, func(ctx context.Context, db *sql.DB) {
			for _, r := range V4Rows {
				if _, err := db.ExecContext(ctx, rebind(r.Query), r.Args...); err != nil {
					t.Fatalf("%s: %v", r.Query, err)
				}
			}
		})
		CheckV4Backfill(t, s)
	})
	// Migration 5 applied, filled, rolled back to 4 and applied again when
	// the server opens the database.
	t.Run("V5DownUp", func(t *testing.T) {
		s := env.openFilledAt(t, 4, func(ctx context.Context, db *sql.DB) {
			p := env.provider(t, db)
			checkRotationSchema(t, ctx, db, false)
			if _, err := p.UpTo(ctx, 5); err != nil {
				t.Fatalf("migrate to 5: %v", err)
			}
			checkRotationSchema(t, ctx, db, true)
			for _, r := range V5Rows {
				if _, err := db.ExecContext(ctx, rebind(r.Query), r.Args...); err != nil {
					t.Fatalf("%s: %v", r.Query, err)
				}
			}
			if _, err := p.DownTo(ctx, 4); err != nil {
				t.Fatalf("roll back to 4: %v", err)
			}
			if v, err := p.GetDBVersion(ctx); err != nil || v != 4 {
				t.Fatalf("version after rolling back = %d, %v; want 4", v, err)
			}
			checkRotationSchema(t, ctx, db, false)
		})
		CheckV5DownUp(t, s)
	})
}

func (env MigrationEnv) provider(t *testing.T, db *sql.DB) *goose.Provider {
	t.Helper()
	p, err := goose.NewProvider(env.Dialect, db, env.Migrations, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// openFilledAt migrates a new database to version v, runs fill on it, then
// opens it as the server would, checking that the later migrations ran.
func (env MigrationEnv) openFilledAt(t *testing.T, v int64, fill func(ctx context.Context, db *sql.DB)) store.Store {
	t.Helper()
	ctx := t.Context()
	db := env.OpenRaw(t)
	defer db.Close()
	p := env.provider(t, db)
	if _, err := p.UpTo(ctx, v); err != nil {
		t.Fatalf("migrate to %d: %v", v, err)
	}
	fill(ctx, db)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	s, applied := env.Open(t)
	if want := env.migrationsAfter(t, int(v)); !slices.Equal(applied, want) {
		t.Errorf("migrations applied = %q, want %q", applied, want)
	}
	return s
}

// migrationsAfter lists the migrations after version v, in order.
func (env MigrationEnv) migrationsAfter(t *testing.T, v int) []string {
	t.Helper()
	names, err := fs.Glob(env.Migrations, "*.sql")
	if err != nil || len(names) < v {
		t.Fatalf("migrations: %q, %v", names, err)
	}
	slices.Sort(names)
	out := []string{}
	for _, n := range names[v:] {
		out = append(out, path.Base(n))
	}
	return out
}
