package lifecycle_test

import (
	"context"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// t0 is the start of every test clock: a fixed instant with sub-second parts.
var t0 = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

// env is one service over a fresh database with a test clock.
type env struct {
	svc    *lifecycle.Service
	clock  *clocktest.Clock
	ctx    context.Context
	again  func() *lifecycle.Service // a second instance on the same database
	hasher *secret.Hasher
}

// forEachBackend runs fn as a subtest on every backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, e *env)) {
	for _, b := range testenv.Backends {
		t.Run(b, func(t *testing.T) {
			open := testenv.Database(t, b)
			clock := clocktest.New(t0)
			key, err := secret.ParseKey(secret.GenerateKeyHex())
			if err != nil {
				t.Fatal(err)
			}
			h := secret.NewHasher(key)
			mk := func() *lifecycle.Service {
				svc := lifecycle.New(open(clock.Now), h)
				svc.Now = clock.Now
				return svc
			}
			e := &env{svc: mk(), clock: clock, again: mk, hasher: h}
			e.ctx = watchword.NewContextWithActor(t.Context(), watchword.Actor{ID: "token:test", Name: "tester", Role: watchword.RoleAdmin})
			if _, err := e.svc.Initialize(e.ctx); err != nil {
				t.Fatal(err)
			}
			fn(t, e)
		})
	}
}

// mustClient creates a confidential client in the default domain.
func (e *env) mustClient(t *testing.T, name string) (watchword.Client, *watchword.NewSecret) {
	t.Helper()
	c, ns, err := e.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: name})
	if err != nil {
		t.Fatalf("CreateClient(%q): %v", name, err)
	}
	return c, ns
}

// statuses returns the status of each of the client's secrets, by id.
func (e *env) statuses(t *testing.T, client string) map[string]watchword.SecretStatus {
	t.Helper()
	ss, err := e.svc.ListSecrets(e.ctx, "default", client)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]watchword.SecretStatus{}
	for _, s := range ss {
		m[s.ID] = s.Status
	}
	return m
}

func wantCode(t *testing.T, err error, code, field string) {
	t.Helper()
	if got := watchword.ErrorCode(err); got != code {
		t.Fatalf("error code=%q (%v), want %q", got, err, code)
	}
	if field != "" {
		if got := watchword.ErrorField(err); got != field {
			t.Fatalf("error field=%q (%v), want %q", got, err, field)
		}
	}
}

func dur(d time.Duration) *watchword.Duration { v := watchword.Duration(d); return &v }
