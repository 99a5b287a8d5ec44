// Package oauth makes each domain an OAuth 2.0 / OpenID Connect
// authorization server on the public listener. The protocol engine is
// zitadel/oidc (pkg/op, OpenID Certified) through its Server API; Watchword's
// store, client-secret verification, signing keys and usage tracking sit
// behind it.
//
// URLs: the issuer of domain D is BaseURL + "/" + D, and every endpoint
// hangs below it (token: <issuer>/oauth/token). They come from configuration,
// never from the Host or X-Forwarded-* headers.
package oauth

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clientauth"
	"github.com/watchword/watchword/internal/store"
)

// Endpoints relative to a domain's issuer.
var endpoints = op.Endpoints{
	Authorization: op.NewEndpoint("authorize"),
	Token:         op.NewEndpoint("oauth/token"),
	Introspection: op.NewEndpoint("oauth/introspect"),
	Userinfo:      op.NewEndpoint("userinfo"),
	Revocation:    op.NewEndpoint("oauth/revoke"),
	EndSession:    op.NewEndpoint("end_session"),
	JwksURI:       op.NewEndpoint("keys"),
}

// Provider serves the OAuth endpoints of every domain.
type Provider struct {
	Store    store.Store
	Verifier *clientauth.Verifier
	Keys     *Keys
	Usage    *Usage
	Throttle *Throttle
	Metrics  *Metrics
	// Authenticator checks what people type into the login page; nil means
	// the domain's built-in user directory.
	Authenticator Authenticator
	// BaseURL is the public URL the issuers hang below, without a trailing slash.
	BaseURL string
	// VerifiedTokens is how many access tokens to remember as verified
	// (see verifiedTokens); 0 remembers none.
	VerifiedTokens int
	Now            func() time.Time
	Logger         *slog.Logger

	engine   http.Handler
	pages    http.Handler // login, consent, signed-out
	domains  domainCache
	revoked  revocations
	verified verifiedTokens
}

// Forget drops what the provider remembers about tokens not being revoked;
// the lifecycle service calls it after a compromised revocation.
func (p *Provider) Forget() { p.revoked.forget() }

// NewProvider wires a provider; fill BaseURL before serving.
func NewProvider(p *Provider) *Provider {
	if p.Now == nil {
		p.Now = time.Now
	}
	if p.Logger == nil {
		p.Logger = slog.New(slog.DiscardHandler)
	}
	p.domains.ttl = time.Second
	p.revoked.ttl = 500 * time.Millisecond
	p.verified.max = p.VerifiedTokens
	if p.Authenticator == nil {
		p.Authenticator = newDirectory(p.Store)
	}
	p.engine = op.RegisterServer(&server{p: p}, endpoints, op.WithServerCORSOptions(nil), op.WithDecoder(newFormDecoder()))
	p.pages = newLoginPages(p, p.Authenticator)
	return p
}

type domainKey struct{}

// domainInfo is the domain a request addresses, with its issuer.
type domainInfo struct {
	watchword.Domain
	issuer   string
	remoteIP string // for throttling; never from X-Forwarded-For
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

func domainFrom(ctx context.Context) *domainInfo {
	d, _ := ctx.Value(domainKey{}).(*domainInfo)
	return d
}

const maxFormBody = 64 << 10

// ServeHTTP routes /{domain}/… to the protocol engine with the domain in
// the context.
func (p *Provider) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name, rest, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	d, err := p.domains.get(r.Context(), p.Store, name)
	if errors.Is(err, store.ErrNotFound) {
		http.NotFound(w, r)
		return
	} else if err != nil {
		p.Logger.ErrorContext(r.Context(), "load domain", "err", err)
		writeOAuthError(w, http.StatusInternalServerError, "server_error", "")
		return
	}
	info := &domainInfo{Domain: d, issuer: p.BaseURL + "/" + d.Name, remoteIP: remoteIP(r)}
	r2 := r.WithContext(context.WithValue(r.Context(), domainKey{}, info)) // a copy, so the path can change
	u := *r.URL
	u.Path, u.RawPath = "/"+rest, ""
	r2.URL = &u
	r2.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	hw := &headerWriter{ResponseWriter: w, issuer: info.issuer, status: http.StatusOK}
	start := time.Now()
	switch err := guard(hw, r2, "/"+rest); {
	case err != nil:
		writeOAuthError(hw, err.status, err.code, err.description)
	case pagePaths["/"+rest]:
		p.pages.ServeHTTP(hw, r2)
	case "/"+rest == endpoints.Userinfo.Relative():
		p.engine.ServeHTTP(newBearerWriter(hw, r2), r2)
	default:
		p.engine.ServeHTTP(hw, r2)
	}
	endpoint := "/" + rest
	if !knownEndpoints[endpoint] {
		endpoint = "other"
	}
	p.Metrics.observe(endpoint, r2.PostFormValue("grant_type"), hw.status, time.Since(start))
}

// knownEndpoints bound the endpoint label of the metrics.
var knownEndpoints = map[string]bool{
	"/oauth/token": true, "/oauth/introspect": true, "/oauth/revoke": true, "/authorize": true, "/login": true,
	"/consent": true, "/signed-out": true, "/userinfo": true, "/end_session": true, "/keys": true, "/.well-known/openid-configuration": true,
}

// domainCache keeps domains for a short time: the token endpoint must not
// read the domain row on every request, and a changed setting applies
// within ttl.
type domainCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedDomain
}

type cachedDomain struct {
	d  watchword.Domain
	at time.Time
}

func (c *domainCache) get(ctx context.Context, r store.Reader, name string) (watchword.Domain, error) {
	c.mu.Lock()
	e, ok := c.m[name]
	c.mu.Unlock()
	if ok && time.Since(e.at) < c.ttl {
		return e.d, nil
	}
	if watchword.ValidateName("domain", name) != nil { // spares the store a lookup that cannot succeed
		return watchword.Domain{}, store.ErrNotFound
	}
	d, err := r.GetDomainByName(ctx, name)
	if err != nil {
		return d, err
	}
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]cachedDomain{}
	}
	c.m[name] = cachedDomain{d: d, at: time.Now()}
	c.mu.Unlock()
	return d, nil
}
