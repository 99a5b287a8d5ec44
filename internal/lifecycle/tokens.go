package lifecycle

import (
	"context"
	"errors"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// CreateToken creates an admin token; its plaintext is returned this once.
func (s *Service) CreateToken(ctx context.Context, name string, role watchword.Role) (watchword.NewAdminToken, error) {
	var nt watchword.NewAdminToken
	err := s.tx(ctx, func(tx store.Tx) error {
		var err error
		nt, err = s.createToken(ctx, tx, name, role)
		return err
	})
	return nt, err
}

func (s *Service) createToken(ctx context.Context, tx store.Tx, name string, role watchword.Role) (watchword.NewAdminToken, error) {
	var errs watchword.Errors
	if name == "" || len(name) > 128 {
		errs.Add("name", "is required, at most 128 characters")
	}
	if !watchword.ValidRole(role) {
		errs.Add("role", "must be one of admin, secret-manager, viewer, auditor")
	}
	if err := errs.Err(); err != nil {
		return watchword.NewAdminToken{}, err
	}
	plaintext, id := secret.Generate(TokenPrefix)
	hash, kid := s.Hasher.Hash(plaintext)
	t := watchword.AdminToken{
		ID: id, Name: name, Role: role, Hint: secret.Hint(plaintext), Hash: hash, KeyID: kid,
		CreatedAt: tx.Now(), CreatedBy: watchword.ActorFromContext(ctx).String(),
	}
	if err := tx.CreateAdminToken(ctx, t); err != nil {
		return watchword.NewAdminToken{}, err
	}
	err := audit(ctx, tx, watchword.ActionTokenCreate, "", "admin_token", id, map[string]string{"name": name, "role": string(role)})
	return watchword.NewAdminToken{AdminToken: t, Plaintext: plaintext}, err
}

// Initialize prepares a new store on first start: it creates the default
// domain and the first admin token in one transaction and returns the token.
// On later starts it returns nil. The domain's unique name makes exactly one
// of several instances starting at once the one that initialises.
func (s *Service) Initialize(ctx context.Context) (*watchword.NewAdminToken, error) {
	if _, err := s.Store.GetDomainByName(ctx, watchword.DefaultDomainName); err == nil {
		return nil, nil
	}
	var nt *watchword.NewAdminToken
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		if _, err := s.createDomain(ctx, tx, watchword.DefaultDomainName, "Created on first start."); err != nil {
			return err
		}
		t, err := s.createToken(ctx, tx, "bootstrap", watchword.RoleAdmin)
		nt = &t
		return err
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return nil, nil // another instance initialised the store
	}
	return nt, mapStoreErr(err)
}

// ListTokens returns all admin tokens (metadata only).
func (s *Service) ListTokens(ctx context.Context) ([]watchword.AdminToken, error) {
	ts, err := s.Store.ListAdminTokens(ctx)
	return ts, mapStoreErr(err)
}

// RevokeToken revokes an admin token. The last active admin token cannot be
// revoked, so that the server is never left without an administrator.
func (s *Service) RevokeToken(ctx context.Context, id string) (watchword.AdminToken, error) {
	var t watchword.AdminToken
	err := s.tx(ctx, func(tx store.Tx) error {
		tokens, err := tx.ListAdminTokens(ctx)
		if err != nil {
			return err
		}
		admins, found := 0, false
		for _, tok := range tokens {
			if tok.RevokedAt == nil && tok.Role == watchword.RoleAdmin {
				admins++
			}
			if tok.ID == id {
				t, found = tok, true
			}
		}
		switch {
		case !found:
			return watchword.FieldError(watchword.ENOTFOUND, "token", "Admin token %q not found.", id)
		case t.RevokedAt != nil:
			return watchword.FieldError(watchword.ECONFLICT, "token", "Admin token %q is already revoked.", id)
		case t.Role == watchword.RoleAdmin && admins == 1:
			return watchword.FieldError(watchword.ECONFLICT, "token", "Admin token %q is the last active admin token; create another first.", id)
		}
		now := tx.Now()
		t.RevokedAt, t.RevokedBy = &now, watchword.ActorFromContext(ctx).String()
		if err := tx.UpdateAdminToken(ctx, t); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionTokenRevoke, "", "admin_token", id, map[string]string{"name": t.Name})
	})
	return t, err
}

// AuthenticateToken returns the active admin token that plaintext is, or an
// EUNAUTHORIZED error that does not say why.
func (s *Service) AuthenticateToken(ctx context.Context, plaintext string) (watchword.AdminToken, error) {
	denied := watchword.Errorf(watchword.EUNAUTHORIZED, "Invalid or missing admin token.")
	id, ok := secret.ParseID(plaintext)
	if !ok {
		s.Hasher.Burn(plaintext)
		return watchword.AdminToken{}, denied
	}
	t, err := s.Store.GetAdminToken(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		s.Hasher.Burn(plaintext)
		return t, denied
	} else if err != nil {
		return t, err
	}
	if !s.Hasher.Verify(plaintext, t.Hash, t.KeyID) || t.RevokedAt != nil {
		return watchword.AdminToken{}, denied
	}
	return t, nil
}
