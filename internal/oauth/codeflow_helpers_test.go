package oauth_test

import (
	"encoding/base64"
	"encoding/json"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"golang.org/x/oauth2"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// Helpers for end-to-end tests of the authorization code flow: a browser
// with a cookie jar that does not follow redirects, so that each step can
// be checked and the final redirect to the client (which nobody serves)
// read.

const (
	testPassword = "correct horse battery staple"
	webCallback  = "https://app.example/cb"
)

// codeClient creates a client of the code flow; secret is "" for a public one.
func codeClient(t *testing.T, s *testenv.Server, domain, name string, typ watchword.ClientType, o watchword.ClientOAuth, redirects ...string) (watchword.Client, string) {
	t.Helper()
	if len(redirects) == 0 {
		redirects = []string{webCallback}
	}
	c, ns, err := s.Service.CreateClient(s.Ctx, domain, lifecycle.ClientCreate{
		Name: name, Type: typ, RedirectURIs: redirects, Scopes: []string{"read", "write"},
		GrantTypes: []string{watchword.GrantAuthorizationCode, watchword.GrantRefreshToken}, OAuth: o,
	})
	if err != nil {
		t.Fatal(err)
	}
	if ns == nil {
		return c, ""
	}
	return c, ns.Plaintext
}

func mustUser(t *testing.T, s *testenv.Server, domain, username string) watchword.User {
	t.Helper()
	u, err := s.Service.CreateUser(s.Ctx, domain, lifecycle.UserCreate{
		Username: username, Email: username + "@example.org", DisplayName: "User " + username, Password: testPassword,
	})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// browser is a person's browser: cookies, no automatic redirects.
type browser struct {
	t  *testing.T
	hc *http.Client
}

func newBrowser(t *testing.T) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, hc: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// page is a response with its body read.
type page struct {
	status int
	header http.Header
	body   string
}

func (p page) location() *url.URL {
	u, _ := url.Parse(p.header.Get("Location"))
	return u
}

// hidden returns the value of a hidden form field.
func (p page) hidden(name string) string {
	m := regexp.MustCompile(`name="` + name + `" value="([^"]*)"`).FindStringSubmatch(p.body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// message is the error or notice the page shows.
func (p page) message() string {
	for _, re := range []string{`(?s)<p class="error" role="alert">(.*?)</p>`, `(?s)<h1>.*?</h1>\s*<p>(.*?)</p>`} {
		if m := regexp.MustCompile(re).FindStringSubmatch(p.body); m != nil {
			return html.UnescapeString(m[1])
		}
	}
	return ""
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode >= 500 {
		b.t.Fatalf("%s %s: status %d: %s", req.Method, req.URL, resp.StatusCode, body)
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(u string) page {
	b.t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	return b.do(req)
}

func (b *browser) post(u string, form url.Values) page {
	b.t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return b.do(req)
}

// authParams are the parameters of a valid request with PKCE S256.
func authParams(clientID, redirectURI, verifier string) url.Values {
	return url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile email offline_access read"}, "state": {"st-" + clientID},
		"nonce": {"n-0S6_WzA2Mj"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(verifier)},
		"code_challenge_method": {"S256"},
	}
}

// startLogin sends the authorization request and returns the login page.
func (b *browser) startLogin(s *testenv.Server, domain string, params url.Values) (loginURL string, login page) {
	b.t.Helper()
	p := b.get(s.Issuer(domain) + "/authorize?" + params.Encode())
	if p.status != http.StatusFound || !strings.HasPrefix(p.header.Get("Location"), s.Issuer(domain)+"/login?id=") {
		b.t.Fatalf("authorize: status %d, Location %q, body %s", p.status, p.header.Get("Location"), p.body)
	}
	loginURL = p.header.Get("Location")
	login = b.get(loginURL)
	if login.status != http.StatusOK || login.hidden("csrf") == "" {
		b.t.Fatalf("login page: status %d, body %s", login.status, login.body)
	}
	return loginURL, login
}

// signIn posts the login form of login.
func (b *browser) signIn(loginURL string, login page, username, password string) page {
	b.t.Helper()
	return b.post(strings.Split(loginURL, "?")[0], url.Values{
		"id": {login.hidden("id")}, "csrf": {login.hidden("csrf")}, "username": {username}, "password": {password},
	})
}

// consent answers a consent page.
func (b *browser) consent(issuer string, p page, decision string) page {
	b.t.Helper()
	return b.post(issuer+"/consent", url.Values{"id": {p.hidden("id")}, "csrf": {p.hidden("csrf")}, "decision": {decision}})
}

// authorize runs the whole front channel for username and returns the
// redirect to the client; consent is given if asked for.
func (b *browser) authorize(s *testenv.Server, domain string, params url.Values, username string) *url.URL {
	b.t.Helper()
	loginURL, login := b.startLogin(s, domain, params)
	p := b.signIn(loginURL, login, username, testPassword)
	if p.status == http.StatusOK && strings.Contains(p.body, `action="consent"`) {
		p = b.consent(s.Issuer(domain), p, "allow")
	}
	if p.status != http.StatusSeeOther {
		b.t.Fatalf("after login: status %d, body %s", p.status, p.body)
	}
	return p.location()
}

// code runs the front channel and returns the code, checking the state.
func (b *browser) code(s *testenv.Server, domain string, params url.Values, username string) string {
	b.t.Helper()
	u := b.authorize(s, domain, params, username)
	q := u.Query()
	if got := u.Scheme + "://" + u.Host + u.Path; got != params.Get("redirect_uri") {
		b.t.Fatalf("redirected to %s, want %s", u, params.Get("redirect_uri"))
	}
	if q.Get("state") != params.Get("state") || q.Get("code") == "" {
		b.t.Fatalf("redirect %s: want code and state %q", u, params.Get("state"))
	}
	return q.Get("code")
}

// tokenPost posts form to the token endpoint of domain, with Basic
// credentials if secret is set and client_id in the form otherwise.
func tokenPost(t *testing.T, s *testenv.Server, domain, clientID, secret string, form url.Values) (int, map[string]any) {
	t.Helper()
	if secret == "" {
		form.Set("client_id", clientID)
	}
	req, _ := http.NewRequest("POST", s.Issuer(domain)+"/oauth/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if secret != "" {
		req.SetBasicAuth(url.QueryEscape(clientID), url.QueryEscape(secret))
	}
	resp, body := do(t, req)
	if resp.StatusCode >= 500 {
		t.Fatalf("token endpoint: %d %v", resp.StatusCode, body)
	}
	return resp.StatusCode, body
}

func exchangeForm(code, redirectURI, verifier string) url.Values {
	f := url.Values{"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}}
	if verifier != "" {
		f.Set("code_verifier", verifier)
	}
	return f
}

func refreshForm(token string) url.Values {
	return url.Values{"grant_type": {"refresh_token"}, "refresh_token": {token}}
}

// wrongSecret is secret with a different last character.
func wrongSecret(secret string) string {
	if strings.HasSuffix(secret, "x") {
		return secret[:len(secret)-1] + "y"
	}
	return secret[:len(secret)-1] + "x"
}

// introspect asks, as a resource server, whether token is active.
func introspect(t *testing.T, s *testenv.Server, domain, rsID, rsSecret, token string) bool {
	t.Helper()
	req, _ := http.NewRequest("POST", s.Issuer(domain)+"/oauth/introspect", strings.NewReader(url.Values{"token": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(rsID, rsSecret)
	resp, body := do(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("introspect: %d %v", resp.StatusCode, body)
	}
	return body["active"] == true
}

// jwtClaims returns the payload of a JWT without verifying it.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	var m map[string]any
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(b, &m) != nil {
		t.Fatalf("JWT payload: %v", err)
	}
	return m
}
