package oauth_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clocktest"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// TestLoginPage: the login form is refused without its CSRF token or
// cookie; unknown users, wrong passwords and disabled users all get the
// same message; failures are throttled; denying consent tells the client.
func TestLoginPage(t *testing.T) {
	t0 := time.Date(2026, 5, 1, 10, 0, 0, 0, time.UTC)
	clock := clocktest.New(t0)
	forEachBackend(t, testenv.Options{Now: clock.Now}, func(t *testing.T, s *testenv.Server) {
		clock.Set(t0)
		mustUser(t, s, "default", "alice")
		mustUser(t, s, "default", "carol")
		yes := true
		if _, err := s.Service.UpdateUser(s.Ctx, "default", "carol", watchword.UserUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.CreateUser(s.Ctx, "default", lifecycle.UserCreate{Username: "nopass"}); err != nil {
			t.Fatal(err)
		}
		c, _ := codeClient(t, s, "default", "web", watchword.ClientConfidential, watchword.ClientOAuth{})
		params := authParams(c.ID, webCallback, oauth2.GenerateVerifier())
		issuer := s.Issuer("default")

		t.Run("CSRF", func(t *testing.T) {
			b := newBrowser(t)
			loginURL, login := b.startLogin(s, "default", params)
			form := url.Values{"id": {login.hidden("id")}, "username": {"alice"}, "password": {testPassword}}
			if p := b.post(issuer+"/login", form); p.status != http.StatusForbidden {
				t.Fatalf("without token: %d %s", p.status, p.body)
			}
			wrong := "x" + login.hidden("csrf")[1:] // a different first character
			if wrong == login.hidden("csrf") {
				wrong = "y" + wrong[1:]
			}
			form.Set("csrf", wrong)
			if p := b.post(issuer+"/login", form); p.status != http.StatusForbidden {
				t.Fatalf("with a wrong token: %d", p.status)
			}
			// The token of another authorization request does not fit.
			_, login2 := b.startLogin(s, "default", params)
			form.Set("csrf", login2.hidden("csrf"))
			if p := b.post(issuer+"/login", form); p.status != http.StatusForbidden {
				t.Fatalf("with another request's token: %d", p.status)
			}
			// Another browser (no cookie) cannot use the token either.
			form.Set("csrf", login.hidden("csrf"))
			if p := newBrowser(t).post(issuer+"/login", form); p.status != http.StatusForbidden {
				t.Fatalf("from a browser without the cookie: %d", p.status)
			}
			// A JSON body is not a form.
			req, _ := http.NewRequest("POST", issuer+"/login", strings.NewReader(`{"id":"x"}`))
			req.Header.Set("Content-Type", "application/json")
			if p := b.do(req); p.status != http.StatusBadRequest {
				t.Fatalf("JSON body: %d", p.status)
			}
			if p := b.signIn(loginURL, login, "alice", testPassword); p.status != http.StatusOK || !strings.Contains(p.body, `action="consent"`) {
				t.Fatalf("the right form: %d %s", p.status, p.body)
			}
		})

		t.Run("same message for every refusal", func(t *testing.T) {
			b := newBrowser(t)
			var first page
			for i, tc := range []struct{ user, password string }{
				{"alice", "wrong password"}, {"mallory", testPassword}, {"carol", testPassword}, {"nopass", ""}, {"nopass", testPassword},
			} {
				loginURL, login := b.startLogin(s, "default", params)
				p := b.signIn(loginURL, login, tc.user, tc.password)
				if tc.password == "" {
					if p.message() != "Enter your username and password." {
						t.Fatalf("empty password: %q", p.message())
					}
					continue
				}
				if i == 0 {
					first = p
					if p.status != http.StatusOK || p.message() != "Invalid username or password." {
						t.Fatalf("wrong password: %d %q", p.status, p.message())
					}
					continue
				}
				if p.status != first.status || p.message() != first.message() {
					t.Fatalf("%s: %d %q differs from %d %q", tc.user, p.status, p.message(), first.status, first.message())
				}
			}
		})

		t.Run("throttled", func(t *testing.T) {
			b := newBrowser(t)
			var p page
			for range 6 {
				loginURL, login := b.startLogin(s, "default", params)
				p = b.signIn(loginURL, login, "alice", "wrong password")
			}
			loginURL, login := b.startLogin(s, "default", params)
			p = b.signIn(loginURL, login, "Alice", testPassword)
			if p.status != http.StatusTooManyRequests || !strings.Contains(p.message(), "Too many failed sign-in attempts") {
				t.Fatalf("after 6 failures: %d %q, want 429 even with the right password", p.status, p.message())
			}
			// Other users are not affected; the window passes.
			loginURL, login = b.startLogin(s, "default", params)
			if p := b.signIn(loginURL, login, "carol", "wrong"); p.status != http.StatusOK {
				t.Fatalf("another user: %d", p.status)
			}
			clock.Advance(2 * time.Second)
			loginURL, login = b.startLogin(s, "default", params)
			if p := b.signIn(loginURL, login, "alice", testPassword); p.status != http.StatusOK || !strings.Contains(p.body, `action="consent"`) {
				t.Fatalf("after the window: %d %q", p.status, p.message())
			}
		})

		t.Run("deny consent", func(t *testing.T) {
			b := newBrowser(t)
			loginURL, login := b.startLogin(s, "default", params)
			consent := b.signIn(loginURL, login, "alice", testPassword)
			// The consent form of one browser is useless in another.
			if p := newBrowser(t).consent(issuer, consent, "allow"); p.status != http.StatusForbidden {
				t.Fatalf("consent from another browser: %d", p.status)
			}
			p := b.consent(issuer, consent, "deny")
			q := p.location().Query()
			if p.status != http.StatusSeeOther || q.Get("error") != "access_denied" || q.Get("state") != params.Get("state") || q.Has("code") {
				t.Fatalf("deny: %d %s", p.status, p.header.Get("Location"))
			}
			// The request is used up.
			if p := b.consent(issuer, consent, "allow"); p.status != http.StatusBadRequest {
				t.Fatalf("consent after deny: %d", p.status)
			}
		})

		t.Run("one code per request", func(t *testing.T) {
			b := newBrowser(t)
			loginURL, login := b.startLogin(s, "default", params)
			consent := b.signIn(loginURL, login, "alice", testPassword)
			if p := b.consent(issuer, consent, "allow"); p.status != http.StatusSeeOther {
				t.Fatalf("allow: %d", p.status)
			}
			if p := b.consent(issuer, consent, "allow"); p.status != http.StatusBadRequest || p.message() == "" {
				t.Fatalf("second allow: %d %q", p.status, p.message())
			}
		})

		t.Run("expired or unknown request", func(t *testing.T) {
			b := newBrowser(t)
			loginURL, login := b.startLogin(s, "default", params)
			clock.Advance(10 * time.Minute)
			if p := b.get(loginURL); p.status != http.StatusBadRequest || !strings.Contains(p.message(), "expired") {
				t.Fatalf("expired request: %d %q", p.status, p.message())
			}
			if p := b.signIn(loginURL, login, "alice", testPassword); p.status != http.StatusBadRequest {
				t.Fatalf("login on expired request: %d", p.status)
			}
			if p := b.get(issuer + "/login?id=nonsense"); p.status != http.StatusBadRequest {
				t.Fatalf("unknown id: %d", p.status)
			}
			if p := b.get(issuer + "/login"); p.status != http.StatusBadRequest {
				t.Fatalf("no id: %d", p.status)
			}
		})

		t.Run("signed-out page", func(t *testing.T) {
			if p := newBrowser(t).get(issuer + "/signed-out"); p.status != http.StatusOK || !strings.Contains(p.body, "signed out") {
				t.Fatalf("%d %s", p.status, p.body)
			}
		})
	})
}
