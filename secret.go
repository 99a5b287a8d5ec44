package watchword

import "time"

// SecretSource says how a secret came to be.
type SecretSource string

const (
	SourceGenerated SecretSource = "generated"
	SourceCustom    SecretSource = "custom"
	SourceRotation  SecretSource = "rotation"
)

// SecretStatus is derived from a secret's fields and the time; it is never stored.
type SecretStatus string

const (
	StatusActive   SecretStatus = "active"
	StatusRetiring SecretStatus = "retiring" // in a transition period, still valid
	StatusExpired  SecretStatus = "expired"
	StatusRevoked  SecretStatus = "revoked"
)

// Secret is one client secret. Only its keyed hash is kept; the plaintext
// exists only in the response that creates it.
type Secret struct {
	ID          string       `json:"id"`
	ClientID    string       `json:"client_id"`
	Description string       `json:"description"`
	Hint        string       `json:"hint"` // last 4 characters of the plaintext
	Hash        []byte       `json:"-"`
	KeyID       string       `json:"-"` // which server key made Hash
	Source      SecretSource `json:"source"`
	// Stage is the secret's label in an automated rotation, if any.
	Stage     SecretStage `json:"stage,omitempty"`
	CreatedAt time.Time   `json:"created_at"`
	CreatedBy string      `json:"created_by"`
	// ExpiresAt is the first instant at which the secret no longer
	// authenticates; nil means it does not expire.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// RetiringSince is set when a rotation or renewal put the secret into its
	// transition period; ExpiresAt then holds the end of that period.
	RetiringSince *time.Time `json:"retiring_since,omitempty"`
	RevokedAt     *time.Time `json:"revoked_at,omitempty"`
	RevokedBy     string     `json:"revoked_by,omitempty"`
	RevokedReason string     `json:"revoked_reason,omitempty"`
	DeletedAt     *time.Time `json:"deleted_at,omitempty"`
	LastUsedAt    *time.Time `json:"last_used_at,omitempty"`
	UseCount      int64      `json:"use_count"`
	// ExpiredNotifiedAt is when the expiry sweep recorded that the secret
	// had expired (audit and secret.expired); nil until then. It is only
	// bookkeeping: the secret stops authenticating at ExpiresAt regardless.
	ExpiredNotifiedAt *time.Time `json:"-"`

	// Status is filled in by readers for the time of the read.
	Status SecretStatus `json:"status"`
}

// StatusAt returns the secret's status at now. A secret is valid exactly
// while it is not revoked and now < ExpiresAt: at ExpiresAt it is expired.
func (s Secret) StatusAt(now time.Time) SecretStatus {
	switch {
	case s.RevokedAt != nil && !now.Before(*s.RevokedAt):
		return StatusRevoked
	case s.ExpiresAt != nil && !now.Before(*s.ExpiresAt):
		return StatusExpired
	case s.RetiringSince != nil:
		return StatusRetiring
	}
	return StatusActive
}

// ValidAt reports whether the secret authenticates at now.
func (s Secret) ValidAt(now time.Time) bool {
	st := s.StatusAt(now)
	return st == StatusActive || st == StatusRetiring
}

// WithStatus returns s with Status set for now.
func (s Secret) WithStatus(now time.Time) Secret {
	s.Status = s.StatusAt(now)
	return s
}

// Retire puts the secret into a transition period that ends at now+transition,
// keeping an earlier end if it already had one (rotating again during a
// transition never extends the older secret's life).
func (s Secret) Retire(now time.Time, transition time.Duration) Secret {
	end := now.Add(transition)
	if s.ExpiresAt == nil || end.Before(*s.ExpiresAt) {
		s.ExpiresAt = &end
	}
	if s.RetiringSince == nil {
		s.RetiringSince = &now
	}
	if s.Stage == StageCurrent {
		s.Stage = StagePrevious // replaced, by a run or by hand
	}
	return s
}

// Revoke marks the secret revoked at now.
func (s Secret) Revoke(now time.Time, by, reason string) Secret {
	s.RevokedAt, s.RevokedBy, s.RevokedReason = &now, by, reason
	return s
}

// NewSecret is the result of creating a secret: its metadata and the
// plaintext, which is shown this once and never stored.
type NewSecret struct {
	Secret
	Plaintext string `json:"secret"`
	// Redacted is set, and Plaintext empty, in the replay of the response
	// to a retried request: the value was in the first response only.
	Redacted bool `json:"secret_redacted,omitempty"`
}

// RotatedSecret describes a secret that a rotation put into transition.
type RotatedSecret struct {
	ID        string     `json:"id"`
	Hint      string     `json:"hint"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// Rotation is one entry of a client's rotation history.
type Rotation struct {
	ID          string    `json:"id"`
	ClientID    string    `json:"client_id"`
	At          time.Time `json:"at"`
	InitiatedBy string    `json:"initiated_by"`
	Kind        string    `json:"kind"` // "rotate", "renew" or "run"
	// RunID names the automated rotation run that promoted the secret.
	RunID         string          `json:"run_id,omitempty"`
	NewSecretID   string          `json:"new_secret_id"`
	NewSecretHint string          `json:"new_secret_hint"`
	Old           []RotatedSecret `json:"old_secrets"`
	Transition    Duration        `json:"transition"`
}
