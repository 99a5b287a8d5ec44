package watchword

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"
)

// Application error codes. Each maps to one HTTP status in one table
// (internal/httpapi); only EINTERNAL is logged with its details.
const (
	ECONFLICT     = "conflict"
	EINTERNAL     = "internal"
	EINVALID      = "invalid"
	ENOTFOUND     = "not_found"
	EUNAUTHORIZED = "unauthorized"
	EFORBIDDEN    = "forbidden"
	ETOOLARGE     = "too_large"
	// EUNPROCESSABLE: the request is well-formed but cannot be processed as
	// sent, such as an idempotency key reused for a different request.
	EUNPROCESSABLE = "unprocessable"
)

// Error is an application error that is safe to show to the caller.
// Field names the offending input field (JSON name), if any.
type Error struct {
	Code    string
	Message string
	Field   string
	// Fields lists every offending field when several were wrong at once.
	Fields []*Error
}

func (e *Error) Error() string {
	if e.Field != "" {
		return fmt.Sprintf("watchword error: code=%s field=%s message=%s", e.Code, e.Field, e.Message)
	}
	return fmt.Sprintf("watchword error: code=%s message=%s", e.Code, e.Message)
}

// Errorf returns an application error without a field.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// FieldError returns an EINVALID (or other code) error naming a field.
func FieldError(code, field, format string, args ...any) *Error {
	return &Error{Code: code, Field: field, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL otherwise.
func ErrorCode(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the message of an application error, a generic one otherwise.
func ErrorMessage(err error) string {
	var e *Error
	if err == nil {
		return ""
	} else if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}

// ErrorField returns the offending field of an application error, if any.
func ErrorField(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Truncate shortens a message stored in the database (an error, a reason)
// to at most n bytes plus "…", cut on a rune boundary and made valid UTF-8,
// which PostgreSQL requires of text.
func Truncate(s string, n int) string {
	s = strings.ToValidUTF8(s, "?")
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}
