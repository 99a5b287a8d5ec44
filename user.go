package watchword

import (
	"log/slog"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Password is a plaintext password on its way to being hashed. It prints
// and logs as "[redacted]" so that it cannot leak through a log line or an
// error message; only its JSON form (the management API's request body)
// carries the value.
type Password string

func (Password) String() string       { return "[redacted]" }
func (Password) GoString() string     { return "[redacted]" }
func (Password) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// Password length bounds, in characters and bytes: NIST SP 800-63B asks for
// at least 8 characters and accepting at least 64.
const (
	MinPasswordLength = 8
	MaxPasswordBytes  = 1024
)

// ValidatePassword checks a new password's length. Composition rules are
// deliberately absent (NIST SP 800-63B §5.1.1.2).
func ValidatePassword(field string, p Password) *Error {
	switch {
	case utf8.RuneCountInString(string(p)) < MinPasswordLength:
		return FieldError(EINVALID, field, "must be at least %d characters", MinPasswordLength)
	case len(p) > MaxPasswordBytes:
		return FieldError(EINVALID, field, "must be at most %d bytes", MaxPasswordBytes)
	case !utf8.ValidString(string(p)):
		return FieldError(EINVALID, field, "must be valid UTF-8")
	}
	return nil
}

var usernameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9._@+-]{0,126}[a-z0-9])?$`)

// NormalizeUsername is how a username is stored and looked up: lower case
// without surrounding space, so that "Alice " signs in as "alice".
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidateUsername checks a normalised username: 1-128 characters of a-z,
// 0-9, '.', '_', '@', '+' or '-', starting and ending with a letter or
// digit (an email address is a valid username).
func ValidateUsername(field, name string) *Error {
	if name == "" {
		return FieldError(EINVALID, field, "is required")
	}
	if !usernameRE.MatchString(name) {
		return FieldError(EINVALID, field, "must be 1-128 characters of a-z, 0-9, '.', '_', '@', '+' or '-', starting and ending with a letter or digit")
	}
	return nil
}

// Validate checks the user's own fields (not the password), reporting every
// problem at once.
func (u User) Validate() error {
	var errs Errors
	if err := ValidateUsername("username", u.Username); err != nil {
		errs = append(errs, err)
	}
	if u.Email != "" {
		if a, err := mail.ParseAddress(u.Email); err != nil || a.Address != u.Email || len(u.Email) > 254 {
			errs.Add("email", "must be a plain email address such as alice@example.org")
		}
	}
	if utf8.RuneCountInString(u.DisplayName) > 256 || strings.ContainsFunc(u.DisplayName, unicode.IsControl) {
		errs.Add("display_name", "must be at most 256 characters without control characters")
	}
	return errs.Err()
}

// UserUpdate holds the fields of a partial update of a user; nil means
// unchanged. Password, when set, replaces the password.
type UserUpdate struct {
	Email       *string   `json:"email,omitempty"`
	DisplayName *string   `json:"display_name,omitempty"`
	Disabled    *bool     `json:"disabled,omitempty"`
	Password    *Password `json:"password,omitempty"`
}

// Apply returns u with the update applied, except the password, which only
// the caller can hash.
func (up UserUpdate) Apply(u User) User {
	if up.Email != nil {
		u.Email = *up.Email
	}
	if up.DisplayName != nil {
		u.DisplayName = *up.DisplayName
	}
	if up.Disabled != nil {
		u.Disabled = *up.Disabled
	}
	return u
}
