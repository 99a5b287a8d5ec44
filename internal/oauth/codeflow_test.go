package oauth_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/testenv"
)

// TestCodeFlow: a real relying party (golang.org/x/oauth2 and go-oidc)
// signs a user in with the authorization code flow and PKCE, driven over
// HTTP by a browser with a cookie jar; then refreshes, and a replayed
// refresh token revokes the family.
func TestCodeFlow(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		ctx := t.Context()
		alice := mustUser(t, s, "default", "alice")
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{})
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)

		provider, err := gooidc.NewProvider(ctx, s.Issuer("default"))
		if err != nil {
			t.Fatal(err)
		}
		cfg := oauth2.Config{
			ClientID: c.ID, ClientSecret: sec, Endpoint: provider.Endpoint(), RedirectURL: webCallback,
			Scopes: []string{gooidc.ScopeOpenID, "profile", "email", gooidc.ScopeOfflineAccess, "read"},
		}
		verifier := oauth2.GenerateVerifier()
		state, nonce := "xyz-"+strings.Repeat("ä&=?", 3), "n-0S6_WzA2Mj"
		authURL := cfg.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce))

		b := newBrowser(t)
		p := b.get(authURL)
		if p.status != http.StatusFound {
			t.Fatalf("authorize: %d %s", p.status, p.body)
		}
		loginURL := p.header.Get("Location")
		login := b.get(loginURL)
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"} {
			if got := login.header.Get(h); got != want {
				t.Errorf("login page %s=%q, want %q", h, got, want)
			}
		}
		if !strings.Contains(login.header.Get("Content-Security-Policy"), "frame-ancestors 'none'") || !strings.Contains(login.body, c.Name) {
			t.Errorf("login page: CSP %q, body %s", login.header.Get("Content-Security-Policy"), login.body)
		}
		consentPage := b.signIn(loginURL, login, "Alice", testPassword) // usernames are case-insensitive
		if consentPage.status != http.StatusOK || !strings.Contains(consentPage.body, `action="consent"`) {
			t.Fatalf("third-party client: want the consent page, got %d %s", consentPage.status, consentPage.body)
		}
		for _, want := range []string{"See your email address", "Use the permission “read”"} {
			if !strings.Contains(consentPage.body, want) {
				t.Errorf("consent page lacks %q", want)
			}
		}
		back := b.consent(s.Issuer("default"), consentPage, "allow")
		if back.status != http.StatusSeeOther {
			t.Fatalf("consent: %d %s", back.status, back.body)
		}
		cb := back.location()
		if got := cb.Query().Get("state"); got != state {
			t.Fatalf("state=%q, want %q unchanged", got, state)
		}
		if !strings.HasPrefix(cb.String(), webCallback+"?") {
			t.Fatalf("redirect to %s", cb)
		}

		tok, err := cfg.Exchange(ctx, cb.Query().Get("code"), oauth2.VerifierOption(verifier))
		if err != nil {
			t.Fatal(err)
		}
		if tok.RefreshToken == "" || tok.Expiry.IsZero() || tok.TokenType != "Bearer" {
			t.Fatalf("token=%+v, want access, refresh and expiry", tok)
		}
		rawID, _ := tok.Extra("id_token").(string)
		idt, err := provider.Verifier(&gooidc.Config{ClientID: c.ID}).Verify(ctx, rawID)
		if err != nil {
			t.Fatalf("go-oidc rejects the ID token: %v", err)
		}
		if idt.Nonce != nonce || idt.Subject != alice.ID {
			t.Fatalf("ID token nonce=%q sub=%q, want %q %q", idt.Nonce, idt.Subject, nonce, alice.ID)
		}
		if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
			t.Fatalf("at_hash: %v", err)
		}
		raw := jwtClaims(t, rawID)
		if raw["name"] != "User alice" || raw["email"] != "alice@example.org" || raw["preferred_username"] != "alice" || raw["azp"] != c.ID {
			t.Fatalf("ID token claims=%v", raw)
		}
		if at, _ := raw["auth_time"].(float64); time.Since(time.Unix(int64(at), 0)) > time.Minute {
			t.Fatalf("auth_time=%v", raw["auth_time"])
		}
		if exp, _ := raw["exp"].(float64); time.Until(time.Unix(int64(exp), 0)) > time.Hour+time.Minute {
			t.Fatalf("ID token lives longer than the domain's 1h: exp %v", raw["exp"])
		}
		at := verifyAccessToken(t, s, tok.AccessToken)
		if at["sub"] != alice.ID || at["client_id"] != c.ID || at["fid"] == nil || at["scope"] != "openid profile email offline_access read" {
			t.Fatalf("access token claims=%v", at)
		}

		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			t.Fatal(err)
		}
		if ui.Subject != alice.ID || ui.Email != "alice@example.org" {
			t.Fatalf("userinfo=%+v", ui)
		}

		// Refresh: a new pair; the presented token is used up.
		code, body := tokenPost(t, s, "default", c.ID, sec, refreshForm(tok.RefreshToken))
		if code != 200 || body["refresh_token"] == tok.RefreshToken || body["refresh_token"] == nil || body["id_token"] == nil {
			t.Fatalf("refresh: %d %v", code, body)
		}
		newRefresh, newAccess := body["refresh_token"].(string), body["access_token"].(string)
		if !introspect(t, s, "default", rs.ID, rsSecret, newAccess) || !introspect(t, s, "default", rs.ID, rsSecret, newRefresh) {
			t.Fatal("new tokens inactive")
		}
		if introspect(t, s, "default", rs.ID, rsSecret, tok.RefreshToken) {
			t.Fatal("rotated refresh token still active")
		}
		// Replaying the old one fails and revokes the whole family.
		if code, body := tokenPost(t, s, "default", c.ID, sec, refreshForm(tok.RefreshToken)); code != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("replayed refresh token: %d %v, want 400 invalid_grant", code, body)
		}
		for name, token := range map[string]string{"first access token": tok.AccessToken, "new access token": newAccess, "new refresh token": newRefresh} {
			if introspect(t, s, "default", rs.ID, rsSecret, token) {
				t.Errorf("%s still active after the family was revoked", name)
			}
		}
		if code, _ := tokenPost(t, s, "default", c.ID, sec, refreshForm(newRefresh)); code != 400 {
			t.Fatalf("refresh with the revoked family: %d, want 400", code)
		}
		evs, _, err := s.Service.ListAudit(s.Ctx, "default", watchword.AuditFilter{Action: watchword.ActionTokenReuse})
		if err != nil || len(evs) != 1 || evs[0].Details["client_id"] != c.ID || evs[0].Details["grant"] != "refresh_token" || evs[0].Actor != "system" {
			t.Fatalf("reuse audit=%+v %v", evs, err)
		}
		if evs[0].TargetID != at["fid"] {
			t.Fatalf("audited family %s, want %v", evs[0].TargetID, at["fid"])
		}

		// Signing in again: the consent is remembered.
		u := b.authorize(s, "default", authParams(c.ID, webCallback, verifier), "alice")
		if u.Query().Get("code") == "" {
			t.Fatalf("second sign-in: %s", u)
		}
	})
}

// TestDiscoveryCodeFlow: the discovery document describes what the code
// flow offers.
func TestDiscoveryCodeFlow(t *testing.T) {
	s := testenv.Start(t, "sqlite", testenv.Options{})
	_, doc := do(t, mustRequest(t, "GET", s.Issuer("default")+"/.well-known/openid-configuration"))
	for field, want := range map[string][]string{
		"response_types_supported":              {"code"},
		"response_modes_supported":              {"query"},
		"code_challenge_methods_supported":      {"S256"},
		"id_token_signing_alg_values_supported": {"RS256"},
		"grant_types_supported":                 {"client_credentials", "authorization_code", "refresh_token"},
	} {
		got := []string{}
		list, _ := doc[field].([]any)
		for _, v := range list {
			got = append(got, v.(string))
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s=%v, want %v", field, got, want)
		}
	}
	for field, want := range map[string]string{
		"authorization_endpoint": "/authorize", "userinfo_endpoint": "/userinfo", "end_session_endpoint": "/end_session",
	} {
		if doc[field] != s.Issuer("default")+want {
			t.Errorf("%s=%v", field, doc[field])
		}
	}
	if doc["request_uri_parameter_supported"] != false {
		t.Errorf("request_uri_parameter_supported=%v, want false", doc["request_uri_parameter_supported"])
	}
}

func mustRequest(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(context.Background(), method, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	return req
}
