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
)

// Columns of the rotation tables, in the order the scan functions read
// them. runDataCols are those UpdateRotationRun writes: every column but
// the run's identity and creation.
var (
	runDataCols = []string{
		"trigger", "initiated_by", "status", "step", "attempts", "next_attempt_at", "last_error", "reason",
		"cancel_requested", "schedule", "pending_secret_id", "previous_secret_ids", "delivered_at", "promoted_at", "transition_end",
		"in_use_checks", "steps", "sealed", "seal_key_id", "updated_at", "finished_at", "locked_by", "locked_until",
	}
	runCols    = "id, domain_id, client_id, created_at, " + strings.Join(runDataCols, ", ")
	targetCols = "id, client_id, name, type, sealed, key_id, disabled, created_at, updated_at"
)

// sealedArg stores sealed bytes: nil and empty are both NULL (or, in a NOT
// NULL column, empty), and both read back as nil (see sealedFrom), so that
// what drivers make of an empty BLOB never shows.
func sealedArg(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

func sealedFrom(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// ---- rotation runs

// dbRunStep is how a step record is kept in the run's JSON: its time in
// unix microseconds, like every other time the store keeps.
type dbRunStep struct {
	Step    watchword.RunStep `json:"step"`
	At      int64             `json:"at"`
	Outcome string            `json:"outcome"`
	Detail  string            `json:"detail,omitempty"`
}

func runStepsJSON(steps []watchword.RunStepRecord) (string, error) {
	rows := make([]dbRunStep, len(steps)) // never nil: "[]"
	for i, s := range steps {
		rows[i] = dbRunStep{Step: s.Step, At: micros(s.At), Outcome: s.Outcome, Detail: s.Detail}
	}
	return toJSON(rows)
}

func runStepsFromJSON(s string) ([]watchword.RunStepRecord, error) {
	var rows []dbRunStep
	if err := fromJSON(s, &rows); err != nil {
		return nil, err
	}
	out := make([]watchword.RunStepRecord, len(rows))
	for i, r := range rows {
		out[i] = watchword.RunStepRecord{Step: r.Step, At: fromMicros(r.At), Outcome: r.Outcome, Detail: r.Detail}
	}
	return out, nil
}

// scanRun reads runCols. PreviousSecretIDs and Steps are never nil; Sealed
// is nil when empty.
func scanRun(sc scanner) (watchword.RotationRun, error) {
	var r watchword.RotationRun
	var created, next, updated int64
	var schedule, previous, steps string
	var delivered, promoted, transitionEnd, finished, lockedUntil sql.NullInt64
	err := sc.Scan(&r.ID, &r.DomainID, &r.ClientID, &created,
		&r.Trigger, &r.InitiatedBy, &r.Status, &r.Step, &r.Attempts, &next, &r.LastError, &r.Reason,
		&r.CancelRequested, &schedule, &r.PendingSecretID, &previous, &delivered, &promoted, &transitionEnd,
		&r.InUseChecks, &steps, &r.Sealed, &r.SealKeyID, &updated, &finished, &r.LockedBy, &lockedUntil)
	if err != nil {
		return r, err
	}
	r.CreatedAt, r.NextAttemptAt, r.UpdatedAt = fromMicros(created), fromMicros(next), fromMicros(updated)
	r.DeliveredAt, r.PromotedAt, r.TransitionEnd = fromNullMicros(delivered), fromNullMicros(promoted), fromNullMicros(transitionEnd)
	r.FinishedAt, r.LockedUntil = fromNullMicros(finished), fromNullMicros(lockedUntil)
	r.Sealed = sealedFrom(r.Sealed)
	if err := fromJSON(schedule, &r.Schedule); err != nil {
		return r, fmt.Errorf("rotation run %s schedule: %w", r.ID, err)
	}
	if err := fromJSON(previous, &r.PreviousSecretIDs); err != nil {
		return r, fmt.Errorf("rotation run %s previous secrets: %w", r.ID, err)
	}
	if r.PreviousSecretIDs == nil {
		r.PreviousSecretIDs = []string{}
	}
	if r.Steps, err = runStepsFromJSON(steps); err != nil {
		return r, fmt.Errorf("rotation run %s steps: %w", r.ID, err)
	}
	return r, nil
}

// runData are the values of runDataCols.
func runData(r watchword.RotationRun) ([]any, error) {
	schedule, err := toJSON(r.Schedule)
	if err != nil {
		return nil, err
	}
	previous := r.PreviousSecretIDs
	if previous == nil {
		previous = []string{}
	}
	previousJSON, err := toJSON(previous)
	if err != nil {
		return nil, err
	}
	steps, err := runStepsJSON(r.Steps)
	if err != nil {
		return nil, err
	}
	return []any{
		r.Trigger, r.InitiatedBy, string(r.Status), string(r.Step), r.Attempts, micros(r.NextAttemptAt), r.LastError, r.Reason,
		r.CancelRequested, schedule, r.PendingSecretID, previousJSON, nullMicros(r.DeliveredAt), nullMicros(r.PromotedAt), nullMicros(r.TransitionEnd),
		r.InUseChecks, steps, sealedArg(r.Sealed), r.SealKeyID, micros(r.UpdatedAt), nullMicros(r.FinishedAt), r.LockedBy,
		nullMicros(r.LockedUntil),
	}, nil
}

func (r *reader) GetRotationRun(ctx context.Context, id string) (watchword.RotationRun, error) {
	run, err := scanRun(r.queryRow(ctx, "SELECT "+runCols+" FROM rotation_runs WHERE id = ?", id))
	if err != nil {
		return run, r.fail("get rotation run", err)
	}
	return run, nil
}

func (r *reader) ListRotationRuns(ctx context.Context, clientID string, offset, limit int) ([]watchword.RotationRun, int, error) {
	return page(ctx, r, "list rotation runs", scanRun, "rotation_runs", runCols, " WHERE client_id = ?",
		"created_at DESC, seq DESC", []any{clientID}, offset, limit)
}

func (r *reader) LatestRotationRun(ctx context.Context, clientID string) (watchword.RotationRun, error) {
	run, err := scanRun(r.queryRow(ctx,
		"SELECT "+runCols+" FROM rotation_runs WHERE client_id = ? ORDER BY created_at DESC, seq DESC LIMIT 1", clientID))
	if err != nil {
		return run, r.fail("latest rotation run", err)
	}
	return run, nil
}

// CreateRotationRun: the partial unique index rotation_runs_one_running
// turns a second running run of a client into ErrAlreadyExists.
func (t *txn) CreateRotationRun(ctx context.Context, r watchword.RotationRun) error {
	data, err := runData(r)
	if err != nil {
		return fmt.Errorf("create rotation run: %w", err)
	}
	return t.execOne(ctx, "create rotation run", true,
		"INSERT INTO rotation_runs ("+runCols+") VALUES ("+marks(4+len(runDataCols))+")",
		append([]any{r.ID, r.DomainID, r.ClientID, micros(r.CreatedAt)}, data...)...)
}

// LockRotationRun locks the row like LockClient does.
func (t *txn) LockRotationRun(ctx context.Context, id string) (watchword.RotationRun, error) {
	run, err := scanRun(t.queryRow(ctx, "SELECT "+runCols+" FROM rotation_runs WHERE id = ?"+t.d.LockClientSuffix, id))
	if err != nil {
		return run, t.fail("lock rotation run", err)
	}
	return run, nil
}

// UpdateRotationRun writes every field but ID, DomainID, ClientID and
// CreatedAt, lease included; ErrAlreadyExists if it would make a second
// running run of the client.
func (t *txn) UpdateRotationRun(ctx context.Context, r watchword.RotationRun) error {
	data, err := runData(r)
	if err != nil {
		return fmt.Errorf("update rotation run: %w", err)
	}
	return t.execOne(ctx, "update rotation run", true,
		"UPDATE rotation_runs SET "+strings.Join(runDataCols, " = ?, ")+" = ? WHERE id = ?",
		append(data, r.ID)...)
}

// ClaimRotationRuns sets only the lease (locked_by, locked_until): unlike
// ClaimNotifications it counts no attempt, as Attempts counts the failures
// of a step, and it leaves UpdatedAt alone. A run whose lease is still
// running is not claimed, even by its holder.
func (t *txn) ClaimRotationRuns(ctx context.Context, owner string, until time.Time, limit int) ([]watchword.RotationRun, error) {
	if owner == "" || limit <= 0 {
		return nil, errors.New("claim rotation runs: owner and a positive limit are required")
	}
	now := micros(t.now)
	runs, err := list(ctx, &t.reader, "claim rotation runs", scanRun,
		`UPDATE rotation_runs SET locked_by = ?, locked_until = ?
		WHERE id IN (
			SELECT id FROM rotation_runs
			WHERE status = 'running' AND next_attempt_at <= ? AND (locked_until IS NULL OR locked_until <= ?)
			ORDER BY next_attempt_at, id LIMIT ?`+t.d.SkipLockedSuffix+`
		) RETURNING `+runCols,
		owner, micros(until), now, now, limit)
	if err != nil {
		return nil, err
	}
	// RETURNING follows no ORDER BY.
	slices.SortFunc(runs, func(a, b watchword.RotationRun) int {
		if c := a.NextAttemptAt.Compare(b.NextAttemptAt); c != 0 {
			return c
		}
		return strings.Compare(a.ID, b.ID)
	})
	return runs, nil
}

// ---- delivery targets

// scanTarget reads targetCols; Sealed is nil when empty.
func scanTarget(sc scanner) (watchword.DeliveryTarget, error) {
	var d watchword.DeliveryTarget
	var created, updated int64
	err := sc.Scan(&d.ID, &d.ClientID, &d.Name, &d.Type, &d.Sealed, &d.KeyID, &d.Disabled, &created, &updated)
	if err != nil {
		return d, err
	}
	d.CreatedAt, d.UpdatedAt = fromMicros(created), fromMicros(updated)
	d.Sealed = sealedFrom(d.Sealed)
	return d, nil
}

// targetSealed is the value of the NOT NULL sealed column: empty for none.
func targetSealed(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (r *reader) ListDeliveryTargets(ctx context.Context, clientID string) ([]watchword.DeliveryTarget, error) {
	return list(ctx, r, "list delivery targets", scanTarget,
		"SELECT "+targetCols+" FROM delivery_targets WHERE client_id = ? ORDER BY name, id", clientID)
}

func (r *reader) GetDeliveryTarget(ctx context.Context, clientID, id string) (watchword.DeliveryTarget, error) {
	d, err := scanTarget(r.queryRow(ctx,
		"SELECT "+targetCols+" FROM delivery_targets WHERE client_id = ? AND id = ?", clientID, id))
	if err != nil {
		return d, r.fail("get delivery target", err)
	}
	return d, nil
}

func (t *txn) CreateDeliveryTarget(ctx context.Context, d watchword.DeliveryTarget) error {
	return t.execOne(ctx, "create delivery target", true,
		"INSERT INTO delivery_targets ("+targetCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		d.ID, d.ClientID, d.Name, d.Type, targetSealed(d.Sealed), d.KeyID, d.Disabled, micros(d.CreatedAt), micros(d.UpdatedAt))
}

// UpdateDeliveryTarget replaces a target's fields except its client and
// creation.
func (t *txn) UpdateDeliveryTarget(ctx context.Context, d watchword.DeliveryTarget) error {
	return t.execOne(ctx, "update delivery target", true,
		`UPDATE delivery_targets SET name = ?, type = ?, sealed = ?, key_id = ?, disabled = ?, updated_at = ?
		WHERE client_id = ? AND id = ?`,
		d.Name, d.Type, targetSealed(d.Sealed), d.KeyID, d.Disabled, micros(d.UpdatedAt), d.ClientID, d.ID)
}

func (t *txn) DeleteDeliveryTarget(ctx context.Context, clientID, id string) error {
	return t.execOne(ctx, "delete delivery target", false,
		"DELETE FROM delivery_targets WHERE client_id = ? AND id = ?", clientID, id)
}
