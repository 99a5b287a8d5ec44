package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Notifications are written to the outbox only for the channels that exist
// and take the event when the change happens: a domain without channels
// queues nothing (its audit log still records every change), and a channel
// added later does not receive earlier events. Each row then lives on as
// the delivery record of that event on that channel.

// ParseSchedule parses a notice schedule: a standard five-field cron
// expression or a descriptor such as "@daily", in UTC unless it starts with
// CRON_TZ=<zone>.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if !strings.HasPrefix(spec, "CRON_TZ=") && !strings.HasPrefix(spec, "TZ=") {
		spec = "CRON_TZ=UTC " + spec
	}
	return cron.ParseStandard(spec)
}

// outbox queues the notifications of one transaction. It reads the
// domain's channels once, on the first event.
type outbox struct {
	tx       store.Tx
	domain   watchword.Domain
	channels []watchword.Channel
	loaded   bool
}

func newOutbox(tx store.Tx, d watchword.Domain) *outbox { return &outbox{tx: tx, domain: d} }

// emit queues one event about sec of client c for every channel of the
// domain that takes events of type typ; fill adds the event's own fields.
func (o *outbox) emit(ctx context.Context, c watchword.Client, typ string, sec watchword.Secret, fill func(*watchword.EventData)) error {
	if !o.loaded {
		chs, err := o.tx.ListChannels(ctx, o.domain.ID)
		if err != nil {
			return err
		}
		o.channels, o.loaded = chs, true
	}
	now := o.tx.Now()
	ev := watchword.Event{
		ID: watchword.EventIDPrefix + secret.NewID(), Type: typ, Timestamp: now,
		Data: watchword.EventData{
			Domain: watchword.EventRef{ID: o.domain.ID, Name: o.domain.Name},
			Client: watchword.EventRef{ID: c.ID, Name: c.Name},
			Secret: watchword.NewEventSecret(sec),
			Actor:  watchword.ActorFromContext(ctx).String(),
		},
	}
	if fill != nil {
		fill(&ev.Data)
	}
	for _, ch := range o.channels {
		if !ch.Wants(typ) {
			continue
		}
		n := watchword.Notification{
			ID: secret.NewID(), EventID: ev.ID, EventType: typ, DomainID: o.domain.ID,
			ChannelID: ch.ID, ChannelType: ch.Type, ClientID: c.ID, SecretID: sec.ID, Event: ev,
			Status: watchword.NotificationPending, NextAttemptAt: now, CreatedAt: now,
		}
		if ch.Type == watchword.ChannelEmail {
			if n.Recipients = recipients(o.domain, c); len(n.Recipients) == 0 {
				continue // nobody to write to
			}
		}
		if err := o.tx.EnqueueNotification(ctx, n); err != nil {
			return err
		}
	}
	return nil
}

// wants reports whether any channel of the domain takes events of typ.
func (o *outbox) wants(ctx context.Context, typ string) (bool, error) {
	chs, err := o.tx.ListChannels(ctx, o.domain.ID)
	if err != nil {
		return false, err
	}
	o.channels, o.loaded = chs, true
	return slices.ContainsFunc(chs, func(c watchword.Channel) bool { return c.Wants(typ) }), nil
}

// recipients are the domain's owners and the client's contacts, without
// repeats (addresses compare case-insensitively).
func recipients(d watchword.Domain, c watchword.Client) []string {
	var out []string
	for _, a := range slices.Concat(d.Notifications.Owners, c.Contacts) {
		if !slices.ContainsFunc(out, func(b string) bool { return strings.EqualFold(a, b) }) {
			out = append(out, a)
		}
	}
	return out
}

// rotatedEvent fills a secret.rotated event: the rotation and the secrets
// it put into their transition period, as they are after it.
func rotatedEvent(rot watchword.Rotation, before []watchword.Secret, compromised bool) func(*watchword.EventData) {
	return func(e *watchword.EventData) {
		e.RotationKind, e.RotationID, e.Compromised = rot.Kind, rot.ID, compromised
		tr := rot.Transition
		e.Transition = &tr
		e.PreviousSecrets = []watchword.EventSecret{}
		for _, o := range rot.Old {
			i := slices.IndexFunc(before, func(s watchword.Secret) bool { return s.ID == o.ID })
			if i < 0 {
				continue
			}
			es := watchword.NewEventSecret(before[i])
			es.ExpiresAt = o.ExpiresAt
			e.PreviousSecrets = append(e.PreviousSecrets, es)
		}
	}
}

func revokedEvent(reason string, compromised bool) func(*watchword.EventData) {
	return func(e *watchword.EventData) { e.RevocationReason, e.Compromised = reason, compromised }
}

// ---- notification settings

// SetNotificationSettings replaces the domain's owners and expiry-notice
// schedule and thresholds.
func (s *Service) SetNotificationSettings(ctx context.Context, domainName string, n watchword.NotificationSettings) (watchword.Domain, error) {
	if n.Owners == nil {
		n.Owners = []string{}
	}
	if n.ExpirySchedule == "" {
		n.ExpirySchedule = watchword.DefaultExpirySchedule
	}
	if n.ExpiryThresholds == nil {
		n.ExpiryThresholds = slices.Clone(watchword.DefaultExpiryThresholds)
	}
	if err := n.Validate(func(spec string) error { _, err := ParseSchedule(spec); return err }); err != nil {
		return watchword.Domain{}, err
	}
	slices.SortFunc(n.ExpiryThresholds, func(a, b int) int { return b - a }) // largest first, as shown
	var d watchword.Domain
	err := s.tx(ctx, func(tx store.Tx) error {
		var err error
		if d, err = domainIn(ctx, tx, domainName); err != nil {
			return err
		}
		d.Notifications, d.UpdatedAt = n, tx.Now()
		if err := tx.UpdateDomain(ctx, d); err != nil {
			return err
		}
		days := make([]string, len(n.ExpiryThresholds))
		for i, t := range n.ExpiryThresholds {
			days[i] = strconv.Itoa(t)
		}
		return audit(ctx, tx, watchword.ActionNotifySettingsUpdate, d.ID, "domain", d.ID, map[string]string{
			"owners": strings.Join(n.Owners, " "), "expiry_schedule": n.ExpirySchedule,
			"expiry_thresholds": strings.Join(days, ","),
		})
	})
	return d, err
}

// ---- channels

// ChannelCreate is the input of CreateChannel.
type ChannelCreate struct {
	Name   string                `json:"name"`
	Type   watchword.ChannelType `json:"type"`
	URL    string                `json:"url,omitempty"`
	Events []string              `json:"events,omitempty"`
	// SigningSecret of a webhook channel, in the whsec_<base64> form; empty
	// means generate one.
	SigningSecret string `json:"signing_secret,omitempty"`
}

// ChannelCreated is a new channel and, for a webhook, its signing secret,
// shown this once.
type ChannelCreated struct {
	Channel       watchword.Channel `json:"channel"`
	SigningSecret string            `json:"signing_secret,omitempty"`
	// SigningSecretRedacted is set, and SigningSecret empty, in the replay
	// of the response to a retried request.
	SigningSecretRedacted bool `json:"signing_secret_redacted,omitempty"`
}

// Signing-secret transition bounds of RotateChannelSecret.
const (
	DefaultSigningTransition = 24 * time.Hour
	MaxSigningTransition     = 30 * 24 * time.Hour
)

// newSigningSecret encrypts value (or a new secret) for channel chID.
func (s *Service) newSigningSecret(chID, value string, now time.Time) (watchword.SigningSecret, string, error) {
	if value == "" {
		value = notify.NewSigningSecret()
	} else if _, err := notify.ParseSigningSecret(value); err != nil {
		return watchword.SigningSecret{}, "", watchword.FieldError(watchword.EINVALID, "signing_secret", "%s.", err.Error())
	}
	ss := watchword.SigningSecret{ID: secret.NewID(), Hint: secret.Hint(value), CreatedAt: now}
	ss.Ciphertext, ss.KeyID = s.Hasher.Seal([]byte(value), notify.SigningSecretAAD(chID, ss.ID))
	return ss, value, nil
}

// CreateChannel adds a notification channel to a domain.
func (s *Service) CreateChannel(ctx context.Context, domainName string, in ChannelCreate) (ChannelCreated, error) {
	ch := watchword.Channel{ID: secret.NewID(), Name: in.Name, Type: in.Type, URL: in.URL, Events: orEmpty(in.Events)}
	if err := ch.Validate(); err != nil {
		return ChannelCreated{}, err
	}
	switch {
	case ch.Type == watchword.ChannelEmail && !s.EmailEnabled:
		return ChannelCreated{}, watchword.FieldError(watchword.EINVALID, "type", "This server has no SMTP settings (smtp.host), so email channels cannot deliver.")
	case ch.Type == watchword.ChannelEmail && in.SigningSecret != "":
		return ChannelCreated{}, watchword.FieldError(watchword.EINVALID, "signing_secret", "Only webhook channels have a signing secret.")
	}
	var out ChannelCreated
	err := s.tx(ctx, func(tx store.Tx) error {
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		ch.DomainID, ch.CreatedAt, ch.UpdatedAt = d.ID, tx.Now(), tx.Now()
		out.SigningSecret = ""
		if ch.Type == watchword.ChannelWebhook {
			ss, plain, err := s.newSigningSecret(ch.ID, in.SigningSecret, tx.Now())
			if err != nil {
				return err
			}
			ch.SigningSecrets, out.SigningSecret = []watchword.SigningSecret{ss}, plain
		}
		if err := tx.CreateChannel(ctx, ch); errors.Is(err, store.ErrAlreadyExists) {
			return watchword.FieldError(watchword.ECONFLICT, "name", "A channel named %q already exists in domain %q.", ch.Name, d.Name)
		} else if err != nil {
			return err
		}
		out.Channel = ch
		return audit(ctx, tx, watchword.ActionChannelCreate, d.ID, "channel", ch.ID, channelDetails(ch))
	})
	return out, err
}

func channelDetails(ch watchword.Channel) map[string]string {
	return map[string]string{
		"name": ch.Name, "type": string(ch.Type), "url": ch.URL, "events": strings.Join(ch.Events, ","),
		"disabled": strconv.FormatBool(ch.Disabled),
	}
}

// channelIn finds a channel of domain d by id or, failing that, by name.
func channelIn(ctx context.Context, r store.Reader, d watchword.Domain, ref string) (watchword.Channel, error) {
	ch, err := r.GetChannel(ctx, d.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		ch, err = r.GetChannelByName(ctx, d.ID, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return ch, watchword.FieldError(watchword.ENOTFOUND, "channel", "Channel %q not found in domain %q.", ref, d.Name)
	}
	return ch, err
}

// domainChannel resolves a domain by name and one of its channels by id or name.
func domainChannel(ctx context.Context, r store.Reader, domainName, ref string) (watchword.Domain, watchword.Channel, error) {
	d, err := domainIn(ctx, r, domainName)
	if err != nil {
		return d, watchword.Channel{}, err
	}
	ch, err := channelIn(ctx, r, d, ref)
	return d, ch, err
}

// GetChannel returns a channel by id or name.
func (s *Service) GetChannel(ctx context.Context, domainName, ref string) (watchword.Channel, error) {
	_, ch, err := domainChannel(ctx, s.Store, domainName, ref)
	return ch, mapStoreErr(err)
}

// ListChannels returns the domain's channels, ordered by name.
func (s *Service) ListChannels(ctx context.Context, domainName string) ([]watchword.Channel, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	chs, err := s.Store.ListChannels(ctx, d.ID)
	return chs, mapStoreErr(err)
}

// UpdateChannel applies a partial update to a channel.
func (s *Service) UpdateChannel(ctx context.Context, domainName, ref string, u watchword.ChannelUpdate) (watchword.Channel, error) {
	var ch watchword.Channel
	err := s.tx(ctx, func(tx store.Tx) error {
		d, old, err := domainChannel(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		ch = u.Apply(old)
		if ch.Events == nil {
			ch.Events = []string{}
		}
		if err := ch.Validate(); err != nil {
			return err
		}
		ch.UpdatedAt = tx.Now()
		if err := tx.UpdateChannel(ctx, ch); errors.Is(err, store.ErrAlreadyExists) {
			return watchword.FieldError(watchword.ECONFLICT, "name", "A channel named %q already exists in domain %q.", ch.Name, d.Name)
		} else if err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionChannelUpdate, d.ID, "channel", ch.ID, channelDetails(ch))
	})
	return ch, err
}

// DeleteChannel removes a channel. Its notifications stay as history; those
// still pending fail at their next attempt.
func (s *Service) DeleteChannel(ctx context.Context, domainName, ref string) error {
	return s.tx(ctx, func(tx store.Tx) error {
		d, ch, err := domainChannel(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		if err := tx.DeleteChannel(ctx, d.ID, ch.ID); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionChannelDelete, d.ID, "channel", ch.ID, map[string]string{"name": ch.Name})
	})
}

// SigningSecretRotate is the input of RotateChannelSecret.
type SigningSecretRotate struct {
	// Transition is how long the current signing secrets keep signing
	// beside the new one; nil means 24h, 0 stops them at once.
	Transition *watchword.Duration `json:"transition,omitempty"`
	// Value is the new secret (whsec_<base64>); empty means generate one.
	Value string `json:"value,omitempty"`
}

// RotateChannelSecret gives a webhook channel a new signing secret. The
// others keep signing until the transition ends (an earlier end is kept),
// so that each delivery meanwhile carries one signature per secret and the
// receiver can switch at its own pace.
func (s *Service) RotateChannelSecret(ctx context.Context, domainName, ref string, in SigningSecretRotate) (ChannelCreated, error) {
	t := DefaultSigningTransition
	if in.Transition != nil {
		t = time.Duration(*in.Transition)
	}
	if t < 0 || t > MaxSigningTransition {
		return ChannelCreated{}, watchword.FieldError(watchword.EINVALID, "transition", "Must be between 0 and %s.", watchword.Duration(MaxSigningTransition))
	}
	var out ChannelCreated
	err := s.tx(ctx, func(tx store.Tx) error {
		d, ch, err := domainChannel(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		if ch.Type != watchword.ChannelWebhook {
			return watchword.FieldError(watchword.EINVALID, "channel", "Channel %q is not a webhook; it has no signing secret.", ch.Name)
		}
		now := tx.Now()
		end := now.Add(t)
		kept := []watchword.SigningSecret{}
		for _, ss := range ch.SigningSecrets {
			if !ss.ValidAt(now) {
				continue // expired: drop it
			}
			if ss.ExpiresAt == nil || end.Before(*ss.ExpiresAt) {
				ss.ExpiresAt = &end
			}
			if ss.ValidAt(now) {
				kept = append(kept, ss)
			}
		}
		if len(kept)+1 > watchword.MaxSigningSecrets {
			return watchword.Errorf(watchword.ECONFLICT, "Channel %q would have %d signing secrets, over the cap of %d; rotate with a transition of 0 or wait for older ones to end.", ch.Name, len(kept)+1, watchword.MaxSigningSecrets)
		}
		ss, plain, err := s.newSigningSecret(ch.ID, in.Value, now)
		if err != nil {
			return err
		}
		ch.SigningSecrets, ch.UpdatedAt = append([]watchword.SigningSecret{ss}, kept...), now
		if err := tx.UpdateChannel(ctx, ch); err != nil {
			return err
		}
		out = ChannelCreated{Channel: ch, SigningSecret: plain}
		return audit(ctx, tx, watchword.ActionChannelRotateSecret, d.ID, "channel", ch.ID, map[string]string{
			"name": ch.Name, "new_secret_id": ss.ID, "new_secret_hint": ss.Hint, "transition": watchword.Duration(t).String(),
		})
	})
	return out, err
}

// ---- the outbox, as the API shows it

// ListNotifications returns a page of a domain's notifications, newest first.
func (s *Service) ListNotifications(ctx context.Context, domainName string, f watchword.NotificationFilter) ([]watchword.Notification, int, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return nil, 0, mapStoreErr(err)
	}
	switch f.Status {
	case "", watchword.NotificationPending, watchword.NotificationDelivered, watchword.NotificationFailed:
	default:
		return nil, 0, watchword.FieldError(watchword.EINVALID, "status", "Must be pending, delivered or failed.")
	}
	if f.EventType != "" && !slices.Contains(watchword.EventTypes, f.EventType) {
		return nil, 0, watchword.FieldError(watchword.EINVALID, "event", "Unknown event type %q; known: %s.", f.EventType, strings.Join(watchword.EventTypes, ", "))
	}
	if f.ChannelID != "" {
		ch, err := channelIn(ctx, s.Store, d, f.ChannelID)
		if err == nil {
			f.ChannelID = ch.ID
		} else if watchword.ErrorCode(err) != watchword.ENOTFOUND {
			return nil, 0, err
		} // a deleted channel's id still filters its history
	}
	if f.ClientID != "" {
		if c, err := clientIn(ctx, s.Store, d, f.ClientID); err == nil {
			f.ClientID = c.ID
		} else if watchword.ErrorCode(err) != watchword.ENOTFOUND {
			return nil, 0, err
		}
	}
	f.DomainID = d.ID
	f.Offset, f.Limit = store.Page(f.Offset, f.Limit)
	ns, total, err := s.Store.ListNotifications(ctx, f)
	return ns, total, mapStoreErr(err)
}

// GetNotification returns one notification of a domain.
func (s *Service) GetNotification(ctx context.Context, domainName, id string) (watchword.Notification, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return watchword.Notification{}, mapStoreErr(err)
	}
	n, err := s.Store.GetNotification(ctx, d.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		return n, watchword.FieldError(watchword.ENOTFOUND, "notification", "Notification %q not found in domain %q.", id, d.Name)
	}
	return n, mapStoreErr(err)
}

// RetryNotification sends a failed notification again: it becomes pending,
// due now, with a fresh budget of attempts.
func (s *Service) RetryNotification(ctx context.Context, domainName, id string) (watchword.Notification, error) {
	var n watchword.Notification
	err := s.tx(ctx, func(tx store.Tx) error {
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		if n, err = tx.GetNotification(ctx, d.ID, id); errors.Is(err, store.ErrNotFound) {
			return watchword.FieldError(watchword.ENOTFOUND, "notification", "Notification %q not found in domain %q.", id, d.Name)
		} else if err != nil {
			return err
		}
		if n.Status != watchword.NotificationFailed {
			return watchword.FieldError(watchword.ECONFLICT, "notification", "Notification %q is %s; only a failed one can be retried.", id, n.Status)
		}
		n.Status, n.Attempts, n.NextAttemptAt = watchword.NotificationPending, 0, tx.Now()
		if err := tx.UpdateNotification(ctx, n, ""); errors.Is(err, store.ErrConflict) {
			return watchword.FieldError(watchword.ECONFLICT, "notification", "Notification %q is being delivered.", id)
		} else if err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionNotificationRetry, d.ID, "notification", n.ID, map[string]string{
			"event_id": n.EventID, "channel_id": n.ChannelID, "last_error": n.LastError,
		})
	})
	return n, err
}
