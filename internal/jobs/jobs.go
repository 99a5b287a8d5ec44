// Package jobs runs Watchword's background work on every instance: the
// outbox dispatcher, the expiry sweep, each domain's upcoming-expiry
// notices on its cron schedule, the start of scheduled rotation runs and
// the steps of every run, and the hourly clean-up of expired rows.
//
// The runner is written here rather than taken from a job queue such as
// River, which was evaluated first. River is well kept and PostgreSQL-native,
// but in this codebase it would add more than it saves: the store is
// database/sql on both backends while River's full driver wants a pgx pool
// of its own (its database/sql driver long supported only migrations, and
// its SQLite driver is early-testing and wants a separate one-connection
// pool); River brings its own tables and migration line, which would have
// to be kept in step with goose on two dialects; inserting its jobs in the
// store's own transaction would mean exposing the *sql.Tx behind store.Tx;
// and its scheduling reads the database clock, while every schedule and
// threshold here must follow an injected clock to be tested by time travel.
// What the jobs need is small, and the guarantees come from the database
// itself, the same way on SQLite and PostgreSQL:
//
//   - Each effect happens once, however many instances run. The outbox rows
//     are written in the transaction of the change that causes them; the
//     sweep marks each secret with a compare-and-set; each expiry notice
//     inserts a unique (secret, threshold) row in the transaction that
//     queues it. A second instance doing the same work finds the mark or
//     the row and rolls back.
//   - Work is not done twice in normal operation. A scheduled run is
//     claimed by locking its row of the jobs table and writing a lease
//     (locked_by, locked_until); outbox rows are claimed with a lease by
//     UPDATE … WHERE id IN (SELECT … FOR UPDATE SKIP LOCKED) on PostgreSQL
//     (SQLite writers are serial anyway).
//   - A crashed instance's work is picked up: once its lease ends, any
//     instance claims the run or the notifications again, and the
//     idempotent steps above make redoing a half-finished run safe.
//     Rotation runs are leased the same way; each step commits its effect
//     with the run's move to the next step, and a client has at most one
//     running run (a unique index), so a run is started once and each of
//     its steps takes effect once (see internal/lifecycle/runs.go).
//   - A restart resumes where it stopped: the next run time of every
//     schedule and the state of every notification are in the database; a
//     run missed while every instance was down happens at the next tick,
//     once, for the latest time it was due.
package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Runner defaults.
const (
	DefaultInterval      = 5 * time.Second
	DefaultSweepSchedule = "@every 1m"
	DefaultLease         = 10 * time.Minute
	DefaultRetryDelay    = time.Minute
	// SweepJob names the expiry sweep in the jobs table; NoticesJobPrefix
	// and a domain id name a domain's notice schedule.
	SweepJob         = "expiry-sweep"
	NoticesJobPrefix = "expiry-notices:"
	// CleanupJob deletes auth requests, codes, refresh tokens, revocation
	// markers and idempotency records once CleanupGrace past their expiry.
	// The grace keeps a used code or refresh token long enough to recognise
	// its replay (and revoke its family) after it expired.
	CleanupJob      = "cleanup"
	CleanupSchedule = "@every 1h"
	CleanupGrace    = 24 * time.Hour
	// RotationJob starts the rotation runs that clients' schedules make due.
	RotationJob             = "rotation-schedule"
	DefaultRotationSchedule = "@every 1m"
	DefaultRunLease         = 5 * time.Minute
)

// Runner runs the background jobs. Service, Store and Dispatcher are
// required; zero durations take the defaults above.
type Runner struct {
	Service    *lifecycle.Service
	Store      store.Store
	Dispatcher *notify.Dispatcher
	Now        func() time.Time
	Logger     *slog.Logger
	// Owner names this instance in job and run leases; empty means
	// host-pid-random.
	Owner string
	// Interval is how often Run looks for due runs and notifications.
	Interval time.Duration
	// SweepSchedule is the schedule of the expiry sweep.
	SweepSchedule string
	// Lease is how long a claimed run stays this instance's; a run that
	// takes longer may be started again by another instance, which is safe.
	Lease time.Duration
	// RetryDelay is how long a failed run waits before it is tried again.
	RetryDelay time.Duration
	// RotationSchedule is how often clients' rotation schedules are
	// looked at; RunLease is how long a claimed rotation run stays this
	// instance's (longer than a step takes: lifecycle.RunSettings.StepTimeout).
	RotationSchedule string
	RunLease         time.Duration

	kick chan struct{}

	once sync.Once
	mu   sync.Mutex
	// wake remembers, per job, the schedule and the earliest time the job
	// can need this instance again (its next run, or the end of another
	// instance's lease), so that a tick does not lock every job's row.
	// Other instances only ever move those times later, or change the
	// schedule, which a different spec reveals.
	wake map[string]wakeAt
}

type wakeAt struct {
	spec string
	at   time.Time
}

func (r *Runner) init() {
	r.once.Do(func() {
		if r.Now == nil {
			r.Now = time.Now
		}
		if r.Logger == nil {
			r.Logger = slog.New(slog.DiscardHandler)
		}
		if r.Owner == "" {
			// Host and pid tell an operator which instance holds a lease.
			host, _ := os.Hostname()
			r.Owner = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), secret.NewID()[:8])
		}
		if r.Interval <= 0 {
			r.Interval = DefaultInterval
		}
		if r.SweepSchedule == "" {
			r.SweepSchedule = DefaultSweepSchedule
		}
		if r.Lease <= 0 {
			r.Lease = DefaultLease
		}
		if r.RetryDelay <= 0 {
			r.RetryDelay = DefaultRetryDelay
		}
		if r.RotationSchedule == "" {
			r.RotationSchedule = DefaultRotationSchedule
		}
		if r.RunLease <= 0 {
			r.RunLease = DefaultRunLease
		}
		r.kick = make(chan struct{}, 1)
		r.wake = map[string]wakeAt{}
	})
}

// asleep reports whether job name (with schedule spec) cannot be due yet.
func (r *Runner) asleep(name, spec string, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	w, ok := r.wake[name]
	return ok && w.spec == spec && now.Before(w.at)
}

func (r *Runner) sleepUntil(name, spec string, at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wake[name] = wakeAt{spec, at}
}

// Run runs the scheduled jobs, the dispatcher and the rotation runs every
// Interval until ctx ends; the loops are independent, so that a long run of
// notices does not hold up deliveries, nor a slow target a notice. Errors
// are logged, never fatal.
func (r *Runner) Run(ctx context.Context) {
	r.init()
	var wg sync.WaitGroup
	wg.Go(func() {
		r.loop(ctx, nil, func(ctx context.Context) error { return r.RunScheduled(ctx) })
	})
	wg.Go(func() {
		r.loop(ctx, nil, func(ctx context.Context) error { _, err := r.Dispatch(ctx); return err })
	})
	wg.Go(func() {
		r.loop(ctx, r.kick, func(ctx context.Context) error { _, err := r.AdvanceRuns(ctx); return err })
	})
	wg.Wait()
}

// Kick makes the rotation-run loop look for due runs now rather than at
// its next tick (a run was started, retried or cancelled here).
func (r *Runner) Kick() {
	r.init()
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// AdvanceRuns moves every due rotation run this instance can claim.
func (r *Runner) AdvanceRuns(ctx context.Context) (int, error) {
	r.init()
	return r.Service.AdvanceRuns(ctx, r.Owner, r.RunLease)
}

func (r *Runner) loop(ctx context.Context, kick <-chan struct{}, fn func(context.Context) error) {
	t := time.NewTicker(r.Interval)
	defer t.Stop()
	for {
		if err := fn(ctx); err != nil && ctx.Err() == nil {
			r.Logger.ErrorContext(ctx, "background job", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-kick:
		}
	}
}

// Dispatch delivers due notifications until none is left (or ctx ends) and
// returns how many it handled.
func (r *Runner) Dispatch(ctx context.Context) (int, error) {
	r.init()
	total := 0
	for ctx.Err() == nil {
		n, err := r.Dispatcher.DispatchOnce(ctx)
		total += n
		if err != nil {
			return total, err
		}
		if n < r.Dispatcher.Batch {
			break
		}
	}
	return total, nil
}

// RunScheduled starts every scheduled run that is due now and not claimed
// by another instance: the expiry sweep, then each domain's notices.
func (r *Runner) RunScheduled(ctx context.Context) error {
	r.init()
	sweep, err := lifecycle.ParseSchedule(r.SweepSchedule)
	if err != nil {
		return fmt.Errorf("sweep schedule: %w", err)
	}
	var errs []error
	if err := r.runJob(ctx, SweepJob, r.SweepSchedule, sweep, func(ctx context.Context, _ time.Time) error {
		n, err := r.Service.SweepExpired(ctx)
		if n > 0 {
			r.Logger.InfoContext(ctx, "expiry sweep", "secrets_expired", n)
		}
		return err
	}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", SweepJob, err))
	}
	cleanup, err := lifecycle.ParseSchedule(CleanupSchedule)
	if err != nil {
		return fmt.Errorf("cleanup schedule: %w", err)
	}
	if err := r.runJob(ctx, CleanupJob, CleanupSchedule, cleanup, func(ctx context.Context, at time.Time) error {
		n, err := r.Store.DeleteExpired(ctx, at.Add(-CleanupGrace))
		if n > 0 {
			r.Logger.InfoContext(ctx, "cleanup", "rows_deleted", n)
		}
		return err
	}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", CleanupJob, err))
	}
	rotation, err := lifecycle.ParseSchedule(r.RotationSchedule)
	if err != nil {
		return fmt.Errorf("rotation schedule: %w", err)
	}
	if err := r.runJob(ctx, RotationJob, r.RotationSchedule, rotation, func(ctx context.Context, _ time.Time) error {
		n, err := r.Service.StartDueRotations(ctx)
		if n > 0 {
			r.Logger.InfoContext(ctx, "rotation runs started", "runs", n)
			r.Kick()
		}
		return err
	}); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", RotationJob, err))
	}
	domains, err := r.Store.ListDomains(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	for _, d := range domains {
		spec := d.Notifications.ExpirySchedule
		sched, err := lifecycle.ParseSchedule(spec)
		if err != nil {
			errs = append(errs, fmt.Errorf("domain %s: expiry schedule %q: %w", d.Name, spec, err))
			continue
		}
		name := NoticesJobPrefix + d.ID
		err = r.runJob(ctx, name, spec, sched, func(ctx context.Context, at time.Time) error {
			n, err := r.Service.SendExpiryNotices(ctx, d.ID, at)
			r.Logger.InfoContext(ctx, "expiry notices", "domain", d.Name, "run_at", at, "notices", n)
			return err
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("%s (domain %s): %w", name, d.Name, err))
		}
	}
	return errors.Join(errs...)
}

// runJob runs work for the latest due time of a schedule if the job is due
// and no other instance holds it, and records the outcome.
func (r *Runner) runJob(ctx context.Context, name, spec string, sched cron.Schedule, work func(ctx context.Context, at time.Time) error) error {
	now := store.Truncate(r.Now())
	if r.asleep(name, spec, now) {
		return nil
	}
	var fire, wake time.Time
	claimed := false
	err := r.Store.Tx(ctx, func(tx store.Tx) error {
		claimed = false
		j, err := tx.LockJob(ctx, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
			// First sight of this job: its first run is the next time due.
			wake = sched.Next(now)
			err := tx.CreateJob(ctx, store.Job{Name: name, Spec: spec, NextRunAt: wake})
			if errors.Is(err, store.ErrAlreadyExists) {
				wake = now // another instance created it: look again next tick
				return nil
			}
			return err
		case err != nil:
			return err
		case j.Spec != spec:
			// The schedule changed: the next run follows the new one.
			j.Spec, j.NextRunAt = spec, sched.Next(now)
			wake = j.NextRunAt
			return tx.UpdateJob(ctx, j)
		case now.Before(j.NextRunAt):
			wake = j.NextRunAt
			return nil
		case j.LockedUntil != nil && now.Before(*j.LockedUntil):
			wake = *j.LockedUntil // running, or backing off, elsewhere
			return nil
		}
		fire = latestFire(sched, j.NextRunAt, now)
		until := now.Add(r.Lease)
		j.LockedBy, j.LockedUntil = r.Owner, &until
		claimed = true
		return tx.UpdateJob(ctx, j)
	})
	if err != nil {
		return err
	}
	if !claimed {
		r.sleepUntil(name, spec, wake)
		return nil
	}

	workErr := work(ctx, fire)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	wake = time.Time{}
	err = r.Store.Tx(rctx, func(tx store.Tx) error {
		wake = time.Time{}
		j, err := tx.LockJob(rctx, name)
		if err != nil {
			return err
		}
		if j.LockedBy != r.Owner {
			return nil // the lease ended and another instance took over
		}
		now := store.Truncate(r.Now())
		if workErr != nil {
			// Keep the lease as the back-off: any instance may try again
			// once it ends, for the same due time.
			retry := now.Add(r.RetryDelay)
			j.LastError, j.LockedUntil, wake = watchword.Truncate(workErr.Error(), 512), &retry, retry
			return tx.UpdateJob(rctx, j)
		}
		if j.Spec == spec {
			j.NextRunAt = sched.Next(fire)
		}
		j.LastRunAt, j.LastError, j.LockedBy, j.LockedUntil, wake = &fire, "", "", nil, j.NextRunAt
		return tx.UpdateJob(rctx, j)
	})
	if err == nil && !wake.IsZero() {
		r.sleepUntil(name, spec, wake)
	}
	return errors.Join(workErr, err)
}

// latestFire returns the latest activation of sched at or before now,
// starting from next (an activation not after now): a run missed several
// times happens once, for the latest time it was due.
func latestFire(sched cron.Schedule, next, now time.Time) time.Time {
	fire := next
	for range 100_000 {
		n := sched.Next(fire)
		if n.After(now) || !n.After(fire) {
			break
		}
		fire = n
	}
	return fire
}
