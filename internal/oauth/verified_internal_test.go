package oauth

import (
	"fmt"
	"testing"
)

// TestVerifiedTokens: a remembered token is found only for its domain, the
// cache never grows past its size (expired entries go first), and size 0
// remembers nothing.
func TestVerifiedTokens(t *testing.T) {
	v := verifiedTokens{max: 3}
	v.put("d1", "t1", accessClaims{JTI: "j1", Expiry: 100}, 50)
	if c, ok := v.get("d1", "t1"); !ok || c.JTI != "j1" {
		t.Fatalf("get = %v %v, want j1", c, ok)
	}
	if _, ok := v.get("d2", "t1"); ok {
		t.Fatal("found under another domain")
	}
	v.put("d1", "t2", accessClaims{Expiry: 200}, 50)
	v.put("d1", "t3", accessClaims{Expiry: 200}, 50)
	v.put("d1", "t4", accessClaims{Expiry: 200}, 150) // t1 has expired: it goes
	if _, ok := v.get("d1", "t1"); ok || len(v.m) != 3 {
		t.Fatalf("t1 kept (%v) or size %d, want dropped and 3", ok, len(v.m))
	}
	for i := range 10 {
		v.put("d1", fmt.Sprint("x", i), accessClaims{Expiry: 200}, 150)
		if len(v.m) > 3 {
			t.Fatalf("size %d after %d puts, want at most 3", len(v.m), i+1)
		}
	}
	if _, ok := v.get("d1", "x9"); !ok {
		t.Fatal("the newest entry was dropped")
	}
	off := verifiedTokens{}
	off.put("d1", "t1", accessClaims{Expiry: 100}, 50)
	if _, ok := off.get("d1", "t1"); ok {
		t.Fatal("size 0 remembered a token")
	}
}
