package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/watchword/watchword"
)

// codes maps application error codes to HTTP statuses: the one table.
var codes = map[string]int{
	watchword.EINVALID:       http.StatusBadRequest,
	watchword.ENOTFOUND:      http.StatusNotFound,
	watchword.ECONFLICT:      http.StatusConflict,
	watchword.EUNAUTHORIZED:  http.StatusUnauthorized,
	watchword.EFORBIDDEN:     http.StatusForbidden,
	watchword.ETOOLARGE:      http.StatusRequestEntityTooLarge,
	watchword.EUNPROCESSABLE: http.StatusUnprocessableEntity,
	watchword.EINTERNAL:      http.StatusInternalServerError,
}

// Problem is an RFC 9457 problem document with Watchword's extensions: a
// stable error code, the offending field and, when several fields were
// wrong, each of them.
type Problem struct {
	Type      string         `json:"type"`
	Title     string         `json:"title"`
	Status    int            `json:"status"`
	Detail    string         `json:"detail"`
	Instance  string         `json:"instance,omitempty"`
	Code      string         `json:"code"`
	Field     string         `json:"field,omitempty"`
	Errors    []FieldProblem `json:"errors,omitempty"`
	RequestID string         `json:"request_id,omitempty"`
}

// FieldProblem names one offending field.
type FieldProblem struct {
	Field  string `json:"field"`
	Detail string `json:"detail"`
}

// Error writes err as problem JSON. Internal errors are logged with their
// details and shown to the caller only as a generic message.
func (s *Server) Error(w http.ResponseWriter, r *http.Request, err error) {
	code := watchword.ErrorCode(err)
	status, ok := codes[code]
	if !ok {
		status = http.StatusInternalServerError
	}
	if code == watchword.EINTERNAL {
		s.Logger.ErrorContext(r.Context(), "internal error", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	p := Problem{
		Type:      "urn:watchword:problem:" + code,
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    watchword.ErrorMessage(err),
		Instance:  r.URL.Path,
		Code:      code,
		Field:     watchword.ErrorField(err),
		RequestID: watchword.RequestIDFromContext(r.Context()),
	}
	var e *watchword.Error
	if errors.As(err, &e) {
		for _, f := range e.Fields {
			p.Errors = append(p.Errors, FieldProblem{Field: f.Field, Detail: f.Message})
		}
	}
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(p)
}

const maxBody = 1 << 20

// decode reads a JSON body strictly: unknown fields, wrong types, trailing
// data and oversized bodies are reported as problems naming the field.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if dec.More() {
			return watchword.Errorf(watchword.EINVALID, "The body must hold exactly one JSON object.")
		}
		return nil
	}
	var (
		typeErr  *json.UnmarshalTypeError
		maxErr   *http.MaxBytesError
		syntaxEr *json.SyntaxError
		appErr   *watchword.Error
	)
	switch {
	case errors.Is(err, io.EOF):
		return nil // an empty body is an empty object; required fields are checked after
	case errors.As(err, &maxErr):
		return watchword.Errorf(watchword.ETOOLARGE, "The body is larger than %d bytes.", maxBody)
	case errors.As(err, &typeErr):
		return watchword.FieldError(watchword.EINVALID, typeErr.Field, "Must be of JSON type %s.", jsonType(typeErr.Type.Kind().String()))
	case errors.As(err, &syntaxEr), errors.Is(err, io.ErrUnexpectedEOF):
		return watchword.Errorf(watchword.EINVALID, "The body is not valid JSON.")
	case errors.As(err, &appErr):
		return appErr // from a field's own UnmarshalJSON, such as a duration
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return watchword.FieldError(watchword.EINVALID, field, "Unknown field.")
	}
	return watchword.Errorf(watchword.EINVALID, "The body could not be read as JSON.")
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "slice", "array":
		return "array"
	case "map", "struct", "ptr":
		return "object"
	}
	return "number"
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}
