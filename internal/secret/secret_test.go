package secret_test

import (
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/secret"
)

func TestGenerateParse(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		p, id := secret.Generate("wwcs_")
		if !strings.HasPrefix(p, "wwcs_") {
			t.Fatalf("secret %q lacks prefix", p)
		}
		if got, want := len(p), 5+16+43+6; got != want {
			t.Fatalf("len=%d, want %d", got, want)
		}
		got, ok := secret.ParseID(p)
		if !ok || got != id {
			t.Fatalf("ParseID=%q,%v, want %q,true", got, ok, id)
		}
		if seen[p] {
			t.Fatal("duplicate secret")
		}
		seen[p] = true
	}
}

func TestParseIDRejects(t *testing.T) {
	p, _ := secret.Generate("wwcs_")
	flipped := []byte(p)
	flipped[20] ^= 1 // stays in range but breaks the checksum
	other, id := secret.Generate("acme_")
	tests := []struct {
		name string
		in   string
		ok   bool
	}{
		{"valid", p, true},
		{"other prefix still parses", other, true},
		{"empty", "", false},
		{"custom value", strings.Repeat("x", 40), false},
		{"one char changed", string(flipped), false},
		{"truncated", p[:len(p)-1], false},
		{"non-base62 body", p[:10] + "!" + p[11:], false},
		{"too long", strings.Repeat("a", 600) + p, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ok := secret.ParseID(tt.in)
			if ok != tt.ok {
				t.Fatalf("ok=%v, want %v", ok, tt.ok)
			}
		})
	}
	if got, _ := secret.ParseID(other); got != id {
		t.Fatalf("id=%q, want %q", got, id)
	}
}

func TestHasher(t *testing.T) {
	k1, err := secret.ParseKey(secret.GenerateKeyHex())
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := secret.ParseKey(secret.GenerateKeyHex())
	old := secret.NewHasher(k1)
	hash, kid := old.Hash("s3cret")
	if kid != k1.ID {
		t.Fatalf("kid=%q, want %q", kid, k1.ID)
	}
	if strings.Contains(string(hash), "s3cret") {
		t.Fatal("hash contains plaintext")
	}
	rotated := secret.NewHasher(k2, k1)
	tests := []struct {
		name  string
		h     *secret.Hasher
		plain string
		kid   string
		want  bool
	}{
		{"same key", old, "s3cret", kid, true},
		{"wrong secret", old, "s3cre7", kid, false},
		{"old key after server key rotation", rotated, "s3cret", kid, true},
		{"unknown key id", rotated, "s3cret", "nope", false},
		{"key dropped", secret.NewHasher(k2), "s3cret", kid, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.h.Verify(tt.plain, hash, tt.kid); got != tt.want {
				t.Fatalf("Verify=%v, want %v", got, tt.want)
			}
		})
	}
	if _, err := secret.NewKey([]byte("short")); err == nil {
		t.Fatal("short key accepted")
	}
}

func BenchmarkVerify(b *testing.B) {
	k, _ := secret.ParseKey(secret.GenerateKeyHex())
	h := secret.NewHasher(k)
	p, _ := secret.Generate("wwcs_")
	hash, kid := h.Hash(p)
	b.Run("right", func(b *testing.B) {
		for b.Loop() {
			h.Verify(p, hash, kid)
		}
	})
	b.Run("wrong", func(b *testing.B) {
		w := p[:len(p)-1] + string(p[len(p)-1]^1) // last character changed
		for b.Loop() {
			h.Verify(w, hash, kid)
		}
	})
}

func TestSealOpen(t *testing.T) {
	k1, _ := secret.ParseKey(secret.GenerateKeyHex())
	k2, _ := secret.ParseKey(secret.GenerateKeyHex())
	h := secret.NewHasher(k1)
	ct, kid := h.Seal([]byte("private key"), []byte("kid-1"))
	if strings.Contains(string(ct), "private key") {
		t.Fatal("ciphertext holds the plaintext")
	}
	got, err := secret.NewHasher(k2, k1).Open(ct, kid, []byte("kid-1"))
	if err != nil || string(got) != "private key" {
		t.Fatalf("Open after server key rotation=%q,%v", got, err)
	}
	if _, err := h.Open(ct, kid, []byte("kid-2")); err == nil {
		t.Fatal("Open with other associated data succeeded")
	}
	if _, err := secret.NewHasher(k2).Open(ct, kid, []byte("kid-1")); err == nil {
		t.Fatal("Open without the key succeeded")
	}
}
