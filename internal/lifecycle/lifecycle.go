// Package lifecycle implements Watchword's use cases over the store: every
// state change is one store transaction together with its audit record, and
// every business rule (caps, transition periods, policy inheritance) lives
// here rather than in a storage backend.
package lifecycle

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// DefaultSecretPrefix marks generated client secrets.
const (
	DefaultSecretPrefix = "wwcs_"
	TokenPrefix         = "wwat_"
)

// Service implements the management use cases.
type Service struct {
	Store  store.Store
	Hasher *secret.Hasher
	// Prefix starts every generated client secret.
	Prefix string
	// ServerMaxSecrets is the server-wide cap on valid secrets per client;
	// no policy may allow more.
	ServerMaxSecrets int
	Now              func() time.Time
	Logger           *slog.Logger
	// Changed, if set, is told after commit that a client's secrets or
	// status changed ("" for many clients), so that caches on the
	// authentication path drop what they hold.
	Changed func(clientID string)
	// TokensRevoked, if set, is told after commit that token grants were
	// revoked (a compromised secret, a user's new password), so that
	// introspection forgets what it remembered as not revoked.
	TokensRevoked func()
	// EmailEnabled says the server has SMTP settings; without them no
	// email channel can be created.
	EmailEnabled bool

	// Rotation runs (see runs.go).
	Runs RunSettings
	// RotationMinInterval is the shortest interval a rotation schedule may
	// have; 0 means watchword.MinRotationInterval. Only tests lower it.
	RotationMinInterval time.Duration
	// RunsChanged, if set, is told after commit that a run was started,
	// retried or cancelled, so that the runner looks at once.
	RunsChanged func()
}

// tokensRevoked reports committed grant revocations when err is nil.
func (s *Service) tokensRevoked(err error) {
	if err == nil && s.TokensRevoked != nil {
		s.TokensRevoked()
	}
}

// changed reports a committed change of clientID when err is nil.
func (s *Service) changed(clientID string, err error) {
	if err == nil && s.Changed != nil {
		s.Changed(clientID)
	}
}

// New returns a Service with defaults filled in.
func New(st store.Store, h *secret.Hasher) *Service {
	return &Service{
		Store:            st,
		Hasher:           h,
		Prefix:           DefaultSecretPrefix,
		ServerMaxSecrets: watchword.DefaultMaxSecrets,
		Now:              time.Now,
		Logger:           slog.New(slog.DiscardHandler),
	}
}

func (s *Service) now() time.Time { return store.Truncate(s.Now()) }

// tx runs fn in a store transaction (storeTx: with the request's
// idempotency record, if any) and translates store sentinels that escape it
// into application errors.
func (s *Service) tx(ctx context.Context, fn func(tx store.Tx) error) error {
	return mapStoreErr(s.storeTx(ctx, fn))
}

func mapStoreErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrNotFound):
		return watchword.Errorf(watchword.ENOTFOUND, "Not found.")
	case errors.Is(err, store.ErrAlreadyExists):
		return watchword.Errorf(watchword.ECONFLICT, "Already exists.")
	}
	return err
}

// audit appends one audit record for a successful change inside tx.
func audit(ctx context.Context, tx store.Tx, action, domainID, targetType, targetID string, details map[string]string) error {
	return tx.AppendAudit(ctx, watchword.AuditEvent{
		Time:       tx.Now(),
		Actor:      watchword.ActorFromContext(ctx).String(),
		Action:     action,
		DomainID:   domainID,
		TargetType: targetType,
		TargetID:   targetID,
		Outcome:    watchword.OutcomeSuccess,
		RequestID:  watchword.RequestIDFromContext(ctx),
		Details:    details,
	})
}

// RecordDenied audits a refused call. It runs in its own transaction since
// the refused call changes nothing.
func (s *Service) RecordDenied(ctx context.Context, route, reason string) {
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		return tx.AppendAudit(ctx, watchword.AuditEvent{
			Time:      tx.Now(),
			Actor:     watchword.ActorFromContext(ctx).String(),
			Action:    watchword.ActionDenied,
			Outcome:   watchword.OutcomeDenied,
			RequestID: watchword.RequestIDFromContext(ctx),
			Details:   map[string]string{"route": route, "reason": reason},
		})
	})
	if err != nil {
		s.Logger.ErrorContext(ctx, "audit denied call", "err", err)
	}
}

// ListAudit returns a page of audit events, newest first. domainName, if
// set, restricts to that domain.
func (s *Service) ListAudit(ctx context.Context, domainName string, f watchword.AuditFilter) ([]watchword.AuditEvent, int, error) {
	if domainName != "" {
		d, err := s.GetDomain(ctx, domainName)
		if err != nil {
			return nil, 0, err
		}
		f.DomainID = d.ID
	}
	f.Offset, f.Limit = store.Page(f.Offset, f.Limit)
	evs, n, err := s.Store.ListAuditEvents(ctx, f)
	return evs, n, mapStoreErr(err)
}

// Page normalises a list's offset and limit the way every list does.
func Page(offset, limit int) (int, int) { return store.Page(offset, limit) }
