package oauth

import (
	"context"
	"crypto/hmac"
	"embed"
	"encoding/base64"
	"errors"
	"html/template"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
)

// pagePaths are the server-rendered pages of the authorization flow, below
// a domain's issuer.
var pagePaths = map[string]bool{"/login": true, "/consent": true, "/signed-out": true}

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// loginFlow is what the login and consent pages ask of the authorization
// server. It speaks only Watchword's types: a login app outside Watchword
// would drive the same steps.
type loginFlow interface {
	// pending returns a live authorization request of the domain in ctx and
	// its client, or errRequestGone.
	pending(ctx context.Context, id string) (watchword.AuthRequest, watchword.Client, error)
	// signedIn records that u signed in for ar. It returns where to send the
	// person next (the client's redirect URI with the code), or consent
	// true if they must first consent to the scopes.
	signedIn(ctx context.Context, ar watchword.AuthRequest, c watchword.Client, u watchword.User) (redirect string, consent bool, err error)
	// consented finishes ar after the consent page: allow issues the code,
	// deny answers access_denied. It returns the client's redirect URI.
	consented(ctx context.Context, ar watchword.AuthRequest, allow bool) (redirect string, err error)
	// mac is a keyed MAC of parts (for CSRF tokens), never empty.
	mac(parts ...string) string
}

// errRequestGone: the authorization request does not exist (any more), has
// expired, or belongs to another domain; the person has to start again.
var errRequestGone = errors.New("authorization request unknown or expired")

// loginPages serves the login, consent and signed-out pages. They work
// without JavaScript. Every form is protected against cross-site request
// forgery by a token that is a keyed MAC of the authorization request id and
// of a random value in a SameSite=Strict, HttpOnly cookie: a form posted from
// another site carries neither the cookie nor a matching token. The consent
// token also covers the user who signed in, so that only the browser that
// signed in can consent for that user.
type loginPages struct {
	flow     loginFlow
	auth     Authenticator
	throttle *Throttle
	logger   *slog.Logger
}

func newLoginPages(p *Provider, auth Authenticator) *loginPages {
	return &loginPages{flow: p, auth: auth, throttle: p.Throttle, logger: p.Logger}
}

// Messages shown to people. One message for every refused login, so that
// the page does not tell which usernames exist.
const (
	msgBadCredentials = "Invalid username or password."
	msgMissing        = "Enter your username and password."
	msgGone           = "This sign-in request has expired or is not valid. Go back to the application and start again."
	msgForgery        = "This form has expired or was not sent from this page. Go back to the application and start again."
	msgInternal       = "Something went wrong on our side. Try again later."
)

const browserCookie = "ww_login"

// pageData is what the templates show.
type pageData struct {
	Title, Domain, Client string
	ID, Token             string
	Username              string
	Scopes                []string
	Error                 string
}

func (lp *loginPages) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'")
	switch {
	case r.URL.Path == "/signed-out" && r.Method == http.MethodGet:
		lp.render(w, r, http.StatusOK, "message", pageData{Title: "Signed out", Error: "You are signed out. You can close this window."})
	case r.URL.Path == "/login" && r.Method == http.MethodGet:
		lp.showLogin(w, r)
	case r.URL.Path == "/login" && r.Method == http.MethodPost:
		lp.postLogin(w, r)
	case r.URL.Path == "/consent" && r.Method == http.MethodPost:
		lp.postConsent(w, r)
	default:
		h.Set("Allow", "GET, POST")
		lp.message(w, r, http.StatusMethodNotAllowed, "Not allowed", "This page does not accept that request.")
	}
}

func (lp *loginPages) showLogin(w http.ResponseWriter, r *http.Request) {
	ar, c, ok := lp.pending(w, r, r.URL.Query().Get("id"))
	if !ok {
		return
	}
	key := lp.browserKey(w, r)
	lp.render(w, r, http.StatusOK, "login", lp.loginData(r, ar, c, key, "", ""))
}

func (lp *loginPages) loginData(r *http.Request, ar watchword.AuthRequest, c watchword.Client, key, username, msg string) pageData {
	return pageData{
		Title: "Sign in", Domain: domainFrom(r.Context()).Name, Client: c.Name,
		ID: ar.ID, Token: lp.flow.mac("login", ar.ID, key), Username: username, Error: msg,
	}
}

func (lp *loginPages) postLogin(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	if !lp.parseForm(w, r) {
		return
	}
	ar, c, ok := lp.pending(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	key := lp.cookieKey(r)
	if key == "" || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(lp.flow.mac("login", ar.ID, key))) {
		lp.message(w, r, http.StatusForbidden, "Sign-in refused", msgForgery)
		return
	}
	username, password := strings.TrimSpace(r.PostForm.Get("username")), r.PostForm.Get("password")
	if username == "" || password == "" {
		lp.render(w, r, http.StatusOK, "login", lp.loginData(r, ar, c, key, username, msgMissing))
		return
	}
	d := domainFrom(ctx)
	tk := throttleKey{clientID: "login\x00" + d.ID + "\x00" + watchword.NormalizeUsername(username), ip: d.remoteIP}
	if blocked, left := lp.throttle.Blocked(tk); blocked {
		// Unlike a client secret, a password is guessable: while the window
		// lasts it is not even checked. The window is per username and
		// address, so it does not lock the user out from elsewhere.
		secs := int(math.Ceil(left.Seconds()))
		lp.render(w, r, http.StatusTooManyRequests, "login", lp.loginData(r, ar, c, key, username,
			"Too many failed sign-in attempts. Try again in "+plural(secs, "second")+"."))
		return
	}
	u, err := lp.auth.Authenticate(ctx, d.ID, username, password)
	if errors.Is(err, ErrBadCredentials) {
		lp.throttle.Fail(tk)
		lp.logger.InfoContext(ctx, "login failed", "domain", d.Name, "client_id", c.ID, "remote_ip", d.remoteIP)
		lp.render(w, r, http.StatusOK, "login", lp.loginData(r, ar, c, key, username, msgBadCredentials))
		return
	} else if err != nil {
		lp.internal(w, r, "login: authenticate", err)
		return
	}
	lp.throttle.Success(tk)
	redirect, consent, err := lp.flow.signedIn(ctx, ar, c, u)
	switch {
	case errors.Is(err, errRequestGone):
		lp.message(w, r, http.StatusBadRequest, "Sign-in expired", msgGone)
	case err != nil:
		lp.internal(w, r, "login: finish", err)
	case consent:
		lp.render(w, r, http.StatusOK, "consent", pageData{
			Title: "Allow access", Domain: d.Name, Client: c.Name, ID: ar.ID, Username: u.Username,
			Token: lp.flow.mac("consent", ar.ID, u.ID, key), Scopes: describeScopes(ar.Scopes),
		})
	default:
		http.Redirect(w, r, redirect, http.StatusSeeOther)
	}
}

func (lp *loginPages) postConsent(w http.ResponseWriter, r *http.Request) {
	if !lp.parseForm(w, r) {
		return
	}
	ar, _, ok := lp.pending(w, r, r.PostForm.Get("id"))
	if !ok {
		return
	}
	key := lp.cookieKey(r)
	if key == "" || ar.UserID == "" || !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(lp.flow.mac("consent", ar.ID, ar.UserID, key))) {
		lp.message(w, r, http.StatusForbidden, "Consent refused", msgForgery)
		return
	}
	var allow bool
	switch r.PostForm.Get("decision") {
	case "allow":
		allow = true
	case "deny":
	default:
		lp.message(w, r, http.StatusBadRequest, "Consent refused", "Choose Allow or Deny.")
		return
	}
	redirect, err := lp.flow.consented(r.Context(), ar, allow)
	switch {
	case errors.Is(err, errRequestGone):
		lp.message(w, r, http.StatusBadRequest, "Sign-in expired", msgGone)
	case err != nil:
		lp.internal(w, r, "consent: finish", err)
	default:
		http.Redirect(w, r, redirect, http.StatusSeeOther)
	}
}

// pending loads the authorization request, answering the page itself if
// it is gone.
func (lp *loginPages) pending(w http.ResponseWriter, r *http.Request, id string) (watchword.AuthRequest, watchword.Client, bool) {
	ar, c, err := lp.flow.pending(r.Context(), id)
	switch {
	case errors.Is(err, errRequestGone):
		lp.message(w, r, http.StatusBadRequest, "Sign-in expired", msgGone)
		return ar, c, false
	case err != nil:
		lp.internal(w, r, "login: load request", err)
		return ar, c, false
	}
	return ar, c, true
}

func (lp *loginPages) parseForm(w http.ResponseWriter, r *http.Request) bool {
	if err := r.ParseForm(); err != nil || !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		lp.message(w, r, http.StatusBadRequest, "Bad request", "The form could not be read.")
		return false
	}
	return true
}

// cookieKey returns the browser's random login key, or "" if it sent none.
func (lp *loginPages) cookieKey(r *http.Request) string {
	c, err := r.Cookie(browserCookie)
	if err != nil || len(c.Value) != 2*secret.IDLen {
		return ""
	}
	return c.Value
}

// browserKey returns the browser's login key, setting a new one if it has
// none. The cookie lives for the session, on the domain's issuer path only.
func (lp *loginPages) browserKey(w http.ResponseWriter, r *http.Request) string {
	if key := lp.cookieKey(r); key != "" {
		return key
	}
	key := secret.NewID() + secret.NewID()
	iss, _ := url.Parse(domainFrom(r.Context()).issuer)
	http.SetCookie(w, &http.Cookie{
		Name: browserCookie, Value: key, Path: iss.Path + "/",
		HttpOnly: true, Secure: iss.Scheme == "https", SameSite: http.SameSiteStrictMode,
	})
	return key
}

func (lp *loginPages) render(w http.ResponseWriter, r *http.Request, status int, name string, data pageData) {
	var b strings.Builder
	if err := pages.ExecuteTemplate(&b, name, data); err != nil {
		lp.logger.ErrorContext(r.Context(), "render page", "page", name, "err", err)
		http.Error(w, msgInternal, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}

func (lp *loginPages) message(w http.ResponseWriter, r *http.Request, status int, title, msg string) {
	lp.render(w, r, status, "message", pageData{Title: title, Error: msg})
}

func (lp *loginPages) internal(w http.ResponseWriter, r *http.Request, what string, err error) {
	lp.logger.ErrorContext(r.Context(), what, "err", err)
	lp.message(w, r, http.StatusInternalServerError, "Error", msgInternal)
}

// describeScopes says in words what each scope lets the client do.
func describeScopes(scopes []string) []string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		switch s {
		case "openid":
			out = append(out, "Confirm who you are")
		case "profile":
			out = append(out, "See your name and username")
		case "email":
			out = append(out, "See your email address")
		case "offline_access":
			out = append(out, "Keep access while you are not using it")
		default:
			out = append(out, "Use the permission “"+s+"”")
		}
	}
	return out
}

func plural(n int, unit string) string {
	if n == 1 {
		return "1 " + unit
	}
	return strconv.Itoa(n) + " " + unit + "s"
}

// mac returns a keyed MAC of parts under the server key, base64url encoded.
func (p *Provider) mac(parts ...string) string {
	h, _ := p.Verifier.Hasher.Hash("watchword login page\x00" + strings.Join(parts, "\x00"))
	return base64.RawURLEncoding.EncodeToString(h)
}
