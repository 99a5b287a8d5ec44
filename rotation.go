package watchword

import (
	"net/url"
	"time"
)

// SecretStage labels a secret's part in an automated rotation, as AWS
// Secrets Manager's staging labels do. Secrets made by hand have none.
type SecretStage string

const (
	// StagePending: created by a rotation run and not yet promoted. It
	// already authenticates, so that a consumer that picks it up early
	// never fails and the run's test step can use it for real.
	StagePending SecretStage = "pending"
	// StageCurrent: the secret a run promoted.
	StageCurrent SecretStage = "current"
	// StagePrevious: a secret a run's promote step put into its transition
	// period; the run revokes it when the period ends.
	StagePrevious SecretStage = "previous"
)

// Rotation schedule defaults.
const (
	// MinRotationInterval is the shortest interval a schedule may have.
	MinRotationInterval = time.Hour
	// DefaultStillInUseWindow: a previous secret used this recently when
	// its run checks is still in use.
	DefaultStillInUseWindow = 15 * time.Minute
)

// RotationSchedule says when a client's secrets rotate on their own and how
// each run goes. A domain has one that its clients inherit; a client may
// override it (an empty schedule turns automated rotation off).
type RotationSchedule struct {
	// Every is the interval between runs, counted from the start of the
	// client's latest run. At most one of Every and Cron is set; with
	// neither, nothing rotates on its own ("rotate now" still works).
	Every Duration `json:"every,omitempty"`
	// Cron is a cron expression (5 fields, UTC, or @daily and the like).
	Cron string `json:"cron,omitempty"`
	// Transition is how long the previous secret keeps working after the
	// new one is promoted; nil means the secret policy's default.
	Transition *Duration `json:"transition,omitempty"`
	// StillInUseWindow: if the previous secret was used within this long
	// before the end of its transition (checked that long before the end,
	// and at the end), secret.still_in_use is sent. 0 means
	// DefaultStillInUseWindow.
	StillInUseWindow Duration `json:"still_in_use_window,omitempty"`
	// FinishWhenUnusedFor, if set, ends the transition early once the
	// previous secret has not been used for this long after delivery.
	FinishWhenUnusedFor Duration `json:"finish_when_unused_for,omitempty"`
	// CheckURL, if set, is fetched (GET) in the test step after the token
	// request; any 2xx answer passes.
	CheckURL string `json:"check_url,omitempty"`
}

// Scheduled reports whether the schedule rotates on its own.
func (s RotationSchedule) Scheduled() bool { return s.Every > 0 || s.Cron != "" }

// InUseWindow is StillInUseWindow with its default.
func (s RotationSchedule) InUseWindow() time.Duration {
	if s.StillInUseWindow <= 0 {
		return DefaultStillInUseWindow
	}
	return time.Duration(s.StillInUseWindow)
}

// Validate checks the fields that need no cron parser, reporting every
// problem at once; minInterval is the server's minimum (normally
// MinRotationInterval).
func (s RotationSchedule) Validate(minInterval time.Duration) Errors {
	var errs Errors
	if s.Every != 0 && s.Cron != "" {
		errs.Add("every", "set either every or cron, not both")
	}
	if s.Every < 0 || (s.Every > 0 && time.Duration(s.Every) < minInterval) {
		errs.Add("every", "must be at least %s", Duration(minInterval))
	}
	if len(s.Cron) > 128 {
		errs.Add("cron", "must be at most 128 characters")
	}
	if s.Transition != nil && *s.Transition < 0 {
		errs.Add("transition", "must not be negative")
	}
	if s.StillInUseWindow < 0 {
		errs.Add("still_in_use_window", "must not be negative")
	}
	if s.FinishWhenUnusedFor < 0 {
		errs.Add("finish_when_unused_for", "must not be negative")
	}
	if s.CheckURL != "" {
		u, err := url.Parse(s.CheckURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Fragment != "" || len(s.CheckURL) > 2048 {
			errs.Add("check_url", "must be an absolute http(s) URL without fragment, at most 2048 characters")
		}
	}
	return errs
}

// EffectiveRotation is the rotation schedule that applies to the client.
func (c Client) EffectiveRotation(d Domain) RotationSchedule {
	if c.Rotation != nil {
		return *c.Rotation
	}
	return d.Rotation
}

// RunStatus is the state of a rotation run.
type RunStatus string

const (
	RunRunning   RunStatus = "running"
	RunCompleted RunStatus = "completed"
	// RunFailed: a step kept failing; the run was rolled back.
	RunFailed RunStatus = "failed"
	// RunCancelled: stopped through the API; rolled back if it had not
	// promoted yet.
	RunCancelled RunStatus = "cancelled"
)

// RunStep is a step of a rotation run, in order.
type RunStep string

const (
	StepCreate  RunStep = "create"
	StepDeliver RunStep = "deliver"
	StepTest    RunStep = "test"
	StepPromote RunStep = "promote"
	StepFinish  RunStep = "finish"
)

// Run triggers.
const (
	TriggerSchedule = "schedule"
	TriggerManual   = "manual"
)

// RotationRun is one automated, staged rotation of a client's secret.
type RotationRun struct {
	ID       string `json:"id"`
	DomainID string `json:"domain_id"`
	ClientID string `json:"client_id"`
	// Trigger is "schedule" or "manual"; InitiatedBy the actor ("system"
	// for the schedule).
	Trigger     string    `json:"trigger"`
	InitiatedBy string    `json:"initiated_by"`
	Status      RunStatus `json:"status"`
	// Step is the step to run next while running, the step it ended in
	// otherwise.
	Step RunStep `json:"step"`
	// Attempts counts failed attempts of Step.
	Attempts      int       `json:"attempts"`
	NextAttemptAt time.Time `json:"next_attempt_at"`
	LastError     string    `json:"last_error,omitempty"`
	// Reason is why a run failed or was cancelled.
	Reason string `json:"reason,omitempty"`
	// CancelRequested: a cancel was asked for; the instance that holds the
	// run rolls it back at its next step, so that no step in flight
	// elsewhere races the rollback.
	CancelRequested bool `json:"cancel_requested,omitempty"`
	// Schedule is the schedule in force when the run started.
	Schedule          RotationSchedule `json:"schedule"`
	PendingSecretID   string           `json:"pending_secret_id,omitempty"`
	PreviousSecretIDs []string         `json:"previous_secret_ids"`
	DeliveredAt       *time.Time       `json:"delivered_at,omitempty"`
	PromotedAt        *time.Time       `json:"promoted_at,omitempty"`
	// TransitionEnd is when the previous secrets stop working (set at
	// promote); InUseNotices counts the still-in-use checks done.
	TransitionEnd *time.Time `json:"transition_end,omitempty"`
	InUseChecks   int        `json:"-"`
	// Steps is the run's history, oldest first.
	Steps []RunStepRecord `json:"steps"`
	// Sealed holds what the run must keep between steps and must not store
	// in the clear (the pending secret's value, the targets' earlier
	// contents), encrypted under the server key; erased when the run
	// promotes or rolls back.
	Sealed     []byte     `json:"-"`
	SealKeyID  string     `json:"-"`
	CreatedAt  time.Time  `json:"created_at"`
	UpdatedAt  time.Time  `json:"updated_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	// LockedBy and LockedUntil are the lease of the instance working on the
	// run (host-pid-random), shown so that an operator knows which one.
	LockedBy    string     `json:"locked_by,omitempty"`
	LockedUntil *time.Time `json:"locked_until,omitempty"`
}

// RunStepRecord is one attempt of one step.
type RunStepRecord struct {
	Step    RunStep   `json:"step"`
	At      time.Time `json:"at"`
	Outcome string    `json:"outcome"` // one of the StepOutcome constants
	Detail  string    `json:"detail,omitempty"`
}

// Step outcomes.
const (
	StepOutcomeOK         = "ok"
	StepOutcomeError      = "error"
	StepOutcomeRolledBack = "rolled_back"
	StepOutcomeCancelled  = "cancelled"
)

// DeliveryTarget is where a client's new secrets are delivered by its
// rotation runs. The target's configuration (internal/delivery.Config),
// which may hold credentials, is stored only encrypted under the server key.
type DeliveryTarget struct {
	ID       string `json:"id"`
	ClientID string `json:"client_id"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Sealed   []byte `json:"-"`
	KeyID    string `json:"-"`
	// Disabled targets are skipped.
	Disabled  bool      `json:"disabled"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}
