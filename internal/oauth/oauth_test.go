package oauth_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/pgtest"
	"github.com/watchword/watchword/internal/testenv"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// forEachBackend runs fn against a fresh server on every backend.
func forEachBackend(t *testing.T, opts testenv.Options, fn func(t *testing.T, s *testenv.Server)) {
	for _, b := range testenv.Backends {
		t.Run(b, func(t *testing.T) { fn(t, testenv.Start(t, b, opts)) })
	}
}

// mustClient creates a confidential client allowed scopes "read" and "write".
func mustClient(t *testing.T, s *testenv.Server, name, method string) (watchword.Client, string) {
	t.Helper()
	c, ns, err := s.Service.CreateClient(s.Ctx, "default", lifecycle.ClientCreate{
		Name: name, Scopes: []string{"read", "write"}, OAuth: watchword.ClientOAuth{TokenEndpointAuthMethod: method},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, ns.Plaintext
}

// tokenRequest posts form to the token endpoint, with Basic credentials if user is set.
func tokenRequest(t *testing.T, s *testenv.Server, user, pass string, form url.Values) (*http.Response, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if user != "" {
		req.SetBasicAuth(url.QueryEscape(user), url.QueryEscape(pass))
	}
	return do(t, req)
}

func do(t *testing.T, req *http.Request) (*http.Response, map[string]any) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("%s %s: status %d, body not JSON: %q", req.Method, req.URL, resp.StatusCode, b)
	}
	return resp, body
}

func ccForm(scope string) url.Values {
	f := url.Values{"grant_type": {"client_credentials"}}
	if scope != "" {
		f.Set("scope", scope)
	}
	return f
}

// TestRealClients: golang.org/x/oauth2 gets tokens with basic and post, and
// the token verifies against the published JWKS as an RFC 9068 JWT.
func TestRealClients(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		ctx := t.Context()
		tests := []struct {
			method string
			style  oauth2.AuthStyle
		}{
			{watchword.AuthMethodBasic, oauth2.AuthStyleInHeader},
			{watchword.AuthMethodPost, oauth2.AuthStyleInParams},
		}
		for _, tt := range tests {
			t.Run(tt.method, func(t *testing.T) {
				c, sec := mustClient(t, s, "app-"+strings.ReplaceAll(tt.method, "_", "-"), tt.method)
				cfg := clientcredentials.Config{ClientID: c.ID, ClientSecret: sec, TokenURL: s.TokenURL("default"), Scopes: []string{"read"}, AuthStyle: tt.style}
				tok, err := cfg.Token(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if tok.TokenType != "Bearer" || tok.Expiry.IsZero() {
					t.Fatalf("token=%+v", tok)
				}
				claims := verifyAccessToken(t, s, tok.AccessToken)
				if claims["client_id"] != c.ID || claims["sub"] != c.ID || claims["scope"] != "read" || claims["iss"] != s.Issuer("default") {
					t.Fatalf("claims=%v", claims)
				}
				// The other method is refused: the registered one is enforced.
				other := oauth2.AuthStyleInParams
				if tt.style == oauth2.AuthStyleInParams {
					other = oauth2.AuthStyleInHeader
				}
				cfg.AuthStyle = other
				if _, err := cfg.Token(ctx); err == nil || !strings.Contains(err.Error(), "invalid_client") {
					t.Fatalf("other auth method: err=%v, want invalid_client", err)
				}
			})
		}
	})
}

// verifyAccessToken checks an access token against the domain's JWKS and
// returns its claims.
func verifyAccessToken(t *testing.T, s *testenv.Server, token string) map[string]any {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		t.Fatalf("parse access token: %v", err)
	}
	if typ := jws.Signatures[0].Protected.ExtraHeaders["typ"]; typ != "at+jwt" {
		t.Fatalf("typ=%v, want at+jwt", typ)
	}
	resp, err := http.Get(s.Issuer("default") + "/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	keys := set.Key(jws.Signatures[0].Header.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q not in JWKS", jws.Signatures[0].Header.KeyID)
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	_ = json.Unmarshal(payload, &claims)
	for _, c := range []string{"iss", "exp", "aud", "sub", "client_id", "iat", "jti"} {
		if _, ok := claims[c]; !ok {
			t.Fatalf("RFC 9068 claim %q missing: %v", c, claims)
		}
	}
	return claims
}

// TestDiscovery: go-oidc discovers the issuer; URLs come from configuration,
// never from Host or X-Forwarded-* headers.
func TestDiscovery(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		p, err := gooidc.NewProvider(t.Context(), s.Issuer("default"))
		if err != nil {
			t.Fatal(err)
		}
		if p.Endpoint().TokenURL != s.TokenURL("default") {
			t.Fatalf("token URL=%q", p.Endpoint().TokenURL)
		}
		req, _ := http.NewRequest("GET", s.Issuer("default")+"/.well-known/openid-configuration", nil)
		req.Host = "evil.example"
		req.Header.Set("X-Forwarded-Host", "evil.example")
		req.Header.Set("X-Forwarded-Proto", "https")
		_, doc := do(t, req)
		raw, _ := json.Marshal(doc)
		if strings.Contains(string(raw), "evil.example") || doc["issuer"] != s.Issuer("default") {
			t.Fatalf("discovery follows request headers: %s", raw)
		}
		for _, field := range []string{"grant_types_supported", "token_endpoint_auth_methods_supported", "code_challenge_methods_supported", "introspection_endpoint", "revocation_endpoint", "jwks_uri"} {
			if _, ok := doc[field]; !ok {
				t.Errorf("discovery lacks %s", field)
			}
		}
		resp, _ := http.Get(s.PublicURL + "/no-such-domain/.well-known/openid-configuration")
		if resp.StatusCode != http.StatusNotFound {
			t.Fatalf("unknown domain: status %d, want 404", resp.StatusCode)
		}
	})
}

// TestClientAuthFailures: every failure is the same 401 invalid_client.
func TestClientAuthFailures(t *testing.T) {
	clock := clocktest.New(time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC))
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		c, good := mustClient(t, s, "app", watchword.AuthMethodBasic)
		other, otherSecret := mustClient(t, s, "other", watchword.AuthMethodBasic)
		revoked, err := s.Service.AddSecret(s.Ctx, "default", "app", lifecycle.SecretCreate{Description: "to revoke"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.RevokeSecret(s.Ctx, "default", "app", revoked.ID, lifecycle.RevokeRequest{}); err != nil {
			t.Fatal(err)
		}
		zero := watchword.Duration(0)
		old := good
		res, err := s.Service.RotateClient(s.Ctx, "default", "other", lifecycle.RotateRequest{Transition: &zero})
		if err != nil {
			t.Fatal(err)
		}
		tests := []struct{ name, id, secret string }{
			{"wrong secret", c.ID, good[:len(good)-1] + string(good[len(good)-1]^1)}, // last character changed
			{"unknown client", "nobody", good},
			{"revoked secret", c.ID, revoked.Plaintext},
			{"expired by rotation", other.ID, otherSecret},
			{"another client's secret", c.ID, res.Secret.Plaintext},
			{"made-up custom value", c.ID, strings.Repeat("z", 40)},
		}
		var first map[string]any
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				resp, body := tokenRequest(t, s, tt.id, tt.secret, ccForm(""))
				if resp.StatusCode != 401 || body["error"] != "invalid_client" {
					t.Fatalf("status=%d body=%v, want 401 invalid_client", resp.StatusCode, body)
				}
				if !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
					t.Fatalf("WWW-Authenticate=%q", resp.Header.Get("WWW-Authenticate"))
				}
				if first == nil {
					first = body
				} else if body["error_description"] != first["error_description"] {
					t.Fatalf("description %q differs from %q: it hints which part was wrong", body["error_description"], first["error_description"])
				}
			})
		}
		if resp, _ := tokenRequest(t, s, c.ID, old, ccForm("")); resp.StatusCode != 200 {
			t.Fatalf("good secret: %d", resp.StatusCode)
		}
		// Disabling the client stops its secrets; enabling restores them.
		yes, no := true, false
		s.Service.UpdateClient(s.Ctx, "default", "app", watchword.ClientUpdate{Disabled: &yes})
		if resp, _ := tokenRequest(t, s, c.ID, old, ccForm("")); resp.StatusCode != 401 {
			t.Fatalf("disabled client: %d, want 401", resp.StatusCode)
		}
		s.Service.UpdateClient(s.Ctx, "default", "app", watchword.ClientUpdate{Disabled: &no})
		if resp, body := tokenRequest(t, s, c.ID, old, ccForm("admin")); resp.StatusCode != 400 || body["error"] != "invalid_scope" {
			t.Fatalf("unregistered scope: %d %v, want 400 invalid_scope", resp.StatusCode, body)
		}
	})
}

// TestExpiryBoundary: over HTTP, with the server's clock injected, a secret
// works 1µs before its expiry and fails at it.
func TestExpiryBoundary(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		clock.Set(t0)
		p := watchword.DefaultSecretPolicy()
		p.Expiry = watchword.Expiry{Unit: watchword.ExpiryHours, Duration: 1}
		if _, err := s.Service.SetDomainPolicy(s.Ctx, "default", p); err != nil {
			t.Fatal(err)
		}
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		clock.Set(t0.Add(time.Hour - time.Microsecond))
		if resp, body := tokenRequest(t, s, c.ID, sec, ccForm("")); resp.StatusCode != 200 {
			t.Fatalf("1µs before expiry: %d %v", resp.StatusCode, body)
		}
		clock.Set(t0.Add(time.Hour))
		if resp, _ := tokenRequest(t, s, c.ID, sec, ccForm("")); resp.StatusCode != 401 {
			t.Fatalf("at expiry: %d, want 401", resp.StatusCode)
		}
	})
}

// TestHostileInputs: malformed requests get RFC 6749 errors, never a 500.
func TestHostileInputs(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(c.ID+":"+sec))
		tests := []struct {
			name        string
			method, url string
			ctype, auth string
			body        string
			status      int
			code        string
		}{
			{"missing grant_type", "POST", "", "", basic, "", 400, "invalid_request"},
			{"unknown grant_type", "POST", "", "", basic, "grant_type=password", 400, "unsupported_grant_type"},
			{"duplicated parameter", "POST", "", "", basic, "grant_type=client_credentials&grant_type=client_credentials", 400, "invalid_request"},
			{"secret in the URL", "POST", "?client_secret=" + sec, "", "", "grant_type=client_credentials&client_id=" + c.ID, 400, "invalid_request"},
			{"basic and post together", "POST", "", "", basic, "grant_type=client_credentials&client_id=" + c.ID + "&client_secret=" + sec, 400, "invalid_request"},
			{"malformed basic", "POST", "", "", "Basic !!!", "grant_type=client_credentials", 401, "invalid_client"},
			{"basic without colon", "POST", "", "", "Basic " + base64.StdEncoding.EncodeToString([]byte("nocolon")), "grant_type=client_credentials", 401, "invalid_client"},
			{"bearer header", "POST", "", "", "Bearer abc", "grant_type=client_credentials", 401, "invalid_client"},
			{"no credentials", "POST", "", "", "", "grant_type=client_credentials&client_id=" + c.ID, 401, "invalid_client"},
			{"oversized body", "POST", "", "", basic, "grant_type=client_credentials&pad=" + strings.Repeat("a", 100<<10), 413, "invalid_request"},
			{"JSON body", "POST", "", "application/json", basic, `{"grant_type":"client_credentials"}`, 400, "invalid_request"},
			{"GET", "GET", "?grant_type=client_credentials", "", basic, "", 405, "invalid_request"},
			{"code grant without code", "POST", "", "", basic, "grant_type=authorization_code", 400, ""},
			{"refresh without token", "POST", "", "", basic, "grant_type=refresh_token", 400, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				req, _ := http.NewRequest(tt.method, s.TokenURL("default")+tt.url, strings.NewReader(tt.body))
				ctype := tt.ctype
				if ctype == "" {
					ctype = "application/x-www-form-urlencoded"
				}
				req.Header.Set("Content-Type", ctype)
				if tt.auth != "" {
					req.Header.Set("Authorization", tt.auth)
				}
				resp, body := do(t, req)
				if resp.StatusCode != tt.status || (tt.code != "" && body["error"] != tt.code) || body["error"] == nil {
					t.Fatalf("status=%d body=%v, want %d %s", resp.StatusCode, body, tt.status, tt.code)
				}
				if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
					t.Fatalf("Cache-Control=%q, want no-store", cc)
				}
			})
		}
	})
}

// TestIntrospectAndRevoke: a revoked access token is inactive at once.
func TestIntrospectAndRevoke(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		_, body := tokenRequest(t, s, c.ID, sec, ccForm("read write"))
		token := body["access_token"].(string)

		introspect := func() map[string]any {
			req, _ := http.NewRequest("POST", s.Issuer("default")+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(rs.ID, rsSecret)
			resp, body := do(t, req)
			if resp.StatusCode != 200 {
				t.Fatalf("introspect: %d %v", resp.StatusCode, body)
			}
			return body
		}
		if got := introspect(); got["active"] != true || got["client_id"] != c.ID || got["scope"] != "read write" {
			t.Fatalf("introspection=%v", got)
		}
		// Without client authentication introspection is refused.
		req, _ := http.NewRequest("POST", s.Issuer("default")+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if resp, _ := do(t, req); resp.StatusCode != 401 {
			t.Fatalf("unauthenticated introspection: %d, want 401", resp.StatusCode)
		}
		// Another client may not revoke it.
		revoke := func(id, secret string) *http.Response {
			req, _ := http.NewRequest("POST", s.Issuer("default")+"/oauth/revoke", strings.NewReader(url.Values{"token": {token}}.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(id, secret)
			resp, _ := do(t, req)
			return resp
		}
		if resp := revoke(rs.ID, rsSecret); resp.StatusCode != 400 {
			t.Fatalf("revocation by another client: %d, want 400", resp.StatusCode)
		}
		if got := introspect(); got["active"] != true {
			t.Fatal("token inactive after a refused revocation")
		}
		if resp := revoke(c.ID, sec); resp.StatusCode != 200 {
			t.Fatalf("revocation: %d", resp.StatusCode)
		}
		if got := introspect(); got["active"] != false || len(got) != 1 {
			t.Fatalf("after revocation: %v, want only active=false", got)
		}
	})
}

// TestIntrospectionExpiryBoundary: with the server's clock injected, an
// access token that introspection has already verified (and remembers) is
// active 1µs before its expiry and inactive at it; a token differing from a
// remembered one in one byte is not taken for it.
func TestIntrospectionExpiryBoundary(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		clock.Set(t0)
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		_, body := tokenRequest(t, s, c.ID, sec, ccForm(""))
		token := body["access_token"].(string)
		lifetime := time.Duration(body["expires_in"].(float64)) * time.Second
		active := func(token string) bool { return introspect(t, s, "default", rs.ID, rsSecret, token) }
		if !active(token) {
			t.Fatal("fresh token inactive")
		}
		tampered := token[:len(token)-2] + "A" + token[len(token)-1:] // a signature character changed
		if tampered == token {
			tampered = token[:len(token)-2] + "B" + token[len(token)-1:]
		}
		if active(tampered) {
			t.Fatal("a token with a changed signature is active")
		}
		clock.Set(t0.Add(lifetime - time.Microsecond))
		if !active(token) {
			t.Fatal("inactive 1µs before expiry")
		}
		clock.Set(t0.Add(lifetime))
		if active(token) {
			t.Fatal("active at expiry")
		}
	})
}

// TestRotationKeepsTokens: rotating never touches tokens already issued.
func TestRotationKeepsTokens(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		_, body := tokenRequest(t, s, c.ID, sec, ccForm(""))
		zero := watchword.Duration(0)
		if _, err := s.Service.RotateClient(s.Ctx, "default", "app", lifecycle.RotateRequest{Transition: &zero}); err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest("POST", s.Issuer("default")+"/oauth/introspect", strings.NewReader(url.Values{"token": {body["access_token"].(string)}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		req.SetBasicAuth(rs.ID, rsSecret)
		if _, got := do(t, req); got["active"] != true {
			t.Fatalf("token after rotation: %v, want active", got)
		}
	})
}

// TestUsageTracking: uses are counted in memory and flushed, with no write
// per request.
func TestUsageTracking(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		for range 3 {
			if resp, _ := tokenRequest(t, s, c.ID, sec, ccForm("")); resp.StatusCode != 200 {
				t.Fatal(resp.Status)
			}
		}
		if err := s.Provider.Usage.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		secrets, err := s.Service.ListSecrets(s.Ctx, "default", "app")
		if err != nil {
			t.Fatal(err)
		}
		if got := secrets[0]; got.UseCount != 3 || got.LastUsedAt == nil || time.Since(*got.LastUsedAt) > time.Minute {
			t.Fatalf("usage=%d last=%v, want 3 and just now", got.UseCount, got.LastUsedAt)
		}
	})
}

// TestThrottle: repeated failures are slowed down, but the right secret
// always works.
func TestThrottle(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, sec := mustClient(t, s, "app", watchword.AuthMethodBasic)
		var last int
		for range 7 {
			resp, _ := tokenRequest(t, s, c.ID, "wrong-secret-value-that-is-long-enough", ccForm(""))
			last = resp.StatusCode
		}
		if last != http.StatusTooManyRequests {
			t.Fatalf("7th failure: %d, want 429", last)
		}
		if resp, body := tokenRequest(t, s, c.ID, sec, ccForm("")); resp.StatusCode != 200 {
			t.Fatalf("right secret while throttled: %d %v", resp.StatusCode, body)
		}
	})
}
