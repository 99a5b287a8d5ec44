package oauth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clientauth"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// server implements zitadel/oidc's op.Server over the Provider.
type server struct {
	op.UnimplementedServer
	p *Provider
}

var _ op.Server = (*server)(nil)

func (s *server) Health(context.Context, *op.Request[struct{}]) (*op.Response, error) {
	return op.NewResponse(op.Status{Status: "ok"}), nil
}

func (s *server) Ready(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	if err := s.p.Store.Ping(ctx); err != nil {
		return nil, err
	}
	return op.NewResponse(op.Status{Status: "ok"}), nil
}

func (s *server) Discovery(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	d := domainFrom(ctx)
	url := func(e *op.Endpoint) string { return d.issuer + e.Relative() }
	authMethods := []oidc.AuthMethod{oidc.AuthMethodBasic, oidc.AuthMethodPost, oidc.AuthMethodNone}
	return op.NewResponse(&oidc.DiscoveryConfiguration{
		Issuer:                                    d.issuer,
		AuthorizationEndpoint:                     url(endpoints.Authorization),
		TokenEndpoint:                             url(endpoints.Token),
		IntrospectionEndpoint:                     url(endpoints.Introspection),
		UserinfoEndpoint:                          url(endpoints.Userinfo),
		RevocationEndpoint:                        url(endpoints.Revocation),
		EndSessionEndpoint:                        url(endpoints.EndSession),
		JwksURI:                                   url(endpoints.JwksURI),
		ScopesSupported:                           []string{oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess},
		ResponseTypesSupported:                    []string{string(oidc.ResponseTypeCode)},
		ResponseModesSupported:                    []string{"query"},
		GrantTypesSupported:                       []oidc.GrantType{oidc.GrantTypeClientCredentials, oidc.GrantTypeCode, oidc.GrantTypeRefreshToken},
		SubjectTypesSupported:                     []string{"public"},
		IDTokenSigningAlgValuesSupported:          []string{watchword.AlgRS256},
		TokenEndpointAuthMethodsSupported:         authMethods,
		RevocationEndpointAuthMethodsSupported:    authMethods[:2],
		IntrospectionEndpointAuthMethodsSupported: authMethods[:2],
		CodeChallengeMethodsSupported:             []oidc.CodeChallengeMethod{oidc.CodeChallengeMethodS256},
		ClaimsSupported:                           []string{"sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash", "name", "preferred_username", "email"},
		RequestParameterSupported:                 false,
		RequestURIParameterSupported:              false,
	}), nil
}

func (s *server) Keys(ctx context.Context, _ *op.Request[struct{}]) (*op.Response, error) {
	set, err := s.p.Keys.JWKS(ctx, domainFrom(ctx).Domain)
	if err != nil {
		return nil, err
	}
	resp := op.NewResponse(set)
	resp.Header.Set("Cache-Control", "max-age=300")
	return resp, nil
}

// errInvalidClient is the one answer to every failed client authentication.
func errInvalidClient() error {
	return op.NewStatusError(oidc.ErrInvalidClient().WithDescription("client authentication failed"), http.StatusUnauthorized)
}

func (s *server) VerifyClient(ctx context.Context, r *op.Request[op.ClientCredentials]) (op.Client, error) {
	c, err := s.p.authenticate(ctx, r.Header, r.Data)
	if err != nil {
		return nil, err
	}
	return &opClient{c}, nil
}

// authenticate checks the credentials a client presented, enforcing its
// registered method. Every failure looks the same to the caller.
func (p *Provider) authenticate(ctx context.Context, header http.Header, cc *op.ClientCredentials) (watchword.Client, error) {
	d := domainFrom(ctx)
	method := watchword.AuthMethodNone
	switch {
	case header.Get("Authorization") != "":
		method = watchword.AuthMethodBasic
	case cc.ClientSecret != "":
		method = watchword.AuthMethodPost
	}
	if cc.ClientAssertion != "" {
		// private_key_jwt is the way beyond shared secrets; not offered yet.
		p.Metrics.authFailure("unsupported_method")
		return watchword.Client{}, errInvalidClient()
	}
	if method == watchword.AuthMethodNone {
		c, err := p.Store.GetClient(ctx, d.ID, cc.ClientID)
		if err == nil && c.Type == watchword.ClientPublic && !c.Disabled && c.OAuth.TokenEndpointAuthMethod == watchword.AuthMethodNone {
			return c, nil
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return c, err
		}
		p.Metrics.authFailure("no_credentials")
		return watchword.Client{}, errInvalidClient()
	}

	key := throttleKey{clientID: cc.ClientID, ip: d.remoteIP}
	blocked, retryAfter := p.Throttle.Blocked(key)
	c, sec, err := p.Verifier.Verify(ctx, d.ID, cc.ClientID, cc.ClientSecret)
	if err != nil && method == watchword.AuthMethodBasic {
		if alt := rawBasicSecret(header); alt != "" && alt != cc.ClientSecret {
			// Some clients do not form-encode before base64 (RFC 6749
			// §2.3.1 says they should): accept the secret as sent, too.
			c, sec, err = p.Verifier.Verify(ctx, d.ID, cc.ClientID, alt)
		}
	}
	var failure *clientauth.Failure
	if errors.As(err, &failure) {
		p.Metrics.authFailure(string(failure.Reason))
		p.Throttle.Fail(key)
		if blocked {
			return c, op.NewStatusError(oidc.ErrInvalidClient().WithDescription("too many failed attempts; retry in %s", retryAfter.Round(time.Second)), http.StatusTooManyRequests)
		}
		return c, errInvalidClient()
	} else if err != nil {
		return c, err
	}
	if c.OAuth.TokenEndpointAuthMethod != method {
		p.Metrics.authFailure("wrong_method")
		p.Throttle.Fail(key)
		return c, errInvalidClient()
	}
	p.Throttle.Success(key)
	p.Usage.Record(sec.ID, p.Now())
	return c, nil
}

// rawBasicSecret returns the password of a Basic header without form-decoding.
func rawBasicSecret(h http.Header) string {
	r := http.Request{Header: h}
	_, pw, _ := r.BasicAuth()
	return pw
}

// accessClaims are the claims of an RFC 9068 access token.
type accessClaims struct {
	Issuer   string   `json:"iss"`
	Subject  string   `json:"sub"`
	Audience []string `json:"aud"`
	ClientID string   `json:"client_id"`
	IssuedAt int64    `json:"iat"`
	Expiry   int64    `json:"exp"`
	JTI      string   `json:"jti"`
	Scope    string   `json:"scope,omitempty"`
	Family   string   `json:"fid,omitempty"` // grant family, for revocation
	AuthTime int64    `json:"auth_time,omitempty"`
}

// issueAccessToken signs an access token for client c.
func (p *Provider) issueAccessToken(ctx context.Context, c watchword.Client, subject string, scopes []string, family string, authTime time.Time) (string, time.Duration, error) {
	d := domainFrom(ctx)
	lifetime := time.Duration(d.OAuth.AccessTokenLifetime)
	if c.OAuth.AccessTokenLifetime != nil {
		lifetime = time.Duration(*c.OAuth.AccessTokenLifetime)
	}
	now := p.Now()
	claims := accessClaims{
		Issuer: d.issuer, Subject: subject, Audience: []string{d.issuer}, ClientID: c.ID,
		IssuedAt: now.Unix(), Expiry: now.Add(lifetime).Unix(), JTI: secret.NewID(),
		Scope: strings.Join(scopes, " "), Family: family,
	}
	if !authTime.IsZero() {
		claims.AuthTime = authTime.Unix()
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", 0, err
	}
	k, err := p.Keys.Signer(ctx, d.ID, d.OAuth.AccessTokenAlg)
	if err != nil {
		return "", 0, err
	}
	tok, err := k.sign("at+jwt", payload)
	return tok, lifetime, err
}

func (s *server) ClientCredentialsExchange(ctx context.Context, r *op.ClientRequest[oidc.ClientCredentialsRequest]) (*op.Response, error) {
	c := r.Client.(*opClient).c
	scopes := []string(r.Data.Scope)
	for _, sc := range scopes {
		if !slices.Contains(c.Scopes, sc) {
			return nil, oidc.ErrInvalidScope().WithDescription("scope %q is not allowed for this client", sc)
		}
	}
	tok, lifetime, err := s.p.issueAccessToken(ctx, c, c.ID, scopes, "", time.Time{})
	if err != nil {
		return nil, err
	}
	return op.NewResponse(&oidc.AccessTokenResponse{
		AccessToken: tok, TokenType: oidc.BearerToken, ExpiresIn: uint64(lifetime / time.Second), Scope: scopes,
	}), nil
}

// parseAccessToken verifies a JWT access token of the domain: signature by
// one of its keys, issuer, expiry. It does not check revocation.
func (p *Provider) parseAccessToken(ctx context.Context, token string) (*accessClaims, error) {
	d := domainFrom(ctx)
	now := p.Now().Unix()
	claims, ok := p.verified.get(d.ID, token)
	if !ok {
		c, err := p.verifyAccessToken(ctx, d, token)
		if err != nil {
			return nil, err
		}
		claims = *c
		if now < claims.Expiry {
			p.verified.put(d.ID, token, claims, now)
		}
	}
	if claims.Issuer != d.issuer || now >= claims.Expiry {
		return nil, errors.New("expired or foreign")
	}
	return &claims, nil
}

// verifyAccessToken checks the signature of an access token by one of the
// domain's keys and returns its claims.
func (p *Provider) verifyAccessToken(ctx context.Context, d *domainInfo, token string) (*accessClaims, error) {
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256, jose.RS256})
	if err != nil || len(jws.Signatures) != 1 {
		return nil, errors.New("not a JWT")
	}
	k, err := p.Keys.Public(ctx, d.ID, jws.Signatures[0].Header.KeyID)
	if err != nil {
		return nil, err
	}
	if k == nil || jws.Signatures[0].Header.Algorithm != k.alg {
		return nil, errors.New("unknown key")
	}
	payload, err := jws.Verify(k.public)
	if err != nil {
		return nil, errors.New("bad signature")
	}
	var claims accessClaims
	if err := json.Unmarshal(payload, &claims); err != nil {
		return nil, err
	}
	return &claims, nil
}

func (s *server) Introspect(ctx context.Context, r *op.Request[op.IntrospectionRequest]) (*op.Response, error) {
	if _, err := s.p.authenticate(ctx, r.Header, r.Data.ClientCredentials); err != nil {
		return nil, err
	}
	inactive := op.NewResponse(&oidc.IntrospectionResponse{Active: false})
	claims, err := s.p.parseAccessToken(ctx, r.Data.Token)
	if err != nil {
		return s.p.introspectRefresh(ctx, r.Data.Token)
	}
	ids := []string{claims.JTI}
	if claims.Family != "" {
		ids = append(ids, claims.Family)
	}
	if revoked, err := s.p.revoked.isRevoked(ctx, s.p.Store, ids...); err != nil {
		return nil, err
	} else if revoked {
		return inactive, nil
	}
	return op.NewResponse(&oidc.IntrospectionResponse{
		Active: true, Scope: strings.Fields(claims.Scope), ClientID: claims.ClientID, TokenType: oidc.BearerToken,
		Expiration: oidc.FromTime(time.Unix(claims.Expiry, 0)), IssuedAt: oidc.FromTime(time.Unix(claims.IssuedAt, 0)),
		Subject: claims.Subject, Audience: claims.Audience, Issuer: claims.Issuer, JWTID: claims.JTI,
	}), nil
}

func (s *server) Revocation(ctx context.Context, r *op.ClientRequest[oidc.RevocationRequest]) (*op.Response, error) {
	d := domainFrom(ctx)
	c := r.Client.(*opClient).c
	if claims, err := s.p.parseAccessToken(ctx, r.Data.Token); err == nil {
		if claims.ClientID != c.ID {
			return nil, oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
		}
		err := s.p.Store.Tx(ctx, func(tx store.Tx) error {
			return tx.MarkRevoked(ctx, watchword.RevokedToken{ID: claims.JTI, DomainID: d.ID, ExpiresAt: time.Unix(claims.Expiry, 0)})
		})
		s.p.revoked.forget()
		if err != nil {
			return nil, err
		}
		return op.NewResponse(struct{}{}), nil
	}
	if err := s.p.revokeRefresh(ctx, c, r.Data.Token); err != nil {
		return nil, err
	}
	return op.NewResponse(struct{}{}), nil // unknown tokens are not an error (RFC 7009 §2.2)
}
