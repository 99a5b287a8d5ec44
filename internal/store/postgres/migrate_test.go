package postgres

import (
	"database/sql"
	"io/fs"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/sqlstore"
	"github.com/watchword/watchword/internal/store/storetest"
)

func TestMigrations(t *testing.T) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		t.Fatal(err)
	}
	var url string
	storetest.RunMigrationTests(t, storetest.MigrationEnv{
		Migrations: sub,
		Dialect:    goose.DialectPostgres,
		Rebind:     sqlstore.DollarPlaceholders,
		OpenRaw: func(t *testing.T) *sql.DB {
			url = pgtest.URL(t)
			db, err := sql.Open("pgx", url)
			if err != nil {
				t.Fatal(err)
			}
			return db
		},
		Open: func(t *testing.T) (store.Store, []string) {
			s, err := Open(t.Context(), Config{URL: url})
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			t.Cleanup(func() { s.Close() })
			return s, s.MigrationsApplied()
		},
	})
}
