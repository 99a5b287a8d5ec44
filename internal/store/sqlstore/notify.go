package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Columns of the notification tables, in the order the scan functions read
// them.
const (
	channelCols      = "id, domain_id, name, type, url, events, signing_secrets, disabled, created_at, updated_at"
	notificationCols = "id, event_id, event_type, domain_id, channel_id, channel_type, client_id, secret_id, recipients, payload, status, attempts, next_attempt_at, last_attempt_at, last_error, delivered_at, created_at, locked_by, locked_until"
	jobCols          = "name, spec, next_run_at, last_run_at, last_error, locked_by, locked_until"
)

// qualify prefixes each column of cols with alias and a dot.
func qualify(alias, cols string) string {
	parts := strings.Split(cols, ", ")
	for i, p := range parts {
		parts[i] = alias + "." + p
	}
	return strings.Join(parts, ", ")
}

// ---- channels

// dbSigningSecret is how a signing secret is kept in the channel's JSON:
// unlike watchword.SigningSecret it carries the ciphertext.
type dbSigningSecret struct {
	ID         string `json:"id"`
	Hint       string `json:"hint"`
	Ciphertext []byte `json:"ciphertext"`
	KeyID      string `json:"key_id"`
	CreatedAt  int64  `json:"created_at"`
	ExpiresAt  *int64 `json:"expires_at,omitempty"`
}

func signingSecretsJSON(ss []watchword.SigningSecret) (string, error) {
	if ss == nil {
		return toJSON(nil)
	}
	rows := make([]dbSigningSecret, len(ss))
	for i, s := range ss {
		rows[i] = dbSigningSecret{ID: s.ID, Hint: s.Hint, Ciphertext: s.Ciphertext, KeyID: s.KeyID, CreatedAt: micros(s.CreatedAt)}
		if s.ExpiresAt != nil {
			at := micros(*s.ExpiresAt)
			rows[i].ExpiresAt = &at
		}
	}
	return toJSON(rows)
}

func signingSecretsFromJSON(s string) ([]watchword.SigningSecret, error) {
	var rows []dbSigningSecret
	if err := fromJSON(s, &rows); err != nil || rows == nil {
		return nil, err
	}
	out := make([]watchword.SigningSecret, len(rows))
	for i, r := range rows {
		out[i] = watchword.SigningSecret{ID: r.ID, Hint: r.Hint, Ciphertext: r.Ciphertext, KeyID: r.KeyID, CreatedAt: fromMicros(r.CreatedAt)}
		if r.ExpiresAt != nil {
			at := fromMicros(*r.ExpiresAt)
			out[i].ExpiresAt = &at
		}
	}
	return out, nil
}

func scanChannel(sc scanner) (watchword.Channel, error) {
	var c watchword.Channel
	var events, secrets string
	var created, updated int64
	err := sc.Scan(&c.ID, &c.DomainID, &c.Name, &c.Type, &c.URL, &events, &secrets, &c.Disabled, &created, &updated)
	if err != nil {
		return c, err
	}
	c.CreatedAt, c.UpdatedAt = fromMicros(created), fromMicros(updated)
	if err := fromJSON(events, &c.Events); err != nil {
		return c, fmt.Errorf("channel %s events: %w", c.ID, err)
	}
	if c.SigningSecrets, err = signingSecretsFromJSON(secrets); err != nil {
		return c, fmt.Errorf("channel %s signing secrets: %w", c.ID, err)
	}
	return c, nil
}

// channelArgs are the values of channelCols after id and domain_id.
func channelArgs(c watchword.Channel) ([]any, error) {
	events, err := toJSON(c.Events)
	if err != nil {
		return nil, err
	}
	secrets, err := signingSecretsJSON(c.SigningSecrets)
	if err != nil {
		return nil, err
	}
	return []any{c.Name, string(c.Type), c.URL, events, secrets, c.Disabled, micros(c.CreatedAt), micros(c.UpdatedAt)}, nil
}

func (r *reader) GetChannel(ctx context.Context, domainID, id string) (watchword.Channel, error) {
	c, err := scanChannel(r.queryRow(ctx,
		"SELECT "+channelCols+" FROM notification_channels WHERE domain_id = ? AND id = ?", domainID, id))
	if err != nil {
		return c, r.fail("get channel", err)
	}
	return c, nil
}

func (r *reader) GetChannelByName(ctx context.Context, domainID, name string) (watchword.Channel, error) {
	c, err := scanChannel(r.queryRow(ctx,
		"SELECT "+channelCols+" FROM notification_channels WHERE domain_id = ? AND name = ?", domainID, name))
	if err != nil {
		return c, r.fail("get channel", err)
	}
	return c, nil
}

func (r *reader) ListChannels(ctx context.Context, domainID string) ([]watchword.Channel, error) {
	return list(ctx, r, "list channels", scanChannel,
		"SELECT "+channelCols+" FROM notification_channels WHERE domain_id = ? ORDER BY name, id", domainID)
}

func (t *txn) CreateChannel(ctx context.Context, c watchword.Channel) error {
	args, err := channelArgs(c)
	if err != nil {
		return fmt.Errorf("create channel: %w", err)
	}
	return t.execOne(ctx, "create channel", true,
		"INSERT INTO notification_channels ("+channelCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		append([]any{c.ID, c.DomainID}, args...)...)
}

// UpdateChannel replaces a channel's fields except its domain, type and
// creation.
func (t *txn) UpdateChannel(ctx context.Context, c watchword.Channel) error {
	args, err := channelArgs(c)
	if err != nil {
		return fmt.Errorf("update channel: %w", err)
	}
	return t.execOne(ctx, "update channel", true,
		`UPDATE notification_channels SET name = ?, url = ?, events = ?, signing_secrets = ?, disabled = ?, updated_at = ?
		WHERE domain_id = ? AND id = ?`,
		args[0], args[2], args[3], args[4], args[5], args[7], c.DomainID, c.ID)
}

// DeleteChannel removes the channel; its notifications stay, and those
// still pending fail when the dispatcher finds no channel.
func (t *txn) DeleteChannel(ctx context.Context, domainID, id string) error {
	return t.execOne(ctx, "delete channel", false,
		"DELETE FROM notification_channels WHERE domain_id = ? AND id = ?", domainID, id)
}

// ---- notifications (the outbox)

// normalizeEvent gives every time of ev the store's precision and UTC, so
// that what is read back compares equal to what was written.
func normalizeEvent(ev *watchword.Event) {
	ev.Timestamp = store.Truncate(ev.Timestamp)
	norm := func(s *watchword.EventSecret) {
		s.CreatedAt = store.Truncate(s.CreatedAt)
		for _, p := range []**time.Time{&s.ExpiresAt, &s.LastUsedAt} {
			if *p != nil {
				at := store.Truncate(**p)
				*p = &at
			}
		}
	}
	norm(&ev.Data.Secret)
	if ev.Data.PreviousSecrets != nil {
		prev := slices.Clone(ev.Data.PreviousSecrets)
		for i := range prev {
			norm(&prev[i])
		}
		ev.Data.PreviousSecrets = prev
	}
}

func scanNotification(sc scanner) (watchword.Notification, error) {
	var n watchword.Notification
	var recipients, payload string
	var next, created int64
	var lastAttempt, delivered, lockedUntil sql.NullInt64
	err := sc.Scan(&n.ID, &n.EventID, &n.EventType, &n.DomainID, &n.ChannelID, &n.ChannelType, &n.ClientID, &n.SecretID,
		&recipients, &payload, &n.Status, &n.Attempts, &next, &lastAttempt, &n.LastError, &delivered, &created,
		&n.LockedBy, &lockedUntil)
	if err != nil {
		return n, err
	}
	n.NextAttemptAt, n.CreatedAt = fromMicros(next), fromMicros(created)
	n.LastAttemptAt, n.DeliveredAt, n.LockedUntil = fromNullMicros(lastAttempt), fromNullMicros(delivered), fromNullMicros(lockedUntil)
	if err := fromJSON(recipients, &n.Recipients); err != nil {
		return n, fmt.Errorf("notification %s recipients: %w", n.ID, err)
	}
	if err := fromJSON(payload, &n.Event); err != nil {
		return n, fmt.Errorf("notification %s payload: %w", n.ID, err)
	}
	normalizeEvent(&n.Event)
	return n, nil
}

func (r *reader) GetNotification(ctx context.Context, domainID, id string) (watchword.Notification, error) {
	n, err := scanNotification(r.queryRow(ctx,
		"SELECT "+notificationCols+" FROM notifications WHERE domain_id = ? AND id = ?", domainID, id))
	if err != nil {
		return n, r.fail("get notification", err)
	}
	return n, nil
}

func (r *reader) ListNotifications(ctx context.Context, f watchword.NotificationFilter) ([]watchword.Notification, int, error) {
	var conds []string
	var args []any
	for _, c := range []struct{ col, v string }{
		{"domain_id", f.DomainID}, {"status", string(f.Status)}, {"event_type", f.EventType},
		{"channel_id", f.ChannelID}, {"client_id", f.ClientID}, {"secret_id", f.SecretID},
	} {
		if c.v != "" {
			conds, args = append(conds, c.col+" = ?"), append(args, c.v)
		}
	}
	return page(ctx, r, "list notifications", scanNotification, "notifications", notificationCols, where(conds),
		"created_at DESC, id DESC", args, f.Offset, f.Limit)
}

func (t *txn) EnqueueNotification(ctx context.Context, n watchword.Notification) error {
	ev := n.Event
	normalizeEvent(&ev)
	payload, err := toJSON(ev)
	if err != nil {
		return fmt.Errorf("enqueue notification: %w", err)
	}
	recipients, err := toJSON(n.Recipients)
	if err != nil {
		return fmt.Errorf("enqueue notification: %w", err)
	}
	return t.execOne(ctx, "enqueue notification", true,
		"INSERT INTO notifications ("+notificationCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		n.ID, n.EventID, n.EventType, n.DomainID, n.ChannelID, string(n.ChannelType), n.ClientID, n.SecretID,
		recipients, payload, string(n.Status), n.Attempts, micros(n.NextAttemptAt), nullMicros(n.LastAttemptAt),
		n.LastError, nullMicros(n.DeliveredAt), micros(n.CreatedAt), n.LockedBy, nullMicros(n.LockedUntil))
}

// ClaimNotifications counts the claim as an attempt (attempts + 1,
// last_attempt_at = Now), so that a notification whose delivery crashes its
// dispatcher every time still runs out of attempts.
func (t *txn) ClaimNotifications(ctx context.Context, owner string, until time.Time, limit int) ([]watchword.Notification, error) {
	if owner == "" || limit <= 0 {
		return nil, errors.New("claim notifications: owner and a positive limit are required")
	}
	now := micros(t.now)
	ns, err := list(ctx, &t.reader, "claim notifications", scanNotification,
		`UPDATE notifications SET locked_by = ?, locked_until = ?, attempts = attempts + 1, last_attempt_at = ?
		WHERE id IN (
			SELECT id FROM notifications
			WHERE status = 'pending' AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
			ORDER BY next_attempt_at, id LIMIT ?`+t.d.SkipLockedSuffix+`
		) RETURNING `+notificationCols,
		owner, micros(until), now, now, now, limit)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(ns, func(a, b watchword.Notification) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return ns, nil
}

func (t *txn) UpdateNotification(ctx context.Context, n watchword.Notification, owner string) error {
	return t.compareAndSetBy(ctx, "update notification", "notifications", "id", n.ID,
		`UPDATE notifications SET status = ?, attempts = ?, next_attempt_at = ?, last_attempt_at = ?, last_error = ?,
			delivered_at = ?, locked_by = ?, locked_until = ?
		WHERE id = ? AND locked_by = ?`,
		string(n.Status), n.Attempts, micros(n.NextAttemptAt), nullMicros(n.LastAttemptAt), n.LastError,
		nullMicros(n.DeliveredAt), n.LockedBy, nullMicros(n.LockedUntil), n.ID, owner)
}

// compareAndSetBy runs a conditional UPDATE of the row of table whose
// keyCol is key. If it changed nothing, the row either does not exist
// (ErrNotFound) or no longer met the condition (ErrConflict).
func (t *txn) compareAndSetBy(ctx context.Context, op, table, keyCol string, key any, query string, args ...any) error {
	n, err := t.execN(ctx, op, query, args...)
	if err != nil || n > 0 {
		return err
	}
	var one int
	if err := t.queryRow(ctx, "SELECT 1 FROM "+table+" WHERE "+keyCol+" = ?", key).Scan(&one); err != nil {
		return t.fail(op, err) // sql.ErrNoRows: ErrNotFound
	}
	return store.ErrConflict
}

// ---- expiry

// listClientSecrets runs a query selecting qualify("s", secretCols) and
// returns each secret with its client, read in a second query.
func (r *reader) listClientSecrets(ctx context.Context, op, query string, args ...any) ([]store.ClientSecret, error) {
	secrets, err := list(ctx, r, op, scanSecret, query, args...)
	if err != nil || len(secrets) == 0 {
		return []store.ClientSecret{}, err
	}
	var ids []any
	for _, s := range secrets {
		if !slices.Contains(ids, any(s.ClientID)) {
			ids = append(ids, s.ClientID)
		}
	}
	clients, err := list(ctx, r, op, scanClient, "SELECT "+clientCols+" FROM clients WHERE id IN ("+marks(len(ids))+")", ids...)
	if err != nil {
		return nil, err
	}
	byID := make(map[string]watchword.Client, len(clients))
	for _, c := range clients {
		byID[c.ID] = c
	}
	out := make([]store.ClientSecret, 0, len(secrets))
	for _, s := range secrets {
		c, ok := byID[s.ClientID]
		if !ok {
			return nil, fmt.Errorf("%s: client %s of secret %s vanished", op, s.ClientID, s.ID)
		}
		out = append(out, store.ClientSecret{Client: c, Secret: s})
	}
	return out, nil
}

func (r *reader) ListUnmarkedExpired(ctx context.Context, at time.Time, limit int) ([]store.ClientSecret, error) {
	return r.listClientSecrets(ctx, "list unmarked expired secrets",
		"SELECT "+qualify("s", secretCols)+` FROM secrets s JOIN clients c ON c.id = s.client_id
		WHERE s.expires_at <= ? AND s.expired_notified_at IS NULL AND s.revoked_at IS NULL AND s.deleted_at IS NULL
			AND c.deleted_at IS NULL
		ORDER BY s.expires_at, s.id LIMIT ?`,
		micros(at), limit)
}

func (r *reader) ListExpiringSecrets(ctx context.Context, domainID string, after, until time.Time, afterID string, limit int) ([]store.ClientSecret, error) {
	return r.listClientSecrets(ctx, "list expiring secrets",
		"SELECT "+qualify("s", secretCols)+` FROM secrets s JOIN clients c ON c.id = s.client_id
		WHERE c.domain_id = ? AND c.deleted_at IS NULL AND s.expires_at > ? AND s.expires_at <= ?
			AND s.revoked_at IS NULL AND s.deleted_at IS NULL AND s.retiring_since IS NULL AND s.id > ?
		ORDER BY s.id LIMIT ?`,
		domainID, micros(after), micros(until), afterID, limit)
}

func (t *txn) MarkSecretExpired(ctx context.Context, id string, at time.Time) error {
	return t.compareAndSetBy(ctx, "mark secret expired", "secrets", "id", id,
		"UPDATE secrets SET expired_notified_at = ? WHERE id = ? AND expired_notified_at IS NULL", micros(at), id)
}

func (t *txn) CreateExpiryNotice(ctx context.Context, secretID string, thresholdDays int, expiresAt, at time.Time) error {
	return t.execOne(ctx, "create expiry notice", true,
		"INSERT INTO expiry_notices (secret_id, threshold_days, expires_at, notified_at) VALUES (?, ?, ?, ?)",
		secretID, thresholdDays, micros(expiresAt), micros(at))
}

// ---- jobs

func scanJob(sc scanner) (store.Job, error) {
	var j store.Job
	var next int64
	var last, lockedUntil sql.NullInt64
	if err := sc.Scan(&j.Name, &j.Spec, &next, &last, &j.LastError, &j.LockedBy, &lockedUntil); err != nil {
		return j, err
	}
	j.NextRunAt, j.LastRunAt, j.LockedUntil = fromMicros(next), fromNullMicros(last), fromNullMicros(lockedUntil)
	return j, nil
}

// LockJob locks the row like LockClient does.
func (t *txn) LockJob(ctx context.Context, name string) (store.Job, error) {
	j, err := scanJob(t.queryRow(ctx, "SELECT "+jobCols+" FROM jobs WHERE name = ?"+t.d.LockClientSuffix, name))
	if err != nil {
		return j, t.fail("lock job", err)
	}
	return j, nil
}

func (t *txn) CreateJob(ctx context.Context, j store.Job) error {
	return t.execOne(ctx, "create job", true,
		"INSERT INTO jobs ("+jobCols+") VALUES (?, ?, ?, ?, ?, ?, ?)",
		j.Name, j.Spec, micros(j.NextRunAt), nullMicros(j.LastRunAt), j.LastError, j.LockedBy, nullMicros(j.LockedUntil))
}

func (t *txn) UpdateJob(ctx context.Context, j store.Job) error {
	return t.execOne(ctx, "update job", false,
		"UPDATE jobs SET spec = ?, next_run_at = ?, last_run_at = ?, last_error = ?, locked_by = ?, locked_until = ? WHERE name = ?",
		j.Spec, micros(j.NextRunAt), nullMicros(j.LastRunAt), j.LastError, j.LockedBy, nullMicros(j.LockedUntil), j.Name)
}
