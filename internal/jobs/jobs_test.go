package jobs_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/jobs"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const day = 24 * time.Hour

// env is a database with a test clock; instance returns a new "server
// instance" on it: its own store handle, service and runner.
type env struct {
	clock    *clocktest.Clock
	ctx      context.Context
	hasher   *secret.Hasher
	instance func() *instance
}

type instance struct {
	svc    *lifecycle.Service
	runner *jobs.Runner
}

func forEachBackend(t *testing.T, start time.Time, fn func(t *testing.T, e *env)) {
	for _, b := range testenv.Backends {
		t.Run(b, func(t *testing.T) {
			open := testenv.Database(t, b)
			key, err := secret.ParseKey(secret.GenerateKeyHex())
			if err != nil {
				t.Fatal(err)
			}
			e := &env{clock: clocktest.New(start), hasher: secret.NewHasher(key)}
			e.ctx = watchword.NewContextWithActor(t.Context(), watchword.Actor{ID: "token:test", Role: watchword.RoleAdmin})
			e.instance = func() *instance {
				st := open(e.clock.Now)
				svc := lifecycle.New(st, e.hasher)
				svc.Now = e.clock.Now
				return &instance{svc: svc, runner: &jobs.Runner{
					Service: svc, Store: st, Now: e.clock.Now,
					Dispatcher: &notify.Dispatcher{Store: st, Hasher: e.hasher, Now: e.clock.Now},
				}}
			}
			first := e.instance()
			if _, err := first.svc.Initialize(e.ctx); err != nil {
				t.Fatal(err)
			}
			fn(t, e)
		})
	}
}

// setup gives the default domain 30-day secrets and a webhook channel, and
// returns the first instance.
func (e *env) setup(t *testing.T) *instance {
	t.Helper()
	in := e.instance()
	p := watchword.DefaultSecretPolicy()
	p.Expiry = watchword.Expiry{Unit: watchword.ExpiryDays, Duration: 30}
	if _, err := in.svc.SetDomainPolicy(e.ctx, "default", p); err != nil {
		t.Fatal(err)
	}
	if _, err := in.svc.CreateChannel(e.ctx, "default", lifecycle.ChannelCreate{
		Name: "hook", Type: watchword.ChannelWebhook, URL: "https://hooks.example/x",
	}); err != nil {
		t.Fatal(err)
	}
	return in
}

// clientExpiringAt creates a client whose secret expires at the given time.
func (e *env) clientExpiringAt(t *testing.T, in *instance, name string, expires time.Time) string {
	t.Helper()
	now := e.clock.Now()
	e.clock.Set(expires.Add(-30 * day))
	defer e.clock.Set(now)
	_, ns, err := in.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return ns.ID
}

// notices returns the threshold of every secret.expiring queued so far, by
// client name.
func (e *env) notices(t *testing.T, in *instance) map[string][]int {
	t.Helper()
	ns, _, err := in.svc.ListNotifications(e.ctx, "default", watchword.NotificationFilter{EventType: watchword.EventSecretExpiring, Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]int{}
	for i := len(ns) - 1; i >= 0; i-- {
		d := ns[i].Event.Data
		out[d.Client.Name] = append(out[d.Client.Name], d.ThresholdDays)
	}
	return out
}

func (e *env) tick(t *testing.T, in *instance, at time.Time) {
	t.Helper()
	e.clock.Set(at)
	if err := in.runner.RunScheduled(e.ctx); err != nil {
		t.Fatalf("RunScheduled at %v: %v", at, err)
	}
}

func sameNotices(a, b map[string][]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		w := b[k]
		if len(v) != len(w) {
			return false
		}
		for i := range v {
			if v[i] != w[i] {
				return false
			}
		}
	}
	return true
}

// TestNoticeSchedule drives the default schedule (daily at 05:00 UTC) with
// the clock: nothing before 05:00, the run's thresholds are counted from
// 05:00 however late it starts, a run happens once, and a restarted
// instance carries on from the stored schedule.
func TestNoticeSchedule(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	run := time.Date(2026, 4, 1, 5, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		in := e.setup(t)
		e.clientExpiringAt(t, in, "ten-days", run.Add(10*day))
		e.clientExpiringAt(t, in, "ten-days-1s", run.Add(10*day+time.Second))

		steps := []struct {
			name string
			at   time.Time
			want map[string][]int // every notice queued so far
		}{
			{"first sight at 04:00", start, map[string][]int{}},
			{"1µs before 05:00", run.Add(-time.Microsecond), map[string][]int{}},
			{"05:00", run, map[string][]int{"ten-days": {10}, "ten-days-1s": {15}}},
			{"05:00 again", run, map[string][]int{"ten-days": {10}, "ten-days-1s": {15}}},
			{"23:59 the same day", run.Add(19 * time.Hour), map[string][]int{"ten-days": {10}, "ten-days-1s": {15}}},
		}
		for _, st := range steps {
			e.tick(t, in, st.at)
			if got := e.notices(t, in); !sameNotices(got, st.want) {
				t.Errorf("%s: notices %v, want %v", st.name, got, st.want)
			}
		}

		// A restarted instance (new store handle, new owner) runs the next
		// day's run 30 s late, counting from 05:00: the second secret has
		// 9 days and 1 s left and gets its 10-day notice.
		again := e.instance()
		e.tick(t, again, run.Add(day+30*time.Second))
		want := map[string][]int{"ten-days": {10}, "ten-days-1s": {15, 10}}
		if got := e.notices(t, again); !sameNotices(got, want) {
			t.Errorf("next day: notices %v, want %v", got, want)
		}

		// A new schedule applies from its next run.
		if _, err := in.svc.SetNotificationSettings(e.ctx, "default", watchword.NotificationSettings{ExpirySchedule: "0 6 * * *"}); err != nil {
			t.Fatal(err)
		}
		e.clientExpiringAt(t, in, "five-days", run.Add(7*day))
		e.tick(t, in, run.Add(2*day))                       // 05:00: the job learns the new schedule
		e.tick(t, in, run.Add(2*day+time.Hour-time.Second)) // 05:59:59
		if got := e.notices(t, in)["five-days"]; got != nil {
			t.Errorf("before 06:00 with the new schedule: five-days got %v", got)
		}
		e.tick(t, in, run.Add(2*day+time.Hour)) // 06:00: 4 days 23 h left
		if got := e.notices(t, in)["five-days"]; len(got) != 1 || got[0] != 5 {
			t.Errorf("at 06:00 with the new schedule: five-days got %v, want [5]", got)
		}
	})
}

// TestMissedRuns: when every instance was down over several runs, the
// schedule runs once when one comes back, for the latest time it was due.
func TestMissedRuns(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		in := e.setup(t)
		e.tick(t, in, start) // next run: 04-01 05:00
		latest := time.Date(2026, 4, 4, 5, 0, 0, 0, time.UTC)
		e.clientExpiringAt(t, in, "app", latest.Add(10*day))
		// Back on 04-04 at 07:00: counted from 04-04 05:00 the secret has
		// exactly 10 days left (from 04-01 05:00 it would be 13: the
		// 15-day notice).
		e.tick(t, in, latest.Add(2*time.Hour))
		e.tick(t, in, latest.Add(2*time.Hour+time.Minute))
		if got, want := e.notices(t, in), map[string][]int{"app": {10}}; !sameNotices(got, want) {
			t.Errorf("notices %v, want %v", got, want)
		}
	})
}

// TestCrashedRunTakenOver: a run whose instance died keeps its lease until
// the lease ends; then another instance runs it.
func TestCrashedRunTakenOver(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	run := time.Date(2026, 4, 1, 5, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		in := e.setup(t)
		e.clientExpiringAt(t, in, "app", run.Add(5*day))
		e.tick(t, in, start)
		d, err := in.svc.GetDomain(e.ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		// An instance claimed the 05:00 run and died.
		e.clock.Set(run)
		until := run.Add(jobs.DefaultLease)
		err = in.svc.Store.Tx(e.ctx, func(tx store.Tx) error {
			j, err := tx.LockJob(e.ctx, jobs.NoticesJobPrefix+d.ID)
			if err != nil {
				return err
			}
			j.LockedBy, j.LockedUntil = "dead", &until
			return tx.UpdateJob(e.ctx, j)
		})
		if err != nil {
			t.Fatal(err)
		}
		other := e.instance()
		e.tick(t, other, until.Add(-time.Second))
		if got := e.notices(t, other); len(got) != 0 {
			t.Fatalf("while the dead instance's lease lasts: notices %v", got)
		}
		e.tick(t, other, until)
		if got, want := e.notices(t, other), map[string][]int{"app": {5}}; !sameNotices(got, want) {
			t.Errorf("after the lease: notices %v, want %v", got, want)
		}
	})
}

// TestSweepJob: the runner sweeps every minute; a secret is announced as
// expired at the first sweep at or after its expiry, once.
func TestSweepJob(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		in := e.setup(t)
		expires := start.Add(90 * time.Second)
		e.clientExpiringAt(t, in, "app", expires)
		expired := func() int {
			_, n, err := in.svc.ListNotifications(e.ctx, "default", watchword.NotificationFilter{EventType: watchword.EventSecretExpired})
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		for _, st := range []struct {
			at   time.Time
			want int
		}{
			{start, 0},                      // first sight: the sweep runs from 04:01
			{start.Add(time.Minute), 0},     // 30 s before the expiry
			{start.Add(2 * time.Minute), 1}, // 30 s after it
			{start.Add(3 * time.Minute), 1}, // once
			{start.Add(10 * time.Minute), 1},
		} {
			e.tick(t, in, st.at)
			if got := expired(); got != st.want {
				t.Errorf("at %v: %d secret.expired, want %d", st.at, got, st.want)
			}
		}
	})
}

// TestDispatchTakeover: a claimed notification whose dispatcher
// died is sent by another once the lease ends.
func TestDispatchTakeover(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		var hits atomic.Int32
		in := e.instance()
		in.runner.Dispatcher.HTTP = &http.Client{Transport: roundTrip(func(r *http.Request) (*http.Response, error) {
			hits.Add(1)
			return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
		})}
		if _, err := in.svc.CreateChannel(e.ctx, "default", lifecycle.ChannelCreate{
			Name: "hook", Type: watchword.ChannelWebhook, URL: "https://hooks.example/x",
		}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := in.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: "app"}); err != nil {
			t.Fatal(err)
		}
		// A dispatcher claims the notification and dies.
		var claimed []watchword.Notification
		err := in.svc.Store.Tx(e.ctx, func(tx store.Tx) error {
			var err error
			claimed, err = tx.ClaimNotifications(e.ctx, "dead", tx.Now().Add(notify.DefaultLease), 10)
			return err
		})
		if err != nil || len(claimed) != 1 {
			t.Fatalf("claim: %d, %v", len(claimed), err)
		}
		e.clock.Set(start.Add(notify.DefaultLease - time.Microsecond))
		if n, err := in.runner.Dispatch(e.ctx); err != nil || n != 0 || hits.Load() != 0 {
			t.Fatalf("during the lease: dispatched %d (%v), %d requests", n, err, hits.Load())
		}
		e.clock.Set(start.Add(notify.DefaultLease))
		if n, err := in.runner.Dispatch(e.ctx); err != nil || n != 1 || hits.Load() != 1 {
			t.Fatalf("after the lease: dispatched %d (%v), %d requests", n, err, hits.Load())
		}
		got, err := in.svc.GetNotification(e.ctx, "default", claimed[0].ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Status != watchword.NotificationDelivered || got.Attempts != 2 {
			t.Errorf("status %s after %d attempts, want delivered after 2 (the dead one counts)", got.Status, got.Attempts)
		}
	})
}

type roundTrip func(*http.Request) (*http.Response, error)

func (f roundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestCleanupJob: rows expired more than CleanupGrace ago go at the hourly
// clean-up; a refresh token expired less long ago stays, so that its replay
// is still recognised.
func TestCleanupJob(t *testing.T) {
	start := time.Date(2026, 4, 1, 4, 0, 0, 0, time.UTC)
	forEachBackend(t, start, func(t *testing.T, e *env) {
		in := e.setup(t)
		c, _, err := in.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: "app"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := in.svc.GetDomain(e.ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		tokens := map[string]time.Time{ // hash → expiry
			"old":    start.Add(-jobs.CleanupGrace - 2*time.Hour),
			"recent": start.Add(-jobs.CleanupGrace + 2*time.Hour),
		}
		err = in.runner.Store.Tx(e.ctx, func(tx store.Tx) error {
			for hash, exp := range tokens {
				err := tx.CreateRefreshToken(e.ctx, watchword.RefreshToken{
					Hash: []byte(hash), DomainID: d.ID, ClientID: c.ID, UserID: "u", FamilyID: "f-" + hash,
					Scopes: []string{}, AuthTime: exp.Add(-time.Hour), CreatedAt: exp.Add(-time.Hour), ExpiresAt: exp,
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		e.tick(t, in, start)                // first sight: the job is scheduled
		e.tick(t, in, start.Add(time.Hour)) // due: it runs
		for hash, wantKept := range map[string]bool{"old": false, "recent": true} {
			_, err := in.runner.Store.GetRefreshToken(e.ctx, []byte(hash))
			if kept := err == nil; kept != wantKept {
				t.Errorf("%s refresh token kept=%v (%v), want %v", hash, kept, err, wantKept)
			}
		}
	})
}
