package oauth_test

import (
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// TestRefreshRotation: rotation with a reuse window, any valid secret of
// the client, secret rotation, scope narrowing, other clients and
// disabled users.
func TestRefreshRotation(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		clock.Set(t0)
		mustUser(t, s, "default", "alice")
		window := watchword.ClientOAuth{FirstParty: true, RefreshReuseWindow: watchword.Duration(10 * time.Second)}
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, window)
		other, otherSecret := codeClient(t, s, "default", "other", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true})
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		signIn := func() map[string]any {
			t.Helper()
			code := b.code(s, "default", authParams(c.ID, webCallback, verifier), "alice")
			st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier))
			if st != 200 {
				t.Fatalf("exchange: %d %v", st, body)
			}
			return body
		}
		refresh := func(clientID, secret, token string, scope string) (int, map[string]any) {
			t.Helper()
			f := refreshForm(token)
			if scope != "" {
				f.Set("scope", scope)
			}
			return tokenPost(t, s, "default", clientID, secret, f)
		}

		t.Run("reuse window", func(t *testing.T) {
			clock.Set(t0)
			first := signIn()
			old := first["refresh_token"].(string)
			st, r1 := refresh(c.ID, sec, old, "")
			if st != 200 {
				t.Fatalf("refresh: %d %v", st, r1)
			}
			// A retry within the window: a fresh pair, the family stays.
			clock.Advance(9 * time.Second)
			st, r2 := refresh(c.ID, sec, old, "")
			if st != 200 || r2["refresh_token"] == r1["refresh_token"] {
				t.Fatalf("retry within the window: %d %v", st, r2)
			}
			for _, tok := range []any{r1["refresh_token"], r2["refresh_token"], r1["access_token"]} {
				if !introspect(t, s, "default", rs.ID, rsSecret, tok.(string)) {
					t.Fatal("a token of the family is inactive after a retry within the window")
				}
			}
			// After the window: reuse, the family is revoked.
			clock.Advance(time.Second)
			if st, body := refresh(c.ID, sec, old, ""); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("reuse after the window: %d %v", st, body)
			}
			for _, tok := range []any{r1["refresh_token"], r2["refresh_token"], r2["access_token"]} {
				if introspect(t, s, "default", rs.ID, rsSecret, tok.(string)) {
					t.Fatal("a token of the family is active after reuse")
				}
			}
		})

		t.Run("any valid secret, through a rotation", func(t *testing.T) {
			clock.Set(t0)
			tok := signIn()["refresh_token"].(string)
			res, err := s.Service.RotateClient(s.Ctx, "default", "web", lifecycle.RotateRequest{Transition: durationPtr(time.Hour)})
			if err != nil {
				t.Fatal(err)
			}
			st, body := refresh(c.ID, res.Secret.Plaintext, tok, "")
			if st != 200 {
				t.Fatalf("with the new secret: %d %v", st, body)
			}
			st, body = refresh(c.ID, sec, body["refresh_token"].(string), "")
			if st != 200 {
				t.Fatalf("with the retiring secret: %d %v", st, body)
			}
			sec = res.Secret.Plaintext
			clock.Advance(time.Hour)
			if st, _ := refresh(c.ID, sec, body["refresh_token"].(string), ""); st != 200 {
				t.Fatalf("after the old secret expired: %d", st)
			}
		})

		t.Run("scopes only narrow", func(t *testing.T) {
			clock.Set(t0)
			tok := signIn()["refresh_token"].(string)
			if st, body := refresh(c.ID, sec, tok, "openid write"); st != 400 || body["error"] != "invalid_scope" {
				t.Fatalf("widening: %d %v", st, body)
			}
			st, body := refresh(c.ID, sec, tok, "read")
			if st != 200 || body["scope"] != "read" || body["id_token"] != nil {
				t.Fatalf("narrowing: %d %v", st, body)
			}
			// The new refresh token keeps the grant's scopes.
			st, body = refresh(c.ID, sec, body["refresh_token"].(string), "")
			if st != 200 || body["scope"] != "openid profile email offline_access read" || body["id_token"] == nil {
				t.Fatalf("after narrowing: %d %v", st, body)
			}
		})

		t.Run("another client", func(t *testing.T) {
			clock.Set(t0)
			tok := signIn()["refresh_token"].(string)
			if st, body := refresh(other.ID, otherSecret, tok, ""); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("other client: %d %v", st, body)
			}
			if st, _ := refresh(c.ID, sec, tok, ""); st != 200 {
				t.Fatalf("the right client after another tried: %d", st)
			}
		})

		t.Run("expired", func(t *testing.T) {
			clock.Set(t0)
			tok := signIn()["refresh_token"].(string)
			clock.Advance(30 * 24 * time.Hour)
			if st, body := refresh(c.ID, sec, tok, ""); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("expired: %d %v", st, body)
			}
		})

		t.Run("reuse of an expired token", func(t *testing.T) {
			clock.Set(t0)
			old := signIn()["refresh_token"].(string)
			clock.Advance(time.Minute)
			st, next := refresh(c.ID, sec, old, "")
			if st != 200 {
				t.Fatalf("refresh: %d %v", st, next)
			}
			clock.Set(t0.Add(30 * 24 * time.Hour)) // old has expired, its successor has not
			if st, body := refresh(c.ID, sec, old, ""); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("reuse: %d %v", st, body)
			}
			if st, body := refresh(c.ID, sec, next["refresh_token"].(string), ""); st != 400 {
				t.Fatalf("successor after reuse of its expired predecessor: %d %v, want the family revoked", st, body)
			}
		})

		t.Run("disabled user", func(t *testing.T) {
			clock.Set(t0)
			tok := signIn()["refresh_token"].(string)
			yes, no := true, false
			s.Service.UpdateUser(s.Ctx, "default", "alice", watchword.UserUpdate{Disabled: &yes})
			if st, body := refresh(c.ID, sec, tok, ""); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("disabled user: %d %v", st, body)
			}
			s.Service.UpdateUser(s.Ctx, "default", "alice", watchword.UserUpdate{Disabled: &no})
		})
	})
}

func durationPtr(d time.Duration) *watchword.Duration { v := watchword.Duration(d); return &v }

// TestCompromisedRevokesCodeFlowTokens: a compromised rotation revokes the
// client's refresh tokens and makes the access tokens of their families
// introspect inactive at once.
func TestCompromisedRevokesCodeFlowTokens(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		mustUser(t, s, "default", "alice")
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true})
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		verifier := oauth2.GenerateVerifier()
		code := newBrowser(t).code(s, "default", authParams(c.ID, webCallback, verifier), "alice")
		st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier))
		if st != 200 {
			t.Fatalf("exchange: %d %v", st, body)
		}
		access := body["access_token"].(string)
		if !introspect(t, s, "default", rs.ID, rsSecret, access) {
			t.Fatal("fresh token inactive")
		}
		zero := watchword.Duration(0)
		res, err := s.Service.RotateClient(s.Ctx, "default", "web", lifecycle.RotateRequest{Transition: &zero, Compromised: true})
		if err != nil {
			t.Fatal(err)
		}
		if introspect(t, s, "default", rs.ID, rsSecret, access) {
			t.Fatal("access token of the compromised client still active")
		}
		if st, body := tokenPost(t, s, "default", c.ID, res.Secret.Plaintext, refreshForm(body["refresh_token"].(string))); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("refresh after compromise: %d %v", st, body)
		}
	})
}

// TestPasswordChangeEndsSessions: a new password (or disabling the user)
// revokes the user's refresh tokens and makes the access tokens of those
// grants inactive, while another user's session goes on.
func TestPasswordChangeEndsSessions(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		mustUser(t, s, "default", "alice")
		mustUser(t, s, "default", "bob")
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true})
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		session := func(user string) (access, refresh string) {
			verifier := oauth2.GenerateVerifier()
			code := newBrowser(t).code(s, "default", authParams(c.ID, webCallback, verifier), user)
			st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier))
			if st != 200 {
				t.Fatalf("exchange for %s: %d %v", user, st, body)
			}
			return body["access_token"].(string), body["refresh_token"].(string)
		}
		aliceAccess, aliceRefresh := session("alice")
		bobAccess, bobRefresh := session("bob")

		pw := watchword.Password("a brand new password")
		if _, err := s.Service.UpdateUser(s.Ctx, "default", "alice", watchword.UserUpdate{Password: &pw}); err != nil {
			t.Fatal(err)
		}
		if introspect(t, s, "default", rs.ID, rsSecret, aliceAccess) {
			t.Fatal("alice's access token still active after her password changed")
		}
		if st, body := tokenPost(t, s, "default", c.ID, sec, refreshForm(aliceRefresh)); st != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("alice's refresh after the password change: %d %v", st, body)
		}
		if !introspect(t, s, "default", rs.ID, rsSecret, bobAccess) {
			t.Fatal("bob's access token inactive after alice's password changed")
		}
		if st, body := tokenPost(t, s, "default", c.ID, sec, refreshForm(bobRefresh)); st != 200 {
			t.Fatalf("bob's refresh: %d %v", st, body)
		}
	})
}
