package oauth

import (
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"github.com/zitadel/schema"
)

// formDecoder is the protocol engine's form decoder (op.WithDecoder). The
// forms of the client-authenticating endpoints, decoded on every token,
// introspection and revocation request, are filled field by field; every
// other form goes to the engine's own reflective decoder. The rules are the
// engine's: the last value of a parameter wins, unknown parameters are
// ignored, scope is split on spaces. TestFormDecoder holds the two to the
// same results.
type formDecoder struct{ generic *schema.Decoder }

func newFormDecoder() formDecoder {
	d := schema.NewDecoder()
	d.IgnoreUnknownKeys(true) // as op.RegisterServer sets its default decoder
	return formDecoder{d}
}

func (d formDecoder) Decode(dst any, form map[string][]string) error {
	set := func(field *string, name string) {
		if vs, ok := form[name]; ok {
			*field = ""
			if len(vs) > 0 {
				*field = vs[len(vs)-1]
			}
		}
	}
	client := func(id, secret, assertion, assertionType *string) {
		set(id, "client_id")
		set(secret, "client_secret")
		set(assertion, "client_assertion")
		set(assertionType, "client_assertion_type")
	}
	switch dst := dst.(type) {
	case *op.ClientCredentials:
		client(&dst.ClientID, &dst.ClientSecret, &dst.ClientAssertion, &dst.ClientAssertionType)
	case *oidc.ClientCredentialsRequest:
		set((*string)(&dst.GrantType), "grant_type")
		if _, ok := form["scope"]; ok {
			var scope string
			set(&scope, "scope")
			_ = dst.Scope.UnmarshalText([]byte(scope)) // never fails
		}
		client(&dst.ClientID, &dst.ClientSecret, &dst.ClientAssertion, &dst.ClientAssertionType)
	case *oidc.IntrospectionRequest:
		set(&dst.Token, "token")
	case *oidc.RevocationRequest:
		set(&dst.Token, "token")
		set(&dst.TokenTypeHint, "token_type_hint")
	default:
		return d.generic.Decode(dst, form)
	}
	return nil
}
