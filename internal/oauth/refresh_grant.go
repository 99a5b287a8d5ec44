package oauth

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/watchword/watchword/internal/store"
)

// errFamilyRevoked: the token's family was revoked while its row still
// looked live (a token created by a refresh that raced the revocation).
var errFamilyRevoked = errors.New("token family revoked")

// RefreshToken rotates a refresh token (RFC 6749 §6, RFC 9700 §4.14.2):
// every refresh returns a new refresh token of the same family and uses up
// the one presented. Presenting a used token again revokes the family,
// unless the client has a reuse window and the token was used less than
// that long ago: then the retry gets a fresh pair too and the family stays.
//
// The client authenticates like at every endpoint (VerifyClient), with any
// of its valid secrets; tokens are bound to the client, not to a secret, so
// rotating secrets leaves them working. Scopes may only narrow: the access
// token gets the scopes asked for, the new refresh token keeps the family's.
func (s *server) RefreshToken(ctx context.Context, r *op.ClientRequest[oidc.RefreshTokenRequest]) (*op.Response, error) {
	d := domainFrom(ctx)
	c := r.Client.(*opClient).c
	hash := s.p.refreshHash(r.Data.RefreshToken)
	rt, err := s.p.Store.GetRefreshToken(ctx, hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, errInvalidGrant("refresh token")
	} else if err != nil {
		return nil, s.p.serverError(ctx, "refresh: load token", err)
	}
	if rt.DomainID != d.ID || rt.ClientID != c.ID {
		return nil, errInvalidGrant("refresh token")
	}
	scopes := rt.Scopes
	if len(r.Data.Scopes) > 0 {
		scopes = []string{}
		for _, sc := range r.Data.Scopes {
			if !slices.Contains(rt.Scopes, sc) {
				return nil, oidc.ErrInvalidScope().WithDescription("scope %q was not granted; a refresh may only narrow the scopes", sc)
			}
			if !slices.Contains(scopes, sc) {
				scopes = append(scopes, sc)
			}
		}
	}
	for attempt := 1; ; attempt++ {
		now := s.p.Now()
		if rt.RevokedAt != nil {
			return nil, errInvalidGrant("refresh token")
		}
		// A used token presented again is reuse even once it has expired:
		// its successors may still be alive.
		retry := false // within the reuse window
		if rt.UsedAt != nil {
			if w := time.Duration(c.OAuth.RefreshReuseWindow); w <= 0 || now.Sub(*rt.UsedAt) >= w {
				if err := s.p.revokeReused(ctx, "refresh_token", c.ID, rt.UserID, rt.FamilyID); err != nil {
					return nil, s.p.serverError(ctx, "refresh reuse: revoke family", err)
				}
				return nil, errInvalidGrant("refresh token")
			}
			retry = true
		}
		if !now.Before(rt.ExpiresAt) {
			return nil, errInvalidGrant("refresh token")
		}
		u, err := s.p.activeUser(ctx, rt.UserID)
		if err != nil {
			return nil, err
		}
		resp, next, err := s.p.issueTokens(ctx, c, u, scopes, rt.Scopes, rt.FamilyID, rt.AuthTime, "")
		if err != nil {
			return nil, err
		}
		if next == nil { // the client lost the refresh_token grant; the engine refuses that before here
			return nil, oidc.ErrUnauthorizedClient().WithDescription("the client may not use refresh tokens")
		}
		err = s.p.Store.Tx(ctx, func(tx store.Tx) error {
			if revoked, err := tx.IsRevoked(ctx, rt.FamilyID); err != nil {
				return err
			} else if revoked {
				return errFamilyRevoked
			}
			if !retry {
				if err := tx.UseRefreshToken(ctx, hash, now); err != nil {
					return err
				}
			}
			return tx.CreateRefreshToken(ctx, *next)
		})
		switch {
		case err == nil:
			return op.NewResponse(resp), nil
		case errors.Is(err, errFamilyRevoked), errors.Is(err, store.ErrNotFound):
			return nil, errInvalidGrant("refresh token")
		case errors.Is(err, store.ErrConflict) && attempt == 1:
			// Used or revoked concurrently: decide again on what is stored now.
			if rt, err = s.p.Store.GetRefreshToken(ctx, hash); err != nil {
				return nil, s.p.serverError(ctx, "refresh: reload token", err)
			}
			continue
		default:
			return nil, s.p.serverError(ctx, "refresh: rotate token", err)
		}
	}
}
