package sqlite

import (
	"database/sql"
	"path/filepath"
	"testing"
)

// TestPragmas checks that the settings of the DSN reach both pools.
func TestPragmas(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.db")
	for _, tc := range []struct {
		name     string
		readOnly bool
		want     map[string]string
	}{
		{"write", false, map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1", "synchronous": "1", "query_only": "0"}},
		{"read", true, map[string]string{"journal_mode": "wal", "busy_timeout": "10000", "foreign_keys": "1", "synchronous": "1", "query_only": "1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := sql.Open("sqlite", dsn(path, tc.readOnly))
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			for pragma, want := range tc.want {
				var got string
				if err := db.QueryRowContext(t.Context(), "PRAGMA "+pragma).Scan(&got); err != nil {
					t.Fatalf("PRAGMA %s: %v", pragma, err)
				}
				if got != want {
					t.Errorf("PRAGMA %s = %q, want %q", pragma, got, want)
				}
			}
		})
	}
}
