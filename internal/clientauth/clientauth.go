// Package clientauth checks a presented client secret: which client and which
// secret it is, and whether it authenticates now.
//
// The cost of a check does not depend on whether the secret is right, on
// whether the client or secret exists, or on how many generated secrets the
// client has: a generated secret embeds its id, so one row is read and one
// HMAC computed; a miss computes the same HMAC against a dummy. Custom
// secrets (no embedded id) are compared against that client's custom secrets
// only, each once.
package clientauth

import (
	"context"
	"errors"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// Reason says internally why an authentication failed; callers answer every
// reason with the same generic invalid_client.
type Reason string

const (
	ReasonUnknownClient Reason = "unknown_client"
	ReasonWrongSecret   Reason = "wrong_secret"
	ReasonExpired       Reason = "expired"
	ReasonRevoked       Reason = "revoked"
	ReasonDisabled      Reason = "client_disabled"
	ReasonPublic        Reason = "public_client"
)

// Failure is a failed authentication with its internal reason.
type Failure struct{ Reason Reason }

func (f *Failure) Error() string { return "client authentication failed: " + string(f.Reason) }

// Reader is what the verifier reads from the store.
type Reader interface {
	GetClient(ctx context.Context, domainID, id string) (watchword.Client, error)
	GetSecret(ctx context.Context, id string) (watchword.Secret, error)
	ListSecrets(ctx context.Context, clientID string) ([]watchword.Secret, error)
}

// Verifier checks client secrets.
type Verifier struct {
	Store  Reader
	Hasher *secret.Hasher
	Now    func() time.Time
	// Cache, if set, serves reads; see Cache for the staleness it allows.
	Cache *Cache
}

func (v *Verifier) reader() Reader {
	if v.Cache == nil {
		return v.Store
	}
	return cachedReader{v.Cache, v.Store}
}

// Verify authenticates clientID of domainID with the presented secret and
// returns the client and the secret that matched. A failure is a *Failure;
// any other error is a store error.
func (v *Verifier) Verify(ctx context.Context, domainID, clientID, presented string) (watchword.Client, watchword.Secret, error) {
	now := v.Now()
	c, err := v.reader().GetClient(ctx, domainID, clientID)
	unknown := errors.Is(err, store.ErrNotFound)
	if err != nil && !unknown {
		return c, watchword.Secret{}, err
	}
	// An unknown client goes through the same lookups and hashing as a
	// known one (with no client, nothing matches), so that its answer takes
	// as long.
	sec, err := v.match(ctx, c, presented)
	if unknown {
		return watchword.Client{}, watchword.Secret{}, &Failure{ReasonUnknownClient}
	} else if err != nil {
		return c, sec, err
	}
	switch {
	case c.Type != watchword.ClientConfidential:
		return c, sec, &Failure{ReasonPublic}
	case c.Disabled:
		return c, sec, &Failure{ReasonDisabled}
	}
	switch sec.StatusAt(now) {
	case watchword.StatusRevoked:
		return c, sec, &Failure{ReasonRevoked}
	case watchword.StatusExpired:
		return c, sec, &Failure{ReasonExpired}
	}
	return c, sec, nil
}

// match finds the client's secret equal to presented, whatever its status.
func (v *Verifier) match(ctx context.Context, c watchword.Client, presented string) (watchword.Secret, error) {
	if id, ok := secret.ParseID(presented); ok {
		sec, err := v.reader().GetSecret(ctx, id)
		if errors.Is(err, store.ErrNotFound) || (err == nil && (sec.ClientID != c.ID || sec.DeletedAt != nil)) {
			v.Hasher.Burn(presented)
			return watchword.Secret{}, &Failure{ReasonWrongSecret}
		} else if err != nil {
			return sec, err
		}
		if !v.Hasher.Verify(presented, sec.Hash, sec.KeyID) {
			return watchword.Secret{}, &Failure{ReasonWrongSecret}
		}
		return sec, nil
	}
	secrets, err := v.reader().ListSecrets(ctx, c.ID)
	if err != nil {
		return watchword.Secret{}, err
	}
	var found *watchword.Secret
	tried := false
	for i := range secrets {
		if secrets[i].Source != watchword.SourceCustom {
			continue
		}
		tried = true
		// No early exit: every custom secret costs one comparison.
		if v.Hasher.Verify(presented, secrets[i].Hash, secrets[i].KeyID) && found == nil {
			found = &secrets[i]
		}
	}
	if !tried {
		v.Hasher.Burn(presented)
	}
	if found == nil {
		return watchword.Secret{}, &Failure{ReasonWrongSecret}
	}
	return *found, nil
}
