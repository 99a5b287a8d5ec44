package apiclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
)

// request is what the fake API saw.
type request struct {
	pattern, auth, query, body string
	idempotencyKey             string
	values                     map[string]string // path values
}

// routeServer serves every route of httpapi.Routes() with an empty JSON
// object (204 for deletes of clients and secrets) and records the requests.
func routeServer(t *testing.T) (*Client, func() []request) {
	t.Helper()
	var (
		mu   sync.Mutex
		seen []request
	)
	mux := http.NewServeMux()
	for _, rt := range httpapi.Routes() {
		mux.HandleFunc(rt.Method+" "+httpapi.Prefix+rt.Path, func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			req := request{pattern: r.Pattern, auth: r.Header.Get("Authorization"), query: r.URL.RawQuery, body: string(b), values: map[string]string{},
				idempotencyKey: r.Header.Get(httpapi.HeaderIdempotencyKey)}
			for _, name := range []string{"domain", "client", "secret", "token"} {
				if v := r.PathValue(name); v != "" {
					req.values[name] = v
				}
			}
			mu.Lock()
			seen = append(seen, req)
			mu.Unlock()
			switch {
			case r.Method == "DELETE" && !strings.HasSuffix(rt.Path, "/policy") && !strings.HasSuffix(rt.Path, "/rotation-schedule") && !strings.HasPrefix(rt.Path, "/tokens"):
				w.WriteHeader(http.StatusNoContent)
			case strings.HasSuffix(rt.Path, "/apply"):
				io.WriteString(w, `{"secrets_changed": 3}`)
			default:
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{}`)
			}
		})
	}
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("request to no route: %s %s", r.Method, r.URL.Path)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &Client{Endpoint: srv.URL, Token: "wwat_test"}, func() []request {
		mu.Lock()
		defer mu.Unlock()
		return append([]request(nil), seen...)
	}
}

// TestEveryRoute calls each method once and checks that together they
// cover every route but openapi.yaml, each method its own route.
func TestEveryRoute(t *testing.T) {
	c, seen := routeServer(t)
	keys := 0
	c.IdempotencyKeys = func() string { keys++; return fmt.Sprintf("key-%d", keys) }
	ctx := context.Background()
	const d, cl, s = "default", "web", "sec1"
	zero := watchword.Duration(0)
	calls := []struct {
		route string
		call  func() error
	}{
		{"GET /whoami", func() error { _, err := c.Whoami(ctx); return err }},
		{"GET /domains", func() error { _, err := c.ListDomains(ctx); return err }},
		{"POST /domains", func() error { _, err := c.CreateDomain(ctx, "prod", "Production"); return err }},
		{"GET /domains/{domain}", func() error { _, err := c.GetDomain(ctx, d); return err }},
		{"GET /domains/{domain}/policy", func() error { _, err := c.GetDomainPolicy(ctx, d); return err }},
		{"PUT /domains/{domain}/policy", func() error {
			_, err := c.SetDomainPolicy(ctx, d, watchword.DefaultSecretPolicy())
			return err
		}},
		{"POST /domains/{domain}/policy/apply", func() error {
			n, err := c.ApplyPolicy(ctx, d, "")
			if err == nil && n != 3 {
				t.Errorf("ApplyPolicy = %d, want 3", n)
			}
			return err
		}},
		{"GET /domains/{domain}/oauth", func() error { _, err := c.GetDomainOAuth(ctx, d); return err }},
		{"PUT /domains/{domain}/oauth", func() error {
			_, err := c.SetDomainOAuth(ctx, d, watchword.DefaultDomainOAuth())
			return err
		}},
		{"GET /domains/{domain}/clients", func() error { _, err := c.ListClients(ctx, d, watchword.ClientFilter{}); return err }},
		{"POST /domains/{domain}/clients", func() error {
			_, err := c.CreateClient(ctx, d, lifecycle.ClientCreate{Name: cl})
			return err
		}},
		{"GET /domains/{domain}/clients/{client}", func() error { _, err := c.GetClient(ctx, d, cl); return err }},
		{"PATCH /domains/{domain}/clients/{client}", func() error {
			_, err := c.UpdateClient(ctx, d, cl, watchword.ClientUpdate{})
			return err
		}},
		{"DELETE /domains/{domain}/clients/{client}", func() error { return c.DeleteClient(ctx, d, cl) }},
		{"GET /domains/{domain}/clients/{client}/policy", func() error { _, err := c.GetClientPolicy(ctx, d, cl); return err }},
		{"PUT /domains/{domain}/clients/{client}/policy", func() error {
			_, err := c.SetClientPolicy(ctx, d, cl, watchword.DefaultSecretPolicy())
			return err
		}},
		{"DELETE /domains/{domain}/clients/{client}/policy", func() error { _, err := c.DeleteClientPolicy(ctx, d, cl); return err }},
		{"POST /domains/{domain}/clients/{client}/policy/apply", func() error {
			n, err := c.ApplyPolicy(ctx, d, cl)
			if err == nil && n != 3 {
				t.Errorf("ApplyPolicy = %d, want 3", n)
			}
			return err
		}},
		{"POST /domains/{domain}/clients/{client}/rotate", func() error {
			_, err := c.RotateClient(ctx, d, cl, lifecycle.RotateRequest{})
			return err
		}},
		{"GET /domains/{domain}/clients/{client}/rotations", func() error { _, err := c.ListRotations(ctx, d, cl, 0, 0); return err }},
		{"GET /domains/{domain}/rotation-schedule", func() error { _, err := c.GetDomainRotation(ctx, d); return err }},
		{"PUT /domains/{domain}/rotation-schedule", func() error {
			_, err := c.SetDomainRotation(ctx, d, watchword.RotationSchedule{Every: watchword.Duration(24 * time.Hour)})
			return err
		}},
		{"GET /domains/{domain}/clients/{client}/rotation-schedule", func() error { _, err := c.GetClientRotation(ctx, d, cl); return err }},
		{"PUT /domains/{domain}/clients/{client}/rotation-schedule", func() error {
			_, err := c.SetClientRotation(ctx, d, cl, watchword.RotationSchedule{})
			return err
		}},
		{"DELETE /domains/{domain}/clients/{client}/rotation-schedule", func() error { _, err := c.DeleteClientRotation(ctx, d, cl); return err }},
		{"GET /domains/{domain}/clients/{client}/targets", func() error { _, err := c.ListTargets(ctx, d, cl); return err }},
		{"POST /domains/{domain}/clients/{client}/targets", func() error {
			_, err := c.CreateTarget(ctx, d, cl, lifecycle.TargetCreate{Name: "file"})
			return err
		}},
		{"PATCH /domains/{domain}/clients/{client}/targets/{target}", func() error {
			off := true
			_, err := c.UpdateTarget(ctx, d, cl, "file", lifecycle.TargetUpdate{Disabled: &off})
			return err
		}},
		{"DELETE /domains/{domain}/clients/{client}/targets/{target}", func() error { return c.DeleteTarget(ctx, d, cl, "file") }},
		{"POST /domains/{domain}/clients/{client}/rotation-runs", func() error { _, err := c.StartRotation(ctx, d, cl); return err }},
		{"GET /domains/{domain}/clients/{client}/rotation-runs", func() error { _, err := c.ListRotationRuns(ctx, d, cl, 0, 0); return err }},
		{"GET /domains/{domain}/clients/{client}/rotation-runs/{run}", func() error { _, err := c.GetRotationRun(ctx, d, cl, "run_1"); return err }},
		{"POST /domains/{domain}/clients/{client}/rotation-runs/{run}/retry", func() error {
			_, err := c.RetryRotationRun(ctx, d, cl, "run_1")
			return err
		}},
		{"POST /domains/{domain}/clients/{client}/rotation-runs/{run}/cancel", func() error {
			_, err := c.CancelRotationRun(ctx, d, cl, "run_1", "")
			return err
		}},
		{"GET /domains/{domain}/clients/{client}/secrets", func() error { _, err := c.ListSecrets(ctx, d, cl); return err }},
		{"POST /domains/{domain}/clients/{client}/secrets", func() error {
			_, err := c.AddSecret(ctx, d, cl, lifecycle.SecretCreate{})
			return err
		}},
		{"GET /domains/{domain}/clients/{client}/secrets/{secret}", func() error { _, err := c.GetSecret(ctx, d, cl, s); return err }},
		{"POST /domains/{domain}/clients/{client}/secrets/{secret}/renew", func() error {
			_, err := c.RenewSecret(ctx, d, cl, s, &zero)
			return err
		}},
		{"POST /domains/{domain}/clients/{client}/secrets/{secret}/revoke", func() error {
			_, err := c.RevokeSecret(ctx, d, cl, s, lifecycle.RevokeRequest{})
			return err
		}},
		{"DELETE /domains/{domain}/clients/{client}/secrets/{secret}", func() error { return c.DeleteSecret(ctx, d, cl, s) }},
		{"GET /domains/{domain}/users", func() error { _, err := c.ListUsers(ctx, d, 0, 0); return err }},
		{"POST /domains/{domain}/users", func() error {
			_, err := c.CreateUser(ctx, d, lifecycle.UserCreate{Username: "alice"})
			return err
		}},
		{"GET /domains/{domain}/users/{user}", func() error { _, err := c.GetUser(ctx, d, "alice"); return err }},
		{"PATCH /domains/{domain}/users/{user}", func() error {
			_, err := c.UpdateUser(ctx, d, "alice", watchword.UserUpdate{})
			return err
		}},
		{"GET /domains/{domain}/notification-settings", func() error { _, err := c.GetNotificationSettings(ctx, d); return err }},
		{"PUT /domains/{domain}/notification-settings", func() error {
			_, err := c.SetNotificationSettings(ctx, d, watchword.DefaultNotificationSettings())
			return err
		}},
		{"GET /domains/{domain}/channels", func() error { _, err := c.ListChannels(ctx, d); return err }},
		{"POST /domains/{domain}/channels", func() error {
			_, err := c.CreateChannel(ctx, d, lifecycle.ChannelCreate{Name: "hook", Type: watchword.ChannelWebhook})
			return err
		}},
		{"GET /domains/{domain}/channels/{channel}", func() error { _, err := c.GetChannel(ctx, d, "hook"); return err }},
		{"PATCH /domains/{domain}/channels/{channel}", func() error {
			_, err := c.UpdateChannel(ctx, d, "hook", watchword.ChannelUpdate{})
			return err
		}},
		{"DELETE /domains/{domain}/channels/{channel}", func() error { return c.DeleteChannel(ctx, d, "hook") }},
		{"POST /domains/{domain}/channels/{channel}/rotate-secret", func() error {
			_, err := c.RotateChannelSecret(ctx, d, "hook", lifecycle.SigningSecretRotate{Transition: &zero})
			return err
		}},
		{"GET /domains/{domain}/notifications", func() error {
			_, err := c.ListNotifications(ctx, d, watchword.NotificationFilter{Status: watchword.NotificationFailed})
			return err
		}},
		{"GET /domains/{domain}/notifications/{notification}", func() error { _, err := c.GetNotification(ctx, d, "n1"); return err }},
		{"POST /domains/{domain}/notifications/{notification}/retry", func() error { _, err := c.RetryNotification(ctx, d, "n1"); return err }},
		{"GET /audit", func() error { _, err := c.ListAudit(ctx, "", watchword.AuditFilter{}); return err }},
		{"GET /tokens", func() error { _, err := c.ListTokens(ctx); return err }},
		{"POST /tokens", func() error { _, err := c.CreateToken(ctx, "ci", watchword.RoleViewer); return err }},
		{"DELETE /tokens/{token}", func() error { _, err := c.RevokeToken(ctx, "tok1"); return err }},
	}
	want := map[string]bool{}
	for _, rt := range httpapi.Routes() {
		if rt.Path != "/openapi.yaml" {
			want[rt.Method+" "+rt.Path] = true
		}
	}
	for _, tc := range calls {
		before := len(seen())
		if err := tc.call(); err != nil {
			t.Errorf("%s: %v", tc.route, err)
			continue
		}
		got := seen()[before:]
		if len(got) != 1 {
			t.Errorf("%s: %d requests, want 1", tc.route, len(got))
			continue
		}
		method, path, _ := strings.Cut(tc.route, " ")
		if wantPattern := method + " " + httpapi.Prefix + path; got[0].pattern != wantPattern {
			t.Errorf("%s: served by %q", tc.route, got[0].pattern)
		}
		if got[0].auth != "Bearer wwat_test" {
			t.Errorf("%s: Authorization %q", tc.route, got[0].auth)
		}
		// Every state-changing call gets its own key; reads get none.
		if method == "GET" && got[0].idempotencyKey != "" {
			t.Errorf("%s: Idempotency-Key %q on a read", tc.route, got[0].idempotencyKey)
		} else if wantKey := fmt.Sprintf(`"key-%d"`, keys); method != "GET" && got[0].idempotencyKey != wantKey {
			t.Errorf("%s: Idempotency-Key %q, want %q", tc.route, got[0].idempotencyKey, wantKey)
		}
		delete(want, tc.route)
	}
	for r := range want {
		t.Errorf("no client method calls %s", r)
	}
}

// TestPathEscaping checks that arguments are sent as single path segments.
func TestPathEscaping(t *testing.T) {
	c, seen := routeServer(t)
	ctx := context.Background()
	for _, ref := range []string{"a/b", "a b?c#d", "%2F", "ünï"} {
		if _, err := c.GetSecret(ctx, "my domain", ref, ref+"/x"); err != nil {
			t.Fatalf("GetSecret(%q): %v", ref, err)
		}
		got := seen()
		r := got[len(got)-1]
		want := map[string]string{"domain": "my domain", "client": ref, "secret": ref + "/x"}
		if !reflect.DeepEqual(r.values, want) {
			t.Errorf("path values = %v, want %v", r.values, want)
		}
	}
}

func TestEmptyOrDotArgument(t *testing.T) {
	c, seen := routeServer(t)
	ctx := context.Background()
	for _, tc := range []struct {
		domain, client string
		want           string
	}{
		{"", "web", "the domain must not be empty"},
		{"default", "", "the client must not be empty"},
		{"default", "..", `invalid client ".."`},
		{".", "web", `invalid domain "."`},
	} {
		_, err := c.GetClient(ctx, tc.domain, tc.client)
		if err == nil || err.Error() != tc.want {
			t.Errorf("GetClient(%q, %q) error = %v, want %q", tc.domain, tc.client, err, tc.want)
		}
	}
	if n := len(seen()); n != 0 {
		t.Errorf("%d requests sent, want none", n)
	}
}

func TestRequestBodiesAndQueries(t *testing.T) {
	c, seen := routeServer(t)
	ctx := context.Background()
	last := func() request { s := seen(); return s[len(s)-1] }
	yes := true
	since := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	zero, day := watchword.Duration(0), watchword.Duration(24*time.Hour)

	tests := []struct {
		name      string
		call      func() error
		wantBody  string // compared as JSON; "" means no body
		wantQuery string
	}{
		{"rotate without transition leaves it to the policy",
			func() error { _, err := c.RotateClient(ctx, "d", "c", lifecycle.RotateRequest{}); return err }, `{}`, ""},
		{"rotate with transition 0",
			func() error {
				_, err := c.RotateClient(ctx, "d", "c", lifecycle.RotateRequest{Transition: &zero, Description: "x"})
				return err
			}, `{"transition":"0s","description":"x"}`, ""},
		{"renew with the default transition",
			func() error { _, err := c.RenewSecret(ctx, "d", "c", "s", nil); return err }, `{}`, ""},
		{"renew with a transition",
			func() error { _, err := c.RenewSecret(ctx, "d", "c", "s", &day); return err }, `{"transition":"24h"}`, ""},
		{"partial update",
			func() error {
				name := "new"
				_, err := c.UpdateClient(ctx, "d", "c", watchword.ClientUpdate{Name: &name})
				return err
			}, `{"name":"new"}`, ""},
		{"token",
			func() error { _, err := c.CreateToken(ctx, "ci", watchword.RoleAuditor); return err },
			`{"name":"ci","role":"auditor"}`, ""},
		{"client filter",
			func() error {
				_, err := c.ListClients(ctx, "d", watchword.ClientFilter{NameContains: "we b", Disabled: &yes, Offset: 5, Limit: 10})
				return err
			}, "", "disabled=true&limit=10&name=we+b&offset=5"},
		{"no filter",
			func() error { _, err := c.ListClients(ctx, "d", watchword.ClientFilter{}); return err }, "", ""},
		{"audit filter",
			func() error {
				_, err := c.ListAudit(ctx, "prod", watchword.AuditFilter{DomainID: "ignored", TargetID: "t1", Action: "client.rotate", Since: &since, Limit: 7})
				return err
			}, "", "action=client.rotate&domain=prod&limit=7&since=2025-01-02T03%3A04%3A05Z&target=t1"},
		{"rotations page",
			func() error { _, err := c.ListRotations(ctx, "d", "c", 20, 0); return err }, "", "offset=20"},
		{"rotation runs page",
			func() error { _, err := c.ListRotationRuns(ctx, "d", "c", 0, 5); return err }, "", "limit=5"},
		{"schedule",
			func() error {
				tr := watchword.Duration(2 * time.Hour)
				_, err := c.SetClientRotation(ctx, "d", "c", watchword.RotationSchedule{Cron: "0 3 * * 1", Transition: &tr, CheckURL: "https://x/h"})
				return err
			}, `{"cron":"0 3 * * 1","transition":"2h","check_url":"https://x/h"}`, ""},
		{"schedule off is an empty object",
			func() error { _, err := c.SetClientRotation(ctx, "d", "c", watchword.RotationSchedule{}); return err }, `{}`, ""},
		{"file target",
			func() error {
				_, err := c.CreateTarget(ctx, "d", "c", lifecycle.TargetCreate{Name: "env", Config: delivery.Config{
					Type: delivery.TypeFile, File: &delivery.FileConfig{Path: "/etc/app/secret.env", Format: "env", EnvName: "SECRET"}}})
				return err
			}, `{"name":"env","config":{"type":"file","file":{"path":"/etc/app/secret.env","format":"env","env_name":"SECRET"}}}`, ""},
		{"start run sends no body",
			func() error { _, err := c.StartRotation(ctx, "d", "c"); return err }, "", ""},
		{"cancel without reason",
			func() error { _, err := c.CancelRotationRun(ctx, "d", "c", "run_1", ""); return err }, `{}`, ""},
		{"cancel with reason",
			func() error { _, err := c.CancelRotationRun(ctx, "d", "c", "run_1", "wrong target"); return err }, `{"reason":"wrong target"}`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); err != nil {
				t.Fatal(err)
			}
			r := last()
			if r.query != tc.wantQuery {
				t.Errorf("query = %q, want %q", r.query, tc.wantQuery)
			}
			if tc.wantBody == "" {
				if r.body != "" {
					t.Errorf("body = %q, want none", r.body)
				}
				return
			}
			var got, want any
			if err := json.Unmarshal([]byte(r.body), &got); err != nil {
				t.Fatalf("body %q: %v", r.body, err)
			}
			_ = json.Unmarshal([]byte(tc.wantBody), &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("body = %s, want %s", r.body, tc.wantBody)
			}
		})
	}
}

// cannedServer answers every request with status, content type and body.
func cannedServer(t *testing.T, status int, contentType, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if contentType != "" {
			w.Header().Set("Content-Type", contentType)
		}
		if status >= 300 && status < 400 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return &Client{Endpoint: srv.URL + "/", Token: "t"}
}

func TestProblemDecoding(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        *watchword.Error
	}{
		{
			name: "not found with field", status: 404, contentType: "application/problem+json",
			body: `{"type":"urn:watchword:problem:not_found","title":"Not Found","status":404,"detail":"Client \"web\" not found in domain \"default\".","code":"not_found","field":"client","request_id":"r1"}`,
			want: &watchword.Error{Code: watchword.ENOTFOUND, Field: "client", Message: `Client "web" not found in domain "default".`},
		},
		{
			name: "several fields", status: 400, contentType: "application/problem+json; charset=utf-8",
			body: `{"title":"Bad Request","status":400,"detail":"max_secrets: too many; default_transition: too long","code":"invalid","field":"max_secrets",
				"errors":[{"field":"max_secrets","detail":"too many"},{"field":"default_transition","detail":"too long"}]}`,
			want: &watchword.Error{Code: watchword.EINVALID, Field: "max_secrets", Message: "max_secrets: too many; default_transition: too long",
				Fields: []*watchword.Error{
					{Code: watchword.EINVALID, Field: "max_secrets", Message: "too many"},
					{Code: watchword.EINVALID, Field: "default_transition", Message: "too long"},
				}},
		},
		{
			name: "forbidden", status: 403, contentType: "application/problem+json",
			body: `{"title":"Forbidden","status":403,"detail":"Role \"viewer\" may not POST /admin/v1/tokens.","code":"forbidden"}`,
			want: &watchword.Error{Code: watchword.EFORBIDDEN, Message: `Role "viewer" may not POST /admin/v1/tokens.`},
		},
		{
			name: "problem without code or detail", status: 409, contentType: "application/problem+json",
			body: `{"title":"Conflict","status":409}`,
			want: &watchword.Error{Code: watchword.ECONFLICT, Message: "Conflict"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cannedServer(t, tc.status, tc.contentType, tc.body)
			_, err := c.GetClient(context.Background(), "default", "web")
			var got *watchword.Error
			if !errors.As(err, &got) {
				t.Fatalf("error %v (%T) is not a *watchword.Error", err, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("error = %#v\nwant    %#v", got, tc.want)
			}
		})
	}
}

func TestNonProblemErrors(t *testing.T) {
	tests := []struct {
		name        string
		status      int
		contentType string
		body        string
		want        []string // substrings of the error
	}{
		{"html from a proxy", 502, "text/html", "<html>\n<body>Bad   gateway</body></html>", []string{"502 Bad Gateway", "<html> <body>Bad gateway</body></html>"}},
		{"json that is not a problem", 500, "application/json", `[1,2]`, []string{"500 Internal Server Error", "[1,2]"}},
		{"empty body", 401, "", "", []string{"401 Unauthorized"}},
		{"redirect is not followed", 301, "text/plain", "", []string{"301 Moved Permanently", "redirect to /elsewhere"}},
		{"long body is cut", 503, "text/plain", strings.Repeat("x", 1000), []string{"503 Service Unavailable", strings.Repeat("x", 200) + "…"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cannedServer(t, tc.status, tc.contentType, tc.body)
			_, err := c.ListDomains(context.Background())
			if err == nil {
				t.Fatal("no error")
			}
			var we *watchword.Error
			if errors.As(err, &we) {
				t.Errorf("got a *watchword.Error %v for a body that is not a problem", we)
			}
			for _, s := range tc.want {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
			if strings.Contains(err.Error(), strings.Repeat("x", 201)) {
				t.Errorf("error holds the whole body")
			}
		})
	}
}

func TestSuccessDecodingAndOnResponse(t *testing.T) {
	body := `{"items":[{"id":"s1","hint":"abcd","status":"retiring","expires_at":"2025-01-02T03:04:05Z"}],"total":3,"offset":0,"limit":1}`
	c := cannedServer(t, 200, "application/json", body)
	var raw []byte
	c.OnResponse = func(b []byte) { raw = b }
	l, err := c.ListSecrets(context.Background(), "d", "c")
	if err != nil {
		t.Fatal(err)
	}
	if l.Total != 3 || len(l.Items) != 1 || l.Items[0].Hint != "abcd" || l.Items[0].Status != watchword.StatusRetiring ||
		l.Items[0].ExpiresAt == nil || !l.Items[0].ExpiresAt.Equal(time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)) {
		t.Errorf("decoded %+v", l)
	}
	if string(raw) != body {
		t.Errorf("OnResponse got %q", raw)
	}

	bad := cannedServer(t, 200, "application/json", `{"items": 5}`)
	if _, err := bad.ListSecrets(context.Background(), "d", "c"); err == nil || !strings.Contains(err.Error(), "decode response") {
		t.Errorf("undecodable response: error = %v", err)
	}
}

func TestEndpoint(t *testing.T) {
	for _, ep := range []string{"", "127.0.0.1:8081", "ftp://host", "http://", "http://host/?x=1"} {
		c := &Client{Endpoint: ep, Token: "t"}
		if _, err := c.Whoami(context.Background()); err == nil {
			t.Errorf("endpoint %q: no error", ep)
		}
	}
	// An endpoint with a path prefix (behind a reverse proxy) keeps it.
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.EscapedPath()
		io.WriteString(w, `{}`)
	}))
	defer srv.Close()
	c := &Client{Endpoint: srv.URL + "/watchword/", Token: "t"}
	if _, err := c.GetClient(context.Background(), "d", "a/b"); err != nil {
		t.Fatal(err)
	}
	if want := "/watchword/admin/v1/domains/d/clients/a%2Fb"; path != want {
		t.Errorf("path = %q, want %q", path, want)
	}
}
