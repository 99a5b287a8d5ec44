package watchword

import (
	"regexp"
	"time"
)

// DefaultDomainName is the domain created on first start.
const DefaultDomainName = "default"

// Domain is an isolated tenant or environment with its own clients and its
// own secret policy.
type Domain struct {
	ID          string       `json:"id"`
	Name        string       `json:"name"`
	Description string       `json:"description,omitempty"`
	Policy      SecretPolicy `json:"policy"`
	OAuth       DomainOAuth  `json:"oauth"`
	// Notifications holds the domain's owners and expiry-notice schedule.
	Notifications NotificationSettings `json:"notifications"`
	// Rotation is the automated rotation schedule clients inherit.
	Rotation  RotationSchedule `json:"rotation"`
	CreatedAt time.Time        `json:"created_at"`
	UpdatedAt time.Time        `json:"updated_at"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._-]{0,62}[a-z0-9])?$`)

// ValidateName checks a domain or client name: 1-64 lowercase letters,
// digits, '.', '_' or '-', starting and ending with a letter or digit, so that
// names are safe in URLs and on the command line.
func ValidateName(field, name string) *Error {
	if name == "" {
		return FieldError(EINVALID, field, "is required")
	}
	if !nameRE.MatchString(name) {
		return FieldError(EINVALID, field, "must be 1-64 characters of a-z, 0-9, '.', '_' or '-', starting and ending with a letter or digit")
	}
	return nil
}
