package oauth

import (
	"context"
	"net/http"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// serverError logs an internal failure with its details and returns the
// generic server_error the protocol engine renders: a store or signing
// error never reaches the caller in words (the engine would otherwise use
// err.Error() as the description).
func (p *Provider) serverError(ctx context.Context, what string, err error) error {
	p.Logger.ErrorContext(ctx, what, "err", err)
	return op.NewStatusError(oidc.ErrServerError().WithDescription("internal error"), http.StatusInternalServerError)
}

// errInvalidGrant is the answer to every unusable code or refresh token;
// the description does not say which check failed.
func errInvalidGrant(what string) error {
	return oidc.ErrInvalidGrant().WithDescription("the %s is invalid, expired, revoked or was issued to another client", what)
}

// errInvalidToken is the userinfo endpoint's answer to a bad bearer token
// (RFC 6750 §3.1).
func errInvalidToken() error {
	return op.NewStatusError(&oidc.Error{ErrorType: "invalid_token", Description: "the access token is invalid, expired or revoked"}, http.StatusUnauthorized)
}

// bearerWriter gives the userinfo endpoint's 401 and 403 answers an RFC 6750
// WWW-Authenticate header instead of the Basic one of the client endpoints.
type bearerWriter struct {
	http.ResponseWriter
	realm    string
	hasToken bool
}

func newBearerWriter(hw *headerWriter, r *http.Request) *bearerWriter {
	return &bearerWriter{ResponseWriter: hw, realm: hw.issuer,
		hasToken: r.Header.Get("Authorization") != "" || r.URL.Query().Has("access_token")}
}

func (w *bearerWriter) WriteHeader(status int) {
	v := `Bearer realm="` + w.realm + `"`
	switch {
	case status == http.StatusUnauthorized && w.hasToken:
		v += `, error="invalid_token"`
	case status == http.StatusForbidden:
		v += `, error="insufficient_scope", scope="openid"`
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		w.Header().Set("WWW-Authenticate", v)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *bearerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
