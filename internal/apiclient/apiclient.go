// Package apiclient is a typed client for Watchword's management API
// (/admin/v1 on the admin listener). Each method is one route of
// httpapi.Routes(); errors the API reports come back as *watchword.Error so
// that callers can show the API's own message.
package apiclient

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/httpapi"
)

// DefaultEndpoint is the admin listener of a server started with defaults.
const DefaultEndpoint = "http://127.0.0.1:8081"

// maxResponse bounds the size of a response body the client reads.
const maxResponse = 32 << 20

// List is the envelope of every paginated list.
type List[T any] = httpapi.List[T]

// ClientCreated is the response to CreateClient: the client and, for a
// confidential client, its first secret with the plaintext.
type ClientCreated = httpapi.ClientCreated

// defaultHTTP does not follow redirects: the API never sends one, and
// following a 301 would turn a POST into a GET of another route.
var defaultHTTP = &http.Client{CheckRedirect: NoRedirects}

// NoRedirects is an http.Client CheckRedirect that returns redirects to the
// caller, which reports them as errors.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

// Client calls the management API. A nil HTTP uses a client that does not
// follow redirects.
type Client struct {
	// Endpoint is the base URL of the admin listener, without /admin/v1.
	Endpoint string
	// Token is the admin token sent as a bearer token.
	Token string
	HTTP  *http.Client
	// OnResponse, if set, is called with the body of every successful
	// response before it is decoded (the CLI prints it for -o json).
	OnResponse func(body []byte)
	// IdempotencyKeys, if set, gives every state-changing call (POST, PUT,
	// PATCH, DELETE) a key, sent as the Idempotency-Key header, unless the
	// call's context has one from WithIdempotencyKey. "" sends none.
	IdempotencyKeys func() string
	// Retries is how many more times a call that carries an idempotency key
	// is sent, with the same key, after a transport error (no response).
	// The server runs such a call at most once; a repeat of one that had
	// succeeded gets the recorded response, without any secret value (see
	// watchword.NewSecret.Redacted). Calls without a key are never retried.
	Retries int
}

// NewIdempotencyKey returns a random idempotency key (128 bits, base32),
// the usual Client.IdempotencyKeys.
func NewIdempotencyKey() string { return rand.Text() }

type idempotencyKeyContextKey struct{}

// WithIdempotencyKey returns a context that makes a state-changing call
// made with it send key as its Idempotency-Key, so that repeating the call
// with the same key (for example after a crash of the caller) changes
// nothing more.
func WithIdempotencyKey(ctx context.Context, key string) context.Context {
	return context.WithValue(ctx, idempotencyKeyContextKey{}, key)
}

// idempotencyKey returns the key a call sends, "" for none.
func (c *Client) idempotencyKey(ctx context.Context, method string) string {
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete:
	default:
		return ""
	}
	if key, ok := ctx.Value(idempotencyKeyContextKey{}).(string); ok {
		return key
	}
	if c.IdempotencyKeys != nil {
		return c.IdempotencyKeys()
	}
	return ""
}

// quoteKey writes an idempotency key as the Structured Fields string the
// draft specifies ("\"key\"").
func quoteKey(key string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(key) + `"`
}

// retryPause is the wait before a call is sent again after a transport error.
const retryPause = 250 * time.Millisecond

// call sends one request and decodes a successful response into a T.
// pattern is a route path of httpapi.Routes(); its {placeholders} are filled
// with args, in order, each escaped as one path segment.
func call[T any](ctx context.Context, c *Client, method, pattern string, query url.Values, in any, args ...string) (T, error) {
	var out T
	path, err := expand(pattern, args...)
	if err != nil {
		return out, err
	}
	body, err := c.do(ctx, method, path, query, in)
	if err != nil || len(body) == 0 {
		return out, err
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return out, fmt.Errorf("%s %s: decode response: %w", method, httpapi.Prefix+path, err)
	}
	return out, nil
}

// expand fills the {placeholders} of pattern with args. An empty argument is
// an error rather than a path that would name a different route.
func expand(pattern string, args ...string) (string, error) {
	segs := strings.Split(pattern, "/")
	n := 0
	for i, s := range segs {
		if !strings.HasPrefix(s, "{") || !strings.HasSuffix(s, "}") {
			continue
		}
		if n >= len(args) {
			return "", fmt.Errorf("apiclient: too few arguments for %s", pattern)
		}
		switch args[n] {
		case "":
			return "", fmt.Errorf("the %s must not be empty", strings.Trim(s, "{}"))
		case ".", "..":
			return "", fmt.Errorf("invalid %s %q", strings.Trim(s, "{}"), args[n])
		}
		segs[i] = url.PathEscape(args[n])
		n++
	}
	if n != len(args) {
		return "", fmt.Errorf("apiclient: too many arguments for %s", pattern)
	}
	return strings.Join(segs, "/"), nil
}

// do sends a request and returns the body of a 2xx response; any other
// status is returned as an error.
func (c *Client) do(ctx context.Context, method, path string, query url.Values, in any) ([]byte, error) {
	if c.Endpoint == "" {
		return nil, errors.New("no API endpoint set")
	}
	base := strings.TrimRight(c.Endpoint, "/")
	if e, err := url.Parse(base); err != nil || (e.Scheme != "http" && e.Scheme != "https") || e.Host == "" || e.RawQuery != "" {
		return nil, fmt.Errorf("invalid API endpoint %q: want a URL such as %s", c.Endpoint, DefaultEndpoint)
	}
	u, err := url.Parse(base + httpapi.Prefix + path)
	if err != nil {
		return nil, err
	}
	u.RawQuery = query.Encode()

	var reqBody []byte
	if in != nil {
		if reqBody, err = json.Marshal(in); err != nil {
			return nil, fmt.Errorf("%s %s: encode request: %w", method, u.Path, err)
		}
	}
	key := c.idempotencyKey(ctx, method)
	attempts := 1
	if key != "" {
		attempts += max(c.Retries, 0)
	}
	hc := c.HTTP
	if hc == nil {
		hc = defaultHTTP
	}
	var resp *http.Response
	for attempt := 1; ; attempt++ {
		var body io.Reader
		if in != nil {
			body = bytes.NewReader(reqBody)
		}
		req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept", "application/json, application/problem+json")
		if in != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if c.Token != "" {
			req.Header.Set("Authorization", "Bearer "+c.Token)
		}
		if key != "" {
			req.Header.Set(httpapi.HeaderIdempotencyKey, quoteKey(key))
		}
		if resp, err = hc.Do(req); err == nil {
			break
		}
		if attempt < attempts && ctx.Err() == nil {
			// The request may or may not have been carried out; the key
			// makes sending it again safe either way.
			select {
			case <-time.After(retryPause):
				continue
			case <-ctx.Done():
			}
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read response: %w", method, u.Path, err)
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, responseError(resp, body)
	}
	if c.OnResponse != nil {
		c.OnResponse(body)
	}
	return body, nil
}

// statusCodes maps HTTP statuses back to application error codes, for a
// problem document that lacks its code.
var statusCodes = map[int]string{
	http.StatusBadRequest:            watchword.EINVALID,
	http.StatusNotFound:              watchword.ENOTFOUND,
	http.StatusConflict:              watchword.ECONFLICT,
	http.StatusUnauthorized:          watchword.EUNAUTHORIZED,
	http.StatusForbidden:             watchword.EFORBIDDEN,
	http.StatusRequestEntityTooLarge: watchword.ETOOLARGE,
	http.StatusUnprocessableEntity:   watchword.EUNPROCESSABLE,
}

// responseError turns a non-2xx response into an error: a *watchword.Error
// when the body is a problem document, otherwise an error naming the status.
func responseError(resp *http.Response, body []byte) error {
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if ct == "application/problem+json" || ct == "application/json" {
		var p httpapi.Problem
		if err := json.Unmarshal(body, &p); err == nil && (p.Code != "" || p.Detail != "" || p.Title != "") {
			e := &watchword.Error{Code: p.Code, Message: p.Detail, Field: p.Field}
			if e.Code == "" {
				e.Code = statusCodes[resp.StatusCode]
				if e.Code == "" {
					e.Code = watchword.EINTERNAL
				}
			}
			if e.Message == "" {
				e.Message = p.Title
			}
			for _, f := range p.Errors {
				e.Fields = append(e.Fields, watchword.FieldError(e.Code, f.Field, "%s", f.Detail))
			}
			return e
		}
	}
	msg := fmt.Sprintf("%s %s: unexpected response %s", resp.Request.Method, resp.Request.URL.Redacted(), resp.Status)
	if loc := resp.Header.Get("Location"); loc != "" {
		msg += " (redirect to " + loc + "; is the endpoint right?)"
	}
	if snippet := textSnippet(body); snippet != "" {
		msg += ": " + snippet
	}
	return errors.New(msg)
}

// textSnippet returns the start of a text body on one line, or "" if the
// body is empty or binary.
func textSnippet(b []byte) string {
	const max = 200
	if len(b) == 0 || !utf8.Valid(b) {
		return ""
	}
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
