package postgres_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/postgres"
	"github.com/watchword/watchword/internal/store/sqlstore"
	"github.com/watchword/watchword/internal/store/storetest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func open(t *testing.T, url string) *sqlstore.DB {
	t.Helper()
	db, err := postgres.Open(t.Context(), postgres.Config{URL: url})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

func TestStore(t *testing.T) {
	storetest.RunTests(t, func(t *testing.T) store.Store { return open(t, pgtest.URL(t)) })
}

// TestTwoInstances runs the lock test over two pools on one database, as
// two server instances would be.
func TestTwoInstances(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunConcurrencyTest(t, open(t, url), open(t, url))
}

// TestTwoInstancesClaim has two pools on one database claim outbox rows at
// once, as two dispatchers would: FOR UPDATE SKIP LOCKED and the lease must
// hand each row to exactly one of them.
func TestTwoInstancesClaim(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunClaimConcurrencyTest(t, open(t, url), open(t, url))
}

// TestTwoInstancesRotation has two pools on one database start rotation
// runs for one client at once (the partial unique index lets exactly one
// run) and claim due runs at once (FOR UPDATE SKIP LOCKED and the lease
// hand each run to exactly one of them).
func TestTwoInstancesRotation(t *testing.T) {
	url := pgtest.URL(t)
	storetest.RunRotationConcurrencyTest(t, open(t, url), open(t, url))
}

// TestConcurrentMigrations opens several instances on a new database at
// once: the advisory lock lets exactly one of them apply the migrations.
func TestConcurrentMigrations(t *testing.T) {
	url := pgtest.URL(t)
	const n = 4
	applied := make([][]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			db, err := postgres.Open(t.Context(), postgres.Config{URL: url})
			if err != nil {
				t.Errorf("Open: %v", err)
				return
			}
			defer db.Close()
			applied[i] = db.MigrationsApplied()
		})
	}
	wg.Wait()
	migrated := 0
	for _, a := range applied {
		if len(a) > 0 {
			migrated++
			if want := storetest.MigrationFiles(t, "migrations"); !slices.Equal(a, want) {
				t.Errorf("migrations applied = %q, want %q", a, want)
			}
		}
	}
	if migrated != 1 {
		t.Errorf("%d instances applied migrations (%q), want exactly 1", migrated, applied)
	}
}

func TestOpenBadURL(t *testing.T) {
	_, err := postgres.Open(t.Context(), postgres.Config{URL: "postgres://user:s3cret@127.0.0.1:bad/x"})
	if err == nil {
		t.Fatal("Open(bad URL): got no error")
	}
	if got := err.Error(); strings.Contains(got, "s3cret") {
		t.Errorf("error %q leaks the password", got)
	}
}
