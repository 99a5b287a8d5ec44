package sqlstore

import "testing"

func TestDollarPlaceholders(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"SELECT 1", "SELECT 1"},
		{"SELECT a FROM t WHERE x = ? AND y = ?", "SELECT a FROM t WHERE x = $1 AND y = $2"},
		{"LIMIT ? OFFSET ?", "LIMIT $1 OFFSET $2"},
		{`WHERE name LIKE ? ESCAPE '\'`, `WHERE name LIKE $1 ESCAPE '\'`},
		{"WHERE a = '?' AND b = ?", "WHERE a = '?' AND b = $1"},
		{"WHERE a = 'it''s ?' AND b = ?", "WHERE a = 'it''s ?' AND b = $1"},
		{"VALUES (?,?,?,?,?,?,?,?,?,?)", "VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10)"},
	} {
		if got := DollarPlaceholders(tc.in); got != tc.want {
			t.Errorf("DollarPlaceholders(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestLikeContains(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"app", "%app%"},
		{"a_b", `%a\_b%`},
		{"100%", `%100\%%`},
		{`c:\x`, `%c:\\x%`},
	} {
		if got := likeContains(tc.in); got != tc.want {
			t.Errorf("likeContains(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
