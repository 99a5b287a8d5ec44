package oauth

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Authenticator checks the credentials a person types into the login page.
// The built-in one checks the domain's user directory; a directory of
// another kind (LDAP, a login app of the operator's) replaces it here.
//
// Every refusal must be ErrBadCredentials, whatever the reason (no such
// user, wrong password, disabled user), so that the page cannot be used to
// find out which usernames exist; any other error is an internal failure.
type Authenticator interface {
	Authenticate(ctx context.Context, domainID, username, password string) (watchword.User, error)
}

// ErrBadCredentials is an Authenticator's one answer to every refused login.
var ErrBadCredentials = errors.New("invalid username or password")

// directory authenticates against the users of the store. Checking a
// password costs one argon2id computation whether or not the user exists
// or is disabled, and at most a few run at once, so that a burst of logins
// cannot exhaust memory (each takes the hash's memory parameter, 19 MiB by
// default).
type directory struct {
	users interface {
		GetUserByUsername(ctx context.Context, domainID, username string) (watchword.User, error)
	}
	slots chan struct{}
}

func newDirectory(st store.Reader) *directory {
	return &directory{users: st, slots: make(chan struct{}, max(2, runtime.GOMAXPROCS(0)))}
}

func (d *directory) Authenticate(ctx context.Context, domainID, username, password string) (watchword.User, error) {
	select {
	case d.slots <- struct{}{}:
		defer func() { <-d.slots }()
	case <-ctx.Done():
		return watchword.User{}, ctx.Err()
	}
	u, err := d.users.GetUserByUsername(ctx, domainID, watchword.NormalizeUsername(username))
	if errors.Is(err, store.ErrNotFound) {
		secret.BurnPassword(password)
		return watchword.User{}, ErrBadCredentials
	} else if err != nil {
		return u, err
	}
	ok, err := secret.VerifyPassword(password, u.PasswordHash)
	if err != nil {
		return watchword.User{}, fmt.Errorf("password hash of user %s: %w", u.ID, err)
	}
	if !ok || u.Disabled {
		return watchword.User{}, ErrBadCredentials
	}
	return u, nil
}
