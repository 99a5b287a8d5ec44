package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// A rotation run is a small state machine kept in its row: create → deliver
// → test → promote → finish. Each step's effect is committed together with
// the run's move to the next step, so a step is either done and recorded or
// not done at all, and whichever instance holds the run's lease next simply
// runs the step the row names. The steps with effects outside the database
// are safe to repeat: a target receives the same delivery id again (and
// must treat it as one delivery), and a token request is only a test.
//
// Rollback (after the last attempt of a step fails, or on cancel before
// promote) reverts the targets that can be reverted, then revokes the
// pending secret; the current secret is never touched before promote.

// RunSettings configure how rotation runs execute.
type RunSettings struct {
	// TokenCheck requests a token with client_credentials and secret at the
	// domain's own token endpoint; the test step fails if it does.
	TokenCheck func(ctx context.Context, d watchword.Domain, c watchword.Client, secret string) error
	// DeliveryOptions are given to every target and check (tests allow
	// loopback addresses with them).
	DeliveryOptions []delivery.Option
	// Attempts is how many times a step is tried before the run rolls back
	// (default 3).
	Attempts int
	// RetryDelay is the wait after a step's first failure; it doubles after
	// each further one (default 30s, at most an hour).
	RetryDelay time.Duration
	// StepTimeout bounds the outside work of one step: all deliveries, or
	// the token request and the check (default 2m). The runner's lease must
	// be longer.
	StepTimeout time.Duration
}

const (
	defaultRunAttempts   = 3
	defaultRunRetryDelay = 30 * time.Second
	defaultStepTimeout   = 2 * time.Minute
	maxRunRetryDelay     = time.Hour
	runsPerPass          = 16
	runWorkers           = 4
)

// errLostRun: the run is no longer this instance's to move (it ended, or
// its lease passed to another instance).
var errLostRun = errors.New("run no longer held")

// errCancel: a cancel was requested; the run rolls back instead.
var errCancel = errors.New("cancel requested")

// runState is what a run keeps sealed between steps.
type runState struct {
	Secret string `json:"secret"`
	// Prepared holds, by target id, what each revertible target needs to
	// undo its delivery; it is recorded before the first delivery.
	Prepared map[string][]byte `json:"prepared,omitempty"`
}

func runAAD(r watchword.RotationRun) []byte { return []byte("rotation-run:" + r.ID) }

func (s *Service) sealState(r *watchword.RotationRun, st runState) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	r.Sealed, r.SealKeyID = s.Hasher.Seal(b, runAAD(*r))
	return nil
}

func (s *Service) openState(r watchword.RotationRun) (runState, error) {
	var st runState
	if len(r.Sealed) == 0 {
		return st, errors.New("the run holds no pending secret")
	}
	b, err := s.Hasher.Open(r.Sealed, r.SealKeyID, runAAD(r))
	if err != nil {
		return st, fmt.Errorf("open run state: %w", err)
	}
	return st, json.Unmarshal(b, &st)
}

func (s *Service) runAttempts() int {
	if s.Runs.Attempts > 0 {
		return s.Runs.Attempts
	}
	return defaultRunAttempts
}

func (s *Service) stepTimeout() time.Duration {
	if s.Runs.StepTimeout > 0 {
		return s.Runs.StepTimeout
	}
	return defaultStepTimeout
}

// backoff is the wait after the attempts-th failure of a step.
func (s *Service) backoff(attempts int) time.Duration {
	d := s.Runs.RetryDelay
	if d <= 0 {
		d = defaultRunRetryDelay
	}
	for i := 1; i < attempts && d < maxRunRetryDelay; i++ {
		d *= 2
	}
	return min(d, maxRunRetryDelay)
}

// AdvanceRuns claims the runs that are due and held by no other instance,
// leasing them to owner for lease, and moves each as far as it can go now.
// It returns how many runs it claimed.
func (s *Service) AdvanceRuns(ctx context.Context, owner string, lease time.Duration) (int, error) {
	ctx = watchword.NewContextWithActor(ctx, watchword.SystemActor)
	var runs []watchword.RotationRun
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		var err error
		runs, err = tx.ClaimRotationRuns(ctx, owner, tx.Now().Add(lease), runsPerPass)
		return err
	})
	if err != nil {
		return 0, err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
		sem  = make(chan struct{}, runWorkers)
	)
	for _, r := range runs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := s.advance(ctx, r, owner, lease); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("run %s: %w", r.ID, err))
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return len(runs), errors.Join(errs...)
}

// advance runs the steps of r while they are due, then leaves it (its lease
// released) for the time its next step is due.
func (s *Service) advance(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) error {
	for ctx.Err() == nil {
		var err error
		promoted := r.PromotedAt != nil
		switch {
		case r.CancelRequested:
			r, err = s.rollback(ctx, r, owner, lease, watchword.RunCancelled, r.Reason)
		case !promoted && r.Attempts >= s.runAttempts():
			r, err = s.rollback(ctx, r, owner, lease, watchword.RunFailed,
				fmt.Sprintf("step %s failed %d times: %s", r.Step, r.Attempts, r.LastError))
		default:
			r, err = s.runStep(ctx, r, owner, lease)
		}
		switch {
		case errors.Is(err, errLostRun):
			return nil
		case errors.Is(err, errCancel):
			continue // r came back with CancelRequested set
		case err != nil:
			if r, err = s.stepFailed(ctx, r, owner, lease, err); err != nil {
				if errors.Is(err, errLostRun) {
					return nil
				}
				return err
			}
		}
		if r.Status != watchword.RunRunning || s.now().Before(r.NextAttemptAt) {
			return nil
		}
	}
	return ctx.Err()
}

func (s *Service) runStep(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	switch r.Step {
	case watchword.StepCreate:
		return s.stepCreate(ctx, r, owner, lease)
	case watchword.StepDeliver:
		return s.stepDeliver(ctx, r, owner, lease)
	case watchword.StepTest:
		return s.stepTest(ctx, r, owner, lease)
	case watchword.StepPromote:
		return s.stepPromote(ctx, r, owner, lease)
	case watchword.StepFinish:
		return s.stepFinish(ctx, r, owner, lease)
	}
	return r, fmt.Errorf("unknown step %q", r.Step)
}

// commitRun changes run id in one transaction, with its client locked, if
// owner still holds it: fn edits the run and may change anything else in
// tx. A run whose cancel was requested is not changed unless cancelling is
// true (errCancel, and the fresh run, instead). The lease is kept while the
// run is due again at once and released otherwise.
func (s *Service) commitRun(ctx context.Context, id, owner string, lease time.Duration, cancelling bool, fn func(tx store.Tx, d watchword.Domain, c watchword.Client, r *watchword.RotationRun) error) (watchword.RotationRun, error) {
	var out watchword.RotationRun
	clientID := ""
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		r, err := tx.LockRotationRun(ctx, id)
		if err != nil {
			return err
		}
		out = r
		if r.Status != watchword.RunRunning || r.LockedBy != owner {
			return errLostRun
		}
		if r.CancelRequested && !cancelling {
			return errCancel
		}
		d, err := tx.GetDomain(ctx, r.DomainID)
		if err != nil {
			return err
		}
		c, err := tx.LockClient(ctx, d.ID, r.ClientID)
		if errors.Is(err, store.ErrNotFound) {
			return errLostRun // the client was deleted, which ended the run
		}
		if err != nil {
			return err
		}
		if err := fn(tx, d, c, &r); err != nil {
			return err
		}
		now := tx.Now()
		r.UpdatedAt = now
		if r.Status == watchword.RunRunning && !now.Before(r.NextAttemptAt) {
			until := now.Add(lease)
			r.LockedUntil = &until
		} else {
			r.LockedBy, r.LockedUntil = "", nil
		}
		if r.Status != watchword.RunRunning {
			r.FinishedAt = &now
		}
		if err := tx.UpdateRotationRun(ctx, r); err != nil {
			return err
		}
		out, clientID = r, c.ID
		return nil
	})
	if err == nil {
		s.changed(clientID, nil)
	}
	return out, err
}

func record(r *watchword.RotationRun, now time.Time, outcome, format string, args ...any) {
	r.Steps = append(r.Steps, watchword.RunStepRecord{Step: r.Step, At: now, Outcome: outcome, Detail: fmt.Sprintf(format, args...)})
}

// next moves r to step, due at once.
func next(r *watchword.RotationRun, step watchword.RunStep, now time.Time) {
	r.Step, r.Attempts, r.LastError, r.NextAttemptAt = step, 0, "", now
}

func auditStep(ctx context.Context, tx store.Tx, d watchword.Domain, r watchword.RotationRun, details map[string]string) error {
	if details == nil {
		details = map[string]string{}
	}
	details["run_id"], details["step"] = r.ID, string(r.Step)
	return audit(ctx, tx, watchword.ActionRotationStep, d.ID, "client", r.ClientID, details)
}

func runEvent(r watchword.RotationRun, reason string) func(*watchword.EventData) {
	return func(e *watchword.EventData) {
		e.RunID, e.RunStep, e.Reason, e.TransitionEnd = r.ID, r.Step, reason, r.TransitionEnd
	}
}

// stepCreate makes the pending secret and keeps its value sealed in the run.
func (s *Service) stepCreate(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	return s.commitRun(ctx, r.ID, owner, lease, false, func(tx store.Tx, d watchword.Domain, c watchword.Client, r *watchword.RotationRun) error {
		ns, err := s.addSecret(ctx, tx, d, c, SecretCreate{stage: watchword.StagePending}, watchword.SourceRotation, nil)
		if err != nil {
			return err
		}
		if err := s.sealState(r, runState{Secret: ns.Plaintext}); err != nil {
			return err
		}
		now := tx.Now()
		r.PendingSecretID = ns.ID
		record(r, now, watchword.StepOutcomeOK, "pending secret %s (…%s)", ns.ID, ns.Hint)
		if err := auditStep(ctx, tx, d, *r, map[string]string{"secret_id": ns.ID, "hint": ns.Hint}); err != nil {
			return err
		}
		if err := newOutbox(tx, d).emit(ctx, c, watchword.EventRotationStarted, ns.Secret, runEvent(*r, "")); err != nil {
			return err
		}
		next(r, watchword.StepDeliver, now)
		return nil
	})
}

// runTarget is a client's target, ready to use.
type runTarget struct {
	watchword.DeliveryTarget
	delivery.Target
}

// runTargets returns the client's targets ready to deliver; the disabled
// ones only with withDisabled (a rollback reverts what was delivered, even
// to a target disabled since).
func (s *Service) runTargets(ctx context.Context, clientID string, withDisabled bool) ([]runTarget, error) {
	ts, err := s.Store.ListDeliveryTargets(ctx, clientID)
	if err != nil {
		return nil, err
	}
	var out []runTarget
	for _, t := range ts {
		if t.Disabled && !withDisabled {
			continue
		}
		cfg, err := s.targetConfig(t)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		tgt, err := delivery.New(cfg, s.Runs.DeliveryOptions...)
		if err != nil {
			return nil, fmt.Errorf("target %s: %w", t.Name, err)
		}
		out = append(out, runTarget{t, tgt})
	}
	return out, nil
}

// runContext reads what the outside steps need: the domain, the client and
// the sealed state.
func (s *Service) runContext(ctx context.Context, r watchword.RotationRun) (watchword.Domain, watchword.Client, runState, error) {
	d, err := s.Store.GetDomain(ctx, r.DomainID)
	if err != nil {
		return d, watchword.Client{}, runState{}, err
	}
	c, err := s.Store.GetClient(ctx, d.ID, r.ClientID)
	if errors.Is(err, store.ErrNotFound) {
		return d, c, runState{}, errLostRun
	}
	if err != nil {
		return d, c, runState{}, err
	}
	st, err := s.openState(r)
	return d, c, st, err
}

func deliveryOf(r watchword.RotationRun, d watchword.Domain, c watchword.Client, t watchword.DeliveryTarget, plaintext string) delivery.Delivery {
	return delivery.Delivery{
		EventID: "dlv_" + r.PendingSecretID + "_" + t.ID, Domain: d.Name, ClientID: c.ID, ClientName: c.Name,
		SecretID: r.PendingSecretID, Secret: delivery.Plaintext(plaintext),
	}
}

// previousWorksUntil is the earliest time at which a secret the run
// replaces may stop working, as far as it can be known before promote:
// promote comes later and starts the transition then, so the real end is
// no earlier (a secret's own expiry may come first). Zero if the client
// has no other valid secret.
func (s *Service) previousWorksUntil(ctx context.Context, r watchword.RotationRun, d watchword.Domain, c watchword.Client) (time.Time, error) {
	t, err := transition(c.EffectivePolicy(d), r.Schedule.Transition)
	if err != nil {
		return time.Time{}, err
	}
	secrets, err := s.Store.ListSecrets(ctx, c.ID)
	if err != nil {
		return time.Time{}, err
	}
	now := s.now()
	var earliest time.Time
	for _, sec := range secrets {
		if sec.ID == r.PendingSecretID || !sec.ValidAt(now) {
			continue
		}
		end := sec.Retire(now, t).ExpiresAt
		if earliest.IsZero() || end.Before(earliest) {
			earliest = *end
		}
	}
	return earliest, nil
}

// stepDeliver hands the pending secret to every enabled target of the
// client. Before the first delivery it records, sealed, what each
// revertible target needs to undo it.
func (s *Service) stepDeliver(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	d, c, st, err := s.runContext(ctx, r)
	if err != nil {
		return r, err
	}
	targets, err := s.runTargets(ctx, c.ID, false)
	if err != nil {
		return r, err
	}
	if len(targets) == 0 {
		return r, errors.New("the client has no enabled delivery target, so nothing would receive the new secret")
	}
	sctx, cancel := context.WithTimeout(ctx, s.stepTimeout())
	defer cancel()
	prepared := false
	for _, t := range targets {
		if rv, ok := t.Target.(delivery.Reverter); ok && st.Prepared[t.ID] == nil {
			p, err := rv.Prepare(sctx)
			if err != nil {
				return r, fmt.Errorf("target %s: prepare: %w", t.Name, err)
			}
			if st.Prepared == nil {
				st.Prepared = map[string][]byte{}
			}
			st.Prepared[t.ID], prepared = append([]byte{}, p...), true
		}
	}
	if prepared {
		if r, err = s.commitRun(ctx, r.ID, owner, lease, false, func(_ store.Tx, _ watchword.Domain, _ watchword.Client, r *watchword.RotationRun) error {
			return s.sealState(r, st)
		}); err != nil {
			return r, err
		}
	}
	previousEnd, err := s.previousWorksUntil(ctx, r, d, c)
	if err != nil {
		return r, err
	}
	var errs []string
	var names []string
	for _, t := range targets {
		dl := deliveryOf(r, d, c, t.DeliveryTarget, st.Secret)
		dl.PreviousExpiresAt = previousEnd
		if err := t.Deliver(sctx, dl); err != nil {
			errs = append(errs, fmt.Sprintf("target %s: %v", t.Name, err))
			continue
		}
		names = append(names, t.Name)
	}
	if len(errs) > 0 {
		return r, errors.New(strings.Join(errs, "; "))
	}
	return s.commitRun(ctx, r.ID, owner, lease, false, func(tx store.Tx, d watchword.Domain, _ watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		r.DeliveredAt = &now
		record(r, now, watchword.StepOutcomeOK, "delivered to %s", strings.Join(names, ", "))
		if err := auditStep(ctx, tx, d, *r, map[string]string{"targets": strings.Join(names, ",")}); err != nil {
			return err
		}
		next(r, watchword.StepTest, now)
		return nil
	})
}

// stepTest requests a token with the pending secret at the server's own
// token endpoint, then fetches the schedule's check URL if it has one.
func (s *Service) stepTest(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	d, c, st, err := s.runContext(ctx, r)
	if err != nil {
		return r, err
	}
	sctx, cancel := context.WithTimeout(ctx, s.stepTimeout())
	defer cancel()
	done := []string{}
	if s.Runs.TokenCheck != nil {
		if err := s.Runs.TokenCheck(sctx, d, c, st.Secret); err != nil {
			return r, fmt.Errorf("token request with the pending secret: %w", err)
		}
		done = append(done, "token request")
	}
	if u := r.Schedule.CheckURL; u != "" {
		// Set by an admin and usually an internal health endpoint: private
		// addresses are allowed; link-local and metadata ones never are.
		opts := append([]delivery.Option{delivery.AllowPrivate()}, s.Runs.DeliveryOptions...)
		if err := delivery.Check(sctx, u, opts...); err != nil {
			return r, fmt.Errorf("check %s: %w", u, err)
		}
		done = append(done, "check "+u)
	}
	return s.commitRun(ctx, r.ID, owner, lease, false, func(tx store.Tx, d watchword.Domain, _ watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		record(r, now, watchword.StepOutcomeOK, "passed: %s", strings.Join(done, ", "))
		if err := auditStep(ctx, tx, d, *r, nil); err != nil {
			return err
		}
		next(r, watchword.StepPromote, now)
		return nil
	})
}

// stepPromote makes the pending secret current and puts every other valid
// secret of the client into its transition period, labelled previous.
func (s *Service) stepPromote(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	return s.commitRun(ctx, r.ID, owner, lease, false, func(tx store.Tx, d watchword.Domain, c watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		secrets, err := tx.ListSecrets(ctx, c.ID)
		if err != nil {
			return err
		}
		i := slices.IndexFunc(secrets, func(sec watchword.Secret) bool { return sec.ID == r.PendingSecretID })
		if i < 0 || !secrets[i].ValidAt(now) {
			return errors.New("the pending secret no longer authenticates (revoked or expired)")
		}
		t, err := transition(c.EffectivePolicy(d), r.Schedule.Transition)
		if err != nil {
			return err
		}
		rot := watchword.Rotation{
			ID: secret.NewID(), ClientID: c.ID, At: now, InitiatedBy: r.InitiatedBy, Kind: "run", RunID: r.ID,
			NewSecretID: secrets[i].ID, NewSecretHint: secrets[i].Hint, Transition: watchword.Duration(t),
			Old: []watchword.RotatedSecret{},
		}
		r.PreviousSecretIDs = []string{}
		for j, sec := range secrets {
			if j == i || !sec.ValidAt(now) {
				continue
			}
			retired := sec.Retire(now, t)
			retired.Stage = watchword.StagePrevious
			if err := tx.UpdateSecret(ctx, retired); err != nil {
				return err
			}
			rot.Old = append(rot.Old, watchword.RotatedSecret{ID: sec.ID, Hint: sec.Hint, ExpiresAt: retired.ExpiresAt})
			r.PreviousSecretIDs = append(r.PreviousSecretIDs, sec.ID)
		}
		current := secrets[i]
		current.Stage = watchword.StageCurrent
		if err := tx.UpdateSecret(ctx, current); err != nil {
			return err
		}
		if err := tx.CreateRotation(ctx, rot); err != nil {
			return err
		}
		if err := newOutbox(tx, d).emit(ctx, c, watchword.EventSecretRotated, current, rotatedEvent(rot, secrets, false)); err != nil {
			return err
		}
		end := now.Add(t)
		r.PromotedAt, r.TransitionEnd, r.Sealed, r.SealKeyID = &now, &end, nil, ""
		record(r, now, watchword.StepOutcomeOK, "secret %s is current; %d previous until %s", current.ID, len(rot.Old), end.Format(time.RFC3339))
		if err := auditStep(ctx, tx, d, *r, rotationDetails(rot)); err != nil {
			return err
		}
		next(r, watchword.StepFinish, now)
		return nil
	})
}

// stepFinish waits for the end of the transition period (or, if the
// schedule says so, for the previous secrets to go unused long enough),
// warns when they are still in use, and revokes them.
func (s *Service) stepFinish(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration) (watchword.RotationRun, error) {
	changed := false
	r, err := s.commitRun(ctx, r.ID, owner, lease, true, func(tx store.Tx, d watchword.Domain, c watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		secrets, err := tx.ListSecrets(ctx, c.ID)
		if err != nil {
			return err
		}
		var prev []watchword.Secret
		var lastUsed *watchword.Secret
		for _, sec := range secrets {
			if !slices.Contains(r.PreviousSecretIDs, sec.ID) {
				continue
			}
			prev = append(prev, sec)
			if sec.LastUsedAt != nil && (lastUsed == nil || sec.LastUsedAt.After(*lastUsed.LastUsedAt)) {
				lastUsed = &sec
			}
		}
		end, window := *r.TransitionEnd, r.Schedule.InUseWindow()
		inUse := lastUsed != nil && now.Sub(*lastUsed.LastUsedAt) < window
		out := newOutbox(tx, d)
		warn := func(when string) error {
			record(r, now, watchword.StepOutcomeOK, "previous secret %s still in use %s: last used %s", lastUsed.ID, when, lastUsed.LastUsedAt.Format(time.RFC3339))
			return out.emit(ctx, c, watchword.EventSecretStillInUse, *lastUsed, runEvent(*r, "used within "+watchword.Duration(window).String()+" "+when))
		}

		idleSince := time.Time{}
		if f := time.Duration(r.Schedule.FinishWhenUnusedFor); f > 0 && r.DeliveredAt != nil {
			idleSince = *r.DeliveredAt
			if lastUsed != nil && lastUsed.LastUsedAt.After(idleSince) {
				idleSince = *lastUsed.LastUsedAt
			}
		}
		early := !idleSince.IsZero() && !now.Before(idleSince.Add(time.Duration(r.Schedule.FinishWhenUnusedFor)))
		if r.CancelRequested {
			r.Status = watchword.RunCancelled
			record(r, now, watchword.StepOutcomeCancelled, "stopped after promote (%s); previous secrets keep their end %s", r.Reason, end.Format(time.RFC3339))
			return audit(ctx, tx, watchword.ActionRotationComplete, d.ID, "client", c.ID, map[string]string{"run_id": r.ID, "status": string(r.Status)})
		}
		if now.Before(end) && !early {
			if r.InUseChecks == 0 && !now.Before(end.Add(-window)) {
				r.InUseChecks = 1
				if inUse {
					if err := warn("before the end of its transition"); err != nil {
						return err
					}
				}
			}
			r.NextAttemptAt = end
			if r.InUseChecks == 0 {
				r.NextAttemptAt = end.Add(-window)
			}
			if !idleSince.IsZero() {
				r.NextAttemptAt = minTime(r.NextAttemptAt, idleSince.Add(time.Duration(r.Schedule.FinishWhenUnusedFor)))
			}
			return nil
		}
		if inUse && !early {
			if err := warn("at the end of its transition"); err != nil {
				return err
			}
		}
		reason := "rotation finished"
		if early {
			reason = "rotation finished early: unused since " + idleSince.Format(time.RFC3339)
		}
		for _, sec := range prev {
			if sec.RevokedAt != nil {
				continue
			}
			revoked := sec.Revoke(now, watchword.SystemActor.String(), reason)
			if err := tx.UpdateSecret(ctx, revoked); err != nil {
				return err
			}
			if sec.ValidAt(now) {
				changed = true
				if err := out.emit(ctx, c, watchword.EventSecretRevoked, revoked.WithStatus(now), revokedEvent(reason, false)); err != nil {
					return err
				}
			}
		}
		r.Status = watchword.RunCompleted
		record(r, now, watchword.StepOutcomeOK, "%s; %d previous secrets revoked", reason, len(prev))
		current, _ := tx.GetSecret(ctx, r.PendingSecretID)
		if err := out.emit(ctx, c, watchword.EventRotationCompleted, current, runEvent(*r, "")); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionRotationComplete, d.ID, "client", c.ID, map[string]string{"run_id": r.ID, "status": string(r.Status), "reason": reason})
	})
	if err == nil && changed {
		s.tokensRevoked(nil)
	}
	return r, err
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// stepFailed records a failed attempt and when the step is tried again.
func (s *Service) stepFailed(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration, stepErr error) (watchword.RotationRun, error) {
	msg := watchword.Truncate(stepErr.Error(), 1024)
	s.Logger.WarnContext(ctx, "rotation step failed", "run_id", r.ID, "step", r.Step, "attempt", r.Attempts+1, "err", msg)
	return s.commitRun(ctx, r.ID, owner, lease, true, func(tx store.Tx, _ watchword.Domain, _ watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		r.Attempts++
		r.LastError = msg
		record(r, now, watchword.StepOutcomeError, "attempt %d: %s", r.Attempts, msg)
		r.NextAttemptAt = now.Add(s.backoff(r.Attempts))
		if r.PromotedAt == nil && r.Attempts >= s.runAttempts() {
			r.NextAttemptAt = now // roll back at once
		}
		return nil
	})
}

// rollback ends a run that has not promoted: it reverts what targets it
// can, revokes the pending secret, and ends the run with status. A run that
// has promoted is left to stepFinish, which stops it.
func (s *Service) rollback(ctx context.Context, r watchword.RotationRun, owner string, lease time.Duration, status watchword.RunStatus, reason string) (watchword.RotationRun, error) {
	if r.PromotedAt != nil {
		return s.stepFinish(ctx, r, owner, lease)
	}
	var notes []string
	if st, err := s.openState(r); err == nil && len(st.Prepared) > 0 {
		d, c, _, err := s.runContext(ctx, r)
		targets, terr := s.runTargets(ctx, r.ClientID, true)
		if err = errors.Join(err, terr); err != nil {
			notes = append(notes, "targets not reverted: "+err.Error())
		}
		sctx, cancel := context.WithTimeout(ctx, s.stepTimeout())
		for _, t := range targets {
			rv, ok := t.Target.(delivery.Reverter)
			p, prepared := st.Prepared[t.ID]
			if !ok || !prepared {
				continue
			}
			if err := rv.Revert(sctx, deliveryOf(r, d, c, t.DeliveryTarget, ""), p); err != nil {
				notes = append(notes, fmt.Sprintf("target %s not reverted: %v", t.Name, err))
			} else {
				notes = append(notes, "target "+t.Name+" reverted")
			}
		}
		cancel()
	}
	return s.commitRun(ctx, r.ID, owner, lease, true, func(tx store.Tx, d watchword.Domain, c watchword.Client, r *watchword.RotationRun) error {
		now := tx.Now()
		out := newOutbox(tx, d)
		var pending watchword.Secret
		if r.PendingSecretID != "" {
			sec, err := tx.GetSecret(ctx, r.PendingSecretID)
			if err != nil {
				return err
			}
			pending = sec
			if sec.RevokedAt == nil {
				pending = sec.Revoke(now, watchword.SystemActor.String(), "rotation rolled back: "+watchword.Truncate(reason, 200))
				if err := tx.UpdateSecret(ctx, pending); err != nil {
					return err
				}
				if sec.ValidAt(now) {
					if err := out.emit(ctx, c, watchword.EventSecretRevoked, pending.WithStatus(now), revokedEvent(pending.RevokedReason, false)); err != nil {
						return err
					}
				}
			}
			notes = append([]string{"pending secret " + sec.ID + " revoked"}, notes...)
		}
		r.Status, r.Reason, r.Sealed, r.SealKeyID = status, reason, nil, ""
		outcome := watchword.StepOutcomeRolledBack
		if status == watchword.RunCancelled {
			outcome = watchword.StepOutcomeCancelled
		}
		record(r, now, outcome, "%s; %s", reason, strings.Join(append(notes, "current secret untouched"), "; "))
		if err := out.emit(ctx, c, watchword.EventRotationRolledBack, pending, runEvent(*r, reason)); err != nil {
			return err
		}
		action := watchword.ActionRotationComplete
		if status == watchword.RunFailed {
			action = watchword.ActionRotationFail
			if err := out.emit(ctx, c, watchword.EventRotationFailed, pending, runEvent(*r, reason)); err != nil {
				return err
			}
		}
		return audit(ctx, tx, action, d.ID, "client", c.ID, map[string]string{"run_id": r.ID, "status": string(status), "reason": reason})
	})
}
