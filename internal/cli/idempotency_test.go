package cli

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/watchword/watchword/internal/httpapi"
)

// TestRetryLostResponse: a state-changing command carries a fresh
// idempotency key and, when the response is lost, sends the request once
// more with the same key; the replayed response has no secret value, and
// the command says so instead of printing an empty one.
func TestRetryLostResponse(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string // "METHOD key" of each request
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.Header.Get(httpapi.HeaderIdempotencyKey))
		first := len(seen) == 1
		mu.Unlock()
		if first { // the request is carried out, but its response is lost
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.Close()
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set(httpapi.HeaderReplayed, "true")
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, `{"id": "sec-1", "client_id": "c1", "description": "ci", "hint": "ab12", "source": "generated", "created_at": "2026-01-01T00:00:00Z", "status": "active", "secret_redacted": true}`)
	}))
	t.Cleanup(srv.Close)
	clearEnv(t)

	r := runCLI("", "--endpoint", srv.URL, "--token", "wwat_test", "secret", "add", "app")
	if r.code != 0 {
		t.Fatalf("secret add: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0] != seen[1] || !strings.HasPrefix(seen[0], `POST "`) || len(seen[0]) < len(`POST ""`)+16 {
		t.Errorf("requests = %q, want the same POST with one random key twice", seen)
	}
	if !strings.Contains(r.stdout, "sec-1") || !strings.Contains(r.stdout, "not shown") || strings.Contains(r.stdout, "shown only once: store it now") {
		t.Errorf("output does not say the value is not shown:\n%s", r.stdout)
	}
}
