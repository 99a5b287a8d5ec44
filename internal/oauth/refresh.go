package oauth

import (
	"context"
	"errors"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// refreshHash is how a refresh token is looked up: only its keyed hash is stored.
func (p *Provider) refreshHash(token string) []byte {
	h, _ := p.Verifier.Hasher.Hash(token)
	return h
}

// introspectRefresh answers introspection for a refresh token.
func (p *Provider) introspectRefresh(ctx context.Context, token string) (*op.Response, error) {
	rt, err := p.Store.GetRefreshToken(ctx, p.refreshHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return op.NewResponse(&oidc.IntrospectionResponse{Active: false}), nil
	} else if err != nil {
		return nil, err
	}
	d := domainFrom(ctx)
	if rt.DomainID != d.ID || rt.UsedAt != nil || rt.RevokedAt != nil || !p.Now().Before(rt.ExpiresAt) {
		return op.NewResponse(&oidc.IntrospectionResponse{Active: false}), nil
	}
	return op.NewResponse(&oidc.IntrospectionResponse{
		Active: true, Scope: rt.Scopes, ClientID: rt.ClientID, TokenType: "refresh_token",
		Expiration: oidc.FromTime(rt.ExpiresAt), IssuedAt: oidc.FromTime(rt.CreatedAt),
		Subject: rt.UserID, Issuer: d.issuer,
	}), nil
}

// revokeRefresh revokes a refresh token's whole family, and the access
// tokens issued in it (RFC 7009 §2.1).
func (p *Provider) revokeRefresh(ctx context.Context, c watchword.Client, token string) error {
	rt, err := p.Store.GetRefreshToken(ctx, p.refreshHash(token))
	if errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if rt.ClientID != c.ID {
		return oidc.ErrUnauthorizedClient().WithDescription("the token was not issued to this client")
	}
	return p.revokeFamily(ctx, rt.DomainID, rt.FamilyID, nil)
}

// revokeFamily revokes a grant's refresh tokens and marks the family so
// that its access tokens introspect inactive, with ev (if any) as its audit
// record, in one transaction.
func (p *Provider) revokeFamily(ctx context.Context, domainID, familyID string, ev *watchword.AuditEvent) error {
	now := p.Now()
	defer p.revoked.forget()
	return p.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.RevokeFamily(ctx, familyID, now); err != nil {
			return err
		}
		err := tx.MarkRevoked(ctx, watchword.RevokedToken{ID: familyID, DomainID: domainID, ExpiresAt: now.Add(watchword.FamilyRevocationLifetime)})
		if err != nil || ev == nil {
			return err
		}
		ev.Time = tx.Now()
		return tx.AppendAudit(ctx, *ev)
	})
}
