package delivery

import (
	"strings"
	"testing"
)

func TestRedactBoundedStraddle(t *testing.T) {
	const secret = "wwcs_SECRETVALUE123"
	for cut := 0; cut < 40; cut++ {
		b := []byte(strings.Repeat("x", cut) + secret + " tail")
		got := redactBounded(b[:min(len(b), 30+len(secret))], secret, 30)
		if strings.Contains(got, "SECR") || len(got) > 30+len(Redacted) {
			t.Fatalf("cut=%d: %q leaks part of the secret", cut, got)
		}
	}
}
