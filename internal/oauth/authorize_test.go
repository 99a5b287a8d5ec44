package oauth_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/testenv"
)

// TestAuthorizeHostile: malformed and hostile authorization requests get
// RFC 6749 errors and never a 500. Until the redirect URI is verified the
// error is shown, never sent to the redirect URI; afterwards it goes there
// with the state unchanged.
func TestAuthorizeHostile(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		web, _ := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{})
		native, _ := codeClient(t, s, "default", "native", watchword.ClientPublic, watchword.ClientOAuth{}, "http://127.0.0.1/callback", "http://[::1]/callback", "com.example.app:/oauth")
		cc, _ := mustClient(t, s, "machine", watchword.AuthMethodBasic)
		if _, err := s.Service.UpdateClient(s.Ctx, "default", "machine", watchword.ClientUpdate{RedirectURIs: &[]string{webCallback}}); err != nil {
			t.Fatal(err)
		}
		verifier := oauth2.GenerateVerifier()
		valid := func(clientID, redirectURI string) url.Values { return authParams(clientID, redirectURI, verifier) }
		with := func(v url.Values, kv ...string) url.Values {
			v = url.Values(cloneValues(v))
			for i := 0; i < len(kv); i += 2 {
				if kv[i+1] == "\x00" {
					v.Del(kv[i])
				} else {
					v.Set(kv[i], kv[i+1])
				}
			}
			return v
		}
		const del = "\x00"
		tests := []struct {
			name  string
			query string
			// shown: the error is answered here, with this code; otherwise
			// redirected to the redirect URI with it. "login": accepted.
			shown, redirected string
		}{
			{"valid", valid(web.ID, webCallback).Encode(), "", "login"},
			{"missing client_id", with(valid(web.ID, webCallback), "client_id", del).Encode(), "invalid_request", ""},
			{"unknown client", with(valid("nobody", webCallback)).Encode(), "invalid_request", ""},
			{"missing redirect_uri", with(valid(web.ID, webCallback), "redirect_uri", del).Encode(), "invalid_request", ""},
			{"wrong redirect_uri", valid(web.ID, "https://evil.example/cb").Encode(), "invalid_request", ""},
			{"redirect_uri with trailing slash", valid(web.ID, webCallback+"/").Encode(), "invalid_request", ""},
			{"redirect_uri with other case", valid(web.ID, "https://APP.example/cb").Encode(), "invalid_request", ""},
			{"redirect_uri with a fragment", valid(web.ID, webCallback+"#x").Encode(), "invalid_request", ""},
			{"duplicated state", valid(web.ID, webCallback).Encode() + "&state=other", "invalid_request", ""},
			{"duplicated redirect_uri", valid(web.ID, webCallback).Encode() + "&redirect_uri=" + url.QueryEscape("https://evil.example/cb"), "invalid_request", ""},
			{"missing response_type", with(valid(web.ID, webCallback), "response_type", del).Encode(), "", "invalid_request"},
			{"implicit flow", with(valid(web.ID, webCallback), "response_type", "token").Encode(), "", "unsupported_response_type"},
			{"hybrid flow", with(valid(web.ID, webCallback), "response_type", "code id_token").Encode(), "", "unsupported_response_type"},
			{"fragment response mode", with(valid(web.ID, webCallback), "response_mode", "fragment").Encode(), "", "invalid_request"},
			{"missing scope", with(valid(web.ID, webCallback), "scope", del).Encode(), "", "invalid_request"},
			{"only unknown scopes", with(valid(web.ID, webCallback), "scope", "admin").Encode(), "", "invalid_scope"},
			{"prompt none", with(valid(web.ID, webCallback), "prompt", "none").Encode(), "", "login_required"},
			{"request object", with(valid(web.ID, webCallback), "request", "eyJhbGciOiJub25lIn0.e30.").Encode(), "", "request_not_supported"},
			{"request_uri", with(valid(web.ID, webCallback), "request_uri", "https://evil.example/req").Encode(), "", "request_uri_not_supported"},
			{"client without the code grant", valid(cc.ID, webCallback).Encode(), "", "unauthorized_client"},
			{"oversized state", with(valid(web.ID, webCallback), "state", strings.Repeat("s", 2000)).Encode(), "", "invalid_request"},

			{"PKCE missing, confidential client, domain requires it", with(valid(web.ID, webCallback), "code_challenge", del, "code_challenge_method", del).Encode(), "", "invalid_request"},
			{"PKCE missing, public client", with(valid(native.ID, "http://127.0.0.1/callback"), "code_challenge", del, "code_challenge_method", del).Encode(), "", "invalid_request"},
			{"PKCE plain", with(valid(native.ID, "http://127.0.0.1/callback"), "code_challenge", verifier, "code_challenge_method", "plain").Encode(), "", "invalid_request"},
			{"PKCE without method is plain", with(valid(native.ID, "http://127.0.0.1/callback"), "code_challenge", verifier, "code_challenge_method", del).Encode(), "", "invalid_request"},
			{"PKCE unknown method", with(valid(native.ID, "http://127.0.0.1/callback"), "code_challenge_method", "S512").Encode(), "", "invalid_request"},
			{"PKCE malformed S256 challenge", with(valid(native.ID, "http://127.0.0.1/callback"), "code_challenge", "short").Encode(), "", "invalid_request"},

			{"loopback, registered port", valid(native.ID, "http://127.0.0.1/callback").Encode(), "", "login"},
			{"loopback, other port", valid(native.ID, "http://127.0.0.1:53123/callback").Encode(), "", "login"},
			{"loopback IPv6, other port", valid(native.ID, "http://[::1]:53123/callback").Encode(), "", "login"},
			{"loopback, other host", valid(native.ID, "http://localhost:53123/callback").Encode(), "invalid_request", ""},
			{"loopback, other path", valid(native.ID, "http://127.0.0.1:53123/callback2").Encode(), "invalid_request", ""},
			{"loopback, https", valid(native.ID, "https://127.0.0.1:53123/callback").Encode(), "invalid_request", ""},
			{"loopback, userinfo", valid(native.ID, "http://a@127.0.0.1:53123/callback").Encode(), "invalid_request", ""},
			{"custom scheme", valid(native.ID, "com.example.app:/oauth").Encode(), "", "login"},
		}
		b := newBrowser(t)
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				q, _ := url.ParseQuery(tt.query)
				p := b.get(s.Issuer("default") + "/authorize?" + tt.query)
				loc := p.header.Get("Location")
				switch {
				case tt.redirected == "login":
					if p.status != http.StatusFound || !strings.HasPrefix(loc, s.Issuer("default")+"/login?id=") {
						t.Fatalf("status %d Location %q body %s, want the login page", p.status, loc, p.body)
					}
				case tt.shown != "":
					var body map[string]any
					_ = json.Unmarshal([]byte(p.body), &body)
					if p.status != http.StatusBadRequest || loc != "" || body["error"] != tt.shown {
						t.Fatalf("status %d Location %q body %s, want 400 %s shown, no redirect", p.status, loc, p.body, tt.shown)
					}
				default:
					u, _ := url.Parse(loc)
					if p.status != http.StatusFound || u == nil || u.Scheme+"://"+u.Host+u.Path != q.Get("redirect_uri") {
						t.Fatalf("status %d Location %q, want a redirect to %s", p.status, loc, q.Get("redirect_uri"))
					}
					got := u.Query()
					if u.Fragment != "" { // the response mode the request asked for
						got, _ = url.ParseQuery(u.Fragment)
					}
					if got.Get("error") != tt.redirected || got.Get("state") != q.Get("state") || got.Has("code") {
						t.Fatalf("redirect %s, want error=%s and state %q", loc, tt.redirected, q.Get("state"))
					}
				}
			})
		}
	})
}

func cloneValues(v url.Values) map[string][]string {
	out := map[string][]string{}
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// TestAuthorizeDomainSettings: state and PKCE rules follow the domain and
// the client. A separate domain per setting keeps the domain cache out of
// the way.
func TestAuthorizeDomainSettings(t *testing.T) {
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		if _, err := s.Service.CreateDomain(s.Ctx, "relaxed", ""); err != nil {
			t.Fatal(err)
		}
		o := watchword.DefaultDomainOAuth()
		o.RequireState, o.RequirePKCE = false, false
		if _, err := s.Service.SetDomainOAuth(s.Ctx, "relaxed", o); err != nil {
			t.Fatal(err)
		}
		mustUser(t, s, "relaxed", "alice")
		yes := true
		web, sec := codeClient(t, s, "relaxed", "web", watchword.ClientConfidential, watchword.ClientOAuth{})
		strict, _ := codeClient(t, s, "relaxed", "strict", watchword.ClientConfidential, watchword.ClientOAuth{RequirePKCE: &yes})
		plain, plainSecret := codeClient(t, s, "relaxed", "plain", watchword.ClientConfidential, watchword.ClientOAuth{AllowPlainPKCE: true, FirstParty: true})
		native, _ := codeClient(t, s, "relaxed", "native", watchword.ClientPublic, watchword.ClientOAuth{}, "http://127.0.0.1/cb")

		b := newBrowser(t)
		noPKCE := func(clientID, redirect string) url.Values {
			v := authParams(clientID, redirect, "")
			v.Del("code_challenge")
			v.Del("code_challenge_method")
			v.Del("state")
			return v
		}
		// Without state and PKCE: allowed for a confidential client here.
		u := b.authorize(s, "relaxed", noPKCE(web.ID, webCallback), "alice")
		if u.Query().Has("state") || u.Query().Get("code") == "" {
			t.Fatalf("redirect %s: want a code and no state", u)
		}
		if code, body := tokenPost(t, s, "relaxed", web.ID, sec, exchangeForm(u.Query().Get("code"), webCallback, "")); code != 200 {
			t.Fatalf("exchange without PKCE: %d %v", code, body)
		}
		// Sending a verifier for a code issued without a challenge fails.
		u = b.authorize(s, "relaxed", noPKCE(web.ID, webCallback), "alice")
		if code, body := tokenPost(t, s, "relaxed", web.ID, sec, exchangeForm(u.Query().Get("code"), webCallback, oauth2.GenerateVerifier())); code != 400 || body["error"] != "invalid_grant" {
			t.Fatalf("verifier without challenge: %d %v", code, body)
		}
		// The client's own setting beats the domain's; public clients always need PKCE.
		for _, c := range []struct{ id, redirect string }{{strict.ID, webCallback}, {native.ID, "http://127.0.0.1/cb"}} {
			p := b.get(s.Issuer("relaxed") + "/authorize?" + noPKCE(c.id, c.redirect).Encode())
			if p.status != http.StatusFound || p.location().Query().Get("error") != "invalid_request" {
				t.Fatalf("%s without PKCE: %d %s", c.id, p.status, p.header.Get("Location"))
			}
		}
		// plain, where the client allows it, works end to end.
		v := oauth2.GenerateVerifier()
		params := authParams(plain.ID, webCallback, v)
		params.Set("code_challenge", v)
		params.Set("code_challenge_method", "plain")
		code := b.code(s, "relaxed", params, "alice")
		if st, body := tokenPost(t, s, "relaxed", plain.ID, plainSecret, exchangeForm(code, webCallback, v)); st != 200 {
			t.Fatalf("plain PKCE: %d %v", st, body)
		}

		// The default domain requires state.
		def, _ := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{})
		noState := authParams(def.ID, webCallback, oauth2.GenerateVerifier())
		noState.Del("state")
		p := b.get(s.Issuer("default") + "/authorize?" + noState.Encode())
		if p.status != http.StatusFound || p.location().Query().Get("error") != "invalid_request" {
			t.Fatalf("default domain without state: %d %s", p.status, p.header.Get("Location"))
		}
	})
}
