package lifecycle_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/notify"
)

// outbox returns every notification of the default domain, oldest first.
func (e *env) outbox(t *testing.T) []watchword.Notification {
	t.Helper()
	ns, total, err := e.svc.ListNotifications(e.ctx, "default", watchword.NotificationFilter{Limit: 500})
	if err != nil {
		t.Fatal(err)
	}
	if total != len(ns) {
		t.Fatalf("outbox: %d of %d notifications on one page", len(ns), total)
	}
	slices.Reverse(ns)
	return ns
}

// mustChannel adds a channel to the default domain.
func (e *env) mustChannel(t *testing.T, in lifecycle.ChannelCreate) lifecycle.ChannelCreated {
	t.Helper()
	if in.Type == "" {
		in.Type, in.URL = watchword.ChannelWebhook, "https://hooks.example/"+in.Name
	}
	out, err := e.svc.CreateChannel(e.ctx, "default", in)
	if err != nil {
		t.Fatalf("CreateChannel(%s): %v", in.Name, err)
	}
	return out
}

// auditCount counts the audit events of an action.
func (e *env) auditCount(t *testing.T, action string) int {
	t.Helper()
	_, total, err := e.svc.ListAudit(e.ctx, "", watchword.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return total
}

// withExpiry sets the domain's secret expiry in hours.
func (e *env) withExpiry(t *testing.T, hours int) {
	t.Helper()
	p := watchword.DefaultSecretPolicy()
	p.Expiry = watchword.Expiry{Unit: watchword.ExpiryHours, Duration: hours}
	if _, err := e.svc.SetDomainPolicy(e.ctx, "default", p); err != nil {
		t.Fatal(err)
	}
}

type sent struct{ typ, channel, secret string }

// TestOutboxEvents checks which notifications each change queues, to which
// channel, with what payload, and that a refused change queues nothing.
func TestOutboxEvents(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.svc.EmailEnabled = true
		if _, err := e.svc.SetNotificationSettings(e.ctx, "default", watchword.NotificationSettings{Owners: []string{"ops@example.org"}}); err != nil {
			t.Fatal(err)
		}
		hook := e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"}).Channel
		mail := e.mustChannel(t, lifecycle.ChannelCreate{Name: "mail", Type: watchword.ChannelEmail, Events: []string{watchword.EventSecretRevoked}}).Channel
		quiet := e.mustChannel(t, lifecycle.ChannelCreate{Name: "quiet"}).Channel
		if _, err := e.svc.UpdateChannel(e.ctx, "default", "quiet", watchword.ChannelUpdate{Disabled: new(true)}); err != nil {
			t.Fatal(err)
		}

		c, first, err := e.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: "app", Contacts: []string{"dev@example.org", "OPS@example.org"}})
		if err != nil {
			t.Fatal(err)
		}
		plaintexts := []string{first.Plaintext}
		second, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Description: "second"})
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, second.Plaintext)
		e.clock.Advance(time.Minute)
		rot, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, rot.Secret.Plaintext)
		renew, err := e.svc.RenewSecret(e.ctx, "default", "app", rot.Secret.ID, dur(0))
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, renew.Secret.Plaintext)
		if _, err := e.svc.RevokeSecret(e.ctx, "default", "app", first.ID, lifecycle.RevokeRequest{Reason: "leaked"}); err != nil {
			t.Fatal(err)
		}
		before := len(e.outbox(t))
		// Refused changes queue nothing: their transactions roll back.
		_, err = e.svc.RevokeSecret(e.ctx, "default", "app", first.ID, lifecycle.RevokeRequest{})
		wantCode(t, err, watchword.ECONFLICT, "secret")
		_, err = e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(time.Hour), Compromised: true})
		wantCode(t, err, watchword.EINVALID, "compromised")
		if got := len(e.outbox(t)); got != before {
			t.Fatalf("refused changes queued %d notifications", got-before)
		}
		comp, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(0), Compromised: true})
		if err != nil {
			t.Fatal(err)
		}
		plaintexts = append(plaintexts, comp.Secret.Plaintext)
		if err := e.svc.DeleteClient(e.ctx, "default", "app"); err != nil {
			t.Fatal(err)
		}

		ns := e.outbox(t)
		var got []sent
		events := map[string]watchword.Event{}
		for _, n := range ns {
			got = append(got, sent{n.EventType, n.ChannelID, n.SecretID})
			if n.Status != watchword.NotificationPending || n.Attempts != 0 || !n.NextAttemptAt.Equal(n.CreatedAt) {
				t.Errorf("notification %s: status=%s attempts=%d next=%v created=%v, want pending, due at once", n.ID, n.Status, n.Attempts, n.NextAttemptAt, n.CreatedAt)
			}
			if n.ChannelID == quiet.ID {
				t.Errorf("the disabled channel got %s", n.EventType)
			}
			if !strings.HasPrefix(n.EventID, watchword.EventIDPrefix) || n.Event.ID != n.EventID || n.Event.Type != n.EventType {
				t.Errorf("notification %s: event id %q / %q, type %q / %q", n.ID, n.EventID, n.Event.ID, n.EventType, n.Event.Type)
			}
			if prev, ok := events[n.EventID]; ok && !jsonEqual(prev, n.Event) {
				t.Errorf("event %s differs between channels", n.EventID)
			}
			events[n.EventID] = n.Event
			if n.ChannelID == mail.ID {
				if want := []string{"ops@example.org", "dev@example.org"}; !slices.Equal(n.Recipients, want) {
					t.Errorf("email recipients = %q, want %q", n.Recipients, want)
				}
			} else if n.Recipients != nil {
				t.Errorf("webhook notification has recipients %q", n.Recipients)
			}
		}
		w := func(typ, ch, sec string) sent { return sent{typ, ch, sec} }
		want := []sent{
			w(watchword.EventSecretCreated, hook.ID, first.ID),
			w(watchword.EventSecretCreated, hook.ID, second.ID),
			w(watchword.EventSecretRotated, hook.ID, rot.Secret.ID),
			w(watchword.EventSecretRotated, hook.ID, renew.Secret.ID),
			w(watchword.EventSecretRevoked, hook.ID, first.ID), w(watchword.EventSecretRevoked, mail.ID, first.ID),
			w(watchword.EventSecretRotated, hook.ID, comp.Secret.ID),
		}
		// The compromised rotation revoked the valid secrets it replaced:
		// second and renew's new one (rot's secret ended with its renewal).
		for _, id := range []string{second.ID, renew.Secret.ID} {
			want = append(want, w(watchword.EventSecretRevoked, hook.ID, id), w(watchword.EventSecretRevoked, mail.ID, id))
		}
		// Deleting the client revoked the last valid secret.
		want = append(want, w(watchword.EventSecretRevoked, hook.ID, comp.Secret.ID), w(watchword.EventSecretRevoked, mail.ID, comp.Secret.ID))
		sortSent := func(s []sent) {
			slices.SortStableFunc(s, func(a, b sent) int { return strings.Compare(a.typ+a.channel+a.secret, b.typ+b.channel+b.secret) })
		}
		sortSent(got)
		sortSent(want)
		if !slices.Equal(got, want) {
			t.Errorf("queued:\n%v\nwant:\n%v", got, want)
		}

		// The payloads.
		for _, n := range ns {
			d := n.Event.Data
			if d.Domain.Name != "default" || d.Client.ID != c.ID || d.Client.Name != "app" || d.Actor != "token:test (tester)" || d.Secret.ID != n.SecretID {
				t.Errorf("%s event: domain %+v, client %+v, actor %q, secret %q", n.EventType, d.Domain, d.Client, d.Actor, d.Secret.ID)
			}
			switch {
			case n.EventType == watchword.EventSecretRotated && d.Secret.ID == rot.Secret.ID:
				if d.RotationKind != "rotate" || d.RotationID != rot.Rotation.ID || d.Transition == nil || *d.Transition != watchword.Duration(time.Hour) {
					t.Errorf("rotation event: kind %q id %q transition %v", d.RotationKind, d.RotationID, d.Transition)
				}
				end := t0.Add(time.Minute + time.Hour) // rotated a minute after t0
				var ids []string
				for _, p := range d.PreviousSecrets {
					ids = append(ids, p.ID)
					if !p.ExpiresAt.Equal(end) || (p.ID == second.ID) != (p.Description == "second") {
						t.Errorf("rotation event: previous secret %+v, want it to end at %v", p, end)
					}
				}
				slices.Sort(ids)
				if want := []string{first.ID, second.ID}; !slices.Equal(ids, slices.Sorted(slices.Values(want))) {
					t.Errorf("rotation event: previous secrets %q, want %q", ids, want)
				}
			case n.EventType == watchword.EventSecretRotated && d.Secret.ID == renew.Secret.ID:
				if d.RotationKind != "renew" || len(d.PreviousSecrets) != 1 || d.PreviousSecrets[0].ID != rot.Secret.ID {
					t.Errorf("renewal event: kind %q previous %+v", d.RotationKind, d.PreviousSecrets)
				}
			case n.EventType == watchword.EventSecretRevoked && d.Secret.ID == first.ID:
				if d.RevocationReason != "leaked" || d.Compromised {
					t.Errorf("revocation event: reason %q compromised %v", d.RevocationReason, d.Compromised)
				}
			case n.EventType == watchword.EventSecretRevoked && d.Secret.ID == second.ID:
				if d.RevocationReason != "compromised" || !d.Compromised {
					t.Errorf("compromised revocation event: reason %q compromised %v", d.RevocationReason, d.Compromised)
				}
			case n.EventType == watchword.EventSecretCreated && d.Secret.ID == second.ID:
				if d.Secret.Hint != second.Hint || d.Secret.Description != "second" || !d.Secret.CreatedAt.Equal(second.CreatedAt) {
					t.Errorf("created event: secret %+v", d.Secret)
				}
			}
		}

		// Never secret material: no plaintext, no hash in any encoding.
		b, err := json.Marshal(ns)
		if err != nil {
			t.Fatal(err)
		}
		blob := string(b)
		for _, p := range plaintexts {
			if strings.Contains(blob, p) {
				t.Fatalf("a notification holds a plaintext secret")
			}
		}
		for _, id := range []string{first.ID, second.ID, rot.Secret.ID, renew.Secret.ID, comp.Secret.ID} {
			sec, err := e.svc.Store.GetSecret(e.ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if len(sec.Hash) > 0 && (strings.Contains(blob, hex.EncodeToString(sec.Hash)) || strings.Contains(blob, base64.StdEncoding.EncodeToString(sec.Hash))) {
				t.Fatalf("a notification holds the hash of secret %s", id)
			}
		}
	})
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

// TestNoChannelNoOutbox: a domain without channels queues nothing (the
// audit log still records every change).
func TestNoChannelNoOutbox(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.mustClient(t, "app")
		if _, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := e.outbox(t); len(got) != 0 {
			t.Fatalf("queued %d notifications without channels", len(got))
		}
	})
}

// TestSweepExpired: the sweep does nothing a microsecond before a secret's
// expiry, records it exactly once at its expiry, and never again, on any
// instance.
func TestSweepExpired(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.withExpiry(t, 2)
		hook := e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook", Events: []string{watchword.EventSecretExpired}}).Channel
		_, a := e.mustClient(t, "app")
		_, gone := e.mustClient(t, "gone")
		kept, err := e.svc.AddSecret(e.ctx, "default", "gone", lifecycle.SecretCreate{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RevokeSecret(e.ctx, "default", "gone", gone.ID, lifecycle.RevokeRequest{}); err != nil {
			t.Fatal(err) // revoked before it expires: never announced as expired
		}
		e.clock.Set(t0.Add(time.Hour))
		rot, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(30 * time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		other := e.again()

		steps := []struct {
			name   string
			at     time.Time
			expire []string // secrets the sweep must mark now
		}{
			{"1µs before the retired secret ends", t0.Add(90*time.Minute - time.Microsecond), nil},
			{"at the end of its transition", t0.Add(90 * time.Minute), []string{a.ID}},
			{"again at the same instant", t0.Add(90 * time.Minute), nil},
			{"at the expiry of the unrevoked secret of gone", t0.Add(2 * time.Hour), []string{kept.ID}},
			{"1µs before the new secret expires", t0.Add(3*time.Hour - time.Microsecond), nil},
			{"at its expiry", t0.Add(3 * time.Hour), []string{rot.Secret.ID}},
			{"a day later", t0.Add(27 * time.Hour), nil},
		}

		for _, st := range steps {
			e.clock.Set(st.at)
			beforeOutbox, beforeAudit := len(e.outbox(t)), e.auditCount(t, watchword.ActionSecretExpire)
			n, err := e.svc.SweepExpired(e.ctx)
			if err != nil {
				t.Fatalf("%s: SweepExpired: %v", st.name, err)
			}
			if m, err := other.SweepExpired(e.ctx); err != nil || m != 0 {
				t.Errorf("%s: the second instance marked %d (%v), want 0", st.name, m, err)
			}
			if n != len(st.expire) {
				t.Errorf("%s: marked %d, want %d", st.name, n, len(st.expire))
			}
			ns := e.outbox(t)[beforeOutbox:]
			var got []string
			for _, x := range ns {
				if x.EventType != watchword.EventSecretExpired || x.ChannelID != hook.ID || x.Event.Data.Actor != "system" {
					t.Errorf("%s: queued %s to %s by %q", st.name, x.EventType, x.ChannelID, x.Event.Data.Actor)
				}
				got = append(got, x.SecretID)
			}
			if !slices.Equal(got, st.expire) {
				t.Errorf("%s: secret.expired for %q, want %q", st.name, got, st.expire)
			}
			if d := e.auditCount(t, watchword.ActionSecretExpire) - beforeAudit; d != len(st.expire) {
				t.Errorf("%s: %d secret.expire audit events, want %d", st.name, d, len(st.expire))
			}
		}
	})
}

// TestConcurrentSweep: instances sweeping at once announce each expired
// secret exactly once between them.
func TestConcurrentSweep(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.withExpiry(t, 1)
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
		const clients = 12
		for i := range clients {
			e.mustClient(t, fmt.Sprintf("app-%02d", i))
		}
		e.clock.Set(t0.Add(time.Hour))
		instances := []*lifecycle.Service{e.svc, e.again(), e.again()}
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for i := range 6 {
			svc := instances[i%len(instances)]
			wg.Go(func() {
				n, err := svc.SweepExpired(e.ctx)
				if err != nil {
					t.Errorf("SweepExpired: %v", err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		if total != clients {
			t.Errorf("marked %d secrets in all, want %d", total, clients)
		}
		expired := 0
		for _, n := range e.outbox(t) {
			if n.EventType == watchword.EventSecretExpired {
				expired++
			}
		}
		if expired != clients || e.auditCount(t, watchword.ActionSecretExpire) != clients {
			t.Errorf("%d secret.expired notifications and %d audit events, want %d each",
				expired, e.auditCount(t, watchword.ActionSecretExpire), clients)
		}
	})
}

// TestExpiryNotices pins every threshold boundary of the notices of one
// 05:00 run and of the runs after it.
func TestExpiryNotices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const day = 24 * time.Hour
		run := time.Date(2026, 4, 1, 5, 0, 0, 0, time.UTC) // a 05:00 run
		e.withExpiry(t, 30*24)                             // secrets live 30 days
		cases := []struct {
			client string
			left   time.Duration // expiry - run
			want   int           // threshold of the notice at the run, 0 for none
		}{
			{"exactly-20d", 20 * day, 20},
			{"20d-plus-1s", 20*day + time.Second, 0},
			{"exactly-15d", 15 * day, 15},
			{"exactly-10d", 10 * day, 10},
			{"10d-plus-1s", 10*day + time.Second, 15},
			{"10d-minus-1us", 10*day - time.Microsecond, 10},
			{"exactly-1d", day, 1},
			{"in-1us", time.Microsecond, 1},
			{"at-the-run", 0, 0},
		}
		secretOf := map[string]string{}
		for _, tc := range cases {
			e.clock.Set(run.Add(tc.left - 30*day)) // created so that it expires at run+left
			_, ns := e.mustClient(t, tc.client)
			secretOf[ns.ID] = tc.client
		}
		// A secret retired by a rotation is not announced, although it
		// ends inside the window (run+5d): it was replaced. The new secret
		// ends at run+29d, outside every threshold.
		e.clock.Set(run.Add(-25 * day))
		e.mustClient(t, "rotated")
		e.clock.Set(run.Add(-day))
		if _, err := e.svc.RotateClient(e.ctx, "default", "rotated", lifecycle.RotateRequest{Transition: dur(7 * day)}); err != nil {
			t.Fatal(err)
		}
		e.clock.Set(run)

		// Without a channel that takes secret.expiring, nothing is recorded.
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "other", Events: []string{watchword.EventSecretRevoked}})
		if n, err := e.svc.SendExpiryNotices(e.ctx, domainID(t, e), run); err != nil || n != 0 {
			t.Fatalf("without an expiring channel: sent %d (%v), want 0", n, err)
		}
		hook := e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook", Events: []string{watchword.EventSecretExpiring}}).Channel

		notices := func(t *testing.T, at time.Time, svc *lifecycle.Service) map[string]int {
			t.Helper()
			before := len(e.outbox(t))
			n, err := svc.SendExpiryNotices(e.ctx, domainID(t, e), at)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int{}
			for _, x := range e.outbox(t)[before:] {
				if x.EventType != watchword.EventSecretExpiring || x.ChannelID != hook.ID {
					t.Errorf("queued %s to %s", x.EventType, x.ChannelID)
				}
				d := x.Event.Data
				if d.Secret.ExpiresAt == nil || d.Secret.ID == "" || d.Client.Name != secretOf[d.Secret.ID] {
					t.Errorf("notice names client %q, secret %q expiring %v", d.Client.Name, d.Secret.ID, d.Secret.ExpiresAt)
				}
				got[secretOf[x.SecretID]] = d.ThresholdDays
			}
			if n != len(got) {
				t.Errorf("SendExpiryNotices = %d, queued %d", n, len(got))
			}
			return got
		}

		want := map[string]int{}
		for _, tc := range cases {
			if tc.want != 0 {
				want[tc.client] = tc.want
			}
		}
		if got := notices(t, run, e.svc); !mapsEqual(got, want) {
			t.Errorf("the 05:00 run sent %v, want %v", got, want)
		}
		if got := notices(t, run, e.svc); len(got) != 0 {
			t.Errorf("the same run again sent %v, want nothing", got)
		}
		other := e.again()
		if got := notices(t, run, other); len(got) != 0 {
			t.Errorf("another instance's run sent %v, want nothing", got)
		}
		if got := e.auditCount(t, watchword.ActionSecretExpiryNotice); got != len(want) {
			t.Errorf("%d secret.expiry_notice audit events, want %d", got, len(want))
		}

		// The next day's run: "10d-plus-1s" now has 9 days and 1 s left and
		// gets its 10-day notice; the others have had theirs.
		e.clock.Set(run.Add(day))
		if got, want := notices(t, run.Add(day), e.svc), map[string]int{"10d-plus-1s": 10, "20d-plus-1s": 20}; !mapsEqual(got, want) {
			t.Errorf("the next day's run sent %v, want %v", got, want)
		}
		// Five days on, "exactly-10d" reaches its 5-day threshold.
		e.clock.Set(run.Add(5 * day))
		if got, want := notices(t, run.Add(5*day), e.svc), map[string]int{
			"exactly-20d": 15, "exactly-15d": 10, "exactly-10d": 5, "10d-minus-1us": 5,
		}; !mapsEqual(got, want) {
			t.Errorf("the run five days later sent %v, want %v", got, want)
		}
	})
}

func mapsEqual(a, b map[string]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func domainID(t *testing.T, e *env) string {
	t.Helper()
	d, err := e.svc.GetDomain(e.ctx, "default")
	if err != nil {
		t.Fatal(err)
	}
	return d.ID
}

// TestConcurrentNotices: instances running the same schedule at once send
// each notice once between them.
func TestConcurrentNotices(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.withExpiry(t, 5*24)
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
		const clients = 10
		for i := range clients {
			e.mustClient(t, fmt.Sprintf("app-%02d", i))
		}
		run := t0.Add(24 * time.Hour)
		e.clock.Set(run)
		id := domainID(t, e)
		var wg sync.WaitGroup
		var mu sync.Mutex
		total := 0
		for range 6 {
			svc := e.again()
			wg.Go(func() {
				n, err := svc.SendExpiryNotices(e.ctx, id, run)
				if err != nil {
					t.Errorf("SendExpiryNotices: %v", err)
				}
				mu.Lock()
				total += n
				mu.Unlock()
			})
		}
		wg.Wait()
		expiring := 0
		for _, n := range e.outbox(t) {
			if n.EventType == watchword.EventSecretExpiring {
				expiring++
			}
		}
		if total != clients || expiring != clients {
			t.Errorf("sent %d notices, queued %d, want %d", total, expiring, clients)
		}
	})
}

// TestChannels covers the channel rules: validation, signing secrets
// encrypted under the server key, rotation with a transition, retries.
func TestChannels(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			name  string
			in    lifecycle.ChannelCreate
			field string
		}{
			{"no url", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook}, "url"},
			{"ftp url", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook, URL: "ftp://x/y"}, "url"},
			{"credentials in url", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook, URL: "https://u:p@x/y"}, "url"},
			{"bad type", lifecycle.ChannelCreate{Name: "a", Type: "sms"}, "type"},
			{"bad name", lifecycle.ChannelCreate{Name: "A B", Type: watchword.ChannelWebhook, URL: "https://x/y"}, "name"},
			{"bad event", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook, URL: "https://x/y", Events: []string{"secret.eaten"}}, "events"},
			{"email without smtp", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelEmail}, "type"},
			{"short signing secret", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook, URL: "https://x/y", SigningSecret: "whsec_" + base64.StdEncoding.EncodeToString([]byte("short"))}, "signing_secret"},
			{"signing secret without prefix", lifecycle.ChannelCreate{Name: "a", Type: watchword.ChannelWebhook, URL: "https://x/y", SigningSecret: base64.StdEncoding.EncodeToString(make([]byte, 32))}, "signing_secret"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.CreateChannel(e.ctx, "default", tc.in)
				wantCode(t, err, watchword.EINVALID, tc.field)
			})
		}

		custom := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
		created := e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook", SigningSecret: custom})
		if created.SigningSecret != custom || len(created.Channel.SigningSecrets) != 1 {
			t.Fatalf("created %+v", created)
		}
		_, err := e.svc.CreateChannel(e.ctx, "default", lifecycle.ChannelCreate{Name: "hook", Type: watchword.ChannelWebhook, URL: "https://x/y"})
		wantCode(t, err, watchword.ECONFLICT, "name")
		gen := e.mustChannel(t, lifecycle.ChannelCreate{Name: "gen"})
		if _, err := notify.ParseSigningSecret(gen.SigningSecret); err != nil {
			t.Fatalf("generated signing secret %q: %v", gen.SigningSecret, err)
		}

		// Stored encrypted, bound to the channel.
		ch, err := e.svc.Store.GetChannel(e.ctx, created.Channel.DomainID, created.Channel.ID)
		if err != nil {
			t.Fatal(err)
		}
		ss := ch.SigningSecrets[0]
		if strings.Contains(string(ss.Ciphertext), custom) || strings.Contains(string(ss.Ciphertext), "0123456789abcdef") {
			t.Fatal("signing secret stored in the clear")
		}
		plain, err := e.hasher.Open(ss.Ciphertext, ss.KeyID, notify.SigningSecretAAD(ch.ID, ss.ID))
		if err != nil || string(plain) != custom {
			t.Fatalf("Open = %q, %v", plain, err)
		}
		if _, err := e.hasher.Open(ss.Ciphertext, ss.KeyID, notify.SigningSecretAAD(gen.Channel.ID, ss.ID)); err == nil {
			t.Fatal("a signing secret decrypts as another channel's")
		}
		b, _ := json.Marshal(ch)
		if strings.Contains(string(b), "ciphertext") || strings.Contains(string(b), base64.StdEncoding.EncodeToString(ss.Ciphertext)) {
			t.Fatalf("channel JSON shows the ciphertext: %s", b)
		}

		// Rotation: the old secret signs until the transition ends.
		e.clock.Set(t0.Add(time.Hour))
		rot, err := e.svc.RotateChannelSecret(e.ctx, "default", "hook", lifecycle.SigningSecretRotate{Transition: dur(2 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		got := rot.Channel.SigningSecrets
		if len(got) != 2 || got[0].ExpiresAt != nil || got[1].ID != ss.ID || !got[1].ExpiresAt.Equal(t0.Add(3*time.Hour)) || rot.SigningSecret == custom {
			t.Fatalf("after rotation: %+v", got)
		}
		// A rotation with no transition leaves only the new secret.
		rot, err = e.svc.RotateChannelSecret(e.ctx, "default", "hook", lifecycle.SigningSecretRotate{Transition: dur(0)})
		if err != nil {
			t.Fatal(err)
		}
		if len(rot.Channel.SigningSecrets) != 1 {
			t.Fatalf("after rotation with transition 0: %+v", rot.Channel.SigningSecrets)
		}
		_, err = e.svc.RotateChannelSecret(e.ctx, "default", "hook", lifecycle.SigningSecretRotate{Transition: dur(31 * 24 * time.Hour)})
		wantCode(t, err, watchword.EINVALID, "transition")
		for range watchword.MaxSigningSecrets - 1 {
			if _, err := e.svc.RotateChannelSecret(e.ctx, "default", "hook", lifecycle.SigningSecretRotate{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err = e.svc.RotateChannelSecret(e.ctx, "default", "hook", lifecycle.SigningSecretRotate{})
		wantCode(t, err, watchword.ECONFLICT, "")

		// Update, delete, and the audit of each.
		up, err := e.svc.UpdateChannel(e.ctx, "default", "gen", watchword.ChannelUpdate{Name: new("renamed"), Events: &[]string{watchword.EventSecretExpired}})
		if err != nil || up.Name != "renamed" || !slices.Equal(up.Events, []string{watchword.EventSecretExpired}) {
			t.Fatalf("UpdateChannel = %+v, %v", up, err)
		}
		_, err = e.svc.UpdateChannel(e.ctx, "default", "renamed", watchword.ChannelUpdate{Name: new("hook")})
		wantCode(t, err, watchword.ECONFLICT, "name")
		if err := e.svc.DeleteChannel(e.ctx, "default", "renamed"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetChannel(e.ctx, "default", "renamed")
		wantCode(t, err, watchword.ENOTFOUND, "channel")
		for action, n := range map[string]int{
			watchword.ActionChannelCreate: 2, watchword.ActionChannelRotateSecret: 1 + 1 + watchword.MaxSigningSecrets - 1,
			watchword.ActionChannelUpdate: 1, watchword.ActionChannelDelete: 1,
		} {
			if got := e.auditCount(t, action); got != n {
				t.Errorf("%d %s audit events, want %d", got, action, n)
			}
		}
	})
}

func TestNotificationSettings(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		d, err := e.svc.GetDomain(e.ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		if !jsonEqual(d.Notifications, watchword.DefaultNotificationSettings()) {
			t.Fatalf("new domain: %+v", d.Notifications)
		}
		for _, tc := range []struct {
			name  string
			in    watchword.NotificationSettings
			field string
		}{
			{"bad owner", watchword.NotificationSettings{Owners: []string{"Ops <ops@example.org>"}}, "owners"},
			{"bad schedule", watchword.NotificationSettings{ExpirySchedule: "every day"}, "expiry_schedule"},
			{"six fields", watchword.NotificationSettings{ExpirySchedule: "0 0 5 * * *"}, "expiry_schedule"},
			{"zero threshold", watchword.NotificationSettings{ExpiryThresholds: []int{0}}, "expiry_thresholds"},
			{"repeated threshold", watchword.NotificationSettings{ExpiryThresholds: []int{5, 5}}, "expiry_thresholds"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				_, err := e.svc.SetNotificationSettings(e.ctx, "default", tc.in)
				wantCode(t, err, watchword.EINVALID, tc.field)
			})
		}
		d, err = e.svc.SetNotificationSettings(e.ctx, "default", watchword.NotificationSettings{
			Owners: []string{"ops@example.org"}, ExpirySchedule: "CRON_TZ=Europe/Paris 30 7 * * 1-5", ExpiryThresholds: []int{1, 30, 7},
		})
		if err != nil {
			t.Fatal(err)
		}
		if want := []int{30, 7, 1}; !slices.Equal(d.Notifications.ExpiryThresholds, want) {
			t.Errorf("thresholds = %v, want %v", d.Notifications.ExpiryThresholds, want)
		}
		_, _, err = e.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: "x", Contacts: []string{"not an address"}})
		wantCode(t, err, watchword.EINVALID, "contacts")
	})
}
