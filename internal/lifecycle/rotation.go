package lifecycle

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// ---- schedules

// validateSchedule checks a rotation schedule, its cron expression
// included: the interval between any two of its next runs must be at least
// the server's minimum.
func (s *Service) validateSchedule(sc watchword.RotationSchedule) error {
	errs := sc.Validate(s.minRotationInterval())
	checkURLParsed := !slices.ContainsFunc(errs, func(e *watchword.Error) bool { return e.Field == "check_url" })
	if sc.CheckURL != "" && checkURLParsed {
		// The test step's own rule, so that it is not first met there.
		if err := delivery.ValidateCheckURL(sc.CheckURL); err != nil {
			errs.Add("check_url", "%v", err)
		}
	}
	if sc.Cron != "" {
		sched, err := ParseSchedule(sc.Cron)
		if err != nil {
			errs.Add("cron", "invalid cron expression: %v", err)
		} else {
			t := sched.Next(s.now())
			for range 100 {
				n := sched.Next(t)
				if n.IsZero() {
					break
				}
				if n.Sub(t) < s.minRotationInterval() {
					errs.Add("cron", "runs %s apart; the minimum interval is %s", watchword.Duration(n.Sub(t)), watchword.Duration(s.minRotationInterval()))
					break
				}
				t = n
			}
		}
	}
	return errs.Err()
}

func (s *Service) minRotationInterval() time.Duration {
	if s.RotationMinInterval > 0 {
		return s.RotationMinInterval
	}
	return watchword.MinRotationInterval
}

// SetDomainRotation replaces the rotation schedule the domain's clients
// inherit.
func (s *Service) SetDomainRotation(ctx context.Context, domainName string, sc watchword.RotationSchedule) (watchword.Domain, error) {
	if err := s.validateSchedule(sc); err != nil {
		return watchword.Domain{}, err
	}
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return watchword.Domain{}, mapStoreErr(err)
	}
	// Refused now rather than at a run's promote, where it would roll back.
	if _, err := transition(d.Policy, sc.Transition); err != nil {
		return watchword.Domain{}, err
	}
	return s.updateDomain(ctx, domainName, func(d *watchword.Domain) { d.Rotation = sc }, watchword.ActionRotationScheduleUpdate, scheduleDetails(&sc))
}

func scheduleDetails(sc *watchword.RotationSchedule) map[string]string {
	if sc == nil {
		return map[string]string{"use_domain_schedule": "true"}
	}
	b, _ := json.Marshal(sc)
	return map[string]string{"schedule": string(b)}
}

// ClientRotation is a client's schedule override (nil: the domain's), the
// schedule in effect, and when it next runs.
type ClientRotation struct {
	UseDomainSchedule bool                        `json:"use_domain_schedule"`
	Override          *watchword.RotationSchedule `json:"override,omitempty"`
	Effective         watchword.RotationSchedule  `json:"effective"`
	// NextRunAt is when the schedule next starts a run; nil if it never
	// does or a run is in progress.
	NextRunAt *time.Time `json:"next_run_at,omitempty"`
}

func (s *Service) clientRotation(ctx context.Context, r store.Reader, d watchword.Domain, c watchword.Client) (ClientRotation, error) {
	out := ClientRotation{UseDomainSchedule: c.Rotation == nil, Override: c.Rotation, Effective: c.EffectiveRotation(d)}
	next, _, err := s.nextRun(ctx, r, c, out.Effective)
	if !next.IsZero() {
		out.NextRunAt = &next
	}
	return out, err
}

// GetClientRotation returns the client's rotation schedule.
func (s *Service) GetClientRotation(ctx context.Context, domainName, ref string) (ClientRotation, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return ClientRotation{}, mapStoreErr(err)
	}
	c, err := clientIn(ctx, s.Store, d, ref)
	if err != nil {
		return ClientRotation{}, mapStoreErr(err)
	}
	out, err := s.clientRotation(ctx, s.Store, d, c)
	return out, mapStoreErr(err)
}

// SetClientRotation sets the client's schedule override; nil returns it to
// the domain's schedule, an empty schedule turns automated rotation off.
func (s *Service) SetClientRotation(ctx context.Context, domainName, ref string, sc *watchword.RotationSchedule) (ClientRotation, error) {
	if sc != nil {
		if err := s.validateSchedule(*sc); err != nil {
			return ClientRotation{}, err
		}
	}
	var out ClientRotation
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		c.Rotation, c.UpdatedAt = sc, tx.Now()
		if _, err := transition(c.EffectivePolicy(d), c.EffectiveRotation(d).Transition); err != nil {
			return err
		}
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		if out, err = s.clientRotation(ctx, tx, d, c); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionRotationScheduleUpdate, d.ID, "client", c.ID, scheduleDetails(sc))
	})
	return out, err
}

// nextRun returns when sc next starts a run of c (zero: never, or a run is
// in progress) and the client's latest run, if any. The schedule counts
// from the start of the latest run whatever its outcome, so that a failing
// rotation is not retried in a loop (the operator retries it); a client
// that never ran counts from its newest secret.
func (s *Service) nextRun(ctx context.Context, r store.Reader, c watchword.Client, sc watchword.RotationSchedule) (time.Time, *watchword.RotationRun, error) {
	latest, err := r.LatestRotationRun(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return time.Time{}, nil, err
	case latest.Status == watchword.RunRunning:
		return time.Time{}, &latest, nil
	}
	if !sc.Scheduled() || c.Type != watchword.ClientConfidential || c.Disabled {
		return time.Time{}, nil, nil
	}
	base := c.CreatedAt
	if err == nil {
		base = latest.CreatedAt
	} else {
		secrets, err := r.ListSecrets(ctx, c.ID)
		if err != nil {
			return time.Time{}, nil, err
		}
		for _, sec := range secrets {
			if sec.CreatedAt.After(base) {
				base = sec.CreatedAt
			}
		}
	}
	if sc.Every > 0 {
		return base.Add(time.Duration(sc.Every)), nil, nil
	}
	sched, err := ParseSchedule(sc.Cron)
	if err != nil {
		return time.Time{}, nil, err
	}
	return sched.Next(base), nil, nil
}

// StartDueRotations starts a run for every client whose schedule is due at
// now and returns how many it started. Each start locks the client and
// looks again, and the store allows one running run per client, so several
// instances doing this at once start each run once.
func (s *Service) StartDueRotations(ctx context.Context) (int, error) {
	ctx = watchword.NewContextWithActor(ctx, watchword.SystemActor)
	domains, err := s.Store.ListDomains(ctx)
	if err != nil {
		return 0, err
	}
	started := 0
	var errs []error
	for _, d := range domains {
		for offset := 0; ; offset += store.MaxLimit {
			clients, total, err := s.Store.ListClients(ctx, watchword.ClientFilter{DomainID: d.ID, Offset: offset, Limit: store.MaxLimit})
			if err != nil {
				errs = append(errs, err)
				break
			}
			for _, c := range clients {
				sc := c.EffectiveRotation(d)
				if !sc.Scheduled() {
					continue
				}
				next, _, err := s.nextRun(ctx, s.Store, c, sc)
				if err != nil {
					errs = append(errs, err)
					continue
				}
				if next.IsZero() || s.now().Before(next) {
					continue
				}
				_, err = s.startRun(ctx, d.Name, c.ID, watchword.TriggerSchedule)
				switch {
				case err == nil:
					started++
				case errors.Is(err, errSkip):
				default:
					errs = append(errs, err)
				}
			}
			if offset+store.MaxLimit >= total {
				break
			}
		}
	}
	return started, errors.Join(errs...)
}

// StartRotation starts a run of the client now ("rotate now").
func (s *Service) StartRotation(ctx context.Context, domainName, ref string) (watchword.RotationRun, error) {
	return s.startRun(ctx, domainName, ref, watchword.TriggerManual)
}

func (s *Service) startRun(ctx context.Context, domainName, ref, trigger string) (watchword.RotationRun, error) {
	var run watchword.RotationRun
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		sc := c.EffectiveRotation(d)
		next, running, err := s.nextRun(ctx, tx, c, sc)
		if err != nil {
			return err
		}
		if trigger == watchword.TriggerSchedule && (next.IsZero() || tx.Now().Before(next)) {
			return errSkip // another instance started it, or it changed
		}
		if running != nil {
			return runInProgress(c, *running)
		}
		if c.Type != watchword.ClientConfidential || c.Disabled {
			return watchword.FieldError(watchword.ECONFLICT, "client", "Client %q is public or disabled; it has no secrets to rotate.", c.Name)
		}
		now := tx.Now()
		run = watchword.RotationRun{
			ID: "run_" + secret.NewID(), DomainID: d.ID, ClientID: c.ID,
			Trigger: trigger, InitiatedBy: watchword.ActorFromContext(ctx).String(),
			Status: watchword.RunRunning, Step: watchword.StepCreate, NextAttemptAt: now,
			Schedule: sc, PreviousSecretIDs: []string{}, CreatedAt: now, UpdatedAt: now,
			Steps: []watchword.RunStepRecord{},
		}
		if err := tx.CreateRotationRun(ctx, run); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) && trigger == watchword.TriggerSchedule {
				return errSkip
			}
			return err
		}
		return audit(ctx, tx, watchword.ActionRotationStart, d.ID, "client", c.ID, map[string]string{"run_id": run.ID, "trigger": trigger})
	})
	if err == nil {
		s.kick()
	}
	return run, err
}

// runInProgress is the conflict of a change that a running run forbids.
func runInProgress(c watchword.Client, r watchword.RotationRun) error {
	return watchword.FieldError(watchword.ECONFLICT, "client",
		"Client %q has rotation run %s in progress (step %s); wait for it or cancel it first.", c.Name, r.ID, r.Step)
}

// refuseDuringRun returns a conflict if the client has a running run.
func refuseDuringRun(ctx context.Context, tx store.Tx, c watchword.Client) error {
	r, err := tx.LatestRotationRun(ctx, c.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return err
	case r.Status == watchword.RunRunning:
		return runInProgress(c, r)
	}
	return nil
}

// endRun cancels the client's running run at once, in tx, whoever holds
// it (the holder's next commit finds it ended): for a change that cannot
// wait, which revokes the run's secrets itself.
func endRun(ctx context.Context, tx store.Tx, c watchword.Client, reason string) error {
	r, err := tx.LatestRotationRun(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if r, err = tx.LockRotationRun(ctx, r.ID); err != nil || r.Status != watchword.RunRunning {
		return err
	}
	now := tx.Now()
	r.Status, r.Reason, r.Sealed, r.SealKeyID = watchword.RunCancelled, reason, nil, ""
	r.UpdatedAt, r.FinishedAt, r.LockedBy, r.LockedUntil = now, &now, "", nil
	r.Steps = append(r.Steps, watchword.RunStepRecord{Step: r.Step, At: now, Outcome: watchword.StepOutcomeCancelled, Detail: reason})
	if err := tx.UpdateRotationRun(ctx, r); err != nil {
		return err
	}
	return audit(ctx, tx, watchword.ActionRotationCancel, c.DomainID, "client", c.ID, map[string]string{"run_id": r.ID, "reason": reason})
}

func (s *Service) kick() {
	if s.RunsChanged != nil {
		s.RunsChanged()
	}
}

// ListRotationRuns returns a page of the client's runs, newest first.
func (s *Service) ListRotationRuns(ctx context.Context, domainName, ref string, offset, limit int) ([]watchword.RotationRun, int, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return nil, 0, err
	}
	offset, limit = store.Page(offset, limit)
	rs, n, err := s.Store.ListRotationRuns(ctx, c.ID, offset, limit)
	return rs, n, mapStoreErr(err)
}

// GetRotationRun returns one run of a client.
func (s *Service) GetRotationRun(ctx context.Context, domainName, ref, id string) (watchword.RotationRun, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return watchword.RotationRun{}, err
	}
	r, err := runOf(ctx, s.Store, c, id)
	return r, mapStoreErr(err)
}

func runOf(ctx context.Context, r store.Reader, c watchword.Client, id string) (watchword.RotationRun, error) {
	run, err := r.GetRotationRun(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && run.ClientID != c.ID) {
		return run, watchword.FieldError(watchword.ENOTFOUND, "run", "Rotation run %q not found for client %q.", id, c.Name)
	}
	return run, err
}

// lockRun locks the client, then its run id.
func lockRun(ctx context.Context, tx store.Tx, domainName, ref, id string) (watchword.Domain, watchword.Client, watchword.RotationRun, error) {
	d, c, err := lockClient(ctx, tx, domainName, ref)
	if err != nil {
		return d, c, watchword.RotationRun{}, err
	}
	run, err := runOf(ctx, tx, c, id)
	if err != nil {
		return d, c, run, err
	}
	run, err = tx.LockRotationRun(ctx, run.ID)
	return d, c, run, err
}

// RetryRotationRun starts a failed run again from its first step, or makes
// a running run that is waiting to retry a step try it now.
func (s *Service) RetryRotationRun(ctx context.Context, domainName, ref, id string) (watchword.RotationRun, error) {
	var run watchword.RotationRun
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, locked, err := lockRun(ctx, tx, domainName, ref, id)
		if err != nil {
			return err
		}
		run = locked
		now := tx.Now()
		switch run.Status {
		case watchword.RunFailed:
			run.Status, run.Step, run.Attempts, run.Reason, run.LastError = watchword.RunRunning, watchword.StepCreate, 0, "", ""
			run.PendingSecretID, run.PreviousSecretIDs, run.DeliveredAt, run.FinishedAt = "", []string{}, nil, nil
			run.Schedule = c.EffectiveRotation(d)
		case watchword.RunRunning:
			if run.CancelRequested {
				return watchword.FieldError(watchword.ECONFLICT, "run", "Run %s is being cancelled.", run.ID)
			}
		default:
			return watchword.FieldError(watchword.ECONFLICT, "run", "Run %s is %s; only a failed or running run can be retried.", run.ID, run.Status)
		}
		run.NextAttemptAt, run.UpdatedAt = now, now
		run.Steps = append(run.Steps, watchword.RunStepRecord{Step: run.Step, At: now, Outcome: "retry", Detail: "retry requested by " + watchword.ActorFromContext(ctx).String()})
		if err := tx.UpdateRotationRun(ctx, run); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return watchword.FieldError(watchword.ECONFLICT, "run", "Client %q already has another run in progress.", c.Name)
			}
			return err
		}
		return audit(ctx, tx, watchword.ActionRotationRetry, d.ID, "client", c.ID, map[string]string{"run_id": run.ID})
	})
	if err == nil {
		s.kick()
	}
	return run, err
}

// CancelRotationRun asks for a running run to stop. The instance running it
// does so at its next step: before promote it rolls the run back (the
// pending secret revoked, targets told); after promote it stops waiting,
// and the previous secrets keep the end of their transition period.
func (s *Service) CancelRotationRun(ctx context.Context, domainName, ref, id, reason string) (watchword.RotationRun, error) {
	if len(reason) > maxReason {
		return watchword.RotationRun{}, watchword.FieldError(watchword.EINVALID, "reason", "Must be at most %d characters.", maxReason)
	}
	var run watchword.RotationRun
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, locked, err := lockRun(ctx, tx, domainName, ref, id)
		if err != nil {
			return err
		}
		run = locked
		if run.Status != watchword.RunRunning {
			return watchword.FieldError(watchword.ECONFLICT, "run", "Run %s is already %s.", run.ID, run.Status)
		}
		now := tx.Now()
		if reason == "" {
			reason = "cancelled by " + watchword.ActorFromContext(ctx).String()
		}
		run.CancelRequested, run.Reason, run.NextAttemptAt, run.UpdatedAt = true, reason, now, now
		if err := tx.UpdateRotationRun(ctx, run); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionRotationCancel, d.ID, "client", c.ID, map[string]string{"run_id": run.ID, "reason": reason})
	})
	if err == nil {
		s.kick()
	}
	return run, err
}

// ---- delivery targets

// TargetCreate is the input of AddDeliveryTarget.
type TargetCreate struct {
	Name   string          `json:"name"`
	Config delivery.Config `json:"config"`
}

// TargetUpdate is the input of UpdateDeliveryTarget; absent fields are
// unchanged.
type TargetUpdate struct {
	Disabled *bool `json:"disabled"`
}

// TargetView is a delivery target as the API shows it: its configuration
// without credentials. SigningSecret is set only in the response that
// created a webhook target without one.
type TargetView struct {
	watchword.DeliveryTarget
	Config        delivery.Config `json:"config"`
	SigningSecret string          `json:"signing_secret,omitempty"`
}

func targetAAD(t watchword.DeliveryTarget) []byte { return []byte("delivery-target:" + t.ID) }

// targetConfig decrypts a target's configuration.
func (s *Service) targetConfig(t watchword.DeliveryTarget) (delivery.Config, error) {
	var cfg delivery.Config
	b, err := s.Hasher.Open(t.Sealed, t.KeyID, targetAAD(t))
	if err != nil {
		return cfg, err
	}
	return cfg, json.Unmarshal(b, &cfg)
}

// targetView hides the credentials a configuration may hold: a webhook's
// signing secret and the values of a command's environment entries.
func (s *Service) targetView(t watchword.DeliveryTarget) (TargetView, error) {
	cfg, err := s.targetConfig(t)
	if cfg.Webhook != nil {
		w := *cfg.Webhook
		w.SigningSecret = ""
		cfg.Webhook = &w
	}
	if cfg.Command != nil {
		c := *cfg.Command
		c.Env = make([]string, len(cfg.Command.Env))
		for i, e := range cfg.Command.Env {
			name, _, _ := strings.Cut(e, "=")
			c.Env[i] = name + "=" + delivery.Redacted
		}
		cfg.Command = &c
	}
	return TargetView{DeliveryTarget: t, Config: cfg}, err
}

// AddDeliveryTarget adds a target to which the client's rotation runs
// deliver new secrets. A webhook target without a signing secret gets a
// generated one, returned this once.
func (s *Service) AddDeliveryTarget(ctx context.Context, domainName, ref string, in TargetCreate) (TargetView, error) {
	var errs watchword.Errors
	if err := watchword.ValidateName("name", in.Name); err != nil {
		errs = append(errs, err)
	}
	generated := ""
	if in.Config.Type == delivery.TypeWebhook && in.Config.Webhook != nil && in.Config.Webhook.SigningSecret == "" {
		generated = notify.NewSigningSecret()
		w := *in.Config.Webhook
		w.SigningSecret = generated
		in.Config.Webhook = &w
	}
	var verr *delivery.ValidationError
	if err := in.Config.Validate(); errors.As(err, &verr) {
		for _, p := range verr.Problems {
			errs.Add("config", "%s", p)
		}
	}
	if err := errs.Err(); err != nil {
		return TargetView{}, err
	}
	var view TargetView
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		if c.Type != watchword.ClientConfidential {
			return watchword.FieldError(watchword.EINVALID, "client", "A public client has no secrets to deliver.")
		}
		now := tx.Now()
		t := watchword.DeliveryTarget{ID: secret.NewID(), ClientID: c.ID, Name: in.Name, Type: in.Config.Type, CreatedAt: now, UpdatedAt: now}
		b, err := json.Marshal(in.Config)
		if err != nil {
			return err
		}
		t.Sealed, t.KeyID = s.Hasher.Seal(b, targetAAD(t))
		if err := tx.CreateDeliveryTarget(ctx, t); err != nil {
			if errors.Is(err, store.ErrAlreadyExists) {
				return watchword.FieldError(watchword.ECONFLICT, "name", "Client %q already has a target named %q.", c.Name, in.Name)
			}
			return err
		}
		if view, err = s.targetView(t); err != nil {
			return err
		}
		view.SigningSecret = generated
		return audit(ctx, tx, watchword.ActionTargetCreate, d.ID, "client", c.ID, map[string]string{"target_id": t.ID, "name": t.Name, "type": t.Type})
	})
	return view, err
}

// ListDeliveryTargets returns the client's targets without credentials.
func (s *Service) ListDeliveryTargets(ctx context.Context, domainName, ref string) ([]TargetView, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return nil, err
	}
	ts, err := s.Store.ListDeliveryTargets(ctx, c.ID)
	if err != nil {
		return nil, mapStoreErr(err)
	}
	out := make([]TargetView, 0, len(ts))
	for _, t := range ts {
		v, err := s.targetView(t)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// UpdateDeliveryTarget changes a target named by id or name. Deliveries
// skip a disabled target from then on, those of a run in progress too; a
// run that already delivered to it still reverts it on rollback.
func (s *Service) UpdateDeliveryTarget(ctx context.Context, domainName, ref, target string, u TargetUpdate) (TargetView, error) {
	var view TargetView
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, t, err := lockTarget(ctx, tx, domainName, ref, target)
		if err != nil {
			return err
		}
		if u.Disabled == nil || *u.Disabled == t.Disabled {
			view, err = s.targetView(t)
			return err
		}
		t.Disabled, t.UpdatedAt = *u.Disabled, tx.Now()
		if err := tx.UpdateDeliveryTarget(ctx, t); err != nil {
			return err
		}
		if view, err = s.targetView(t); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionTargetUpdate, d.ID, "client", c.ID,
			map[string]string{"target_id": t.ID, "name": t.Name, "disabled": strconv.FormatBool(t.Disabled)})
	})
	return view, err
}

// DeleteDeliveryTarget removes a target by id or name. A run in progress
// that already delivered to it does not revert it on rollback.
func (s *Service) DeleteDeliveryTarget(ctx context.Context, domainName, ref, target string) error {
	return s.tx(ctx, func(tx store.Tx) error {
		d, c, t, err := lockTarget(ctx, tx, domainName, ref, target)
		if err != nil {
			return err
		}
		if err := tx.DeleteDeliveryTarget(ctx, c.ID, t.ID); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionTargetDelete, d.ID, "client", c.ID, map[string]string{"target_id": t.ID, "name": t.Name})
	})
}

// lockTarget locks the client and finds its target by id or name.
func lockTarget(ctx context.Context, tx store.Tx, domainName, ref, target string) (watchword.Domain, watchword.Client, watchword.DeliveryTarget, error) {
	d, c, err := lockClient(ctx, tx, domainName, ref)
	if err != nil {
		return d, c, watchword.DeliveryTarget{}, err
	}
	ts, err := tx.ListDeliveryTargets(ctx, c.ID)
	if err != nil {
		return d, c, watchword.DeliveryTarget{}, err
	}
	i := slices.IndexFunc(ts, func(t watchword.DeliveryTarget) bool { return t.ID == target || t.Name == target })
	if i < 0 {
		return d, c, watchword.DeliveryTarget{}, watchword.FieldError(watchword.ENOTFOUND, "target", "Target %q not found for client %q.", target, c.Name)
	}
	return d, c, ts[i], nil
}
