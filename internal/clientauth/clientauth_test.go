package clientauth_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clientauth"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store/sqlite"
)

type fixture struct {
	svc      *lifecycle.Service
	verifier *clientauth.Verifier
	cache    *clientauth.Cache
	clock    *clocktest.Clock
	ctx      context.Context
	domainID string
}

func newFixture(tb testing.TB) *fixture {
	tb.Helper()
	clock := clocktest.New(time.Date(2026, 6, 1, 8, 0, 0, 0, time.UTC))
	st, err := sqlite.Open(context.Background(), sqlite.Config{Path: filepath.Join(tb.TempDir(), "w.db"), Now: clock.Now})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	key, _ := secret.ParseKey(secret.GenerateKeyHex())
	h := secret.NewHasher(key)
	svc := lifecycle.New(st, h)
	svc.Now, svc.ServerMaxSecrets = clock.Now, 32
	cache := clientauth.NewCache(time.Hour)
	svc.Changed = func(id string) { cache.Invalidate(id) }
	ctx := watchword.NewContextWithActor(context.Background(), watchword.Actor{ID: "test", Role: watchword.RoleAdmin})
	if _, err := svc.Initialize(ctx); err != nil {
		tb.Fatal(err)
	}
	p := watchword.DefaultSecretPolicy()
	p.MaxSecrets = 25
	d, err := svc.SetDomainPolicy(ctx, "default", p)
	if err != nil {
		tb.Fatal(err)
	}
	return &fixture{svc: svc, verifier: &clientauth.Verifier{Store: st, Hasher: h, Now: clock.Now, Cache: cache},
		cache: cache, clock: clock, ctx: ctx, domainID: d.ID}
}

func (f *fixture) client(tb testing.TB, name string, extra int) (watchword.Client, string) {
	tb.Helper()
	c, ns, err := f.svc.CreateClient(f.ctx, "default", lifecycle.ClientCreate{Name: name})
	if err != nil {
		tb.Fatal(err)
	}
	for range extra {
		if _, err := f.svc.AddSecret(f.ctx, "default", name, lifecycle.SecretCreate{}); err != nil {
			tb.Fatal(err)
		}
	}
	return c, ns.Plaintext
}

// lastCharChanged returns s with its last character replaced by another.
func lastCharChanged(s string) string {
	last := "x"
	if strings.HasSuffix(s, last) {
		last = "y"
	}
	return s[:len(s)-1] + last
}

func reason(err error) clientauth.Reason {
	var f *clientauth.Failure
	if errors.As(err, &f) {
		return f.Reason
	}
	return ""
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	c, good := f.client(t, "app", 0)
	other, otherSecret := f.client(t, "other", 0)
	custom := strings.Repeat("q", 40)
	if _, err := f.svc.AddSecret(f.ctx, "default", "app", lifecycle.SecretCreate{Value: custom}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		clientID string
		secret   string
		want     clientauth.Reason
	}{
		{"generated", c.ID, good, ""},
		{"custom", c.ID, custom, ""},
		{"wrong", c.ID, lastCharChanged(good), clientauth.ReasonWrongSecret},
		{"unknown client", "nope", good, clientauth.ReasonUnknownClient},
		{"other client's secret", c.ID, otherSecret, clientauth.ReasonWrongSecret},
		{"empty", c.ID, "", clientauth.ReasonWrongSecret},
		{"other client, own secret", other.ID, otherSecret, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := f.verifier.Verify(f.ctx, f.domainID, tt.clientID, tt.secret)
			if got := reason(err); got != tt.want || (tt.want == "" && err != nil) {
				t.Fatalf("reason=%q err=%v, want %q", got, err, tt.want)
			}
		})
	}
}

// TestCacheSeesLocalChangesAtOnce: with an hour-long TTL, a revocation and a
// rotation through the same service are still seen by the next check.
func TestCacheSeesLocalChangesAtOnce(t *testing.T) {
	f := newFixture(t)
	c, good := f.client(t, "app", 1)
	if _, _, err := f.verifier.Verify(f.ctx, f.domainID, c.ID, good); err != nil {
		t.Fatal(err) // now cached
	}
	id, _ := secret.ParseID(good)
	if _, err := f.svc.RevokeSecret(f.ctx, "default", "app", id, lifecycle.RevokeRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.verifier.Verify(f.ctx, f.domainID, c.ID, good); reason(err) != clientauth.ReasonRevoked {
		t.Fatalf("after revocation: %v, want revoked", err)
	}
	yes := true
	f.svc.UpdateClient(f.ctx, "default", "app", watchword.ClientUpdate{Disabled: &yes})
	res, err := f.svc.AddSecret(f.ctx, "default", "app", lifecycle.SecretCreate{})
	if err == nil {
		t.Fatalf("added a secret to a disabled client: %v", res)
	}
	if _, _, err := f.verifier.Verify(f.ctx, f.domainID, c.ID, good); err == nil {
		t.Fatal("disabled client authenticated")
	}
}

// BenchmarkVerify: a check costs the same right or wrong, for a known or
// unknown client, with 1 or 20 secrets (the cache is warm, as on the token
// endpoint).
func BenchmarkVerify(b *testing.B) {
	f := newFixture(b)
	c1, s1 := f.client(b, "one", 0)
	c20, s20 := f.client(b, "twenty", 19)
	cases := []struct {
		name, id, secret string
	}{
		{"right/secrets=1", c1.ID, s1},
		{"right/secrets=20", c20.ID, s20},
		{"wrong/secrets=1", c1.ID, lastCharChanged(s1)},
		{"wrong/secrets=20", c20.ID, lastCharChanged(s20)},
		{"unknown-client", "nobody", s1},
		{"malformed", c1.ID, "not-a-generated-secret"},
	}
	for _, cs := range cases {
		b.Run(cs.name, func(b *testing.B) {
			for b.Loop() {
				f.verifier.Verify(f.ctx, f.domainID, cs.id, cs.secret)
			}
		})
	}
}
