package oauth

import (
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
)

// opClient presents a Watchword client to the protocol engine.
type opClient struct{ c watchword.Client }

var _ op.Client = (*opClient)(nil)

func (o *opClient) GetID() string                        { return o.c.ID }
func (o *opClient) RedirectURIs() []string               { return o.c.RedirectURIs }
func (o *opClient) PostLogoutRedirectURIs() []string     { return o.c.RedirectURIs }
func (o *opClient) LoginURL(id string) string            { return "login?id=" + id }
func (o *opClient) AccessTokenType() op.AccessTokenType  { return op.AccessTokenTypeJWT }
func (o *opClient) IDTokenLifetime() time.Duration       { return time.Hour }
func (o *opClient) DevMode() bool                        { return false }
func (o *opClient) ClockSkew() time.Duration             { return 0 }
func (o *opClient) IDTokenUserinfoClaimsAssertion() bool { return false }

func (o *opClient) ApplicationType() op.ApplicationType {
	if o.c.Type == watchword.ClientPublic {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (o *opClient) AuthMethod() oidc.AuthMethod {
	return oidc.AuthMethod(o.c.OAuth.TokenEndpointAuthMethod)
}

func (o *opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (o *opClient) GrantTypes() []oidc.GrantType {
	gts := make([]oidc.GrantType, len(o.c.GrantTypes))
	for i, g := range o.c.GrantTypes {
		gts[i] = oidc.GrantType(g)
	}
	return gts
}

func (o *opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

func (o *opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(s []string) []string { return s }
}

// IsScopeAllowed admits the OIDC scopes and the client's registered scopes.
func (o *opClient) IsScopeAllowed(scope string) bool {
	switch scope {
	case oidc.ScopeOpenID, oidc.ScopeProfile, oidc.ScopeEmail, oidc.ScopeOfflineAccess:
		return true
	}
	for _, s := range o.c.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}
