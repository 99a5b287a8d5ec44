package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Batch sizes of the expiry jobs: how many secrets one query returns.
const expiryBatch = 200

// day is the unit of notice thresholds: 24 hours, whatever the calendar
// and the time zone of the schedule say.
const day = 24 * time.Hour

// errSkip ends a job's transaction without a change: the work was done by
// another instance, or no longer applies.
var errSkip = errors.New("skip")

// fmtTime formats an optional time for audit details.
func fmtTime(t *time.Time) string {
	if t == nil {
		return "never"
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// SweepExpired records that secrets have expired: for each secret whose
// expiry has passed (and that is neither revoked nor deleted), one
// transaction marks it, audits secret.expire and queues secret.expired. The
// mark (a compare-and-set) makes this happen exactly once per secret
// however many instances sweep at once; an instance that loses the race
// rolls back and moves on. The secret stopped authenticating at its expiry
// already; the sweep only tells. It returns how many secrets it marked.
func (s *Service) SweepExpired(ctx context.Context) (int, error) {
	ctx = watchword.NewContextWithActor(ctx, watchword.SystemActor) // the server's own work
	now := s.now()
	marked := 0
	var errs []error
	for {
		due, err := s.Store.ListUnmarkedExpired(ctx, now, expiryBatch)
		if err != nil {
			return marked, err
		}
		progress := false
		for _, cs := range due {
			err := s.Store.Tx(ctx, func(tx store.Tx) error { return s.markExpired(ctx, tx, cs) })
			switch {
			case errors.Is(err, errSkip), errors.Is(err, store.ErrConflict), errors.Is(err, store.ErrNotFound):
				// another instance marked it, or it changed since the query
			case err != nil:
				// One secret that cannot be marked must not hold up the others.
				errs = append(errs, fmt.Errorf("secret %s: %w", cs.Secret.ID, err))
			default:
				marked++
				progress = true
			}
		}
		// A full batch with nothing marked means another instance is
		// working through the same secrets, or these fail; leave the rest
		// to the next sweep instead of reading the same batch again.
		if len(due) < expiryBatch || !progress {
			return marked, errors.Join(errs...)
		}
	}
}

func (s *Service) markExpired(ctx context.Context, tx store.Tx, cs store.ClientSecret) error {
	sec, err := tx.GetSecret(ctx, cs.Secret.ID)
	if err != nil {
		return err
	}
	if sec.ExpiredNotifiedAt != nil || sec.RevokedAt != nil || sec.DeletedAt != nil ||
		sec.ExpiresAt == nil || tx.Now().Before(*sec.ExpiresAt) {
		return errSkip
	}
	c, err := tx.GetClient(ctx, cs.Client.DomainID, sec.ClientID)
	if err != nil {
		return err // ErrNotFound: the client was deleted meanwhile
	}
	d, err := tx.GetDomain(ctx, c.DomainID)
	if err != nil {
		return err
	}
	if err := tx.MarkSecretExpired(ctx, sec.ID, tx.Now()); err != nil {
		return err
	}
	details := map[string]string{"client_id": c.ID, "hint": sec.Hint, "expires_at": fmtTime(sec.ExpiresAt)}
	if sec.RetiringSince != nil {
		details["retiring_since"] = fmtTime(sec.RetiringSince)
	}
	if err := audit(ctx, tx, watchword.ActionSecretExpire, d.ID, "secret", sec.ID, details); err != nil {
		return err
	}
	return newOutbox(tx, d).emit(ctx, c, watchword.EventSecretExpired, sec, nil)
}

// SendExpiryNotices sends the upcoming-expiry notices of one run of a
// domain's notice schedule; at is the run's scheduled time, so that
// whether a secret crossed a threshold does not depend on how late the run
// started.
//
// A valid, non-retiring secret expiring at E is due the notice of the
// smallest threshold T (in days) with at < E <= at + T. Each notice is one
// transaction that inserts the unique (secret, threshold) record, audits
// secret.expiry_notice and queues secret.expiring; if the record exists the
// transaction rolls back, so each notice goes out at most once however many
// instances run the schedule. A secret first seen inside several
// thresholds gets only the smallest one's notice; a secret already told at
// a smaller threshold is not told again at a larger one (the record of the
// larger one is missing, but the smaller threshold is what is due).
//
// A domain none of whose channels takes secret.expiring is skipped without
// recording anything, so that a channel added later still gets the next
// notices. It returns how many notices it sent.
func (s *Service) SendExpiryNotices(ctx context.Context, domainID string, at time.Time) (int, error) {
	ctx = watchword.NewContextWithActor(ctx, watchword.SystemActor) // the server's own work
	d, err := s.Store.GetDomain(ctx, domainID)
	if err != nil {
		return 0, mapStoreErr(err)
	}
	thresholds := slices.Clone(d.Notifications.ExpiryThresholds)
	slices.Sort(thresholds)
	if len(thresholds) == 0 {
		return 0, nil
	}
	var wanted bool
	err = s.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		wanted, err = newOutbox(tx, d).wants(ctx, watchword.EventSecretExpiring)
		return err
	})
	if err != nil || !wanted {
		return 0, err
	}
	at = store.Truncate(at)
	until := at.Add(time.Duration(thresholds[len(thresholds)-1]) * day)
	sent, after := 0, ""
	var errs []error
	for {
		batch, err := s.Store.ListExpiringSecrets(ctx, d.ID, at, until, after, expiryBatch)
		if err != nil {
			return sent, errors.Join(append(errs, err)...)
		}
		for _, cs := range batch {
			after = cs.Secret.ID
			err := s.Store.Tx(ctx, func(tx store.Tx) error { return s.sendNotice(ctx, tx, cs, at, thresholds) })
			switch {
			case errors.Is(err, errSkip), errors.Is(err, store.ErrAlreadyExists), errors.Is(err, store.ErrNotFound):
			case err != nil:
				errs = append(errs, fmt.Errorf("secret %s: %w", cs.Secret.ID, err))
			default:
				sent++
			}
		}
		if len(batch) < expiryBatch {
			return sent, errors.Join(errs...)
		}
	}
}

// noticeThreshold returns the smallest threshold (days, ascending) whose
// window at < expires <= at + threshold holds expires.
func noticeThreshold(thresholds []int, at, expires time.Time) (int, bool) {
	if !at.Before(expires) {
		return 0, false
	}
	left := expires.Sub(at)
	for _, t := range thresholds {
		if left <= time.Duration(t)*day {
			return t, true
		}
	}
	return 0, false
}

func (s *Service) sendNotice(ctx context.Context, tx store.Tx, cs store.ClientSecret, at time.Time, thresholds []int) error {
	sec, err := tx.GetSecret(ctx, cs.Secret.ID)
	if err != nil {
		return err
	}
	if sec.RetiringSince != nil || sec.DeletedAt != nil || sec.ExpiresAt == nil || !sec.ValidAt(tx.Now()) {
		return errSkip
	}
	threshold, ok := noticeThreshold(thresholds, at, *sec.ExpiresAt)
	if !ok {
		return errSkip // its expiry moved since the query
	}
	c, err := tx.GetClient(ctx, cs.Client.DomainID, sec.ClientID)
	if err != nil {
		return err
	}
	d, err := tx.GetDomain(ctx, c.DomainID)
	if err != nil {
		return err
	}
	if err := tx.CreateExpiryNotice(ctx, sec.ID, threshold, *sec.ExpiresAt, tx.Now()); err != nil {
		return err // ErrAlreadyExists: told already
	}
	if err := audit(ctx, tx, watchword.ActionSecretExpiryNotice, d.ID, "secret", sec.ID, map[string]string{
		"client_id": c.ID, "hint": sec.Hint, "expires_at": fmtTime(sec.ExpiresAt),
		"threshold_days": strconv.Itoa(threshold), "last_used_at": fmtTime(sec.LastUsedAt),
	}); err != nil {
		return err
	}
	return newOutbox(tx, d).emit(ctx, c, watchword.EventSecretExpiring, sec, func(e *watchword.EventData) {
		e.ThresholdDays = threshold
	})
}
