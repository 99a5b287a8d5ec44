package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// userInfo is the userinfo response (OpenID Connect Core §5.3.2).
type userInfo struct {
	Subject           string `json:"sub"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
}

// UserInfo answers with the claims of the user an access token of the code
// flow was issued to, for the scopes it carries. A token that is not a
// user's (client credentials), is expired or revoked, or whose user is
// disabled gets 401 invalid_token; one without the openid scope 403.
func (s *server) UserInfo(ctx context.Context, r *op.Request[oidc.UserInfoRequest]) (*op.Response, error) {
	d := domainFrom(ctx)
	claims, err := s.p.parseAccessToken(ctx, r.Data.AccessToken)
	if err != nil || claims.Family == "" {
		return nil, errInvalidToken()
	}
	if revoked, err := s.p.revoked.isRevoked(ctx, s.p.Store, claims.JTI, claims.Family); err != nil {
		return nil, s.p.serverError(ctx, "userinfo: revocation", err)
	} else if revoked {
		return nil, errInvalidToken()
	}
	scopes := strings.Fields(claims.Scope)
	if !slices.Contains(scopes, oidc.ScopeOpenID) {
		return nil, op.NewStatusError(&oidc.Error{ErrorType: "insufficient_scope", Description: "the access token lacks the openid scope"}, http.StatusForbidden)
	}
	u, err := s.p.Store.GetUser(ctx, d.ID, claims.Subject)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return nil, errInvalidToken()
	} else if err != nil {
		return nil, s.p.serverError(ctx, "userinfo: load user", err)
	}
	var c idClaims
	c.addUser(u, scopes)
	resp := op.NewResponse(&userInfo{Subject: u.ID, Name: c.Name, PreferredUsername: c.PreferredUsername, Email: c.Email})
	resp.Header.Set("Cache-Control", "no-store")
	return resp, nil
}

// EndSession is RP-initiated logout. Watchword keeps no login session, so
// there is nothing to end: it sends the person to the client's
// post_logout_redirect_uri (with the state) if that is one of the client's
// registered redirect URIs, matched as at the authorization endpoint, or
// else to a signed-out page. The client comes from client_id or from the
// audience of id_token_hint, which must be an ID token of this issuer
// (expired ones are accepted, as the specification allows).
func (s *server) EndSession(ctx context.Context, r *op.Request[oidc.EndSessionRequest]) (*op.Redirect, error) {
	d := domainFrom(ctx)
	clientID := r.Data.ClientID
	if r.Data.IdTokenHint != "" {
		aud, err := s.p.idTokenAudience(ctx, r.Data.IdTokenHint)
		if err != nil {
			return nil, oidc.ErrInvalidRequest().WithDescription("id_token_hint is not an ID token of this issuer")
		}
		if clientID != "" && clientID != aud {
			return nil, oidc.ErrInvalidRequest().WithDescription("client_id does not match the id_token_hint")
		}
		clientID = aud
	}
	uri := r.Data.PostLogoutRedirectURI
	if uri == "" {
		return op.NewRedirect(d.issuer + "/signed-out"), nil
	}
	if clientID == "" {
		return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri needs client_id or id_token_hint")
	}
	c, err := s.p.Store.GetClient(ctx, d.ID, clientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Disabled) {
		return nil, oidc.ErrInvalidRequest().WithDescription("unknown client")
	} else if err != nil {
		return nil, s.p.serverError(ctx, "end session: load client", err)
	}
	if !matchRedirectURI(c.RedirectURIs, uri) {
		return nil, oidc.ErrInvalidRequest().WithDescription("post_logout_redirect_uri is not registered for this client")
	}
	if r.Data.State == "" {
		return op.NewRedirect(uri), nil
	}
	return op.NewRedirect(withParams(uri, url.Values{}, r.Data.State)), nil
}

// idTokenAudience verifies that token is an ID token signed by one of the
// domain's RS256 keys for this issuer, ignoring its expiry, and returns its
// audience (a client id).
func (p *Provider) idTokenAudience(ctx context.Context, token string) (string, error) {
	d := domainFrom(ctx)
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return "", errors.New("not a JWS")
	}
	k, err := p.Keys.Public(ctx, d.ID, jws.Signatures[0].Header.KeyID)
	if err != nil || k == nil || k.alg != watchword.AlgRS256 {
		return "", errors.New("unknown key")
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return "", err
	}
	var claims struct {
		Issuer   string        `json:"iss"`
		Audience oidc.Audience `json:"aud"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil {
		return "", err
	}
	if claims.Issuer != d.issuer || len(claims.Audience) != 1 {
		return "", errors.New("foreign or ambiguous token")
	}
	return claims.Audience[0], nil
}
