package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/testenv"
)

func TestUserInfoAndEndSession(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		alice := mustUser(t, s, "default", "alice")
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true}, webCallback, "https://app.example/bye")
		machine, machineSecret := mustClient(t, s, "machine", watchword.AuthMethodBasic)
		issuer := s.Issuer("default")
		b := newBrowser(t)
		tokens := func(scope string) map[string]any {
			t.Helper()
			verifier := oauth2.GenerateVerifier()
			params := authParams(c.ID, webCallback, verifier)
			params.Set("scope", scope)
			code := b.code(s, "default", params, "alice")
			st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier))
			if st != 200 {
				t.Fatalf("exchange: %d %v", st, body)
			}
			return body
		}
		userinfo := func(token string) (int, string, map[string]any) {
			t.Helper()
			req, _ := http.NewRequest("GET", issuer+"/userinfo", nil)
			if token != "" {
				req.Header.Set("Authorization", "Bearer "+token)
			}
			resp, body := do(t, req)
			return resp.StatusCode, resp.Header.Get("WWW-Authenticate"), body
		}

		full := tokens("openid profile email")
		st, _, body := userinfo(full["access_token"].(string))
		if st != 200 || body["sub"] != alice.ID || body["name"] != "User alice" || body["preferred_username"] != "alice" || body["email"] != "alice@example.org" {
			t.Fatalf("userinfo: %d %v", st, body)
		}
		narrow := tokens("openid")
		if st, _, body := userinfo(narrow["access_token"].(string)); st != 200 || len(body) != 1 || body["sub"] != alice.ID {
			t.Fatalf("userinfo for openid only: %d %v, want sub alone", st, body)
		}
		noOpenID := tokens("read")
		if st, hdr, body := userinfo(noOpenID["access_token"].(string)); st != 403 || body["error"] != "insufficient_scope" || !strings.Contains(hdr, `error="insufficient_scope"`) {
			t.Fatalf("without openid: %d %q %v", st, hdr, body)
		}
		_, ccBody := tokenRequest(t, s, machine.ID, machineSecret, ccForm(""))
		for name, tok := range map[string]string{
			"client credentials token": ccBody["access_token"].(string),
			"garbage":                  "abc",
			"refresh token":            full["refresh_token"].(string),
			"ID token":                 full["id_token"].(string),
		} {
			if st, hdr, body := userinfo(tok); st != 401 || body["error"] != "invalid_token" || !strings.HasPrefix(hdr, `Bearer realm="`) || !strings.Contains(hdr, `error="invalid_token"`) {
				t.Errorf("%s: %d %q %v, want 401 invalid_token", name, st, hdr, body)
			}
		}
		if st, hdr, _ := userinfo(""); st != 401 || !strings.HasPrefix(hdr, "Bearer") || strings.Contains(hdr, "error=") {
			t.Errorf("no token: %d %q, want 401 with a bare Bearer challenge", st, hdr)
		}
		// Revoked: the whole family, through the refresh token.
		req, _ := http.NewRequest("POST", issuer+"/oauth/revoke", strings.NewReader(url.Values{"token": {full["refresh_token"].(string)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.SetBasicAuth(c.ID, sec)
		if resp, _ := do(t, req); resp.StatusCode != 200 {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
		if st, _, _ := userinfo(full["access_token"].(string)); st != 401 {
			t.Fatalf("revoked token: %d, want 401", st)
		}
		yes := true
		s.Service.UpdateUser(s.Ctx, "default", "alice", watchword.UserUpdate{Disabled: &yes})
		if st, _, _ := userinfo(narrow["access_token"].(string)); st != 401 {
			t.Fatalf("disabled user: %d, want 401", st)
		}

		// End session.
		idToken := narrow["id_token"].(string)
		tests := []struct {
			name   string
			query  url.Values
			status int
			to     string
		}{
			{"no parameters", url.Values{}, 302, issuer + "/signed-out"},
			{"registered URI with client_id", url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {"https://app.example/bye"}, "state": {"s 1"}}, 302, "https://app.example/bye?state=s+1"},
			{"registered URI with id_token_hint", url.Values{"id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://app.example/bye"}}, 302, "https://app.example/bye"},
			{"unregistered URI", url.Values{"client_id": {c.ID}, "post_logout_redirect_uri": {"https://evil.example/bye"}}, 400, ""},
			{"URI without a client", url.Values{"post_logout_redirect_uri": {"https://app.example/bye"}}, 400, ""},
			{"another client's id", url.Values{"client_id": {machine.ID}, "id_token_hint": {idToken}, "post_logout_redirect_uri": {"https://app.example/bye"}}, 400, ""},
			{"forged hint", url.Values{"id_token_hint": {idToken[:len(idToken)-4] + "AAAA"}, "post_logout_redirect_uri": {"https://app.example/bye"}}, 400, ""},
			{"access token as hint", url.Values{"id_token_hint": {full["access_token"].(string)}, "post_logout_redirect_uri": {"https://app.example/bye"}}, 400, ""},
		}
		for _, tt := range tests {
			t.Run("end session/"+tt.name, func(t *testing.T) {
				p := b.get(issuer + "/end_session?" + tt.query.Encode())
				if p.status != tt.status || p.header.Get("Location") != tt.to {
					t.Fatalf("%d %q %s, want %d %q", p.status, p.header.Get("Location"), p.body, tt.status, tt.to)
				}
			})
		}
	})
}
