package oauth

import (
	"context"
	"errors"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// authRequestLifetime is how long a person has to sign in and consent
// after the client sent them to the authorization endpoint.
const authRequestLifetime = 10 * time.Minute

// maxEchoed bounds state and nonce, which are stored and sent back.
const maxEchoed = 1024

// authorizeClient is the view of a client that the protocol engine checks
// between VerifyAuthRequest and Authorize. Watchword makes those decisions
// itself (matchRedirectURI in VerifyAuthRequest; response type, PKCE and
// scopes in Authorize), because the engine's redirect URI rule differs from
// Watchword's: it lets only native clients vary a loopback port and then
// ignores scheme, host and userinfo, and refuses custom schemes for web
// clients. So the view registers exactly the redirect URI Watchword matched
// (as a "native, development" client, for which the engine accepts any
// registered URI as is) and the response type asked for; the engine's
// checks then neither add nor remove anything.
type authorizeClient struct {
	opClient
	redirectURI  string
	responseType oidc.ResponseType
}

func (a *authorizeClient) RedirectURIs() []string              { return []string{a.redirectURI} }
func (a *authorizeClient) ApplicationType() op.ApplicationType { return op.ApplicationTypeNative }
func (a *authorizeClient) DevMode() bool                       { return true }
func (a *authorizeClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{a.responseType}
}

// matchRedirectURI reports whether requested is one of the registered
// redirect URIs, byte for byte, or differs from a registered loopback
// redirect URI (http://127.0.0.1, http://[::1] or http://localhost) only in
// its port, which a native app picks at run time (RFC 8252 §7.3). Nothing
// is normalised: case, escaping, a trailing slash, a fragment or userinfo
// all make a different URI.
func matchRedirectURI(registered []string, requested string) bool {
	if requested == "" {
		return false
	}
	if slices.Contains(registered, requested) {
		return true
	}
	host, rest, ok := splitLoopback(requested)
	if !ok {
		return false
	}
	for _, r := range registered {
		if rh, rr, ok := splitLoopback(r); ok && rh == host && rr == rest {
			return true
		}
	}
	return false
}

var portRE = regexp.MustCompile(`^[0-9]{1,5}$`)

// splitLoopback splits an http URI on a loopback host into the host and
// what follows the port (path, query, fragment). ok is false for any other
// URI, including one with userinfo or a malformed port.
func splitLoopback(u string) (host, rest string, ok bool) {
	after, found := strings.CutPrefix(u, "http://")
	if !found {
		return "", "", false
	}
	authority := after
	if i := strings.IndexAny(after, "/?#"); i >= 0 {
		authority, rest = after[:i], after[i:]
	}
	for _, h := range []string{"127.0.0.1", "[::1]", "localhost"} {
		port, found := strings.CutPrefix(authority, h)
		if !found {
			continue
		}
		if port == "" {
			return h, rest, true
		}
		if p, found := strings.CutPrefix(port, ":"); found && portRE.MatchString(p) {
			return h, rest, true
		}
	}
	return "", "", false
}

// VerifyAuthRequest finds the client and checks the redirect URI. Its
// errors are shown to the person, never sent to the redirect URI: until the
// URI is known to be registered, redirecting would make the endpoint an
// open redirector.
func (s *server) VerifyAuthRequest(ctx context.Context, r *op.Request[oidc.AuthRequest]) (*op.ClientRequest[oidc.AuthRequest], error) {
	d := domainFrom(ctx)
	for name, vs := range r.Form {
		if len(vs) > 1 {
			return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("parameter %s is repeated", name)
		}
	}
	ar := r.Data
	if ar.ClientID == "" {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("client_id is missing")
	}
	c, err := s.p.Store.GetClient(ctx, d.ID, ar.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Disabled) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("unknown client")
	} else if err != nil {
		return nil, s.p.serverError(ctx, "authorize: load client", err)
	}
	if ar.RedirectURI == "" {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is missing")
	}
	if !matchRedirectURI(c.RedirectURIs, ar.RedirectURI) {
		return nil, oidc.ErrInvalidRequestRedirectURI().WithDescription("redirect_uri is not registered for this client")
	}
	return &op.ClientRequest[oidc.AuthRequest]{
		Request: r,
		Client:  &authorizeClient{opClient: opClient{c}, redirectURI: ar.RedirectURI, responseType: ar.ResponseType},
	}, nil
}

// Authorize applies the rest of the request's rules, stores it as a
// pending watchword.AuthRequest and sends the person to the login page.
// Its errors go to the (now verified) redirect URI with the state.
func (s *server) Authorize(ctx context.Context, r *op.ClientRequest[oidc.AuthRequest]) (*op.Redirect, error) {
	d := domainFrom(ctx)
	c := r.Client.(*authorizeClient).c
	ar := r.Data
	switch {
	case ar.RequestParam != "":
		return nil, oidc.ErrRequestNotSupported().WithDescription("request objects are not supported")
	case r.Form.Has("request_uri"):
		return nil, &oidc.Error{ErrorType: "request_uri_not_supported", Description: "request_uri is not supported"}
	case !slices.Contains(c.GrantTypes, watchword.GrantAuthorizationCode):
		return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use the authorization code grant")
	case ar.ResponseType != oidc.ResponseTypeCode:
		return nil, &oidc.Error{ErrorType: "unsupported_response_type", Description: "only response_type=code is supported"}
	case ar.ResponseMode != "" && ar.ResponseMode != oidc.ResponseModeQuery:
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	case ar.State == "" && d.OAuth.RequireState:
		return nil, oidc.ErrInvalidRequest().WithDescription("state is required")
	case len(ar.State) > maxEchoed || len(ar.Nonce) > maxEchoed:
		return nil, oidc.ErrInvalidRequest().WithDescription("state and nonce must be at most %d bytes", maxEchoed)
	case slices.Contains(ar.Prompt, oidc.PromptNone):
		// Watchword keeps no login session, so it can never sign in silently.
		return nil, oidc.ErrLoginRequired().WithDescription("there is no session to authorize without interaction")
	}
	method, err := checkPKCE(d.Domain, c, ar.CodeChallenge, ar.CodeChallengeMethod)
	if err != nil {
		return nil, err
	}
	scopes := grantableScopes(c, ar.Scopes)
	if len(scopes) == 0 {
		return nil, oidc.ErrInvalidScope().WithDescription("none of the requested scopes is allowed for this client")
	}
	now := store.Truncate(s.p.Now())
	pending := watchword.AuthRequest{
		ID: secret.NewID() + secret.NewID(), DomainID: d.ID, ClientID: c.ID, RedirectURI: ar.RedirectURI,
		Scopes: scopes, State: ar.State, Nonce: ar.Nonce,
		CodeChallenge: ar.CodeChallenge, CodeChallengeMethod: string(method),
		CreatedAt: now, ExpiresAt: now.Add(authRequestLifetime),
	}
	err = s.p.Store.Tx(ctx, func(tx store.Tx) error { return tx.CreateAuthRequest(ctx, pending) })
	if err != nil {
		return nil, s.p.serverError(ctx, "authorize: store request", err)
	}
	return op.NewRedirect(d.issuer + "/login?id=" + pending.ID), nil
}

// pkceRequired says whether a client must send a code challenge: a public
// client always, a confidential one as its own setting or else its
// domain's says.
func pkceRequired(d watchword.Domain, c watchword.Client) bool {
	if c.Type == watchword.ClientPublic {
		return true
	}
	if c.OAuth.RequirePKCE != nil {
		return *c.OAuth.RequirePKCE
	}
	return d.OAuth.RequirePKCE
}

var (
	// S256 challenges are base64url SHA-256 digests (RFC 7636 §4.2).
	s256ChallengeRE = regexp.MustCompile(`^[A-Za-z0-9_-]{43}$`)
	// Verifiers, and so plain challenges, are 43-128 unreserved characters (RFC 7636 §4.1).
	verifierRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`)
)

// checkPKCE applies the PKCE rules and returns the method to record: S256,
// or plain only where the client allows it. A challenge without a method
// is plain (RFC 7636 §4.3).
func checkPKCE(d watchword.Domain, c watchword.Client, challenge string, method oidc.CodeChallengeMethod) (oidc.CodeChallengeMethod, error) {
	if challenge == "" {
		if pkceRequired(d, c) {
			return "", oidc.ErrInvalidRequest().WithDescription("code_challenge is required (PKCE with S256)")
		}
		if method != "" {
			return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method without code_challenge")
		}
		return "", nil
	}
	if method == "" {
		method = oidc.CodeChallengeMethodPlain
	}
	switch method {
	case oidc.CodeChallengeMethodS256:
		if !s256ChallengeRE.MatchString(challenge) {
			return "", oidc.ErrInvalidRequest().WithDescription("code_challenge is not a base64url SHA-256 digest")
		}
	case oidc.CodeChallengeMethodPlain:
		if !c.OAuth.AllowPlainPKCE {
			return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method plain is not allowed; use S256")
		}
		if !verifierRE.MatchString(challenge) {
			return "", oidc.ErrInvalidRequest().WithDescription("code_challenge must be 43-128 unreserved characters")
		}
	default:
		return "", oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	}
	return method, nil
}

// grantableScopes keeps, in order and once each, the requested scopes the
// client may have: the OpenID scopes Watchword serves and the client's
// registered scopes. offline_access needs the refresh_token grant.
func grantableScopes(c watchword.Client, requested []string) []string {
	oc := opClient{c}
	out := []string{}
	for _, sc := range requested {
		switch {
		case slices.Contains(out, sc), !oc.IsScopeAllowed(sc):
		case sc == oidc.ScopeOfflineAccess && !slices.Contains(c.GrantTypes, watchword.GrantRefreshToken):
		default:
			out = append(out, sc)
		}
	}
	return out
}
