package oauth

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// CodeExchange redeems an authorization code (RFC 6749 §4.1.3, RFC 7636
// §4.6). A code is single-use: redeeming it is a compare-and-set, and a
// second redemption, at any time, revokes the token family issued at the
// first (RFC 6749 §4.1.2, RFC 9700 §4.5).
func (s *server) CodeExchange(ctx context.Context, r *op.ClientRequest[oidc.AccessTokenRequest]) (*op.Response, error) {
	d := domainFrom(ctx)
	c := r.Client.(*opClient).c
	now := s.p.Now()
	hash := s.p.codeHash(r.Data.Code)
	code, err := s.p.Store.GetAuthCode(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("authorization code")
	} else if err != nil {
		return nil, s.p.serverError(ctx, "code exchange: load code", err)
	}
	switch {
	case code.DomainID != d.ID:
		return nil, errInvalidGrant("authorization code")
	case code.UsedAt != nil:
		return nil, s.p.codeReplayed(ctx, code)
	case code.ClientID != c.ID, !now.Before(code.ExpiresAt):
		return nil, errInvalidGrant("authorization code")
	case r.Data.RedirectURI != code.RedirectURI:
		return nil, oidc.ErrInvalidGrant().WithDescription("redirect_uri differs from the authorization request's")
	}
	if err := verifyPKCE(code, r.Data.CodeVerifier); err != nil {
		return nil, err
	}
	u, err := s.p.activeUser(ctx, code.UserID)
	if err != nil {
		return nil, err
	}
	family := secret.NewID()
	resp, rt, err := s.p.issueTokens(ctx, c, u, code.Scopes, code.Scopes, family, code.AuthTime, code.Nonce)
	if err != nil {
		return nil, err
	}
	err = s.p.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.UseAuthCode(ctx, hash, now, family); err != nil {
			return err
		}
		if rt == nil {
			return nil
		}
		return tx.CreateRefreshToken(ctx, *rt)
	})
	switch {
	case errors.Is(err, store.ErrConflict): // redeemed concurrently
		code, err := s.p.Store.GetAuthCode(ctx, hash)
		if err != nil {
			return nil, s.p.serverError(ctx, "code exchange: reload code", err)
		}
		return nil, s.p.codeReplayed(ctx, code)
	case errors.Is(err, store.ErrNotFound):
		return nil, errInvalidGrant("authorization code")
	case err != nil:
		return nil, s.p.serverError(ctx, "code exchange: redeem code", err)
	}
	return op.NewResponse(resp), nil
}

// codeReplayed answers a code presented again: the tokens issued for its
// first redemption are revoked. A code used up by a compromised-secret
// revocation has no family and nothing to revoke.
func (p *Provider) codeReplayed(ctx context.Context, code watchword.AuthCode) error {
	if code.FamilyID != "" {
		if err := p.revokeReused(ctx, "authorization_code", code.ClientID, code.UserID, code.FamilyID); err != nil {
			return p.serverError(ctx, "code replay: revoke family", err)
		}
	}
	return errInvalidGrant("authorization code")
}

// revokeReused revokes a token family whose code or refresh token was
// presented a second time (a sign that it was stolen, RFC 9700 §4.14.2):
// its refresh tokens, a marker that makes its access tokens introspect
// inactive, and an audit record, in one transaction.
func (p *Provider) revokeReused(ctx context.Context, grant, clientID, userID, familyID string) error {
	d := domainFrom(ctx)
	err := p.revokeFamily(ctx, d.ID, familyID, &watchword.AuditEvent{
		Actor: watchword.SystemActor.String(), Action: watchword.ActionTokenReuse,
		DomainID: d.ID, TargetType: "token_family", TargetID: familyID, Outcome: watchword.OutcomeSuccess,
		RequestID: watchword.RequestIDFromContext(ctx),
		Details:   map[string]string{"grant": grant, "client_id": clientID, "user_id": userID, "remote_ip": d.remoteIP},
	})
	if err == nil {
		p.Logger.WarnContext(ctx, "token reuse detected; family revoked", "grant", grant, "client_id", clientID, "family_id", familyID, "remote_ip", d.remoteIP)
	}
	return err
}

// verifyPKCE checks the code verifier against the code's challenge. A
// verifier sent for a code without a challenge is refused too, so that
// PKCE cannot be stripped from a request and added at the exchange (RFC
// 9700 §4.8.2).
func verifyPKCE(code watchword.AuthCode, verifier string) error {
	if code.CodeChallenge == "" {
		if verifier != "" {
			return oidc.ErrInvalidGrant().WithDescription("code_verifier sent, but the authorization request had no code_challenge")
		}
		return nil
	}
	if !verifierRE.MatchString(verifier) {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier is missing or malformed")
	}
	got := verifier
	if oidc.CodeChallengeMethod(code.CodeChallengeMethod) == oidc.CodeChallengeMethodS256 {
		sum := sha256.Sum256([]byte(verifier))
		got = base64.RawURLEncoding.EncodeToString(sum[:])
	}
	if subtle.ConstantTimeCompare([]byte(got), []byte(code.CodeChallenge)) != 1 {
		return oidc.ErrInvalidGrant().WithDescription("code_verifier does not match the code_challenge")
	}
	return nil
}

// activeUser returns the user a grant was issued for, refusing the grant if
// the user is gone or disabled.
func (p *Provider) activeUser(ctx context.Context, id string) (watchword.User, error) {
	u, err := p.Store.GetUser(ctx, domainFrom(ctx).ID, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && u.Disabled) {
		return u, oidc.ErrInvalidGrant().WithDescription("the user is unknown or disabled")
	} else if err != nil {
		return u, p.serverError(ctx, "load user", err)
	}
	return u, nil
}

// issueTokens signs an access token for scopes and, if they hold openid, an
// ID token, and prepares a new refresh token of family carrying
// refreshScopes if the client may use the refresh_token grant. The refresh
// token is returned for the caller to store in its transaction; the
// response already holds its plaintext.
func (p *Provider) issueTokens(ctx context.Context, c watchword.Client, u watchword.User, scopes, refreshScopes []string, family string, authTime time.Time, nonce string) (*oidc.AccessTokenResponse, *watchword.RefreshToken, error) {
	d := domainFrom(ctx)
	access, lifetime, err := p.issueAccessToken(ctx, c, u.ID, scopes, family, authTime)
	if err != nil {
		return nil, nil, p.serverError(ctx, "sign access token", err)
	}
	resp := &oidc.AccessTokenResponse{AccessToken: access, TokenType: oidc.BearerToken, ExpiresIn: uint64(lifetime / time.Second), Scope: scopes}
	if slices.Contains(scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = p.issueIDToken(ctx, c, u, scopes, authTime, nonce, access); err != nil {
			return nil, nil, p.serverError(ctx, "sign ID token", err)
		}
	}
	if !slices.Contains(c.GrantTypes, watchword.GrantRefreshToken) {
		return resp, nil, nil
	}
	plain, _ := secret.Generate(refreshPrefix)
	lt := time.Duration(d.OAuth.RefreshTokenLifetime)
	if c.OAuth.RefreshTokenLifetime != nil {
		lt = time.Duration(*c.OAuth.RefreshTokenLifetime)
	}
	now := store.Truncate(p.Now())
	resp.RefreshToken = plain
	return resp, &watchword.RefreshToken{
		Hash: p.refreshHash(plain), DomainID: d.ID, ClientID: c.ID, UserID: u.ID, FamilyID: family,
		Scopes: refreshScopes, AuthTime: authTime, CreatedAt: now, ExpiresAt: now.Add(lt),
	}, nil
}

// idClaims are the claims of an ID token (OpenID Connect Core §2, §5.1).
type idClaims struct {
	Issuer            string `json:"iss"`
	Subject           string `json:"sub"`
	Audience          string `json:"aud"`
	AuthorizedParty   string `json:"azp"`
	Expiry            int64  `json:"exp"`
	IssuedAt          int64  `json:"iat"`
	AuthTime          int64  `json:"auth_time"`
	Nonce             string `json:"nonce,omitempty"`
	AccessTokenHash   string `json:"at_hash,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	Email             string `json:"email,omitempty"`
}

// issueIDToken signs an RS256 ID token for u with the profile and email
// claims that scopes grant. ID tokens are signed with the domain's RSA key
// whatever algorithm its access tokens use, since RS256 is the one every
// relying party supports (OpenID Connect Discovery §3).
func (p *Provider) issueIDToken(ctx context.Context, c watchword.Client, u watchword.User, scopes []string, authTime time.Time, nonce, accessToken string) (string, error) {
	d := domainFrom(ctx)
	now := p.Now()
	sum := sha256.Sum256([]byte(accessToken))
	claims := idClaims{
		Issuer: d.issuer, Subject: u.ID, Audience: c.ID, AuthorizedParty: c.ID,
		IssuedAt: now.Unix(), Expiry: now.Add(time.Duration(d.OAuth.IDTokenLifetime)).Unix(), AuthTime: authTime.Unix(),
		Nonce: nonce, AccessTokenHash: base64.RawURLEncoding.EncodeToString(sum[:len(sum)/2]),
	}
	claims.addUser(u, scopes)
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	k, err := p.Keys.Signer(ctx, d.ID, watchword.AlgRS256)
	if err != nil {
		return "", err
	}
	return k.sign("JWT", payload)
}

func (c *idClaims) addUser(u watchword.User, scopes []string) {
	if slices.Contains(scopes, oidc.ScopeProfile) {
		c.Name, c.PreferredUsername = u.DisplayName, u.Username
	}
	if slices.Contains(scopes, oidc.ScopeEmail) {
		c.Email = u.Email
	}
}
