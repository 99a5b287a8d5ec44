package notify_test

import (
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/apiclient"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/testenv"
)

// hit is one request a receiver got.
type hit struct {
	ID, Timestamp, Signature string
	Body                     []byte
}

// receiver is an HTTP endpoint that records webhooks and answers with
// status() (200 by default).
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	hits   []hit
	status atomic.Int32
}

func newReceiver(t *testing.T) *receiver {
	r := &receiver{}
	r.status.Store(http.StatusOK)
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.hits = append(r.hits, hit{req.Header.Get(notify.HeaderID), req.Header.Get(notify.HeaderTimestamp), req.Header.Get(notify.HeaderSignature), b})
		r.mu.Unlock()
		status := int(r.status.Load())
		w.WriteHeader(status)
		if status >= 300 {
			io.WriteString(w, "boom\x00\nretry later")
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) Hits() []hit {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.hits)
}

// header rebuilds the Standard Webhooks headers of a hit.
func (h hit) header() http.Header {
	hd := http.Header{}
	hd.Set(notify.HeaderID, h.ID)
	hd.Set(notify.HeaderTimestamp, h.Timestamp)
	hd.Set(notify.HeaderSignature, h.Signature)
	return hd
}

func api(s *testenv.Server) *apiclient.Client {
	return &apiclient.Client{Endpoint: s.AdminURL, Token: s.Token}
}

// webhook is the Standard Webhooks library's verifier for a signing secret.
func webhook(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	return wh
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func dispatch(t *testing.T, s *testenv.Server) int {
	t.Helper()
	n, err := s.Jobs.Dispatch(t.Context())
	if err != nil {
		t.Fatalf("Dispatch: %v", err)
	}
	return n
}

// TestWebhookEndToEnd: a change made through the API reaches a webhook
// receiver, signed so that the Standard Webhooks library verifies it, and
// during a signing-secret rotation both secrets verify.
func TestWebhookEndToEnd(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			clock := clocktest.New(time.Now().Truncate(time.Second)) // near real time: the library checks the timestamp
			s := testenv.Start(t, backend, testenv.Options{Now: clock.Now})
			c := api(s)
			ctx := t.Context()
			rcv := newReceiver(t)
			ch, err := c.CreateChannel(ctx, "default", lifecycle.ChannelCreate{Name: "hook", Type: watchword.ChannelWebhook, URL: rcv.URL})
			fatalIf(t, err)
			created, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "billing-api"})
			fatalIf(t, err)
			if n := dispatch(t, s); n != 1 {
				t.Fatalf("dispatched %d, want 1", n)
			}
			hits := rcv.Hits()
			if len(hits) != 1 {
				t.Fatalf("receiver got %d requests, want 1", len(hits))
			}
			wh := webhook(t, ch.SigningSecret)
			if err := wh.Verify(hits[0].Body, hits[0].header()); err != nil {
				t.Fatalf("the Standard Webhooks library rejects the delivery: %v", err)
			}
			var ev watchword.Event
			if err := json.Unmarshal(hits[0].Body, &ev); err != nil {
				t.Fatal(err)
			}
			if ev.ID != hits[0].ID || ev.Type != watchword.EventSecretCreated || ev.Data.Client.Name != "billing-api" ||
				ev.Data.Secret.ID != created.Secret.ID || ev.Data.Secret.Hint != created.Secret.Hint {
				t.Errorf("event %+v", ev)
			}
			if strings.Contains(string(hits[0].Body), created.Secret.Plaintext) {
				t.Fatal("the webhook carries the secret's plaintext")
			}
			ns, err := c.ListNotifications(ctx, "default", watchword.NotificationFilter{})
			fatalIf(t, err)
			if ns.Total != 1 || ns.Items[0].Status != watchword.NotificationDelivered || ns.Items[0].Attempts != 1 ||
				ns.Items[0].DeliveredAt == nil || ns.Items[0].EventID != hits[0].ID {
				t.Fatalf("notifications %+v", ns)
			}

			// Rotate the signing secret with a transition: each delivery
			// now carries two signatures, and either secret verifies it.
			grace := watchword.Duration(time.Hour)
			rot, err := c.RotateChannelSecret(ctx, "default", "hook", lifecycle.SigningSecretRotate{Transition: &grace})
			fatalIf(t, err)
			if _, err := c.AddSecret(ctx, "default", "billing-api", lifecycle.SecretCreate{}); err != nil {
				t.Fatal(err)
			}
			dispatch(t, s)
			last := rcv.Hits()[1]
			if got := len(strings.Fields(last.Signature)); got != 2 {
				t.Errorf("%d signatures during the transition, want 2", got)
			}
			for _, sec := range []string{ch.SigningSecret, rot.SigningSecret} {
				if err := webhook(t, sec).Verify(last.Body, last.header()); err != nil {
					t.Errorf("secret %s…: %v", sec[:10], err)
				}
			}
			// After the transition only the new secret signs.
			clock.Advance(time.Hour)
			if _, err := c.RotateClient(ctx, "default", "billing-api", lifecycle.RotateRequest{}); err != nil {
				t.Fatal(err)
			}
			dispatch(t, s)
			last = rcv.Hits()[2]
			if got := len(strings.Fields(last.Signature)); got != 1 {
				t.Errorf("%d signatures after the transition, want 1", got)
			}
			if err := webhook(t, ch.SigningSecret).VerifyIgnoringTimestamp(last.Body, last.header()); err == nil {
				t.Error("the old secret still verifies after its transition")
			}
		})
	}
}

// TestWebhookRetries: a receiver that fails gets the notification again
// with exponential back-off (to the microsecond of the injected clock)
// until the 10th attempt fails it for good, with the last error in the API;
// retrying it through the API after the receiver recovers delivers it.
func TestWebhookRetries(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			start := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
			clock := clocktest.New(start)
			s := testenv.Start(t, backend, testenv.Options{Now: clock.Now})
			c := api(s)
			ctx := t.Context()
			rcv := newReceiver(t)
			rcv.status.Store(http.StatusInternalServerError)
			ch, err := c.CreateChannel(ctx, "default", lifecycle.ChannelCreate{Name: "hook", Type: watchword.ChannelWebhook, URL: rcv.URL})
			fatalIf(t, err)
			if _, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "app"}); err != nil {
				t.Fatal(err)
			}

			get := func() watchword.Notification {
				t.Helper()
				ns, err := c.ListNotifications(ctx, "default", watchword.NotificationFilter{ChannelID: "hook"})
				fatalIf(t, err)
				if ns.Total != 1 {
					t.Fatalf("%d notifications, want 1", ns.Total)
				}
				return ns.Items[0]
			}
			backoff := time.Minute
			for attempt := 1; attempt <= notify.DefaultMaxAttempts; attempt++ {
				due := clock.Now()
				if attempt > 1 {
					clock.Set(due.Add(-time.Microsecond))
					if n := dispatch(t, s); n != 0 {
						t.Fatalf("attempt %d: dispatched %d a microsecond before it was due", attempt, n)
					}
					clock.Set(due)
				}
				if n := dispatch(t, s); n != 1 {
					t.Fatalf("attempt %d: dispatched %d, want 1", attempt, n)
				}
				n := get()
				if n.Attempts != attempt || !strings.Contains(n.LastError, "HTTP 500") || !strings.Contains(n.LastError, "boom") ||
					n.LastAttemptAt == nil || !n.LastAttemptAt.Equal(due) {
					t.Fatalf("after attempt %d: %+v", attempt, n)
				}
				if attempt < notify.DefaultMaxAttempts {
					if n.Status != watchword.NotificationPending || !n.NextAttemptAt.Equal(due.Add(backoff)) {
						t.Fatalf("after attempt %d: status %s, next %v, want pending at %v", attempt, n.Status, n.NextAttemptAt, due.Add(backoff))
					}
					clock.Set(n.NextAttemptAt)
					backoff = min(2*backoff, notify.DefaultBackoffMax)
				}
			}
			failed := get()
			if failed.Status != watchword.NotificationFailed {
				t.Fatalf("after %d attempts: status %s, want failed", notify.DefaultMaxAttempts, failed.Status)
			}
			list, err := c.ListNotifications(ctx, "default", watchword.NotificationFilter{Status: watchword.NotificationFailed})
			fatalIf(t, err)
			if list.Total != 1 || list.Items[0].LastError == "" {
				t.Fatalf("failed notifications %+v", list)
			}
			clock.Advance(48 * time.Hour)
			if n := dispatch(t, s); n != 0 {
				t.Fatalf("a failed notification was dispatched again")
			}
			hits := rcv.Hits()
			if len(hits) != notify.DefaultMaxAttempts {
				t.Fatalf("receiver got %d requests, want %d", len(hits), notify.DefaultMaxAttempts)
			}
			wh := webhook(t, ch.SigningSecret)
			for i, h := range hits {
				if h.ID != failed.EventID {
					t.Errorf("request %d: webhook-id %q, want %q on every attempt", i, h.ID, failed.EventID)
				}
				if err := wh.VerifyIgnoringTimestamp(h.Body, h.header()); err != nil {
					t.Errorf("request %d: %v", i, err)
				}
			}

			// The receiver recovers; an admin retries the notification.
			rcv.status.Store(http.StatusNoContent)
			retried, err := c.RetryNotification(ctx, "default", failed.ID)
			fatalIf(t, err)
			if retried.Status != watchword.NotificationPending || retried.Attempts != 0 {
				t.Fatalf("retried: %+v", retried)
			}
			_, err = c.RetryNotification(ctx, "default", failed.ID)
			if watchword.ErrorCode(err) != watchword.ECONFLICT {
				t.Errorf("retrying a pending notification: %v, want a conflict", err)
			}
			dispatch(t, s)
			if n := get(); n.Status != watchword.NotificationDelivered || n.LastError != "" || n.Attempts != 1 {
				t.Errorf("after the retry: %+v", n)
			}
			if got := rcv.Hits(); len(got) != notify.DefaultMaxAttempts+1 || got[len(got)-1].ID != failed.EventID {
				t.Errorf("the retry was not sent with the same webhook-id")
			}
		})
	}
}

// TestTwoInstancesExactlyOnce runs two servers on one PostgreSQL database,
// both dispatching every 20 ms, and counts at the receiver how often each
// event arrives: exactly once each.
func TestTwoInstancesExactlyOnce(t *testing.T) {
	key, db := secret.GenerateKeyHex(), pgtest.URL(t)
	a := testenv.Start(t, "postgres", testenv.Options{Database: db, ServerKey: key, Jobs: true})
	b := testenv.Start(t, "postgres", testenv.Options{Database: db, ServerKey: key, Jobs: true})
	ctx := t.Context()
	var mu sync.Mutex
	count := map[string]int{}
	var bad atomic.Int32
	var secretValue atomic.Value
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if sv, _ := secretValue.Load().(string); sv != "" {
			wh, _ := standardwebhooks.NewWebhook(sv)
			if err := wh.Verify(body, r.Header); err != nil {
				bad.Add(1)
			}
		}
		mu.Lock()
		count[r.Header.Get(notify.HeaderID)]++
		mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	defer rcv.Close()
	ch, err := api(a).CreateChannel(ctx, "default", lifecycle.ChannelCreate{Name: "hook", Type: watchword.ChannelWebhook, URL: rcv.URL})
	fatalIf(t, err)
	secretValue.Store(ch.SigningSecret)

	const clients = 30 // each makes secret.created and secret.rotated: 60 events
	var wg sync.WaitGroup
	// b did not initialise the database, so it has no first token: both
	// take a's.
	apiB := &apiclient.Client{Endpoint: b.AdminURL, Token: a.Token}
	for i := range clients {
		c := []*apiclient.Client{api(a), apiB}[i%2]
		wg.Go(func() {
			name := fmt.Sprintf("app-%02d", i)
			if _, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: name}); err != nil {
				t.Error(err)
				return
			}
			if _, err := c.RotateClient(ctx, "default", name, lifecycle.RotateRequest{}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	const events = 2 * clients
	deadline := time.Now().Add(30 * time.Second)
	for {
		mu.Lock()
		n := len(count)
		mu.Unlock()
		if n >= events {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("receiver got %d distinct events after 30 s, want %d", n, events)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // a second delivery would arrive by now
	mu.Lock()
	defer mu.Unlock()
	if len(count) != events {
		t.Errorf("receiver got %d distinct events, want %d", len(count), events)
	}
	for id, n := range count {
		if n != 1 {
			t.Errorf("event %s delivered %d times, want exactly once", id, n)
		}
	}
	if bad.Load() != 0 {
		t.Errorf("%d deliveries failed signature verification", bad.Load())
	}
	ns, err := apiB.ListNotifications(ctx, "default", watchword.NotificationFilter{Status: watchword.NotificationDelivered, Limit: 500})
	fatalIf(t, err)
	if ns.Total != events {
		t.Errorf("%d notifications delivered per the API, want %d", ns.Total, events)
	}
	for _, n := range ns.Items {
		if n.Attempts != 1 {
			t.Errorf("notification %s took %d attempts, want 1", n.ID, n.Attempts)
		}
	}
}

// TestEmailEndToEnd: an email channel mails the domain's owners and the
// client's contacts through a real SMTP server.
func TestEmailEndToEnd(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			smtpSrv := startSMTP(t, notify.TLSNone, "relay", "pw")
			s := testenv.Start(t, backend, testenv.Options{SMTP: config.SMTP{
				Host: smtpSrv.Host, Port: smtpSrv.Port, Username: "relay", Password: "pw",
				From: "watchword@example.org", TLS: notify.TLSNone,
			}})
			c := api(s)
			ctx := t.Context()
			if _, err := c.SetNotificationSettings(ctx, "default", watchword.NotificationSettings{Owners: []string{"ops@example.org"}}); err != nil {
				t.Fatal(err)
			}
			if _, err := c.CreateChannel(ctx, "default", lifecycle.ChannelCreate{Name: "mail", Type: watchword.ChannelEmail}); err != nil {
				t.Fatal(err)
			}
			created, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "billing-api", Contacts: []string{"dev@example.org"}})
			fatalIf(t, err)
			if n := dispatch(t, s); n != 1 {
				t.Fatalf("dispatched %d, want 1", n)
			}
			got := smtpSrv.Wait(t, 1)[0]
			if got.From != "watchword@example.org" || !slices.Equal(got.To, []string{"ops@example.org", "dev@example.org"}) || got.User != "relay" {
				t.Errorf("received from %q to %q as %q", got.From, got.To, got.User)
			}
			msg, err := mail.ReadMessage(strings.NewReader(got.Data))
			fatalIf(t, err)
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			fatalIf(t, err)
			if want := "[Watchword] New secret …" + created.Secret.Hint + " for client billing-api (default)"; subject != want {
				t.Errorf("Subject %q, want %q", subject, want)
			}
			if typ := msg.Header.Get("X-Watchword-Event-Type"); typ != watchword.EventSecretCreated {
				t.Errorf("X-Watchword-Event-Type %q", typ)
			}
			body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			fatalIf(t, err)
			for _, want := range []string{"billing-api (" + created.Client.ID + ")", created.Secret.ID + ", ending …" + created.Secret.Hint} {
				if !strings.Contains(string(body), want) {
					t.Errorf("body lacks %q:\n%s", want, body)
				}
			}
			if strings.Contains(got.Data, created.Secret.Plaintext) {
				t.Fatal("the email carries the secret's plaintext")
			}
			ns, err := c.ListNotifications(ctx, "default", watchword.NotificationFilter{})
			fatalIf(t, err)
			if ns.Total != 1 || ns.Items[0].Status != watchword.NotificationDelivered ||
				!slices.Equal(ns.Items[0].Recipients, []string{"ops@example.org", "dev@example.org"}) {
				t.Errorf("notifications %+v", ns.Items)
			}
		})
	}
}
