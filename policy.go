package watchword

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration
// string ("24h", "90m") so that API payloads are readable.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// String is the Go duration form without zero minutes and seconds: "24h", "1h30m".
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return Errorf(EINVALID, "duration must be a string such as \"24h\"")
	}
	v, err := ParseDuration(s)
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// ParseDuration reads a Go duration ("90m", "24h") that may start with a
// whole number of days of 24 hours ("30d", "1d12h").
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	bad := Errorf(EINVALID, "%q is not a duration such as 90m, 24h or 30d", s)
	days, rest, found := strings.Cut(s, "d")
	if !found {
		d, err := time.ParseDuration(s)
		if err != nil {
			return 0, bad
		}
		return d, nil
	}
	n, err := strconv.Atoi(days)
	if err != nil || n < 0 || n > 100000 {
		return 0, bad
	}
	d := time.Duration(n) * 24 * time.Hour
	if rest != "" {
		r, err := time.ParseDuration(rest)
		if err != nil || r < 0 {
			return 0, bad
		}
		d += r
	}
	return d, nil
}

// ExpiryUnit is the unit of a secret expiry policy.
type ExpiryUnit string

const (
	ExpiryNone   ExpiryUnit = "none"
	ExpiryHours  ExpiryUnit = "hours"
	ExpiryDays   ExpiryUnit = "days"
	ExpiryMonths ExpiryUnit = "months"
)

// Expiry says how long a new secret lives: Duration units, or no expiry.
type Expiry struct {
	Unit     ExpiryUnit `json:"unit"`
	Duration int        `json:"duration,omitempty"`
}

// ExpiresAt returns when a secret created at t expires, or nil for no expiry.
// Months are calendar months (AddDate), as an operator reading "3 months" expects.
func (e Expiry) ExpiresAt(t time.Time) *time.Time {
	var at time.Time
	switch e.Unit {
	case ExpiryHours:
		at = t.Add(time.Duration(e.Duration) * time.Hour)
	case ExpiryDays:
		at = t.AddDate(0, 0, e.Duration)
	case ExpiryMonths:
		at = t.AddDate(0, e.Duration, 0)
	default:
		return nil
	}
	return &at
}

// Default policy values.
const (
	DefaultMaxSecrets       = 10
	DefaultTransition       = 24 * time.Hour
	DefaultMaxTransition    = 168 * time.Hour
	DefaultMinCustomLength  = 32
	maxExpiryHours          = 10 * 366 * 24
	maxTransitionUpperBound = 10 * 366 * 24 * time.Hour
	maxSecretsUpperBound    = 1000
	maxCustomLengthUpperBnd = 512
)

// SecretPolicy governs the secrets of a domain's clients; a client may
// override it as a whole ("use domain rules" off).
//
// Expiry is computed when a secret is created or renewed. Changing a policy
// does not change existing secrets; ApplyPolicy does that explicitly.
type SecretPolicy struct {
	Expiry            Expiry   `json:"expiry"`
	MaxSecrets        int      `json:"max_secrets"`
	DefaultTransition Duration `json:"default_transition"`
	MaxTransition     Duration `json:"max_transition"`
	AllowCustom       bool     `json:"allow_custom"`
	MinCustomLength   int      `json:"min_custom_length"`
}

// DefaultSecretPolicy is the policy of a new domain: no expiry, 10 secrets,
// 24 h default and 168 h maximum transition, custom values of 32+ characters.
func DefaultSecretPolicy() SecretPolicy {
	return SecretPolicy{
		Expiry:            Expiry{Unit: ExpiryNone},
		MaxSecrets:        DefaultMaxSecrets,
		DefaultTransition: Duration(DefaultTransition),
		MaxTransition:     Duration(DefaultMaxTransition),
		AllowCustom:       true,
		MinCustomLength:   DefaultMinCustomLength,
	}
}

// Validate reports every invalid field of the policy at once.
// serverMaxSecrets is the server-wide cap from configuration.
func (p SecretPolicy) Validate(serverMaxSecrets int) error {
	var errs Errors
	switch p.Expiry.Unit {
	case ExpiryNone:
		if p.Expiry.Duration != 0 {
			errs.Add("expiry.duration", "must be 0 or absent when unit is none")
		}
	case ExpiryHours, ExpiryDays, ExpiryMonths:
		hours := map[ExpiryUnit]int{ExpiryHours: 1, ExpiryDays: 24, ExpiryMonths: 31 * 24}[p.Expiry.Unit]
		if p.Expiry.Duration < 1 || p.Expiry.Duration*hours > maxExpiryHours {
			errs.Add("expiry.duration", "must be at least 1 and at most 10 years")
		}
	default:
		errs.Add("expiry.unit", "must be one of none, hours, days, months")
	}
	if p.MaxSecrets < 1 || p.MaxSecrets > serverMaxSecrets {
		errs.Add("max_secrets", "must be between 1 and the server cap %d", serverMaxSecrets)
	}
	if p.MaxTransition < 0 || time.Duration(p.MaxTransition) > maxTransitionUpperBound {
		errs.Add("max_transition", "must be between 0 and 10 years")
	}
	if p.DefaultTransition < 0 || p.DefaultTransition > p.MaxTransition {
		errs.Add("default_transition", "must be between 0 and max_transition (%s)", time.Duration(p.MaxTransition))
	}
	if p.MinCustomLength < 16 || p.MinCustomLength > maxCustomLengthUpperBnd {
		errs.Add("min_custom_length", "must be between 16 and %d", maxCustomLengthUpperBnd)
	}
	return errs.Err()
}

// Errors collects several field errors so that bad input is reported at once.
type Errors []*Error

// Add appends an EINVALID error for field.
func (es *Errors) Add(field, format string, args ...any) {
	*es = append(*es, FieldError(EINVALID, field, format, args...))
}

// Err returns nil, the single error, or a combined error whose Field is the
// first offending field and whose message lists them all.
func (es Errors) Err() error {
	switch len(es) {
	case 0:
		return nil
	case 1:
		return es[0]
	}
	msg := ""
	for i, e := range es {
		if i > 0 {
			msg += "; "
		}
		msg += e.Field + ": " + e.Message
	}
	return &Error{Code: EINVALID, Field: es[0].Field, Message: msg, Fields: es}
}
