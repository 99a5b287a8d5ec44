package secret_test

import (
	"errors"
	"regexp"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/secret"
)

func TestPasswordRoundTrip(t *testing.T) {
	h := secret.HashPassword("correct horse battery staple")
	if !regexp.MustCompile(`^\$argon2id\$v=19\$m=19456,t=2,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$`).MatchString(h) {
		t.Fatalf("hash %q is not in PHC form with the default parameters", h)
	}
	if h2 := secret.HashPassword("correct horse battery staple"); h2 == h {
		t.Fatal("two hashes of one password are equal: the salt is not random")
	}
	for _, tc := range []struct {
		password string
		want     bool
	}{
		{"correct horse battery staple", true},
		{"correct horse battery stapl", false},
		{"Correct horse battery staple", false},
		{"", false},
	} {
		got, err := secret.VerifyPassword(tc.password, h)
		if err != nil || got != tc.want {
			t.Errorf("VerifyPassword(%q)=%v,%v, want %v", tc.password, got, err, tc.want)
		}
	}
}

// TestPasswordParamsFromHash: a hash made with other parameters still
// verifies, since they are read from the hash.
func TestPasswordParamsFromHash(t *testing.T) {
	p := secret.PasswordParams{Memory: 64, Time: 1, Threads: 2, SaltLen: 8, KeyLen: 16}
	h := secret.HashPasswordWith(p, "pw")
	if !strings.HasPrefix(h, "$argon2id$v=19$m=64,t=1,p=2$") {
		t.Fatalf("hash=%q", h)
	}
	if ok, err := secret.VerifyPassword("pw", h); !ok || err != nil {
		t.Fatalf("VerifyPassword=%v,%v, want true", ok, err)
	}
}

func TestPasswordMalformedHash(t *testing.T) {
	good := secret.HashPasswordWith(secret.PasswordParams{Memory: 64, Time: 1, Threads: 1, SaltLen: 16, KeyLen: 32}, "pw")
	parts := strings.Split(good, "$")
	with := func(i int, v string) string {
		p := append([]string(nil), parts...)
		p[i] = v
		return strings.Join(p, "$")
	}
	for _, tc := range []struct{ name, hash string }{
		{"argon2i", with(1, "argon2i")},
		{"old version", with(2, "v=16")},
		{"missing parameter", with(3, "m=64,t=1")},
		{"extra parameter", with(3, "m=64,t=1,p=1,x=2")},
		{"zero passes", with(3, "m=64,t=0,p=1")},
		{"too much memory", with(3, "m=4194304,t=1,p=1")},
		{"too many passes", with(3, "m=64,t=100,p=1")},
		{"salt not base64", with(4, "!!!!")},
		{"short salt", with(4, "c2FsdA")},
		{"short key", with(5, "aGFzaA")},
		{"bcrypt", "$2a$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy"},
		{"plaintext", "hunter2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, err := secret.VerifyPassword("pw", tc.hash)
			if ok || !errors.Is(err, secret.ErrMalformedHash) {
				t.Fatalf("VerifyPassword=%v,%v, want false, ErrMalformedHash", ok, err)
			}
		})
	}
	if ok, err := secret.VerifyPassword("pw", ""); ok || err != nil {
		t.Fatalf("empty hash: %v,%v, want false,nil", ok, err)
	}
}
