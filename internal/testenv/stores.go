package testenv

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/postgres"
	"github.com/watchword/watchword/internal/store/sqlite"
	"github.com/watchword/watchword/internal/store/sqlstore"
)

// Database makes a fresh database of backend ("sqlite" or "postgres") and
// returns a function that opens a new handle on it with the given clock;
// each call is another "instance" on the same database. Handles are closed
// when the test ends.
func Database(t *testing.T, backend string) func(now func() time.Time) store.Store {
	t.Helper()
	var open func(now func() time.Time) (*sqlstore.DB, error)
	switch backend {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "watchword.db")
		open = func(now func() time.Time) (*sqlstore.DB, error) {
			return sqlite.Open(t.Context(), sqlite.Config{Path: path, Now: now})
		}
	case "postgres":
		url := pgtest.URL(t)
		open = func(now func() time.Time) (*sqlstore.DB, error) {
			return postgres.Open(t.Context(), postgres.Config{URL: url, Now: now})
		}
	default:
		t.Fatalf("unknown backend %q", backend)
	}
	return func(now func() time.Time) store.Store {
		st, err := open(now)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		return st
	}
}
