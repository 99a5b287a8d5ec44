// Package notify delivers lifecycle notifications from the outbox: webhooks
// signed as the Standard Webhooks specification says, and email through an
// SMTP relay.
//
// Delivery is at least once. The lifecycle service writes each
// notification to the outbox in the transaction of the change that causes
// it; a Dispatcher claims due rows with a lease (one short transaction),
// delivers them outside any transaction, and records the outcome if it
// still holds the lease. Concurrent dispatchers claim disjoint rows, so in
// normal operation each row is sent once; a dispatcher that dies keeps its
// rows only until the lease ends, after which another sends them again.
// Receivers drop repeats by the event id (webhook-id; X-Watchword-Event-Id
// and Message-ID of an email).
package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Dispatcher defaults.
const (
	DefaultLease       = 2 * time.Minute
	DefaultBatch       = 20
	DefaultMaxAttempts = 10
	DefaultBackoffBase = time.Minute
	DefaultBackoffMax  = 6 * time.Hour
	webhookTimeout     = 15 * time.Second
	maxErrorLength     = 512
)

// Dispatcher delivers due notifications. Zero fields take the defaults
// above; Store and Hasher are required.
type Dispatcher struct {
	Store  store.Store
	Hasher *secret.Hasher
	// Mailer sends email notifications; nil fails them with a clear error.
	Mailer *Mailer
	// HTTP posts webhooks; nil means a client with a 15 s timeout that does
	// not follow redirects (a redirect is a failed delivery).
	HTTP   *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// Owner names this dispatcher in leases; empty means a random id.
	Owner string
	// Lease is how long a claimed notification stays this dispatcher's:
	// longer than any delivery takes (webhooks time out after 15 s, email
	// after Mailer.Timeout).
	Lease time.Duration
	// Batch is how many notifications one DispatchOnce claims and delivers
	// concurrently.
	Batch int
	// MaxAttempts is how many attempts a notification gets before it is
	// failed. The delay after failed attempt n is BackoffBase·2^(n-1),
	// at most BackoffMax: with the defaults 1m, 2m, 4m … 256m, about 8.5 h
	// from the first attempt to the tenth.
	MaxAttempts int
	BackoffBase time.Duration
	BackoffMax  time.Duration

	once sync.Once
}

func (d *Dispatcher) init() {
	d.once.Do(func() {
		if d.Now == nil {
			d.Now = time.Now
		}
		if d.Logger == nil {
			d.Logger = slog.New(slog.DiscardHandler)
		}
		if d.Owner == "" {
			d.Owner = "dispatcher-" + secret.NewID()
		}
		if d.HTTP == nil {
			d.HTTP = &http.Client{
				Timeout:       webhookTimeout,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			}
		}
		for _, f := range []struct {
			v   *time.Duration
			def time.Duration
		}{{&d.Lease, DefaultLease}, {&d.BackoffBase, DefaultBackoffBase}, {&d.BackoffMax, DefaultBackoffMax}} {
			if *f.v <= 0 {
				*f.v = f.def
			}
		}
		if d.Batch <= 0 {
			d.Batch = DefaultBatch
		}
		if d.MaxAttempts <= 0 {
			d.MaxAttempts = DefaultMaxAttempts
		}
	})
}

// Backoff is the delay before the attempt after failed attempt n (1-based).
func (d *Dispatcher) Backoff(n int) time.Duration {
	d.init()
	delay := d.BackoffBase
	for i := 1; i < n && delay < d.BackoffMax; i++ {
		delay *= 2
	}
	return min(delay, d.BackoffMax)
}

// DispatchOnce claims the notifications due now (at most Batch), delivers
// them concurrently and records each outcome. It returns how many it
// claimed; the caller runs it again at once while that is a full batch.
func (d *Dispatcher) DispatchOnce(ctx context.Context) (int, error) {
	d.init()
	var claimed []watchword.Notification
	err := d.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		claimed, err = tx.ClaimNotifications(ctx, d.Owner, tx.Now().Add(d.Lease), d.Batch)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("claim notifications: %w", err)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(claimed))
	for i, n := range claimed {
		wg.Go(func() { errs[i] = d.deliver(ctx, n) })
	}
	wg.Wait()
	return len(claimed), errors.Join(errs...)
}

// permanent marks an error after which retrying cannot help.
type permanent struct{ error }

func (p permanent) Unwrap() error { return p.error }

// deliver attempts one claimed notification and records the outcome.
func (d *Dispatcher) deliver(ctx context.Context, n watchword.Notification) error {
	var err error
	if n.Attempts > d.MaxAttempts {
		// Claimed again after its dispatchers kept dying mid-delivery.
		err = permanent{fmt.Errorf("gave up after %d attempts without an outcome (last error: %s)", n.Attempts-1, n.LastError)}
	} else {
		err = d.send(ctx, n)
	}
	now := d.Now()
	n.LockedBy, n.LockedUntil = "", nil
	log := d.Logger.With("notification_id", n.ID, "event_id", n.EventID, "event_type", n.EventType,
		"channel_id", n.ChannelID, "attempt", n.Attempts)
	var perm permanent
	switch {
	case err == nil:
		n.Status, n.DeliveredAt, n.LastError = watchword.NotificationDelivered, &now, ""
		log.DebugContext(ctx, "notification delivered")
	case errors.As(err, &perm) || n.Attempts >= d.MaxAttempts:
		n.Status, n.LastError = watchword.NotificationFailed, watchword.Truncate(err.Error(), maxErrorLength)
		log.ErrorContext(ctx, "notification failed for good", "err", err)
	default:
		n.NextAttemptAt, n.LastError = now.Add(d.Backoff(n.Attempts)), watchword.Truncate(err.Error(), maxErrorLength)
		log.WarnContext(ctx, "notification attempt failed", "err", err, "next_attempt_at", n.NextAttemptAt)
	}
	// Record the outcome even if ctx ended during delivery (shutdown), so
	// that a delivered notification is not sent again after the lease.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	uerr := d.Store.Tx(rctx, func(tx store.Tx) error { return tx.UpdateNotification(rctx, n, d.Owner) })
	if errors.Is(uerr, store.ErrConflict) {
		// The lease ended and another dispatcher took over; its outcome wins.
		log.WarnContext(ctx, "notification lease lost before the outcome was recorded")
		return nil
	}
	if uerr != nil {
		return fmt.Errorf("record delivery of notification %s: %w", n.ID, uerr)
	}
	return nil
}

// send delivers n to its channel as the channel is now: a changed URL or
// signing secret applies to retries.
func (d *Dispatcher) send(ctx context.Context, n watchword.Notification) error {
	ch, err := d.Store.GetChannel(ctx, n.DomainID, n.ChannelID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return permanent{errors.New("the channel was deleted")}
	case err != nil:
		return err
	case ch.Disabled:
		return permanent{errors.New("the channel is disabled")}
	}
	switch ch.Type {
	case watchword.ChannelWebhook:
		return d.sendWebhook(ctx, ch, n)
	case watchword.ChannelEmail:
		if d.Mailer == nil || d.Mailer.Host == "" {
			return errors.New("smtp: this server has no SMTP settings (smtp.host)")
		}
		msg, err := Message(d.Mailer.From, n.Recipients, n.Event, n.ChannelID, d.Now())
		if err != nil {
			return err
		}
		return d.Mailer.Send(ctx, n.Recipients, msg)
	}
	return permanent{fmt.Errorf("unknown channel type %q", ch.Type)}
}

func (d *Dispatcher) sendWebhook(ctx context.Context, ch watchword.Channel, n watchword.Notification) error {
	now := d.Now()
	var keys [][]byte
	for _, ss := range ch.SigningSecrets {
		if !ss.ValidAt(now) {
			continue
		}
		plain, err := d.Hasher.Open(ss.Ciphertext, ss.KeyID, SigningSecretAAD(ch.ID, ss.ID))
		if err != nil {
			return fmt.Errorf("signing secret %s: %w", ss.ID, err)
		}
		key, err := ParseSigningSecret(string(plain))
		if err != nil {
			return fmt.Errorf("signing secret %s: %w", ss.ID, err)
		}
		keys = append(keys, key)
	}
	if len(keys) == 0 {
		return errors.New("the channel has no valid signing secret; rotate one in")
	}
	body, err := json.Marshal(n.Event)
	if err != nil {
		return permanent{fmt.Errorf("encode event: %w", err)}
	}
	return postWebhook(ctx, d.HTTP, ch.URL, n.EventID, now, keys, body)
}
