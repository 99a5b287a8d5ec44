package storetest

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// ---- fixtures

func newChannel(id, domainID, name string) watchword.Channel {
	return watchword.Channel{
		ID: id, DomainID: domainID, Name: name, Type: watchword.ChannelWebhook,
		URL: "https://hooks.example/" + name, Events: []string{watchword.EventSecretExpiring},
		SigningSecrets: []watchword.SigningSecret{{
			ID: "ss-" + id, Hint: "q9Zx", Ciphertext: []byte{0x00, 0xfe, 0x10, 0x22}, KeyID: "k1", CreatedAt: t0,
		}},
		CreatedAt: t0, UpdatedAt: t0,
	}
}

func newEvent(id, typ string) watchword.Event {
	return watchword.Event{
		ID: id, Type: typ, Timestamp: at(time.Minute),
		Data: watchword.EventData{
			Domain: watchword.EventRef{ID: "dom-1", Name: "one"},
			Client: watchword.EventRef{ID: "cli-1", Name: "app"},
			Secret: watchword.EventSecret{
				ID: "sec-1", Hint: "ab12", Description: "primary", CreatedAt: t0,
				ExpiresAt: ptr(at(90 * 24 * time.Hour)), LastUsedAt: ptr(at(time.Hour)),
			},
			Actor: "token:t1 (ci)",
		},
	}
}

// newNotification is a pending webhook notification of event evt to
// channel ch, due at next.
func newNotification(id, evt, ch string, next time.Time) watchword.Notification {
	return watchword.Notification{
		ID: id, EventID: evt, EventType: watchword.EventSecretExpiring, DomainID: "dom-1",
		ChannelID: ch, ChannelType: watchword.ChannelWebhook, ClientID: "cli-1", SecretID: "sec-1",
		Event: newEvent(evt, watchword.EventSecretExpiring), Status: watchword.NotificationPending,
		NextAttemptAt: next, CreatedAt: next,
	}
}

func wantChannel(c watchword.Channel) watchword.Channel {
	c.CreatedAt, c.UpdatedAt = store.Truncate(c.CreatedAt), store.Truncate(c.UpdatedAt)
	if c.SigningSecrets != nil {
		ss := slices.Clone(c.SigningSecrets)
		for i := range ss {
			ss[i].CreatedAt, ss[i].ExpiresAt = store.Truncate(ss[i].CreatedAt), tr(ss[i].ExpiresAt)
		}
		c.SigningSecrets = ss
	}
	return c
}

func wantEventSecret(s watchword.EventSecret) watchword.EventSecret {
	s.CreatedAt, s.ExpiresAt, s.LastUsedAt = store.Truncate(s.CreatedAt), tr(s.ExpiresAt), tr(s.LastUsedAt)
	return s
}

func wantNotification(n watchword.Notification) watchword.Notification {
	n.NextAttemptAt, n.CreatedAt = store.Truncate(n.NextAttemptAt), store.Truncate(n.CreatedAt)
	n.LastAttemptAt, n.DeliveredAt, n.LockedUntil = tr(n.LastAttemptAt), tr(n.DeliveredAt), tr(n.LockedUntil)
	n.Event.Timestamp = store.Truncate(n.Event.Timestamp)
	n.Event.Data.Secret = wantEventSecret(n.Event.Data.Secret)
	if prev := n.Event.Data.PreviousSecrets; prev != nil {
		n.Event.Data.PreviousSecrets = make([]watchword.EventSecret, len(prev))
		for i, p := range prev {
			n.Event.Data.PreviousSecrets[i] = wantEventSecret(p)
		}
	}
	return n
}

func enqueue(t *testing.T, s store.Store, ns ...watchword.Notification) {
	t.Helper()
	seed(t, s, func(tx store.Tx) error {
		return each(func(n watchword.Notification) error { return tx.EnqueueNotification(t.Context(), n) }, ns...)
	})
}

// ---- domain settings and client contacts

func testNotificationSettings(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := newDomain("dom-1", "one")
	d.Notifications = watchword.NotificationSettings{
		Owners: []string{"ops@example.org", "sec@example.org"}, ExpirySchedule: "CRON_TZ=Europe/Paris 30 6 * * 1-5",
		ExpiryThresholds: []int{30, 7, 1},
	}
	c := newClient("cli-1", "dom-1", "app")
	c.Contacts = []string{"team@example.org"}
	bare := newClient("cli-2", "dom-1", "bare") // nil contacts stay nil
	seedDomainClient(t, s, d, c, bare)

	got, err := s.GetDomain(ctx, "dom-1")
	must(t, "GetDomain", err)
	check(t, "GetDomain", got, wantDomain(d))
	gotC, err := s.GetClient(ctx, "dom-1", "cli-1")
	must(t, "GetClient", err)
	check(t, "GetClient", gotC, wantClient(c))
	gotC, err = s.GetClient(ctx, "dom-1", "cli-2")
	must(t, "GetClient", err)
	check(t, "GetClient(no contacts)", gotC, wantClient(bare))

	d.Notifications = watchword.DefaultNotificationSettings()
	c.Contacts = []string{}
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateDomain(ctx, d); err != nil {
			return err
		}
		return tx.UpdateClient(ctx, c)
	})
	got, err = s.GetDomain(ctx, "dom-1")
	must(t, "GetDomain after update", err)
	check(t, "GetDomain after update", got, wantDomain(d))
	gotC, err = s.GetClient(ctx, "dom-1", "cli-1")
	must(t, "GetClient after update", err)
	check(t, "GetClient after update", gotC, wantClient(c))
}

// ---- channels

func testChannels(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	seedDomainClient(t, s, newDomain("dom-2", "two"))

	hook := newChannel("ch-b", "dom-1", "hook")
	hook.SigningSecrets = append(hook.SigningSecrets, watchword.SigningSecret{
		ID: "ss-old", Hint: "0000", Ciphertext: []byte{1}, KeyID: "k0", CreatedAt: at(-time.Hour),
		ExpiresAt: ptr(at(time.Hour).In(ist)),
	})
	mail := newChannel("ch-a", "dom-1", "mail")
	mail.Type, mail.URL, mail.Events, mail.SigningSecrets, mail.Disabled = watchword.ChannelEmail, "", nil, nil, true
	elsewhere := newChannel("ch-c", "dom-2", "hook") // same name, other domain
	seed(t, s, func(tx store.Tx) error {
		return each(func(c watchword.Channel) error { return tx.CreateChannel(ctx, c) }, hook, mail, elsewhere)
	})

	got, err := s.GetChannel(ctx, "dom-1", "ch-b")
	must(t, "GetChannel", err)
	check(t, "GetChannel", got, wantChannel(hook))
	got, err = s.GetChannelByName(ctx, "dom-1", "mail")
	must(t, "GetChannelByName", err)
	check(t, "GetChannelByName", got, wantChannel(mail))
	_, err = s.GetChannel(ctx, "dom-2", "ch-b")
	checkErr(t, "GetChannel(other domain)", err, store.ErrNotFound)
	_, err = s.GetChannelByName(ctx, "dom-1", "nope")
	checkErr(t, "GetChannelByName(missing)", err, store.ErrNotFound)
	list, err := s.ListChannels(ctx, "dom-1")
	must(t, "ListChannels", err)
	check(t, "ListChannels (by name)", list, []watchword.Channel{wantChannel(hook), wantChannel(mail)})
	list, err = s.ListChannels(ctx, "dom-x")
	must(t, "ListChannels(unknown domain)", err)
	check(t, "ListChannels(unknown domain)", list, []watchword.Channel{})

	dup := newChannel("ch-d", "dom-1", "hook")
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateChannel(ctx, dup) })
	checkErr(t, "CreateChannel(same name)", err, store.ErrAlreadyExists)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateChannel(ctx, newChannel("ch-b", "dom-2", "x")) })
	checkErr(t, "CreateChannel(same id)", err, store.ErrAlreadyExists)

	upd := hook
	upd.Name, upd.URL, upd.Events, upd.Disabled, upd.UpdatedAt = "hook2", "https://other.example/h", []string{}, true, at(time.Hour)
	upd.SigningSecrets = upd.SigningSecrets[:1]
	seed(t, s, func(tx store.Tx) error { return tx.UpdateChannel(ctx, upd) })
	got, err = s.GetChannel(ctx, "dom-1", "ch-b")
	must(t, "GetChannel after update", err)
	check(t, "GetChannel after update", got, wantChannel(upd))
	clash := upd
	clash.Name = "mail"
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateChannel(ctx, clash) })
	checkErr(t, "UpdateChannel(taken name)", err, store.ErrAlreadyExists)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateChannel(ctx, newChannel("ch-x", "dom-1", "x")) })
	checkErr(t, "UpdateChannel(missing)", err, store.ErrNotFound)

	seed(t, s, func(tx store.Tx) error { return tx.DeleteChannel(ctx, "dom-1", "ch-a") })
	_, err = s.GetChannel(ctx, "dom-1", "ch-a")
	checkErr(t, "GetChannel(deleted)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.DeleteChannel(ctx, "dom-1", "ch-a") })
	checkErr(t, "DeleteChannel(again)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.DeleteChannel(ctx, "dom-1", "ch-c") })
	checkErr(t, "DeleteChannel(other domain)", err, store.ErrNotFound)
}

// ---- notifications

func testNotifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	seedDomainClient(t, s, newDomain("dom-2", "two"))

	full := newNotification("n-1", "evt_1", "ch-1", at(time.Second).In(ist))
	full.EventType, full.Event.Type = watchword.EventSecretRotated, watchword.EventSecretRotated
	full.ChannelType, full.Recipients = watchword.ChannelEmail, []string{"a@example.org", "b@example.org"}
	full.Event.Data.RotationKind, full.Event.Data.RotationID = "rotate", "rot-1"
	full.Event.Data.Transition = ptr(watchword.Duration(24 * time.Hour))
	full.Event.Data.PreviousSecrets = []watchword.EventSecret{{ID: "sec-0", Hint: "zz00", CreatedAt: at(-time.Hour), ExpiresAt: ptr(at(time.Hour).In(ist))}}
	full.Status, full.Attempts, full.LastError = watchword.NotificationFailed, 10, "smtp: 550 no such user"
	full.LastAttemptAt, full.DeliveredAt = ptr(at(2*time.Second)), ptr(at(3*time.Second))
	full.LockedBy, full.LockedUntil = "inst-1", ptr(at(time.Minute))
	second := newNotification("n-2", "evt_1", "ch-2", at(2*time.Second))
	third := newNotification("n-3", "evt_2", "ch-1", at(2*time.Second))
	third.EventType, third.SecretID, third.ClientID = watchword.EventSecretExpired, "sec-2", ""
	other := newNotification("n-4", "evt_3", "ch-9", at(time.Hour))
	other.DomainID = "dom-2"
	enqueue(t, s, full, second, third, other)

	got, err := s.GetNotification(ctx, "dom-1", "n-1")
	must(t, "GetNotification", err)
	check(t, "GetNotification", got, wantNotification(full))
	_, err = s.GetNotification(ctx, "dom-2", "n-1")
	checkErr(t, "GetNotification(other domain)", err, store.ErrNotFound)

	for _, tc := range []struct {
		name  string
		f     watchword.NotificationFilter
		want  []watchword.Notification
		total int
	}{
		{"domain, newest first", watchword.NotificationFilter{DomainID: "dom-1"}, []watchword.Notification{third, second, full}, 3},
		{"page", watchword.NotificationFilter{DomainID: "dom-1", Offset: 1, Limit: 1}, []watchword.Notification{second}, 3},
		{"status", watchword.NotificationFilter{DomainID: "dom-1", Status: watchword.NotificationFailed}, []watchword.Notification{full}, 1},
		{"event type", watchword.NotificationFilter{DomainID: "dom-1", EventType: watchword.EventSecretExpired}, []watchword.Notification{third}, 1},
		{"channel", watchword.NotificationFilter{DomainID: "dom-1", ChannelID: "ch-1"}, []watchword.Notification{third, full}, 2},
		{"client", watchword.NotificationFilter{DomainID: "dom-1", ClientID: "cli-1"}, []watchword.Notification{second, full}, 2},
		{"secret", watchword.NotificationFilter{DomainID: "dom-1", SecretID: "sec-2"}, []watchword.Notification{third}, 1},
		{"no match", watchword.NotificationFilter{DomainID: "dom-1", Status: watchword.NotificationDelivered}, []watchword.Notification{}, 0},
		{"every domain", watchword.NotificationFilter{}, []watchword.Notification{other, third, second, full}, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, total, err := s.ListNotifications(ctx, tc.f)
			must(t, "ListNotifications", err)
			want := make([]watchword.Notification, len(tc.want))
			for i, n := range tc.want {
				want[i] = wantNotification(n)
			}
			check(t, "ListNotifications", items, want)
			check(t, "ListNotifications total", total, tc.total)
		})
	}

	// A duplicate fails with its sentinel and leaves the Tx usable.
	err = s.Tx(ctx, func(tx store.Tx) error {
		if err := tx.EnqueueNotification(ctx, newNotification("n-1", "evt_9", "ch-1", t0)); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("EnqueueNotification(same id): got %v, want ErrAlreadyExists", err)
		}
		if err := tx.EnqueueNotification(ctx, newNotification("n-9", "evt_1", "ch-1", t0)); !errors.Is(err, store.ErrAlreadyExists) {
			t.Errorf("EnqueueNotification(same event and channel): got %v, want ErrAlreadyExists", err)
		}
		return tx.EnqueueNotification(ctx, newNotification("n-5", "evt_4", "ch-1", t0))
	})
	must(t, "EnqueueNotification after duplicates", err)
	_, err = s.GetNotification(ctx, "dom-1", "n-5")
	must(t, "GetNotification(n-5)", err)
}

// testClaimNotifications uses times around the real clock: the store's
// Tx.Now is time.Now in the conformance suite.
func testClaimNotifications(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"))
	now := time.Now()
	due := newNotification("n-due", "evt_1", "ch-1", now.Add(-time.Minute))
	later := newNotification("n-later", "evt_2", "ch-1", now.Add(time.Hour))
	leased := newNotification("n-leased", "evt_3", "ch-1", now.Add(-time.Minute))
	leased.LockedBy, leased.LockedUntil = "other", ptr(now.Add(time.Hour))
	crashed := newNotification("n-crashed", "evt_4", "ch-1", now.Add(-2*time.Minute))
	crashed.LockedBy, crashed.LockedUntil, crashed.Attempts = "dead", ptr(now.Add(-time.Second)), 3
	delivered := newNotification("n-done", "evt_5", "ch-1", now.Add(-time.Minute))
	delivered.Status = watchword.NotificationDelivered
	failed := newNotification("n-failed", "evt_6", "ch-1", now.Add(-time.Minute))
	failed.Status = watchword.NotificationFailed
	enqueue(t, s, due, later, leased, crashed, delivered, failed)

	until := now.Add(2 * time.Minute)
	var claimed []watchword.Notification
	var claimTime time.Time
	seed(t, s, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimNotifications(ctx, "me", until, 10)
		claimTime = tx.Now()
		return err
	})
	var want []watchword.Notification
	for _, n := range []watchword.Notification{crashed, due} { // oldest due first
		n.LockedBy, n.LockedUntil, n.Attempts, n.LastAttemptAt = "me", &until, n.Attempts+1, &claimTime
		want = append(want, wantNotification(n))
	}
	check(t, "ClaimNotifications", claimed, want)
	for _, n := range want {
		got, err := s.GetNotification(ctx, "dom-1", n.ID)
		must(t, "GetNotification", err)
		check(t, "GetNotification("+n.ID+") after claim", got, n)
	}
	seed(t, s, func(tx store.Tx) error {
		again, err := tx.ClaimNotifications(ctx, "you", until, 10)
		check(t, "ClaimNotifications while leased", len(again), 0)
		return err
	})

	// Finishing needs the lease; it releases it.
	done := claimed[1]
	done.Status, done.DeliveredAt, done.LockedBy, done.LockedUntil = watchword.NotificationDelivered, ptr(now), "", nil
	err := s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateNotification(ctx, done, "you") })
	checkErr(t, "UpdateNotification(not the lease holder)", err, store.ErrConflict)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateNotification(ctx, done, "") })
	checkErr(t, "UpdateNotification(as nobody)", err, store.ErrConflict)
	seed(t, s, func(tx store.Tx) error { return tx.UpdateNotification(ctx, done, "me") })
	got, err := s.GetNotification(ctx, "dom-1", done.ID)
	must(t, "GetNotification after update", err)
	check(t, "GetNotification after update", got, wantNotification(done))
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateNotification(ctx, done, "me") })
	checkErr(t, "UpdateNotification(lease already released)", err, store.ErrConflict)
	missing := done
	missing.ID = "n-missing"
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateNotification(ctx, missing, "") })
	checkErr(t, "UpdateNotification(missing)", err, store.ErrNotFound)

	// Rescheduled in the past and released: due again. Failed and
	// delivered ones are never claimed; the limit is honoured.
	retry := claimed[0]
	retry.NextAttemptAt, retry.LastError, retry.LockedBy, retry.LockedUntil = now.Add(-time.Second), "HTTP 500", "", nil
	seed(t, s, func(tx store.Tx) error { return tx.UpdateNotification(ctx, retry, "me") })
	seed(t, s, func(tx store.Tx) error {
		again, err := tx.ClaimNotifications(ctx, "you", until, 1)
		if err != nil {
			return err
		}
		if len(again) != 1 || again[0].ID != retry.ID || again[0].Attempts != retry.Attempts+1 || again[0].LockedBy != "you" {
			t.Errorf("ClaimNotifications after reschedule = %s, want %s leased to you with one more attempt", dump(again), retry.ID)
		}
		return nil
	})
	err = s.Tx(ctx, func(tx store.Tx) error {
		_, err := tx.ClaimNotifications(ctx, "", until, 1)
		return err
	})
	if err == nil {
		t.Error("ClaimNotifications(no owner): got no error")
	}
}

// RunClaimConcurrencyTest has workers on stores (several handles on one
// database, as several instances would be) claim and finish a batch of due
// notifications at once: each must be claimed exactly once.
func RunClaimConcurrencyTest(t *testing.T, stores ...store.Store) {
	const n, workers = 60, 8
	ctx := t.Context()
	seedDomainClient(t, stores[0], newDomain("dom-1", "one"))
	var ns []watchword.Notification
	for i := range n {
		ns = append(ns, newNotification(fmt.Sprintf("n-%03d", i), fmt.Sprintf("evt_%03d", i), "ch-1", time.Now().Add(-time.Hour)))
	}
	enqueue(t, stores[0], ns...)

	var mu sync.Mutex
	claims := map[string]int{}
	var wg sync.WaitGroup
	for w := range workers {
		s, owner := stores[w%len(stores)], fmt.Sprintf("worker-%d", w)
		wg.Go(func() {
			for {
				var got []watchword.Notification
				err := s.Tx(ctx, func(tx store.Tx) error {
					var err error
					got, err = tx.ClaimNotifications(ctx, owner, time.Now().Add(time.Hour), 3)
					return err
				})
				if err != nil {
					t.Errorf("%s: ClaimNotifications: %v", owner, err)
					return
				}
				if len(got) == 0 {
					return
				}
				for _, c := range got {
					mu.Lock()
					claims[c.ID]++
					mu.Unlock()
					c.Status, c.LockedBy, c.LockedUntil = watchword.NotificationDelivered, "", nil
					if err := s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateNotification(ctx, c, owner) }); err != nil {
						t.Errorf("%s: UpdateNotification(%s): %v", owner, c.ID, err)
					}
				}
			}
		})
	}
	wg.Wait()
	for _, want := range ns {
		if got := claims[want.ID]; got != 1 {
			t.Errorf("notification %s claimed %d times, want exactly once", want.ID, got)
		}
	}
}

// ---- expiry markers

func testMarkSecretExpired(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	sec := newSecret("sec-1", "cli-1", t0)
	sec.ExpiresAt = ptr(at(time.Hour))
	seed(t, s, func(tx store.Tx) error { return tx.CreateSecret(ctx, sec) })

	errs := race(t, s, func(i int, tx store.Tx) error {
		return tx.MarkSecretExpired(ctx, "sec-1", at(time.Duration(i)*time.Second))
	})
	winner := oneWinner(t, "MarkSecretExpired", errs, store.ErrConflict)
	got, err := s.GetSecret(ctx, "sec-1")
	must(t, "GetSecret", err)
	check(t, "ExpiredNotifiedAt", got.ExpiredNotifiedAt, ptr(store.Truncate(at(time.Duration(winner)*time.Second))))

	// UpdateSecret never clears (nor sets) the mark.
	stale := sec
	stale.Description = "renamed"
	seed(t, s, func(tx store.Tx) error { return tx.UpdateSecret(ctx, stale) })
	got, err = s.GetSecret(ctx, "sec-1")
	must(t, "GetSecret after UpdateSecret", err)
	check(t, "ExpiredNotifiedAt after UpdateSecret", got.ExpiredNotifiedAt, ptr(store.Truncate(at(time.Duration(winner)*time.Second))))
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.MarkSecretExpired(ctx, "sec-x", t0) })
	checkErr(t, "MarkSecretExpired(missing)", err, store.ErrNotFound)
}

func testExpiryNotices(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"))
	seed(t, s, func(tx store.Tx) error { return tx.CreateSecret(ctx, newSecret("sec-1", "cli-1", t0)) })
	errs := race(t, s, func(i int, tx store.Tx) error {
		return tx.CreateExpiryNotice(ctx, "sec-1", 10, at(240*time.Hour), at(time.Duration(i)))
	})
	oneWinner(t, "CreateExpiryNotice", errs, store.ErrAlreadyExists)
	seed(t, s, func(tx store.Tx) error { return tx.CreateExpiryNotice(ctx, "sec-1", 5, at(240*time.Hour), t0) })
	err := s.Tx(ctx, func(tx store.Tx) error { return tx.CreateExpiryNotice(ctx, "sec-x", 5, t0, t0) })
	if err == nil {
		t.Error("CreateExpiryNotice(unknown secret): got no error, want a foreign key violation")
	}
}

// testExpiryQueries checks which secrets the expiry jobs see.
func testExpiryQueries(t *testing.T, s store.Store) {
	ctx := t.Context()
	gone := newClient("cli-gone", "dom-1", "gone")
	gone.DeletedAt = ptr(t0)
	seedDomainClient(t, s, newDomain("dom-1", "one"), newClient("cli-1", "dom-1", "app"), newClient("cli-2", "dom-1", "other"), gone)
	seedDomainClient(t, s, newDomain("dom-2", "two"), newClient("cli-3", "dom-2", "elsewhere"))
	mk := func(id, client string, expires time.Duration, change func(*watchword.Secret)) watchword.Secret {
		sec := newSecret(id, client, t0)
		sec.ExpiresAt = ptr(at(expires))
		if change != nil {
			change(&sec)
		}
		return sec
	}
	secrets := []watchword.Secret{
		mk("s-expired", "cli-1", time.Hour, nil),
		mk("s-edge", "cli-2", 2*time.Hour, nil), // expires exactly at the cut-off
		mk("s-marked", "cli-1", time.Hour, func(s *watchword.Secret) { s.ExpiredNotifiedAt = ptr(at(time.Hour)) }),
		mk("s-revoked", "cli-1", time.Hour, func(s *watchword.Secret) { *s = s.Revoke(t0, "x", "") }),
		mk("s-deleted", "cli-1", time.Hour, func(s *watchword.Secret) { s.DeletedAt = ptr(at(time.Minute)) }),
		mk("s-gone", "cli-gone", time.Hour, nil),
		mk("s-future", "cli-1", 3*time.Hour, nil),
		mk("s-retiring", "cli-1", 3*time.Hour, func(s *watchword.Secret) { s.RetiringSince = ptr(t0) }),
		mk("s-other", "cli-3", 3*time.Hour, nil),
		mk("s-never", "cli-1", 0, func(s *watchword.Secret) { s.ExpiresAt = nil }),
	}
	seed(t, s, func(tx store.Tx) error {
		return each(func(sec watchword.Secret) error { return tx.CreateSecret(ctx, sec) }, secrets...)
	})
	ids := func(cs []store.ClientSecret) []string {
		out := []string{}
		for _, c := range cs {
			if c.Client.ID != c.Secret.ClientID {
				t.Errorf("secret %s came with client %s", c.Secret.ID, c.Client.ID)
			}
			out = append(out, c.Secret.ID)
		}
		return out
	}

	got, err := s.ListUnmarkedExpired(ctx, at(2*time.Hour), 10)
	must(t, "ListUnmarkedExpired", err)
	check(t, "ListUnmarkedExpired (oldest expiry first)", ids(got), []string{"s-expired", "s-edge"})
	check(t, "client of s-edge", got[1].Client, wantClient(newClient("cli-2", "dom-1", "other")))
	got, err = s.ListUnmarkedExpired(ctx, at(2*time.Hour-time.Microsecond), 10)
	must(t, "ListUnmarkedExpired", err)
	check(t, "ListUnmarkedExpired just before s-edge expires", ids(got), []string{"s-expired"})
	got, err = s.ListUnmarkedExpired(ctx, at(2*time.Hour), 1)
	must(t, "ListUnmarkedExpired", err)
	check(t, "ListUnmarkedExpired (limit)", ids(got), []string{"s-expired"})

	got, err = s.ListExpiringSecrets(ctx, "dom-1", at(time.Hour), at(3*time.Hour), "", 10)
	must(t, "ListExpiringSecrets", err)
	check(t, "ListExpiringSecrets (after, until]", ids(got), []string{"s-edge", "s-future"})
	got, err = s.ListExpiringSecrets(ctx, "dom-1", at(time.Hour), at(3*time.Hour), "s-edge", 10)
	must(t, "ListExpiringSecrets", err)
	check(t, "ListExpiringSecrets after s-edge", ids(got), []string{"s-future"})
	got, err = s.ListExpiringSecrets(ctx, "dom-1", at(time.Hour), at(3*time.Hour), "", 1)
	must(t, "ListExpiringSecrets", err)
	check(t, "ListExpiringSecrets (limit)", ids(got), []string{"s-edge"})
	got, err = s.ListExpiringSecrets(ctx, "dom-2", t0, at(3*time.Hour), "", 10)
	must(t, "ListExpiringSecrets", err)
	check(t, "ListExpiringSecrets(dom-2)", ids(got), []string{"s-other"})
}

// ---- jobs

func testJobs(t *testing.T, s store.Store) {
	ctx := t.Context()
	err := s.Tx(ctx, func(tx store.Tx) error { _, err := tx.LockJob(ctx, "sweep"); return err })
	checkErr(t, "LockJob(missing)", err, store.ErrNotFound)
	j := store.Job{Name: "sweep", Spec: "@every 1m", NextRunAt: at(time.Minute).In(ist)}
	errs := race(t, s, func(_ int, tx store.Tx) error { return tx.CreateJob(ctx, j) })
	oneWinner(t, "CreateJob", errs, store.ErrAlreadyExists)

	var got store.Job
	seed(t, s, func(tx store.Tx) error {
		var err error
		got, err = tx.LockJob(ctx, "sweep")
		return err
	})
	j.NextRunAt = store.Truncate(j.NextRunAt)
	check(t, "LockJob", got, j)
	j.Spec, j.NextRunAt, j.LastRunAt, j.LastError = "@every 2m", at(2*time.Minute), ptr(at(time.Minute)), "boom"
	j.LockedBy, j.LockedUntil = "inst-1", ptr(at(3*time.Minute))
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateJob(ctx, j); err != nil {
			return err
		}
		got, err = tx.LockJob(ctx, "sweep")
		return err
	})
	j.LastRunAt, j.LockedUntil = tr(j.LastRunAt), tr(j.LockedUntil)
	j.NextRunAt = store.Truncate(j.NextRunAt)
	check(t, "LockJob after UpdateJob", got, j)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.UpdateJob(ctx, store.Job{Name: "nope", NextRunAt: t0}) })
	checkErr(t, "UpdateJob(missing)", err, store.ErrNotFound)
}

// ---- migration 3

// V2Row is a statement (with '?' placeholders) and its arguments.
type V2Row struct {
	Query string
	Args  []any
}

// V2Rows fill a schema at migration 2 with a domain, a client and three
// secrets: one that expired in 1970, one that expires in 2100 and one that
// never does. A backend test runs them, migrates to the latest version and
// calls CheckV2Backfill.
var V2Rows = []V2Row{
	{`INSERT INTO domains (id, name, description, policy, oauth, created_at, updated_at)
	VALUES ('dom-v2', 'v2', '', '{"expiry":{"unit":"none"},"max_secrets":10,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":32}',
	'{"access_token_lifetime":"10m","id_token_lifetime":"1h","refresh_token_lifetime":"720h","code_lifetime":"1m","require_pkce":true,"require_state":true,"access_token_alg":"EdDSA"}', 1, 2)`, nil},
	{`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, oauth, created_at, updated_at)
	VALUES ('cli-v2', 'dom-v2', 'app', 'confidential', '["client_credentials"]', '[]', '[]', '{"token_endpoint_auth_method":"client_secret_basic"}', 3, 4)`, nil},
	{`INSERT INTO secrets (id, client_id, hash, key_id, source, created_at, expires_at) VALUES (?, 'cli-v2', ?, 'k1', 'generated', 5, ?)`,
		[]any{"sec-past", []byte{1}, int64(6)}},
	{`INSERT INTO secrets (id, client_id, hash, key_id, source, created_at, expires_at) VALUES (?, 'cli-v2', ?, 'k1', 'generated', 5, ?)`,
		[]any{"sec-2100", []byte{2}, time.Date(2100, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro()}},
	{`INSERT INTO secrets (id, client_id, hash, key_id, source, created_at) VALUES (?, 'cli-v2', ?, 'k1', 'generated', 5)`,
		[]any{"sec-never", []byte{3}}},
}

// CheckV2Backfill checks what migration 3 made of V2Rows: the domain has
// DefaultNotificationSettings, the client no contacts, and only the secret
// that had already expired is marked as announced, so that upgrading does
// not send secret.expired for old expiries.
func CheckV2Backfill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	d, err := s.GetDomain(ctx, "dom-v2")
	must(t, "GetDomain", err)
	check(t, "notification settings of migrated domain", d.Notifications, watchword.DefaultNotificationSettings())
	c, err := s.GetClient(ctx, "dom-v2", "cli-v2")
	must(t, "GetClient", err)
	check(t, "contacts of migrated client", c.Contacts, []string{})
	for _, tc := range []struct {
		id     string
		marked bool
	}{{"sec-past", true}, {"sec-2100", false}, {"sec-never", false}} {
		sec, err := s.GetSecret(ctx, tc.id)
		must(t, "GetSecret("+tc.id+")", err)
		if got := sec.ExpiredNotifiedAt != nil; got != tc.marked {
			t.Errorf("secret %s: marked expired = %v (%s), want %v", tc.id, got, dump(sec.ExpiredNotifiedAt), tc.marked)
		}
	}
	due, err := s.ListUnmarkedExpired(ctx, time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC), 10)
	must(t, "ListUnmarkedExpired", err)
	if len(due) != 1 || due[0].Secret.ID != "sec-2100" {
		t.Errorf("ListUnmarkedExpired(2200) = %s, want only sec-2100", dump(due))
	}
}

// MigrationFiles lists the names of the *.sql files in dir, in order: the
// migrations a backend applies to a new database.
func MigrationFiles(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sql") {
			names = append(names, e.Name())
		}
	}
	slices.Sort(names)
	return names
}
