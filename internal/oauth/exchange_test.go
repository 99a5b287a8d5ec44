package oauth_test

import (
	"net/url"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/testenv"
)

// TestCodeExchangeHostile: every misuse of a code at the token endpoint is
// invalid_grant (or invalid_request for a missing parameter), never a 500.
func TestCodeExchangeHostile(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		clock.Set(t0)
		mustUser(t, s, "default", "alice")
		c, sec := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true})
		other, otherSecret := codeClient(t, s, "default", "other", watchword.ClientConfidential, watchword.ClientOAuth{FirstParty: true})
		rs, rsSecret := mustClient(t, s, "resource", watchword.AuthMethodBasic)
		b := newBrowser(t)
		verifier := oauth2.GenerateVerifier()
		newCode := func() string { return b.code(s, "default", authParams(c.ID, webCallback, verifier), "alice") }

		tests := []struct {
			name     string
			clientID string
			secret   string
			form     func(code string) url.Values
			before   func()
			status   int
			err      string
		}{
			{"PKCE verifier missing", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback, "") }, nil, 400, "invalid_grant"},
			{"PKCE verifier mismatched", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback, oauth2.GenerateVerifier()) }, nil, 400, "invalid_grant"},
			{"PKCE verifier malformed", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback, "short") }, nil, 400, "invalid_grant"},
			{"verifier is the challenge", c.ID, sec, func(code string) url.Values {
				return exchangeForm(code, webCallback, oauth2.S256ChallengeFromVerifier(verifier))
			}, nil, 400, "invalid_grant"},
			{"wrong redirect_uri", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback+"/", verifier) }, nil, 400, "invalid_grant"},
			{"missing redirect_uri", c.ID, sec, func(code string) url.Values { return exchangeForm(code, "", verifier) }, nil, 400, "invalid_request"},
			{"missing code", c.ID, sec, func(string) url.Values { return exchangeForm("", webCallback, verifier) }, nil, 400, "invalid_request"},
			{"made-up code", c.ID, sec, func(string) url.Values { return exchangeForm("wwac_nonsense", webCallback, verifier) }, nil, 400, "invalid_grant"},
			{"code used by another client", other.ID, otherSecret, func(code string) url.Values { return exchangeForm(code, webCallback, verifier) }, nil, 400, "invalid_grant"},
			{"expired code", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback, verifier) },
				func() { clock.Advance(time.Minute) }, 400, "invalid_grant"},
			{"valid request", c.ID, sec, func(code string) url.Values { return exchangeForm(code, webCallback, verifier) }, nil, 200, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				clock.Set(t0)
				code := newCode()
				if tt.before != nil {
					tt.before()
				}
				st, body := tokenPost(t, s, "default", tt.clientID, tt.secret, tt.form(code))
				if st != tt.status || (tt.err != "" && body["error"] != tt.err) {
					t.Fatalf("%d %v, want %d %s", st, body, tt.status, tt.err)
				}
				if tt.status != 200 && tt.err == "invalid_grant" && tt.name != "expired code" && tt.name != "made-up code" {
					// A failed attempt does not burn the code: the right request still works.
					clock.Set(t0)
					if st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier)); st != 200 {
						t.Fatalf("right request after the failed one: %d %v", st, body)
					}
				}
			})
		}

		t.Run("expiry boundary", func(t *testing.T) {
			clock.Set(t0)
			code := newCode()
			clock.Advance(time.Minute - time.Microsecond)
			if st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier)); st != 200 {
				t.Fatalf("1µs before expiry: %d %v", st, body)
			}
		})

		t.Run("replay revokes the first redemption's tokens", func(t *testing.T) {
			clock.Set(t0)
			code := newCode()
			st, first := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier))
			if st != 200 {
				t.Fatalf("first redemption: %d %v", st, first)
			}
			access, refresh := first["access_token"].(string), first["refresh_token"].(string)
			if !introspect(t, s, "default", rs.ID, rsSecret, access) {
				t.Fatal("fresh access token inactive")
			}
			if st, body := tokenPost(t, s, "default", c.ID, sec, exchangeForm(code, webCallback, verifier)); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("replay: %d %v, want 400 invalid_grant", st, body)
			}
			if introspect(t, s, "default", rs.ID, rsSecret, access) || introspect(t, s, "default", rs.ID, rsSecret, refresh) {
				t.Fatal("tokens of the replayed code still active")
			}
			if st, body := tokenPost(t, s, "default", c.ID, sec, refreshForm(refresh)); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("refresh from the replayed code: %d %v", st, body)
			}
			evs, _, _ := s.Service.ListAudit(s.Ctx, "default", watchword.AuditFilter{Action: watchword.ActionTokenReuse})
			if len(evs) == 0 || evs[0].Details["grant"] != "authorization_code" {
				t.Fatalf("no reuse audit: %+v", evs)
			}
		})

		t.Run("public client", func(t *testing.T) {
			clock.Set(t0)
			pub, _ := codeClient(t, s, "default", "spa", watchword.ClientPublic, watchword.ClientOAuth{FirstParty: true}, "http://127.0.0.1/cb")
			code := b.code(s, "default", authParams(pub.ID, "http://127.0.0.1:41234/cb", verifier), "alice")
			// The redirect_uri at the exchange is the one of the request, port included.
			if st, body := tokenPost(t, s, "default", pub.ID, "", exchangeForm(code, "http://127.0.0.1/cb", verifier)); st != 400 || body["error"] != "invalid_grant" {
				t.Fatalf("other port at exchange: %d %v", st, body)
			}
			if st, body := tokenPost(t, s, "default", pub.ID, "", exchangeForm(code, "http://127.0.0.1:41234/cb", verifier)); st != 200 || body["refresh_token"] == nil {
				t.Fatalf("public client exchange: %d %v", st, body)
			}
		})
	})
}
