package lifecycle

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// UserCreate is the input of CreateUser.
type UserCreate struct {
	Username    string `json:"username"`
	Email       string `json:"email"`
	DisplayName string `json:"display_name"`
	// Password is optional: a user without one cannot sign in until it is set.
	Password watchword.Password `json:"password"`
	Disabled bool               `json:"disabled"`
}

// CreateUser adds a user to the domain's directory. The password is hashed
// with argon2id before the transaction; it is never stored, logged or
// audited in plaintext.
func (s *Service) CreateUser(ctx context.Context, domainName string, in UserCreate) (watchword.User, error) {
	u := watchword.User{
		ID: secret.NewID(), Username: watchword.NormalizeUsername(in.Username), Email: strings.TrimSpace(in.Email),
		DisplayName: strings.TrimSpace(in.DisplayName), Disabled: in.Disabled,
	}
	var errs watchword.Errors
	if err := u.Validate(); err != nil {
		errs = append(errs, fieldErrors(err)...)
	}
	if in.Password != "" {
		if err := watchword.ValidatePassword("password", in.Password); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errs.Err(); err != nil {
		return u, err
	}
	if in.Password != "" {
		u.PasswordHash = secret.HashPassword(string(in.Password))
	}
	err := s.tx(ctx, func(tx store.Tx) error {
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		u.DomainID, u.CreatedAt, u.UpdatedAt = d.ID, tx.Now(), tx.Now()
		if err := tx.CreateUser(ctx, u); errors.Is(err, store.ErrAlreadyExists) {
			return watchword.FieldError(watchword.ECONFLICT, "username", "A user named %q already exists in domain %q.", u.Username, d.Name)
		} else if err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionUserCreate, d.ID, "user", u.ID, map[string]string{
			"username": u.Username, "disabled": strconv.FormatBool(u.Disabled), "password_set": strconv.FormatBool(in.Password != ""),
		})
	})
	return u, err
}

// fieldErrors flattens a validation error into its field errors.
func fieldErrors(err error) watchword.Errors {
	var e *watchword.Error
	if !errors.As(err, &e) {
		return nil
	}
	if len(e.Fields) > 0 {
		return e.Fields
	}
	return watchword.Errors{e}
}

// userIn finds a user of domain d by id or, failing that, by username.
func userIn(ctx context.Context, r store.Reader, d watchword.Domain, ref string) (watchword.User, error) {
	u, err := r.GetUser(ctx, d.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		u, err = r.GetUserByUsername(ctx, d.ID, watchword.NormalizeUsername(ref))
	}
	if errors.Is(err, store.ErrNotFound) {
		return u, watchword.FieldError(watchword.ENOTFOUND, "user", "User %q not found in domain %q.", ref, d.Name)
	}
	return u, err
}

// GetUser returns a user by id or username.
func (s *Service) GetUser(ctx context.Context, domainName, ref string) (watchword.User, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return watchword.User{}, mapStoreErr(err)
	}
	u, err := userIn(ctx, s.Store, d, ref)
	return u, mapStoreErr(err)
}

// ListUsers returns a page of the domain's users ordered by username, and
// the total count.
func (s *Service) ListUsers(ctx context.Context, domainName string, offset, limit int) ([]watchword.User, int, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return nil, 0, mapStoreErr(err)
	}
	offset, limit = store.Page(offset, limit)
	us, n, err := s.Store.ListUsers(ctx, d.ID, offset, limit)
	return us, n, mapStoreErr(err)
}

// UpdateUser applies a partial update: email, display name, disabled and
// password. A disabled user cannot sign in, refresh tokens or read
// userinfo; enabling restores that. The audit record names the changed
// fields, never a password.
func (s *Service) UpdateUser(ctx context.Context, domainName, ref string, up watchword.UserUpdate) (watchword.User, error) {
	if up.Email != nil {
		e := strings.TrimSpace(*up.Email)
		up.Email = &e
	}
	if up.DisplayName != nil {
		n := strings.TrimSpace(*up.DisplayName)
		up.DisplayName = &n
	}
	hash := ""
	if up.Password != nil {
		if err := watchword.ValidatePassword("password", *up.Password); err != nil {
			return watchword.User{}, err
		}
		hash = secret.HashPassword(string(*up.Password)) // outside the transaction: it may be re-run
	}
	var u watchword.User
	err := s.tx(ctx, func(tx store.Tx) error {
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		old, err := userIn(ctx, tx, d, ref)
		if err != nil {
			return err
		}
		u = up.Apply(old)
		if err := u.Validate(); err != nil {
			return err
		}
		if hash != "" {
			u.PasswordHash = hash
		}
		u.UpdatedAt = tx.Now()
		if err := tx.UpdateUser(ctx, u); err != nil {
			return err
		}
		var changed []string
		if u.Email != old.Email {
			changed = append(changed, "email")
		}
		if u.DisplayName != old.DisplayName {
			changed = append(changed, "display_name")
		}
		if hash != "" {
			changed = append(changed, "password")
		}
		details := map[string]string{"username": u.Username}
		if u.Disabled != old.Disabled {
			details["disabled"] = strconv.FormatBool(u.Disabled)
		}
		if hash != "" || (u.Disabled && !old.Disabled) {
			// A new password or a disabled account ends every session the
			// user had: refresh tokens, unused codes, and the access tokens
			// of those grants at introspection.
			now := tx.Now()
			if err := tx.RevokeUserGrants(ctx, d.ID, u.ID, now, now.Add(watchword.FamilyRevocationLifetime)); err != nil {
				return err
			}
			details["grants_revoked"] = "true"
		}
		if len(changed) > 0 {
			slices.Sort(changed)
			details["changed"] = strings.Join(changed, ",")
		}
		return audit(ctx, tx, watchword.ActionUserUpdate, d.ID, "user", u.ID, details)
	})
	s.tokensRevoked(err)
	return u, err
}
