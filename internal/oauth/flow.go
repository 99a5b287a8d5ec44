package oauth

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Prefixes of the opaque values Watchword hands out in the code flow, so
// that leak scanners recognise them (and so that a code can never be taken
// for a refresh token or a client secret).
const (
	codePrefix    = "wwac_"
	refreshPrefix = "wwrt_"
)

var _ loginFlow = (*Provider)(nil)

// codeHash is how an authorization code is looked up: only its keyed hash
// under the server key is stored, as for refresh tokens.
func (p *Provider) codeHash(code string) []byte {
	h, _ := p.Verifier.Hasher.Hash(code)
	return h
}

func (p *Provider) pending(ctx context.Context, id string) (watchword.AuthRequest, watchword.Client, error) {
	d := domainFrom(ctx)
	if id == "" || len(id) > 4*secret.IDLen {
		return watchword.AuthRequest{}, watchword.Client{}, errRequestGone
	}
	ar, err := p.Store.GetAuthRequest(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return ar, watchword.Client{}, errRequestGone
	} else if err != nil {
		return ar, watchword.Client{}, err
	}
	if ar.DomainID != d.ID || !p.Now().Before(ar.ExpiresAt) {
		return ar, watchword.Client{}, errRequestGone
	}
	c, err := p.Store.GetClient(ctx, d.ID, ar.ClientID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && c.Disabled) {
		return ar, c, errRequestGone
	}
	return ar, c, err
}

func (p *Provider) signedIn(ctx context.Context, ar watchword.AuthRequest, c watchword.Client, u watchword.User) (string, bool, error) {
	now := store.Truncate(p.Now())
	ar.UserID, ar.AuthTime = u.ID, &now
	if !c.OAuth.FirstParty {
		granted, err := p.Store.GetConsent(ctx, ar.DomainID, u.ID, c.ID)
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", false, err
		}
		if !subset(ar.Scopes, granted) {
			err := p.Store.Tx(ctx, func(tx store.Tx) error { return tx.UpdateAuthRequest(ctx, ar) })
			if errors.Is(err, store.ErrNotFound) {
				return "", false, errRequestGone
			}
			return "", err == nil, err
		}
	}
	redirect, err := p.issueCode(ctx, ar, nil)
	return redirect, false, err
}

func (p *Provider) consented(ctx context.Context, ar watchword.AuthRequest, allow bool) (string, error) {
	if ar.UserID == "" || ar.AuthTime == nil {
		return "", errRequestGone
	}
	if !allow {
		err := p.Store.Tx(ctx, func(tx store.Tx) error { return tx.DeleteAuthRequest(ctx, ar.ID) })
		if errors.Is(err, store.ErrNotFound) {
			return "", errRequestGone
		} else if err != nil {
			return "", err
		}
		return withParams(ar.RedirectURI, url.Values{"error": {"access_denied"}, "error_description": {"the user denied access"}}, ar.State), nil
	}
	granted, err := p.Store.GetConsent(ctx, ar.DomainID, ar.UserID, ar.ClientID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", err
	}
	for _, s := range ar.Scopes {
		if !slices.Contains(granted, s) {
			granted = append(granted, s)
		}
	}
	return p.issueCode(ctx, ar, granted)
}

// issueCode turns a signed-in (and, if needed, consented) authorization
// request into a code, in one transaction that consumes the request, so
// that a request yields at most one code. consent, if not nil, is stored
// as the scopes the user granted the client. It returns the client's
// redirect URI with the code and the state.
func (p *Provider) issueCode(ctx context.Context, ar watchword.AuthRequest, consent []string) (string, error) {
	d := domainFrom(ctx)
	now := store.Truncate(p.Now())
	code, _ := secret.Generate(codePrefix)
	ac := watchword.AuthCode{
		Hash: p.codeHash(code), DomainID: ar.DomainID, ClientID: ar.ClientID, UserID: ar.UserID,
		RedirectURI: ar.RedirectURI, Scopes: ar.Scopes, Nonce: ar.Nonce,
		CodeChallenge: ar.CodeChallenge, CodeChallengeMethod: ar.CodeChallengeMethod,
		AuthTime: *ar.AuthTime, CreatedAt: now, ExpiresAt: now.Add(time.Duration(d.OAuth.CodeLifetime)),
	}
	err := p.Store.Tx(ctx, func(tx store.Tx) error {
		if err := tx.DeleteAuthRequest(ctx, ar.ID); err != nil {
			return err
		}
		if consent != nil {
			if err := tx.PutConsent(ctx, ar.DomainID, ar.UserID, ar.ClientID, consent); err != nil {
				return err
			}
		}
		return tx.CreateAuthCode(ctx, ac)
	})
	if errors.Is(err, store.ErrNotFound) {
		return "", errRequestGone
	} else if err != nil {
		return "", err
	}
	return withParams(ar.RedirectURI, url.Values{"code": {code}}, ar.State), nil
}

// withParams adds params and, if not empty, the state to a redirect URI's
// query. The registered URI's own query is kept byte for byte.
func withParams(redirectURI string, params url.Values, state string) string {
	if state != "" {
		params.Set("state", state)
	}
	sep := "?"
	if u, err := url.Parse(redirectURI); err == nil && u.RawQuery != "" {
		sep = "&"
	} else if err == nil && u.ForceQuery {
		sep = ""
	}
	return redirectURI + sep + params.Encode()
}

// subset reports whether every scope of want is in have.
func subset(want, have []string) bool {
	for _, s := range want {
		if !slices.Contains(have, s) {
			return false
		}
	}
	return true
}
