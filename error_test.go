package watchword_test

import (
	"testing"
	"unicode/utf8"

	"github.com/watchword/watchword"
)

// TestTruncate: short messages are kept, long ones cut on a rune boundary
// with "…", and the result is always valid UTF-8.
func TestTruncate(t *testing.T) {
	for _, tt := range []struct {
		in   string
		n    int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"0123456789abc", 10, "0123456789…"},
		{"ab€cd", 3, "ab…"}, // € is 3 bytes from index 2: not split
		{"ab\xffcd", 10, "ab?cd"},
	} {
		got := watchword.Truncate(tt.in, tt.n)
		if got != tt.want || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}
