package watchword

import (
	"net/mail"
	"net/url"
	"slices"
	"strings"
	"time"
)

// Event types: what a notification tells its receiver.
const (
	// EventSecretCreated: a client got a secret (client creation, secret add).
	EventSecretCreated = "secret.created"
	// EventSecretRotated: a rotation or renewal made a new secret and put
	// older ones into a transition period.
	EventSecretRotated = "secret.rotated"
	// EventSecretRevoked: a secret was revoked (also by a compromised
	// rotation and by deleting its client).
	EventSecretRevoked = "secret.revoked"
	// EventSecretExpiring: a secret reaches one of its domain's notice
	// thresholds before expiry.
	EventSecretExpiring = "secret.expiring"
	// EventSecretExpired: a secret's expiry has passed.
	EventSecretExpired = "secret.expired"
	// EventSecretStillInUse: a rotation's previous secret was used shortly
	// before the end of its transition period (sent before and at the end),
	// so some consumer has not switched to the new one.
	EventSecretStillInUse = "secret.still_in_use"
	// EventRotationStarted: a rotation run created its pending secret.
	EventRotationStarted = "rotation.started"
	// EventRotationCompleted: a run revoked the previous secret and ended.
	EventRotationCompleted = "rotation.completed"
	// EventRotationFailed: a run kept failing and was rolled back.
	EventRotationFailed = "rotation.failed"
	// EventRotationRolledBack: a run's pending secret was revoked and its
	// targets told, after a failure or a cancel.
	EventRotationRolledBack = "rotation.rolled_back"
)

// EventTypes lists every event type, in the order of the lifecycle.
var EventTypes = []string{EventSecretCreated, EventSecretRotated, EventSecretRevoked, EventSecretExpiring, EventSecretExpired,
	EventSecretStillInUse, EventRotationStarted, EventRotationCompleted, EventRotationFailed, EventRotationRolledBack}

// EventIDPrefix starts every event id.
const EventIDPrefix = "evt_"

// Event is the payload of a notification: the same JSON goes to every
// channel (the body of a webhook, the facts of an email, the API's view of
// the outbox). It names the secret by id, hint and description and never
// holds secret material.
type Event struct {
	// ID is the same on every delivery attempt and every channel, so that
	// receivers can drop repeats (webhook-id of a webhook).
	ID        string    `json:"id"`
	Type      string    `json:"type"`
	Timestamp time.Time `json:"timestamp"`
	Data      EventData `json:"data"`
}

// EventData is what happened, to which secret.
type EventData struct {
	Domain EventRef    `json:"domain"`
	Client EventRef    `json:"client"`
	Secret EventSecret `json:"secret,omitzero"` // absent when no secret is concerned (a run that failed before creating one)
	// Actor is who caused the event ("system" for the server's own jobs).
	Actor string `json:"actor"`

	// secret.rotated: "rotate" or "renew", the rotation record, and the
	// secrets the rotation put into their transition period.
	RotationKind     string        `json:"rotation_kind,omitempty"`
	RotationID       string        `json:"rotation_id,omitempty"`
	Transition       *Duration     `json:"transition,omitempty"`
	PreviousSecrets  []EventSecret `json:"previous_secrets,omitempty"`
	Compromised      bool          `json:"compromised,omitempty"`
	RevocationReason string        `json:"revocation_reason,omitempty"`
	// secret.expiring: the notice threshold, in days before expiry.
	ThresholdDays int `json:"threshold_days,omitempty"`

	// rotation.*: the run, the step it was at, and why it failed;
	// secret.still_in_use also names the run and when its transition ends.
	RunID         string     `json:"run_id,omitempty"`
	RunStep       RunStep    `json:"run_step,omitempty"`
	Reason        string     `json:"reason,omitempty"`
	TransitionEnd *time.Time `json:"transition_end,omitempty"`
}

// EventRef names a domain or a client.
type EventRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// EventSecret describes a secret without its value or hash.
type EventSecret struct {
	ID          string     `json:"id"`
	Hint        string     `json:"hint"`
	Description string     `json:"description"`
	CreatedAt   time.Time  `json:"created_at"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastUsedAt  *time.Time `json:"last_used_at"`
}

// NewEventSecret describes s for an event.
func NewEventSecret(s Secret) EventSecret {
	return EventSecret{
		ID: s.ID, Hint: s.Hint, Description: s.Description, CreatedAt: s.CreatedAt,
		ExpiresAt: s.ExpiresAt, LastUsedAt: s.LastUsedAt,
	}
}

// ChannelType is how a channel delivers.
type ChannelType string

const (
	// ChannelWebhook POSTs the event to a URL, signed as the Standard
	// Webhooks specification says.
	ChannelWebhook ChannelType = "webhook"
	// ChannelEmail mails the event to the domain's owners and the client's
	// contacts through the server's SMTP relay.
	ChannelEmail ChannelType = "email"
)

// Channel is a destination of a domain's notifications.
type Channel struct {
	ID       string      `json:"id"`
	DomainID string      `json:"domain_id"`
	Name     string      `json:"name"`
	Type     ChannelType `json:"type"`
	// URL is where a webhook channel POSTs.
	URL string `json:"url,omitempty"`
	// Events filters the event types sent; empty means all of them.
	Events []string `json:"events"`
	// SigningSecrets of a webhook channel: the newest first. Every one
	// still valid signs each delivery, so that the receiver can switch
	// secrets without missing a delivery.
	SigningSecrets []SigningSecret `json:"signing_secrets,omitempty"`
	Disabled       bool            `json:"disabled"`
	CreatedAt      time.Time       `json:"created_at"`
	UpdatedAt      time.Time       `json:"updated_at"`
}

// Wants reports whether the channel takes events of type typ.
func (c Channel) Wants(typ string) bool {
	return !c.Disabled && (len(c.Events) == 0 || slices.Contains(c.Events, typ))
}

// SigningSecret is one signing secret of a webhook channel. Its value is
// stored encrypted under the server key (KeyID names which) and shown only
// when it is created.
type SigningSecret struct {
	ID         string     `json:"id"`
	Hint       string     `json:"hint"`
	Ciphertext []byte     `json:"-"`
	KeyID      string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
}

// ValidAt reports whether the secret still signs at now.
func (s SigningSecret) ValidAt(now time.Time) bool {
	return s.ExpiresAt == nil || now.Before(*s.ExpiresAt)
}

// MaxSigningSecrets bounds how many signing secrets a channel keeps.
const MaxSigningSecrets = 5

// Validate checks the channel's own fields, reporting every problem at once.
func (c Channel) Validate() error {
	var errs Errors
	if err := ValidateName("name", c.Name); err != nil {
		errs = append(errs, err)
	}
	switch c.Type {
	case ChannelWebhook:
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.User != nil || u.Fragment != "" || len(c.URL) > 2048 {
			errs.Add("url", "must be an absolute http(s) URL without credentials or fragment, at most 2048 characters")
		}
	case ChannelEmail:
		if c.URL != "" {
			errs.Add("url", "an email channel has no URL")
		}
	default:
		errs.Add("type", "must be webhook or email")
	}
	for _, e := range c.Events {
		if !slices.Contains(EventTypes, e) {
			errs.Add("events", "unknown event type %q; known: %s", e, strings.Join(EventTypes, ", "))
			break
		}
	}
	return errs.Err()
}

// ChannelUpdate holds the fields of a partial update of a channel; nil means
// unchanged.
type ChannelUpdate struct {
	Name     *string   `json:"name,omitempty"`
	URL      *string   `json:"url,omitempty"`
	Events   *[]string `json:"events,omitempty"`
	Disabled *bool     `json:"disabled,omitempty"`
}

// Apply returns c with the update applied.
func (u ChannelUpdate) Apply(c Channel) Channel {
	if u.Name != nil {
		c.Name = *u.Name
	}
	if u.URL != nil {
		c.URL = *u.URL
	}
	if u.Events != nil {
		c.Events = slices.Clone(*u.Events)
	}
	if u.Disabled != nil {
		c.Disabled = *u.Disabled
	}
	return c
}

// NotificationStatus is where a notification is in its delivery.
type NotificationStatus string

const (
	// NotificationPending: not delivered yet; the next attempt is due at
	// NextAttemptAt.
	NotificationPending NotificationStatus = "pending"
	// NotificationDelivered: the channel accepted it.
	NotificationDelivered NotificationStatus = "delivered"
	// NotificationFailed: every attempt failed; LastError says why.
	NotificationFailed NotificationStatus = "failed"
)

// Notification is one event on its way to one channel: a row of the
// outbox, written in the transaction of the change that caused it and
// delivered at least once afterwards.
type Notification struct {
	ID          string      `json:"id"`
	EventID     string      `json:"event_id"`
	EventType   string      `json:"event_type"`
	DomainID    string      `json:"domain_id"`
	ChannelID   string      `json:"channel_id"`
	ChannelType ChannelType `json:"channel_type"`
	ClientID    string      `json:"client_id,omitempty"`
	SecretID    string      `json:"secret_id,omitempty"`
	// Recipients of an email channel, fixed when the event happened.
	Recipients    []string           `json:"recipients,omitempty"`
	Event         Event              `json:"event"`
	Status        NotificationStatus `json:"status"`
	Attempts      int                `json:"attempts"`
	NextAttemptAt time.Time          `json:"next_attempt_at"`
	LastAttemptAt *time.Time         `json:"last_attempt_at,omitempty"`
	LastError     string             `json:"last_error,omitempty"`
	DeliveredAt   *time.Time         `json:"delivered_at,omitempty"`
	CreatedAt     time.Time          `json:"created_at"`
	// LockedBy and LockedUntil are the delivery lease: the dispatcher
	// instance working on the notification, and until when.
	LockedBy    string     `json:"-"`
	LockedUntil *time.Time `json:"-"`
}

// NotificationFilter selects notifications; newest first.
type NotificationFilter struct {
	DomainID  string
	Status    NotificationStatus
	EventType string
	ChannelID string
	ClientID  string
	SecretID  string
	Offset    int
	Limit     int
}

// Default expiry notice settings.
const DefaultExpirySchedule = "0 5 * * *"

// DefaultExpiryThresholds are the days before expiry at which notices go out.
var DefaultExpiryThresholds = []int{20, 15, 10, 5, 1}

// NotificationSettings are a domain's notification settings.
type NotificationSettings struct {
	// Owners are the email addresses of the people responsible for the
	// domain; email channels write to them and to the client's contacts.
	Owners []string `json:"owners"`
	// ExpirySchedule is the cron expression (five fields, UTC unless it
	// starts with CRON_TZ=) of the runs that send upcoming-expiry notices.
	ExpirySchedule string `json:"expiry_schedule"`
	// ExpiryThresholds are the days before expiry at which a secret's
	// notice goes out, once per secret and threshold.
	ExpiryThresholds []int `json:"expiry_thresholds"`
}

// DefaultNotificationSettings is what a new domain gets: no owners, notices
// daily at 05:00 UTC, 20, 15, 10, 5 and 1 days before expiry.
func DefaultNotificationSettings() NotificationSettings {
	return NotificationSettings{
		Owners:           []string{},
		ExpirySchedule:   DefaultExpirySchedule,
		ExpiryThresholds: slices.Clone(DefaultExpiryThresholds),
	}
}

// Bounds of the notification settings.
const (
	MaxEmailAddresses = 20
	MaxThresholdDays  = 366
)

// Validate checks the settings, every problem at once. parseSchedule
// checks the schedule's syntax (the cron parser lives outside this
// package).
func (n NotificationSettings) Validate(parseSchedule func(string) error) error {
	var errs Errors
	if err := ValidateEmails("owners", n.Owners); err != nil {
		errs = append(errs, err)
	}
	if strings.TrimSpace(n.ExpirySchedule) == "" || len(n.ExpirySchedule) > 128 {
		errs.Add("expiry_schedule", "must be a cron expression such as %q", DefaultExpirySchedule)
	} else if err := parseSchedule(n.ExpirySchedule); err != nil {
		errs.Add("expiry_schedule", "invalid cron expression %q: %v", n.ExpirySchedule, err)
	}
	if len(n.ExpiryThresholds) > 10 {
		errs.Add("expiry_thresholds", "at most 10 thresholds")
	}
	seen := map[int]bool{}
	for _, d := range n.ExpiryThresholds {
		if d < 1 || d > MaxThresholdDays || seen[d] {
			errs.Add("expiry_thresholds", "must be distinct whole days between 1 and %d", MaxThresholdDays)
			break
		}
		seen[d] = true
	}
	return errs.Err()
}

// ValidateEmails checks a list of plain email addresses (owners, contacts).
func ValidateEmails(field string, addrs []string) *Error {
	if len(addrs) > MaxEmailAddresses {
		return FieldError(EINVALID, field, "at most %d addresses", MaxEmailAddresses)
	}
	for _, a := range addrs {
		if p, err := mail.ParseAddress(a); err != nil || p.Address != a || len(a) > 254 {
			return FieldError(EINVALID, field, "%q is not a plain email address such as alice@example.org", a)
		}
	}
	return nil
}
