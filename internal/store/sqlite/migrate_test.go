package sqlite

import (
	"database/sql"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/storetest"
)

func TestMigrations(t *testing.T) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var path string
	storetest.RunMigrationTests(t, storetest.MigrationEnv{
		Migrations: sub,
		Dialect:    goose.DialectSQLite3,
		OpenRaw: func(t *testing.T) *sql.DB {
			path = filepath.Join(t.TempDir(), "old.db")
			db, err := sql.Open("sqlite", dsn(path, false))
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
		Open: func(t *testing.T) (store.Store, []string) {
			s, err := Open(t.Context(), Config{Path: path})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s.MigrationsApplied()
		},
	})
}
