package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header). A
// state-changing request (POST, PUT, PATCH, DELETE) may carry an
// Idempotency-Key; a retry with the same key, token, method, path and body
// then gets the recorded response, marked Idempotent-Replayed, and changes
// nothing. How the record is kept atomic with the change is explained in
// internal/lifecycle/idempotency.go; this file is the HTTP side: reading
// the header, replaying, and recording the response with its plaintext
// secrets removed.
const (
	HeaderIdempotencyKey = "Idempotency-Key"
	HeaderReplayed       = "Idempotent-Replayed"
	// MaxIdempotencyKey is the longest key accepted, in bytes.
	MaxIdempotencyKey = 255
)

// replayWait is how long a retry that finds its key's record without a
// response waits for the response to be recorded before answering 409. In
// normal operation that gap is the few milliseconds between the commit and
// the recording; a longer one means the first request's server stopped.
const replayWait = time.Second

// changesState reports whether requests of method change state, and so
// honour an idempotency key.
func changesState(method string) bool {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
		return true
	}
	return false
}

// idempotencyKey returns the request's idempotency key, "" if it sent none.
// A key is 1 to 255 printable ASCII characters; the draft's form, a quoted
// Structured Fields string ("\"abc\""), is accepted and unquoted, so that
// "abc" and "\"abc\"" are the same key.
func idempotencyKey(h http.Header) (string, error) {
	vs := h.Values(HeaderIdempotencyKey)
	if len(vs) == 0 {
		return "", nil
	}
	key, ok := "", len(vs) == 1
	if ok {
		key, ok = unquoteKey(strings.TrimSpace(vs[0]))
	}
	if !ok || len(key) == 0 || len(key) > MaxIdempotencyKey || strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
		return "", watchword.FieldError(watchword.EINVALID, HeaderIdempotencyKey,
			"Send one key of 1 to %d printable ASCII characters, such as a random UUID, per request.", MaxIdempotencyKey)
	}
	return key, nil
}

// unquoteKey returns v without the quotes of a Structured Fields string
// (RFC 9651 §3.3.3), or v itself if it is not quoted.
func unquoteKey(v string) (string, bool) {
	if !strings.HasPrefix(v, `"`) {
		return v, true
	}
	if len(v) < 2 || !strings.HasSuffix(v, `"`) {
		return "", false
	}
	var b strings.Builder
	for i := 1; i < len(v)-1; i++ {
		c := v[i]
		switch c {
		case '"':
			return "", false
		case '\\':
			i++
			if i == len(v)-1 || (v[i] != '"' && v[i] != '\\') {
				return "", false
			}
			c = v[i]
		}
		b.WriteByte(c)
	}
	return b.String(), true
}

// serveIdempotent serves a state-changing request that carries an
// idempotency key: it replays the key's record if there is one; otherwise
// it runs the handler with the key in the request context, records the
// response (redacted) if the handler changed something, and only then
// sends it, so that a caller that got a response can count on a retry
// getting it too.
func (s *Server) serveIdempotent(rt Route, key string, w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		if maxErr := (*http.MaxBytesError)(nil); errors.As(err, &maxErr) {
			s.Error(w, r, watchword.Errorf(watchword.ETOOLARGE, "The body is larger than %d bytes.", maxBody))
		} else {
			s.Error(w, r, watchword.Errorf(watchword.EINVALID, "The body could not be read."))
		}
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	ctx, req := s.Service.BeginIdempotent(r.Context(), key, r.Method, r.URL.EscapedPath(), body)
	r = r.WithContext(ctx)
	if s.replay(w, r, req) {
		return
	}

	buf := &responseBuffer{header: http.Header{}}
	err = rt.handler(s, buf, r)
	if errors.Is(err, lifecycle.ErrIdempotencyKeyTaken) {
		// An identical request committed first; this one rolled back.
		if !s.replay(w, r, req) {
			s.Error(w, r, watchword.FieldError(watchword.ECONFLICT, HeaderIdempotencyKey,
				"A request with this idempotency key is being processed; retry it later."))
		}
		return
	}
	if err != nil {
		s.Error(buf, r, err)
	}
	if req.Recorded() {
		ct := buf.header.Get("Content-Type")
		stored, err := redact(ct, buf.body.Bytes())
		if err != nil {
			// Recorded without a body rather than with one that may hold a secret.
			s.Logger.ErrorContext(ctx, "redact idempotent response", "method", r.Method, "path", r.URL.Path, "err", err)
			stored, ct = nil, ""
		}
		if err := s.Service.RecordResponse(ctx, req, buf.status(), ct, stored); err != nil {
			// The change is committed; only a retry's replay is lost.
			s.Logger.ErrorContext(ctx, "record idempotent response", "method", r.Method, "path", r.URL.Path, "err", err)
		}
	}
	buf.sendTo(w)
}

// replay answers r from the record of its idempotency key, if there is one,
// and reports whether it did: with the recorded response; with 422 if the
// key was used for a different request; with 409 if the response is not
// recorded within replayWait.
func (s *Server) replay(w http.ResponseWriter, r *http.Request, req *lifecycle.IdempotentRequest) bool {
	deadline := time.NewTimer(replayWait)
	defer deadline.Stop()
	for {
		rec, same, err := s.Service.FindIdempotent(r.Context(), req)
		switch {
		case err != nil:
			s.Error(w, r, err)
			return true
		case rec == nil:
			return false
		case !same:
			was := rec.Method + " " + rec.Path
			if rec.Method == r.Method && rec.Path == r.URL.EscapedPath() {
				was += " with another body"
			}
			s.Error(w, r, watchword.FieldError(watchword.EUNPROCESSABLE, HeaderIdempotencyKey,
				"Idempotency key reused with a different request: within the last %s it was used for %s. Send a new key with a new request.",
				durationText(watchword.IdempotencyLifetime), was))
			return true
		case rec.CompletedAt != nil:
			h := w.Header()
			if rec.ContentType != "" {
				h.Set("Content-Type", rec.ContentType)
			}
			h.Set("Cache-Control", "no-store")
			h.Set(HeaderReplayed, "true")
			w.WriteHeader(rec.Status)
			_, _ = w.Write(rec.Response)
			return true
		}
		select {
		case <-time.After(25 * time.Millisecond):
			continue
		case <-deadline.C:
		case <-r.Context().Done():
		}
		what := ""
		if rec.Resource != "" {
			what = " (" + rec.Resource + ")"
		}
		s.Error(w, r, watchword.FieldError(watchword.ECONFLICT, HeaderIdempotencyKey,
			"A request with this idempotency key was already processed%s, but its response is not recorded: it is still being sent, or the server stopped before recording it. It is not run again; retry later for the response, or look the change up in the audit log.",
			what))
		return true
	}
}

// durationText writes whole hours as "24 hours".
func durationText(d time.Duration) string {
	if d%time.Hour == 0 {
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return d.String()
}

// responseBuffer holds a handler's response until it is recorded.
type responseBuffer struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *responseBuffer) status() int {
	if b.code == 0 {
		return http.StatusOK
	}
	return b.code
}

func (b *responseBuffer) sendTo(w http.ResponseWriter) {
	maps.Copy(w.Header(), b.header)
	w.WriteHeader(b.status())
	_, _ = w.Write(b.body.Bytes())
}

// plaintextMembers are the response members that carry a value shown only
// once: a client secret (NewSecret "secret", also inside ClientCreated and
// RotateResult), an admin token (NewAdminToken "token") and a webhook
// signing secret (ChannelCreated and TargetCreated "signing_secret"; a
// target's config.webhook.signing_secret, always empty in responses, is
// dropped too). Only string values are taken: RotateResult's "secret"
// object is searched, not dropped.
var plaintextMembers = map[string]bool{"secret": true, "token": true, "signing_secret": true}

// redact returns the body to record for a response: JSON with every string
// member named in plaintextMembers, at any depth, replaced by
// "<name>_redacted": true, members kept in order and indented as writeJSON
// does. A body that is not JSON is refused: what cannot be inspected cannot
// be shown to be free of secrets.
func redact(contentType string, body []byte) ([]byte, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	mt, _, _ := mime.ParseMediaType(contentType)
	if mt != "application/json" && mt != "application/problem+json" {
		return nil, fmt.Errorf("redact: response of type %q is not JSON", contentType)
	}
	if !json.Valid(body) {
		return nil, errors.New("redact: response is not valid JSON")
	}
	out, err := redactValue(body)
	if err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, out, "", "  "); err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	buf.WriteByte('\n')
	return buf.Bytes(), nil
}

// redactValue redacts one JSON value; scalars are returned as they are.
func redactValue(v []byte) ([]byte, error) {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return nil, errors.New("empty JSON value")
	}
	switch v[0] {
	case '{':
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil {
			return nil, err
		}
		var out bytes.Buffer
		out.WriteByte('{')
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			name, _ := tok.(string)
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return nil, err
			}
			member := bytes.TrimSpace(raw)
			if plaintextMembers[name] && len(member) > 0 && member[0] == '"' {
				name, member = name+"_redacted", []byte("true")
			} else if member, err = redactValue(member); err != nil {
				return nil, err
			}
			if out.Len() > 1 {
				out.WriteByte(',')
			}
			k, _ := json.Marshal(name)
			out.Write(k)
			out.WriteByte(':')
			out.Write(member)
		}
		out.WriteByte('}')
		return out.Bytes(), nil
	case '[':
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return nil, err
		}
		for i := range items {
			var err error
			if items[i], err = redactValue(items[i]); err != nil {
				return nil, err
			}
		}
		return json.Marshal(items)
	}
	return v, nil
}
