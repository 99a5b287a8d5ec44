package sqlstore

import (
	"database/sql"
	"encoding/json"
	"time"

	"github.com/watchword/watchword/internal/store"
)

// scanner is *sql.Row or *sql.Rows.
type scanner interface{ Scan(dest ...any) error }

// micros is how a time is stored: unix microseconds, after store.Truncate.
func micros(t time.Time) int64 { return store.Truncate(t).UnixMicro() }

// nullMicros stores an optional time; nil is NULL.
func nullMicros(t *time.Time) any {
	if t == nil {
		return nil
	}
	return micros(*t)
}

func fromMicros(v int64) time.Time { return time.UnixMicro(v).UTC() }

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := fromMicros(v.Int64)
	return &t
}

// toJSON encodes a list, map or policy. A nil slice or map becomes "null",
// so that nil and empty round-trip distinctly.
func toJSON(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// nullJSON encodes an optional pointer value; nil is NULL.
func nullJSON[T any](v *T) (any, error) {
	if v == nil {
		return nil, nil
	}
	return toJSON(v)
}

func fromJSON(s string, v any) error { return json.Unmarshal([]byte(s), v) }
