package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/apiclient"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// response is what a raw call of the API got.
type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) replayed() bool { return r.header.Get(httpapi.HeaderReplayed) == "true" }

// send calls the management API of s as its first admin token, with an
// Idempotency-Key header unless key is "".
func send(t *testing.T, s *testenv.Server, method, path, key, body string) response {
	t.Helper()
	if key == "" {
		return sendAs(t, s, s.Token, method, path, body)
	}
	return sendAs(t, s, s.Token, method, path, body, key)
}

// sendAs sends one Idempotency-Key header for each of keys.

func sendAs(t *testing.T, s *testenv.Server, token, method, path, body string, keys ...string) response {
	t.Helper()
	r, err := tryAs(t, s, token, method, path, body, keys...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryAs is sendAs for goroutines other than the test's: it returns errors.
func tryAs(t *testing.T, s *testenv.Server, token, method, path, body string, keys ...string) (response, error) {
	req, err := http.NewRequestWithContext(t.Context(), method, s.AdminURL+httpapi.Prefix+path, strings.NewReader(body))
	if err != nil {
		return response{}, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	for _, k := range keys {
		req.Header.Add(httpapi.HeaderIdempotencyKey, k)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return response{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return response{resp.StatusCode, resp.Header, b}, err
}

func decodeAs[T any](t *testing.T, r response) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("decode %T from %s: %v", v, r.body, err)
	}
	return v
}

func wantStatus(t *testing.T, what string, r response, status int, replayed bool) {
	t.Helper()
	if r.status != status || r.replayed() != replayed {
		t.Fatalf("%s: status %d, replayed %v; want %d, replayed %v; body %s", what, r.status, r.replayed(), status, replayed, r.body)
	}
}

// wantProblem checks a problem document's status, code and field.
func wantProblem(t *testing.T, what string, r response, status int, code, field string) httpapi.Problem {
	t.Helper()
	p := decodeAs[httpapi.Problem](t, r)
	if r.status != status || p.Code != code || p.Field != field || r.replayed() {
		t.Fatalf("%s: status %d, code %q, field %q, replayed %v; want %d, %q, %q, not replayed; body %s",
			what, r.status, p.Code, p.Field, r.replayed(), status, code, field, r.body)
	}
	return p
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func api(s *testenv.Server) *apiclient.Client {
	return &apiclient.Client{Endpoint: s.AdminURL, Token: s.Token}
}

// record reads the stored record of key for the first admin token.
func record(t *testing.T, s *testenv.Server, key string) watchword.IdempotencyRecord {
	t.Helper()
	me, err := api(s).Whoami(t.Context())
	fatalIf(t, err)
	rec, err := s.Store.GetIdempotencyRecord(t.Context(), me.ID, key)
	if err != nil {
		t.Fatalf("GetIdempotencyRecord(%s, %q): %v", me.ID, key, err)
	}
	return rec
}

// counts is how many secrets, rotations and rotation audit records a client has.
func counts(t *testing.T, s *testenv.Server, client string) (secrets, rotations, audits int) {
	t.Helper()
	c := api(s)
	ss, err := c.ListSecrets(t.Context(), "default", client)
	fatalIf(t, err)
	rs, err := c.ListRotations(t.Context(), "default", client, 0, 0)
	fatalIf(t, err)
	cl, err := c.GetClient(t.Context(), "default", client)
	fatalIf(t, err)
	evs, err := c.ListAudit(t.Context(), "", watchword.AuditFilter{TargetID: cl.ID, Action: watchword.ActionClientRotate})
	fatalIf(t, err)
	return ss.Total, rs.Total, evs.Total
}

// TestIdempotentRotate: a rotation retried with its key gets the recorded
// response (same rotation, same new secret, no plaintext) and changes
// nothing; the key cannot be reused for a different request; the record
// never holds the secret.
func TestIdempotentRotate(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := testenv.Start(t, backend, testenv.Options{})
			ctx := t.Context()
			_, err := api(s).CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "app"})
			fatalIf(t, err)
			_, err = api(s).CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "other"})
			fatalIf(t, err)

			const path, body = "/domains/default/clients/app/rotate", `{"description": "rotated", "transition": "1h"}`
			first := send(t, s, "POST", path, "rotate-1", body)
			wantStatus(t, "first rotation", first, http.StatusCreated, false)
			res := decodeAs[lifecycle.RotateResult](t, first)
			plaintext := res.Secret.Plaintext
			if plaintext == "" || res.Secret.Redacted {
				t.Fatalf("first response has no secret value: %s", first.body)
			}

			again := send(t, s, "POST", path, "rotate-1", body)
			wantStatus(t, "retried rotation", again, http.StatusCreated, true)
			if bytes.Contains(again.body, []byte(plaintext)) {
				t.Fatalf("the replay holds the secret value: %s", again.body)
			}
			replay := decodeAs[lifecycle.RotateResult](t, again)
			want := res
			want.Secret.Plaintext, want.Secret.Redacted = "", true
			if !reflect.DeepEqual(replay, want) {
				t.Errorf("replay = %+v\nwant the first response without its value: %+v", replay, want)
			}
			if ct := again.header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("replay Content-Type = %q", ct)
			}
			if secrets, rotations, audits := counts(t, s, "app"); secrets != 2 || rotations != 1 || audits != 1 {
				t.Errorf("after a retried rotation: %d secrets, %d rotations, %d audit records; want 2, 1, 1", secrets, rotations, audits)
			}

			rec := record(t, s, "rotate-1")
			if bytes.Contains(rec.Response, []byte(plaintext)) || rec.CompletedAt == nil || rec.Status != http.StatusCreated {
				t.Errorf("stored record: status %d, completed %v, response %s", rec.Status, rec.CompletedAt, rec.Response)
			}
			if !strings.Contains(rec.Resource, res.Rotation.ID) || !strings.Contains(rec.Resource, res.Secret.ID) {
				t.Errorf("stored record names %q, want the rotation %s and the secret %s", rec.Resource, res.Rotation.ID, res.Secret.ID)
			}

			// The key is bound to its request.
			wantProblem(t, "same key, another body", send(t, s, "POST", path, "rotate-1", `{"transition": "2h"}`),
				http.StatusUnprocessableEntity, watchword.EUNPROCESSABLE, httpapi.HeaderIdempotencyKey)
			wantProblem(t, "same key, another client", send(t, s, "POST", "/domains/default/clients/other/rotate", "rotate-1", body),
				http.StatusUnprocessableEntity, watchword.EUNPROCESSABLE, httpapi.HeaderIdempotencyKey)
			if secrets, rotations, _ := counts(t, s, "other"); secrets != 1 || rotations != 0 {
				t.Errorf("client other after a refused key: %d secrets, %d rotations; want 1, 0", secrets, rotations)
			}

			// Without a key, a repeat is a new rotation, as it always was.
			for range 2 {
				wantStatus(t, "rotation without a key", send(t, s, "POST", path, "", body), http.StatusCreated, false)
			}
			if _, rotations, audits := counts(t, s, "app"); rotations != 3 || audits != 3 {
				t.Errorf("after two rotations without a key: %d rotations, %d audit records; want 3, 3", rotations, audits)
			}
		})
	}
}

// TestIdempotentConcurrent: identical requests sent at once with one key
// make exactly one change; each gets the winner's response (replayed) or a
// 409 while that is not recorded yet.
func TestIdempotentConcurrent(t *testing.T) {
	const n = 8
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := testenv.Start(t, backend, testenv.Options{})
			_, err := api(s).CreateClient(t.Context(), "default", lifecycle.ClientCreate{Name: "app"})
			fatalIf(t, err)
			responses := make([]response, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					var err error
					responses[i], err = tryAs(t, s, s.Token, "POST", "/domains/default/clients/app/rotate", `{"transition": "1h"}`, "race-1")
					if err != nil {
						t.Error(err)
					}
				})
			}
			close(start)
			wg.Wait()

			originals, rotationIDs := 0, map[string]bool{}
			for i, r := range responses {
				switch {
				case r.status == http.StatusCreated:
					if !r.replayed() {
						originals++
					}
					rotationIDs[decodeAs[lifecycle.RotateResult](t, r).Rotation.ID] = true
				case r.status == http.StatusConflict:
					wantProblem(t, "concurrent duplicate", r, http.StatusConflict, watchword.ECONFLICT, httpapi.HeaderIdempotencyKey)
				default:
					t.Errorf("request %d: status %d: %s", i, r.status, r.body)
				}
			}
			if originals != 1 || len(rotationIDs) != 1 {
				t.Errorf("%d original responses naming %d rotations; want 1 and 1", originals, len(rotationIDs))
			}
			if secrets, rotations, audits := counts(t, s, "app"); secrets != 2 || rotations != 1 || audits != 1 {
				t.Errorf("after %d concurrent duplicates: %d secrets, %d rotations, %d audit records; want 2, 1, 1", n, secrets, rotations, audits)
			}
		})
	}
}

// TestIdempotentCreates: creating a client, a secret, an admin token, a
// webhook channel or a webhook delivery target twice with one key creates
// it once, and neither the replay nor the record holds the value shown once.
func TestIdempotentCreates(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := testenv.Start(t, backend, testenv.Options{})
			ctx := t.Context()
			c := api(s)
			tests := []struct {
				name, path, body string
				// value returns the id and the plaintext of a response,
				// and whether it says the plaintext was redacted.
				value func(t *testing.T, r response) (id, plaintext string, redacted bool)
				// count returns how many were created.
				count func() (int, error)
			}{
				{
					"client", "/domains/default/clients", `{"name": "svc"}`,
					func(t *testing.T, r response) (string, string, bool) {
						v := decodeAs[httpapi.ClientCreated](t, r)
						return v.Client.ID + "/" + v.Secret.ID, v.Secret.Plaintext, v.Secret.Redacted
					},
					func() (int, error) {
						l, err := c.ListClients(ctx, "default", watchword.ClientFilter{NameContains: "svc"})
						return l.Total, err
					},
				},
				{
					"secret", "/domains/default/clients/svc/secrets", `{"description": "extra"}`,
					func(t *testing.T, r response) (string, string, bool) {
						v := decodeAs[watchword.NewSecret](t, r)
						return v.ID, v.Plaintext, v.Redacted
					},
					func() (int, error) { l, err := c.ListSecrets(ctx, "default", "svc"); return l.Total - 1, err },
				},
				{
					"token", "/tokens", `{"name": "ci", "role": "viewer"}`,
					func(t *testing.T, r response) (string, string, bool) {
						v := decodeAs[watchword.NewAdminToken](t, r)
						return v.ID, v.Plaintext, v.Redacted
					},
					func() (int, error) { l, err := c.ListTokens(ctx); return l.Total - 1, err },
				},
				{
					"channel", "/domains/default/channels", `{"name": "hook", "type": "webhook", "url": "https://hooks.example/ww"}`,
					func(t *testing.T, r response) (string, string, bool) {
						v := decodeAs[lifecycle.ChannelCreated](t, r)
						return v.Channel.ID, v.SigningSecret, v.SigningSecretRedacted
					},
					func() (int, error) { l, err := c.ListChannels(ctx, "default"); return l.Total, err },
				},
				{
					"delivery target", "/domains/default/clients/svc/targets",
					`{"name": "deploy", "config": {"type": "webhook", "webhook": {"url": "https://deploy.example/ww"}}}`,
					func(t *testing.T, r response) (string, string, bool) {
						v := decodeAs[httpapi.TargetCreated](t, r)
						return v.ID, v.SigningSecret, v.SigningSecretRedacted
					},
					func() (int, error) { l, err := c.ListTargets(ctx, "default", "svc"); return l.Total, err },
				},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					key := "create-" + tc.name
					first := send(t, s, "POST", tc.path, key, tc.body)
					wantStatus(t, "first", first, http.StatusCreated, false)
					id, plaintext, redacted := tc.value(t, first)
					if plaintext == "" || redacted {
						t.Fatalf("first response has no value: %s", first.body)
					}
					again := send(t, s, "POST", tc.path, key, tc.body)
					wantStatus(t, "retry", again, http.StatusCreated, true)
					if gotID, got, redacted := tc.value(t, again); gotID != id || got != "" || !redacted || bytes.Contains(again.body, []byte(plaintext)) {
						t.Errorf("replay: id %q, value %q, redacted %v; want %q, none, true; body %s", gotID, got, redacted, id, again.body)
					}
					if n, err := tc.count(); err != nil || n != 1 {
						t.Errorf("%d created (%v), want 1", n, err)
					}
					if rec := record(t, s, key); bytes.Contains(rec.Response, []byte(plaintext)) || len(rec.Response) == 0 {
						t.Errorf("stored response holds the value, or nothing: %s", rec.Response)
					}
				})
			}
		})
	}
}

// TestIdempotencyKeyHeader: malformed keys are refused; the quoted form is
// the same key; GET ignores the header; a request that failed leaves no
// record; keys are per token; a record expires after 24 hours; a record
// whose response was never recorded is reported, not run again.
func TestIdempotencyKeyHeader(t *testing.T) {
	clock := clocktest.New(time.Now())
	s := testenv.Start(t, "sqlite", testenv.Options{Now: clock.Now})
	ctx := t.Context()
	c := api(s)
	_, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "app"})
	fatalIf(t, err)
	const rotate = "/domains/default/clients/app/rotate"

	for _, tc := range []struct {
		name string
		keys []string
	}{
		{"empty", []string{""}},
		{"empty quoted", []string{`""`}},
		{"too long", []string{strings.Repeat("k", httpapi.MaxIdempotencyKey+1)}},
		{"not ASCII", []string{"clé"}},
		{"unterminated quote", []string{`"abc`}},
		{"bad escape", []string{`"a\bc"`}},
		{"two keys", []string{"a", "b"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := sendAs(t, s, s.Token, "POST", rotate, "{}", tc.keys...)
			wantProblem(t, tc.name, r, http.StatusBadRequest, watchword.EINVALID, httpapi.HeaderIdempotencyKey)
		})
	}
	if _, rotations, _ := counts(t, s, "app"); rotations != 0 {
		t.Fatalf("%d rotations after refused keys, want 0", rotations)
	}
	longest := strings.Repeat("~", httpapi.MaxIdempotencyKey)
	wantStatus(t, "longest key", send(t, s, "POST", rotate, longest, "{}"), http.StatusCreated, false)
	wantStatus(t, "longest key again", send(t, s, "POST", rotate, longest, "{}"), http.StatusCreated, true)

	t.Run("quoted", func(t *testing.T) {
		wantStatus(t, "plain", send(t, s, "POST", rotate, `k"1\`, "{}"), http.StatusCreated, false)
		wantStatus(t, "quoted", send(t, s, "POST", rotate, `"k\"1\\"`, "{}"), http.StatusCreated, true)
	})
	t.Run("GET", func(t *testing.T) {
		r := send(t, s, "GET", "/domains/default/clients/app", "any", "")
		wantStatus(t, "GET with a key", r, http.StatusOK, false)
	})
	t.Run("failure leaves no record", func(t *testing.T) {
		const ghost = "/domains/default/clients/ghost/rotate"
		wantProblem(t, "rotating a missing client", send(t, s, "POST", ghost, "k-ghost", "{}"), http.StatusNotFound, watchword.ENOTFOUND, "client")
		_, err := c.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "ghost"})
		fatalIf(t, err)
		wantStatus(t, "the same request once the client exists", send(t, s, "POST", ghost, "k-ghost", "{}"), http.StatusCreated, false)
	})
	t.Run("per token", func(t *testing.T) {
		other, err := c.CreateToken(ctx, "second", watchword.RoleSecretManager)
		fatalIf(t, err)
		wantStatus(t, "first token", send(t, s, "POST", rotate, "k-shared", "{}"), http.StatusCreated, false)
		r := sendAs(t, s, other.Plaintext, "POST", rotate, "{}", "k-shared")
		wantStatus(t, "second token, same key", r, http.StatusCreated, false)
	})
	t.Run("expiry", func(t *testing.T) {
		wantStatus(t, "first", send(t, s, "POST", rotate, "k-day", "{}"), http.StatusCreated, false)
		clock.Advance(watchword.IdempotencyLifetime - time.Second)
		wantStatus(t, "just before expiry", send(t, s, "POST", rotate, "k-day", "{}"), http.StatusCreated, true)
		clock.Advance(time.Second)
		// Expired: the key is free again, even for another request.
		wantStatus(t, "at expiry", send(t, s, "POST", rotate, "k-day", `{"transition": "0s"}`), http.StatusCreated, false)
		wantStatus(t, "replay of the new request", send(t, s, "POST", rotate, "k-day", `{"transition": "0s"}`), http.StatusCreated, true)
	})
	t.Run("response never recorded", func(t *testing.T) {
		// What a server that stopped between the commit and recording the
		// response leaves behind.
		me, err := c.Whoami(ctx)
		fatalIf(t, err)
		body := `{"transition": "1h"}`
		fp, kid := s.Service.Hasher.Hash(body)
		now := clock.Now()
		fatalIf(t, s.Store.Tx(ctx, func(tx store.Tx) error {
			return tx.CreateIdempotencyRecord(ctx, watchword.IdempotencyRecord{
				ActorID: me.ID, Key: "k-crash", Method: "POST", Path: httpapi.Prefix + rotate,
				Fingerprint: fp, FingerprintKeyID: kid, Resource: "client.rotate client c-123",
				CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			})
		}))
		_, before, _ := counts(t, s, "app")
		p := wantProblem(t, "retry of a request whose response was lost", send(t, s, "POST", rotate, "k-crash", body),
			http.StatusConflict, watchword.ECONFLICT, httpapi.HeaderIdempotencyKey)
		if !strings.Contains(p.Detail, "client.rotate client c-123") || !strings.Contains(p.Detail, "already processed") {
			t.Errorf("detail %q does not say the request was processed, and what it changed", p.Detail)
		}
		if _, after, _ := counts(t, s, "app"); after != before {
			t.Errorf("rotations went from %d to %d", before, after)
		}
	})
}
