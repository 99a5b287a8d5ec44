package apiclient

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
)

// flakyServer loses the response to the first request (it closes the
// connection unanswered) and answers the others with body; it returns the
// Idempotency-Key of each request it saw.
func flakyServer(t *testing.T, body string) (*httptest.Server, func() []string) {
	t.Helper()
	var (
		mu   sync.Mutex
		keys []string
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		keys = append(keys, r.Header.Get(httpapi.HeaderIdempotencyKey))
		first := len(keys) == 1
		mu.Unlock()
		if first {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				t.Error(err)
				return
			}
			conn.Close()
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), keys...)
	}
}

// TestRetryWithKey: a call with an idempotency key whose response was lost
// is sent again with the same key, and a replayed response (no value) is
// returned as it is.
func TestRetryWithKey(t *testing.T) {
	tests := []struct {
		name    string
		keys    func() string
		ctx     func(context.Context) context.Context
		wantKey string
	}{
		{"generator", func() string { return "gen-1" }, func(ctx context.Context) context.Context { return ctx }, `"gen-1"`},
		{"per call", func() string { return "unused" }, func(ctx context.Context) context.Context {
			return WithIdempotencyKey(ctx, `my "key"`)
		}, `"my \"key\""`},
		{"random", NewIdempotencyKey, func(ctx context.Context) context.Context { return ctx }, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv, keys := flakyServer(t, `{"id": "sec-1", "hint": "ab12", "secret_redacted": true}`)
			c := &Client{Endpoint: srv.URL, Token: "wwat_test", IdempotencyKeys: tc.keys, Retries: 1}
			ns, err := c.AddSecret(tc.ctx(t.Context()), "default", "app", lifecycle.SecretCreate{Description: "x"})
			if err != nil {
				t.Fatalf("AddSecret: %v", err)
			}
			if ns.ID != "sec-1" || !ns.Redacted || ns.Plaintext != "" {
				t.Errorf("AddSecret = %+v, want the replayed secret without value", ns)
			}
			got := keys()
			if len(got) != 2 || got[0] != got[1] || len(got[0]) < 3 || (tc.wantKey != "" && got[0] != tc.wantKey) {
				t.Errorf("keys sent = %q, want the same key twice (%s)", got, tc.wantKey)
			}
		})
	}
}

// TestNoRetryWithoutKey: a call without a key, which the server might run
// twice, is not sent again.
func TestNoRetryWithoutKey(t *testing.T) {
	srv, keys := flakyServer(t, `{}`)
	c := &Client{Endpoint: srv.URL, Token: "wwat_test", Retries: 3}
	_, err := c.RotateClient(t.Context(), "default", "app", lifecycle.RotateRequest{})
	if err == nil || !strings.Contains(err.Error(), "POST") {
		t.Fatalf("RotateClient: err %v, want the transport error", err)
	}
	if got := keys(); len(got) != 1 || got[0] != "" {
		t.Errorf("keys sent = %q, want one request without a key", got)
	}
}
