package oauth

import (
	"reflect"
	"testing"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// TestFormDecoder: for the forms it decodes itself, formDecoder gives what
// the engine's reflective decoder gives, on every combination of present,
// absent, empty, repeated and unknown parameters.
func TestFormDecoder(t *testing.T) {
	fast, generic := newFormDecoder(), newFormDecoder().generic
	values := [][]string{nil, {""}, {"a"}, {"a", "b"}, {"read  write", "x y"}, {" lead trail "}}
	names := []string{"client_id", "client_secret", "client_assertion", "client_assertion_type", "grant_type", "scope", "token", "token_type_hint", "unknown"}
	types := []func() any{
		func() any { return new(op.ClientCredentials) },
		func() any { return new(oidc.ClientCredentialsRequest) },
		func() any { return new(oidc.IntrospectionRequest) },
		func() any { return new(oidc.RevocationRequest) },
	}
	// Each parameter takes each value (nil: absent) in turn, the others a
	// value that rotates with it, so that every parameter meets every value.
	for i := range len(values) * len(names) {
		form := map[string][]string{}
		for j, name := range names {
			if v := values[(i+j*(i/len(values)+1))%len(values)]; v != nil {
				form[name] = v
			}
		}
		for _, mk := range types {
			got, want := mk(), mk()
			errGot, errWant := fast.Decode(got, form), generic.Decode(want, form)
			if !reflect.DeepEqual(got, want) || (errGot == nil) != (errWant == nil) {
				t.Errorf("form %v into %T:\n got  %+v (%v)\n want %+v (%v)", form, got, got, errGot, want, errWant)
			}
		}
	}
	// Other forms reach the generic decoder.
	var auth oidc.AuthRequest
	if err := fast.Decode(&auth, map[string][]string{"client_id": {"c"}, "state": {"s"}}); err != nil || auth.ClientID != "c" || auth.State != "s" {
		t.Fatalf("AuthRequest = %+v, %v", auth, err)
	}
}
