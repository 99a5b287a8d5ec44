package sqlite_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/sqlite"
	"github.com/watchword/watchword/internal/store/sqlstore"
	"github.com/watchword/watchword/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlstore.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: path})
	if err != nil {
		t.Fatalf("Open(%q): %v", path, err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "watchword.db"))
	})
}

func TestStoreInMemory(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return open(t, ":memory:") })
}

// TestTwoHandles runs the lock test over two handles on one file, as the
// server and the CLI would be: their writers meet in SQLite's file lock
// (BEGIN IMMEDIATE and busy_timeout), not in one connection pool.
func TestTwoHandles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchword.db")
	storetest.RunConcurrencyTest(t, open(t, path), open(t, path))
}

// TestTwoHandlesClaim has two handles on one file claim outbox rows at once.
func TestTwoHandlesClaim(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchword.db")
	storetest.RunClaimConcurrencyTest(t, open(t, path), open(t, path))
}

// TestTwoHandlesRotation has two handles on one file start rotation runs
// for one client and claim due runs at once.
func TestTwoHandlesRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "watchword.db")
	storetest.RunRotationConcurrencyTest(t, open(t, path), open(t, path))
}

func TestMigrationsOnce(t *testing.T) {
	// Characters that mean something in a URI must stay part of the path.
	dir := filepath.Join(t.TempDir(), "dir with spaces?&#%")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "watchword.db")
	first := open(t, path).MigrationsApplied()
	if want := storetest.MigrationFiles(t, "migrations"); !slices.Equal(first, want) {
		t.Errorf("first Open applied %q, want %q", first, want)
	}
	if again := open(t, path).MigrationsApplied(); len(again) != 0 {
		t.Errorf("second Open applied %q, want nothing", again)
	}
	if _, err := os.Stat(path); err != nil {
		t.Errorf("database file: %v", err)
	}
}

// TestNow checks that Tx.Now reads Config.Now, truncated to microseconds.
func TestNow(t *testing.T) {
	fixed := time.Date(2031, 5, 6, 7, 8, 9, 123456789, time.FixedZone("", 3600))
	db, err := sqlite.Open(t.Context(), sqlite.Config{Path: ":memory:", Now: func() time.Time { return fixed }})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	err = db.Tx(t.Context(), func(tx store.Tx) error {
		if got, want := tx.Now(), store.Truncate(fixed); got != want {
			t.Errorf("Now() = %v, want %v", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
