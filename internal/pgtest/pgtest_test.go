package pgtest_test

import (
	"database/sql"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/watchword/watchword/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestURL checks that each URL is a separate, empty, usable database.
func TestURL(t *testing.T) {
	ctx := t.Context()
	u1, u2 := pgtest.URL(t), pgtest.URL(t)
	if u1 == u2 {
		t.Fatalf("URL returned %q twice", u1)
	}
	open := func(u string) *sql.DB {
		db, err := sql.Open("pgx", u)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db1, db2 := open(u1), open(u2)
	for _, db := range []*sql.DB{db1, db2} {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n != 0 {
			t.Errorf("new database has %d tables, want 0", n)
		}
	}
	if _, err := db1.ExecContext(ctx, "CREATE TABLE t (x int)"); err != nil {
		t.Fatal(err)
	}
	var exists bool
	if err := db2.QueryRowContext(ctx, "SELECT to_regclass('public.t') IS NOT NULL").Scan(&exists); err != nil {
		t.Fatal(err)
	}
	if exists {
		t.Errorf("a table created in one database is visible in the other")
	}
}
