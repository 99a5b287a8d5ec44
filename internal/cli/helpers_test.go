package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/pgtest"
)

func TestMain(m *testing.M) {
	time.Local = time.UTC // table times are shown in local time
	pgtest.Main(m)
}

// clientEnv are the environment variables the client commands read.
var clientEnv = []string{"WATCHWORD_ENDPOINT", "WATCHWORD_TOKEN", "WATCHWORD_DATA_DIR", "WATCHWORD_DOMAIN", "WATCHWORD_OUTPUT"}

// clearEnv unsets the client settings for the test (empty counts as unset).
func clearEnv(t *testing.T) {
	for _, k := range clientEnv {
		t.Setenv(k, "")
	}
}

// seenRequest is a request the fake API received.
type seenRequest struct {
	Method, Path, Query, Auth, Body string
}

// fakeAPI answers "METHOD /path" (path below /admin/v1, unescaped) with a
// canned status and body and records every request.
type fakeAPI struct {
	t      *testing.T
	srv    *httptest.Server
	mu     sync.Mutex
	routes map[string]cannedResponse
	seen   []seenRequest
}

type cannedResponse struct {
	status int
	body   string
}

func newFakeAPI(t *testing.T) *fakeAPI {
	f := &fakeAPI{t: t, routes: map[string]cannedResponse{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// on sets the response to method and path; a 4xx/5xx body is sent as
// problem JSON if it starts with '{'.
func (f *fakeAPI) on(method, path string, status int, body string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.routes[method+" "+path] = cannedResponse{status, body}
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	path := strings.TrimPrefix(r.URL.Path, httpapi.Prefix)
	f.mu.Lock()
	f.seen = append(f.seen, seenRequest{r.Method, path, r.URL.RawQuery, r.Header.Get("Authorization"), string(b)})
	resp, ok := f.routes[r.Method+" "+path]
	f.mu.Unlock()
	if !ok {
		f.t.Errorf("unexpected request %s %s", r.Method, path)
		resp = cannedResponse{404, `{"status":404,"code":"not_found","detail":"No such route."}`}
	}
	switch {
	case resp.status >= 400 && strings.HasPrefix(resp.body, "{"):
		w.Header().Set("Content-Type", "application/problem+json")
	case strings.HasPrefix(resp.body, "{"):
		w.Header().Set("Content-Type", "application/json")
	default:
		w.Header().Set("Content-Type", "text/plain")
	}
	w.WriteHeader(resp.status)
	io.WriteString(w, resp.body)
}

func (f *fakeAPI) requests() []seenRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seenRequest(nil), f.seen...)
}

// last returns the last request, failing the test if there was none.
func (f *fakeAPI) last() seenRequest {
	f.t.Helper()
	reqs := f.requests()
	if len(reqs) == 0 {
		f.t.Fatal("no request was made")
	}
	return reqs[len(reqs)-1]
}

// result is the outcome of one command line.
type result struct {
	stdout, stderr string
	code           int
}

// runCLI runs the watchword command against the fake API with a token.
func (f *fakeAPI) run(stdin string, args ...string) result {
	f.t.Helper()
	clearEnv(f.t)
	args = append([]string{"--endpoint", f.srv.URL, "--token", "wwat_test"}, args...)
	return runCLI(stdin, args...)
}

func runCLI(stdin string, args ...string) result {
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(stdin), &out, &errb)
	return result{out.String(), errb.String(), code}
}

// sameJSON reports whether two JSON documents are equal.
func sameJSON(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("not JSON: %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test JSON %q: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// hasJSONFields reports whether the JSON object got has every top-level
// field of want with an equal value; other fields are ignored, so that
// tests do not break when the API gains fields.
func hasJSONFields(t *testing.T, got, want string) bool {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Errorf("not a JSON object: %q: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad test JSON %q: %v", want, err)
	}
	for k, v := range w {
		gv, ok := g[k]
		if !ok || !reflect.DeepEqual(gv, v) {
			return false
		}
	}
	return true
}
