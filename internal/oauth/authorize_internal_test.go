package oauth

import (
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
)

// TestMatchRedirectURI: exact, byte for byte, except the port of a loopback
// redirect URI (RFC 8252 §7.3).
func TestMatchRedirectURI(t *testing.T) {
	registered := []string{
		"https://app.example/cb",
		"https://app.example/q?x=1",
		"com.example.app:/oauth",
		"http://127.0.0.1/callback",
		"http://[::1]:8080/cb",
		"http://localhost/done?mode=cli",
		"http://intranet.example/cb",
	}
	tests := []struct {
		uri  string
		want bool
	}{
		{"https://app.example/cb", true},
		{"https://app.example/cb/", false},
		{"https://APP.example/cb", false},
		{"https://app.example/CB", false},
		{"https://app.example/cb?", false},
		{"https://app.example/cb#frag", false},
		{"https://app.example/cb?x=1", false},
		{"https://app.example:443/cb", false},
		{"https://app.example/%63b", false},
		{"http://app.example/cb", false},
		{"https://app.example/q?x=1", true},
		{"https://app.example/q?x=1&y=2", false},
		{"com.example.app:/oauth", true},
		{"com.example.app:/oauth2", false},
		{"http://intranet.example/cb", true},
		{"http://intranet.example:8080/cb", false}, // not loopback: the port is part of the URI
		{"", false},

		{"http://127.0.0.1/callback", true},
		{"http://127.0.0.1:53123/callback", true},
		{"http://127.0.0.1:1/callback", true},
		{"http://127.0.0.1:53123/callback/", false},
		{"http://127.0.0.1:53123/callback?x", false},
		{"http://127.0.0.1:53123/callback#x", false},
		{"http://127.0.0.1:/callback", false},
		{"http://127.0.0.1:abc/callback", false},
		{"http://127.0.0.1:123456/callback", false},
		{"http://127.0.0.2:53123/callback", false},
		{"http://localhost:53123/callback", false}, // another host, not another port
		{"http://[::1]:53123/callback", false},
		{"https://127.0.0.1:53123/callback", false},
		{"http://user@127.0.0.1:53123/callback", false},
		{"http://127.0.0.1:53123@evil.example/callback", false},
		{"http://127.0.0.1.evil.example/callback", false},

		{"http://[::1]/cb", true},
		{"http://[::1]:9/cb", true},
		{"http://[::1]:9/cb2", false},
		{"http://[0:0:0:0:0:0:0:1]:9/cb", false},

		{"http://localhost:4000/done?mode=cli", true},
		{"http://localhost/done?mode=cli", true},
		{"http://LOCALHOST:4000/done?mode=cli", false},
		{"http://localhost:4000/done?mode=gui", false},
	}
	for _, tt := range tests {
		if got := matchRedirectURI(registered, tt.uri); got != tt.want {
			t.Errorf("matchRedirectURI(%q)=%v, want %v", tt.uri, got, tt.want)
		}
	}
}

// TestEngineAcceptsMatchedRedirect: after matchRedirectURI, the engine's own
// redirect URI check (ValidateAuthReqRedirectURI, run between
// VerifyAuthRequest and Authorize) accepts every URI Watchword matched, for
// both client types, so that the rule in force is exactly Watchword's.
func TestEngineAcceptsMatchedRedirect(t *testing.T) {
	for _, typ := range []watchword.ClientType{watchword.ClientConfidential, watchword.ClientPublic} {
		c := watchword.Client{Type: typ, RedirectURIs: []string{"http://127.0.0.1/cb", "com.example.app:/oauth", "http://intranet.example/cb", "https://app.example/cb"}}
		for _, uri := range []string{"http://127.0.0.1:4711/cb", "com.example.app:/oauth", "http://intranet.example/cb", "https://app.example/cb"} {
			if !matchRedirectURI(c.RedirectURIs, uri) {
				t.Fatalf("%s: matchRedirectURI(%q)=false", typ, uri)
			}
			view := &authorizeClient{opClient: opClient{c}, redirectURI: uri, responseType: oidc.ResponseTypeCode}
			if err := op.ValidateAuthReqRedirectURI(view, uri, oidc.ResponseTypeCode); err != nil {
				t.Errorf("%s client, %q: engine refuses: %v", typ, uri, err)
			}
		}
	}
}
