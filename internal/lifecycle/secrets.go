package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// SecretCreate is the input for a new secret.
type SecretCreate struct {
	Description string `json:"description,omitempty"`
	// Value is a custom secret value, if the policy allows it; empty means generate.
	Value string `json:"value,omitempty"`
	// stage labels a secret a rotation run creates.
	stage watchword.SecretStage
}

const (
	maxDescription = 256
	maxCustomValue = 512
	maxReason      = 512
)

// addSecret creates a secret for c inside tx after checking the policy: the
// cap on valid secrets, description uniqueness among active secrets, and
// custom-value rules. stillValid lists the secrets that remain valid beside
// the new one (nil: all currently valid ones).
func (s *Service) addSecret(ctx context.Context, tx store.Tx, d watchword.Domain, c watchword.Client, in SecretCreate, source watchword.SecretSource, existing []watchword.Secret) (*watchword.NewSecret, error) {
	now := tx.Now()
	p := c.EffectivePolicy(d)
	if c.Type != watchword.ClientConfidential {
		return nil, watchword.FieldError(watchword.EINVALID, "client", "A public client has no secrets.")
	}
	if c.Disabled {
		return nil, watchword.FieldError(watchword.ECONFLICT, "client", "Client %q is disabled; enable it before adding secrets.", c.Name)
	}
	if existing == nil {
		var err error
		if existing, err = tx.ListSecrets(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	valid := 0
	for _, sec := range existing {
		if !sec.ValidAt(now) {
			continue
		}
		valid++
		if in.Description != "" && sec.StatusAt(now) == watchword.StatusActive && sec.Description == in.Description {
			return nil, watchword.FieldError(watchword.ECONFLICT, "description", "An active secret of this client is already described %q.", in.Description)
		}
	}
	if limit := min(p.MaxSecrets, s.ServerMaxSecrets); valid+1 > limit {
		return nil, watchword.Errorf(watchword.ECONFLICT, "Client %q would have %d valid secrets, over its cap of %d; revoke one or rotate with a transition period of 0.", c.Name, valid+1, limit)
	}
	if len(in.Description) > maxDescription {
		return nil, watchword.FieldError(watchword.EINVALID, "description", "Must be at most %d characters.", maxDescription)
	}

	plaintext, id := in.Value, secret.NewID()
	if in.Value != "" {
		switch _, looksGenerated := secret.ParseID(in.Value); {
		case !p.AllowCustom:
			return nil, watchword.FieldError(watchword.EINVALID, "value", "Custom secret values are not allowed by this client's policy.")
		case len(in.Value) < p.MinCustomLength:
			return nil, watchword.FieldError(watchword.EINVALID, "value", "A custom secret must be at least %d characters.", p.MinCustomLength)
		case len(in.Value) > maxCustomValue:
			return nil, watchword.FieldError(watchword.EINVALID, "value", "A custom secret must be at most %d characters.", maxCustomValue)
		case looksGenerated:
			return nil, watchword.FieldError(watchword.EINVALID, "value", "A custom secret must not have the form of a generated one.")
		}
		source = watchword.SourceCustom
	} else {
		plaintext, id = secret.Generate(s.Prefix)
	}
	hash, kid := s.Hasher.Hash(plaintext)
	sec := watchword.Secret{
		ID: id, ClientID: c.ID, Description: in.Description,
		Hint: secret.Hint(plaintext), Hash: hash, KeyID: kid, Source: source, Stage: in.stage,
		CreatedAt: now, CreatedBy: watchword.ActorFromContext(ctx).String(),
		ExpiresAt: p.Expiry.ExpiresAt(now),
	}
	if sec.Description == "" {
		sec.Description = fmt.Sprintf("%s %s %s", source, now.Format("2006-01-02 15:04:05"), id[:6])
	}
	if err := tx.CreateSecret(ctx, sec); err != nil {
		return nil, err
	}
	sec = sec.WithStatus(now)
	return &watchword.NewSecret{Secret: sec, Plaintext: plaintext}, nil
}

// AddSecret adds a secret to a client.
func (s *Service) AddSecret(ctx context.Context, domainName, ref string, in SecretCreate) (*watchword.NewSecret, error) {
	var ns *watchword.NewSecret
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		if ns, err = s.addSecret(ctx, tx, d, c, in, watchword.SourceGenerated, nil); err != nil {
			return err
		}
		if err := audit(ctx, tx, watchword.ActionSecretAdd, d.ID, "secret", ns.ID, map[string]string{"client_id": c.ID, "hint": ns.Hint, "source": string(ns.Source)}); err != nil {
			return err
		}
		return newOutbox(tx, d).emit(ctx, c, watchword.EventSecretCreated, ns.Secret, nil)
	})
	if err == nil {
		s.changed(ns.ClientID, nil)
	}
	return ns, err
}

// ListSecrets returns a client's secrets (metadata only) with their status now.
func (s *Service) ListSecrets(ctx context.Context, domainName, ref string) ([]watchword.Secret, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return nil, err
	}
	secrets, err := s.Store.ListSecrets(ctx, c.ID)
	now := s.now()
	for i := range secrets {
		secrets[i] = secrets[i].WithStatus(now)
	}
	return secrets, mapStoreErr(err)
}

// GetSecret returns one secret of a client.
func (s *Service) GetSecret(ctx context.Context, domainName, ref, id string) (watchword.Secret, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return watchword.Secret{}, err
	}
	sec, err := secretOf(ctx, s.Store, c, id)
	return sec.WithStatus(s.now()), mapStoreErr(err)
}

func secretOf(ctx context.Context, r store.Reader, c watchword.Client, id string) (watchword.Secret, error) {
	sec, err := r.GetSecret(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && (sec.ClientID != c.ID || sec.DeletedAt != nil)) {
		return sec, watchword.FieldError(watchword.ENOTFOUND, "secret", "Secret %q not found for client %q.", id, c.Name)
	}
	return sec, err
}

// transition resolves a requested transition period against the policy.
func transition(p watchword.SecretPolicy, requested *watchword.Duration) (time.Duration, error) {
	if requested == nil {
		return time.Duration(p.DefaultTransition), nil
	}
	t := time.Duration(*requested)
	if t < 0 {
		return 0, watchword.FieldError(watchword.EINVALID, "transition", "Must not be negative.")
	}
	if t > time.Duration(p.MaxTransition) {
		return 0, watchword.FieldError(watchword.EINVALID, "transition", "%s is over the maximum transition period of %s (the secret policy's max_transition).", t, time.Duration(p.MaxTransition))
	}
	return t, nil
}

// RotateRequest is the input of RotateClient.
type RotateRequest struct {
	// Transition is how long the current secrets keep working; nil means
	// the policy's default, 0 means they stop at once.
	Transition  *watchword.Duration `json:"transition,omitempty"`
	Description string              `json:"description,omitempty"`
	// Compromised (only with a transition of 0) revokes the old secrets
	// instead of letting them expire, and also revokes the client's refresh
	// tokens and unused authorization codes.
	Compromised bool `json:"compromised,omitempty"`
}

// RotateResult is the new secret and the rotation record.
type RotateResult struct {
	Secret   watchword.NewSecret `json:"secret"`
	Rotation watchword.Rotation  `json:"rotation"`
}

// RotateClient creates a new secret and puts every valid secret of the
// client into a transition period. A secret already in transition keeps
// its earlier end.
func (s *Service) RotateClient(ctx context.Context, domainName, ref string, in RotateRequest) (RotateResult, error) {
	var res RotateResult
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		t, err := transition(c.EffectivePolicy(d), in.Transition)
		if err != nil {
			return err
		}
		if in.Compromised && t != 0 {
			return watchword.FieldError(watchword.EINVALID, "compromised", "A compromised rotation needs a transition of 0: a leaked secret must stop at once.")
		}
		if in.Compromised {
			// A leak cannot wait for a run: end it; the rotation below
			// revokes its pending secret with the others.
			err = endRun(ctx, tx, c, "compromised rotation by "+watchword.ActorFromContext(ctx).String())
		} else {
			err = refuseDuringRun(ctx, tx, c)
		}
		if err != nil {
			return err
		}
		existing, err := tx.ListSecrets(ctx, c.ID)
		if err != nil {
			return err
		}
		res, err = s.replace(ctx, tx, d, c, existing, func(watchword.Secret) bool { return true }, t, "rotate", SecretCreate{Description: in.Description})
		if err != nil {
			return err
		}
		details := rotationDetails(res.Rotation)
		out := newOutbox(tx, d)
		if err := out.emit(ctx, c, watchword.EventSecretRotated, res.Secret.Secret, rotatedEvent(res.Rotation, existing, in.Compromised)); err != nil {
			return err
		}
		if in.Compromised {
			details["compromised"] = "true"
			if err := revokeCompromised(ctx, tx, out, c, existing, res.Rotation); err != nil {
				return err
			}
		}
		return audit(ctx, tx, watchword.ActionClientRotate, d.ID, "client", c.ID, details)
	})
	s.changed(res.Rotation.ClientID, err)
	if in.Compromised {
		s.tokensRevoked(err)
	}
	return res, err
}

// RenewSecret replaces one secret by a new one with the same description;
// the old one enters a transition period rather than dying in place.
func (s *Service) RenewSecret(ctx context.Context, domainName, ref, id string, requested *watchword.Duration) (RotateResult, error) {
	var res RotateResult
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		old, err := secretOf(ctx, tx, c, id)
		if err != nil {
			return err
		}
		if old.RevokedAt != nil {
			return watchword.FieldError(watchword.ECONFLICT, "secret", "Secret %q is revoked; add a new secret instead.", id)
		}
		if err := refuseDuringRun(ctx, tx, c); err != nil {
			return err
		}
		t, err := transition(c.EffectivePolicy(d), requested)
		if err != nil {
			return err
		}
		existing, err := tx.ListSecrets(ctx, c.ID)
		if err != nil {
			return err
		}
		res, err = s.replace(ctx, tx, d, c, existing, func(sec watchword.Secret) bool { return sec.ID == id }, t, "renew", SecretCreate{Description: old.Description})
		if err != nil {
			return err
		}
		if err := newOutbox(tx, d).emit(ctx, c, watchword.EventSecretRotated, res.Secret.Secret, rotatedEvent(res.Rotation, existing, false)); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionSecretRenew, d.ID, "secret", id, rotationDetails(res.Rotation))
	})
	s.changed(res.Rotation.ClientID, err)
	return res, err
}

// replace retires the valid secrets that match, creates the new secret and
// records the rotation. The cap counts the retiring secrets, since they
// still authenticate, unless the transition is 0.
func (s *Service) replace(ctx context.Context, tx store.Tx, d watchword.Domain, c watchword.Client, existing []watchword.Secret, match func(watchword.Secret) bool, t time.Duration, kind string, in SecretCreate) (RotateResult, error) {
	now := tx.Now()
	rot := watchword.Rotation{
		ID: secret.NewID(), ClientID: c.ID, At: now, Kind: kind,
		InitiatedBy: watchword.ActorFromContext(ctx).String(), Transition: watchword.Duration(t),
		Old: []watchword.RotatedSecret{},
	}
	after := slices.Clone(existing)
	for i, sec := range existing {
		if !sec.ValidAt(now) || !match(sec) {
			continue
		}
		retired := sec.Retire(now, t)
		after[i] = retired
		if err := tx.UpdateSecret(ctx, retired); err != nil {
			return RotateResult{}, err
		}
		rot.Old = append(rot.Old, watchword.RotatedSecret{ID: sec.ID, Hint: sec.Hint, ExpiresAt: retired.ExpiresAt})
	}
	ns, err := s.addSecret(ctx, tx, d, c, in, watchword.SourceRotation, after)
	if err != nil {
		return RotateResult{}, err
	}
	rot.NewSecretID, rot.NewSecretHint = ns.ID, ns.Hint
	if err := tx.CreateRotation(ctx, rot); err != nil {
		return RotateResult{}, err
	}
	return RotateResult{Secret: *ns, Rotation: rot}, nil
}

func rotationDetails(r watchword.Rotation) map[string]string {
	m := map[string]string{
		"rotation_id": r.ID, "client_id": r.ClientID, "new_secret_id": r.NewSecretID,
		"new_secret_hint": r.NewSecretHint, "transition": r.Transition.String(),
	}
	for i, o := range r.Old {
		m[fmt.Sprintf("old_secret_%d", i)] = o.ID + " ending " + o.ExpiresAt.Format(time.RFC3339Nano)
	}
	return m
}

// revokeCompromised revokes the secrets a compromised rotation replaced and
// the client's refresh tokens and unused codes.
func revokeCompromised(ctx context.Context, tx store.Tx, out *outbox, c watchword.Client, before []watchword.Secret, rot watchword.Rotation) error {
	now := tx.Now()
	by := watchword.ActorFromContext(ctx).String()
	for _, sec := range before {
		if slices.ContainsFunc(rot.Old, func(o watchword.RotatedSecret) bool { return o.ID == sec.ID }) {
			revoked := sec.Retire(now, 0).Revoke(now, by, "compromised")
			if err := tx.UpdateSecret(ctx, revoked); err != nil {
				return err
			}
			if err := out.emit(ctx, c, watchword.EventSecretRevoked, revoked, revokedEvent("compromised", true)); err != nil {
				return err
			}
		}
	}
	return revokeClientGrants(ctx, tx, c.ID, now)
}

// revokeClientGrants revokes a client's refresh tokens and unused codes, and
// marks every family it holds revoked so that the access tokens issued in
// them stop introspecting active too.
func revokeClientGrants(ctx context.Context, tx store.Tx, clientID string, now time.Time) error {
	if err := tx.RevokeClientGrants(ctx, clientID, now); err != nil {
		return err
	}
	return tx.MarkClientFamiliesRevoked(ctx, clientID, now.Add(watchword.FamilyRevocationLifetime))
}

// RevokeRequest is the input of RevokeSecret.
type RevokeRequest struct {
	Reason string `json:"reason,omitempty"`
	// Force allows revoking the last valid secret of an enabled client,
	// which leaves it unable to authenticate.
	Force bool `json:"force,omitempty"`
	// Compromised also revokes the client's refresh tokens, unused
	// authorization codes and the access tokens of its token families; a
	// plain revocation leaves issued tokens alone.
	Compromised bool `json:"compromised,omitempty"`
}

// RevokeSecret makes a secret fail authentication from now on.
func (s *Service) RevokeSecret(ctx context.Context, domainName, ref, id string, in RevokeRequest) (watchword.Secret, error) {
	if len(in.Reason) > maxReason {
		return watchword.Secret{}, watchword.FieldError(watchword.EINVALID, "reason", "Must be at most %d characters.", maxReason)
	}
	var sec watchword.Secret
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		if sec, err = secretOf(ctx, tx, c, id); err != nil {
			return err
		}
		now := tx.Now()
		if sec.RevokedAt != nil {
			return watchword.FieldError(watchword.ECONFLICT, "secret", "Secret %q is already revoked.", id)
		}
		if !in.Force && !c.Disabled && sec.ValidAt(now) {
			others, err := tx.ListSecrets(ctx, c.ID)
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(others, func(o watchword.Secret) bool { return o.ID != id && o.ValidAt(now) }) {
				return watchword.FieldError(watchword.ECONFLICT, "force", "Secret %q is the last valid secret of client %q; rotate instead, or set force to leave the client without a working secret.", id, c.Name)
			}
		}
		sec = sec.Revoke(now, watchword.ActorFromContext(ctx).String(), in.Reason)
		if err := tx.UpdateSecret(ctx, sec); err != nil {
			return err
		}
		if in.Compromised {
			if err := revokeClientGrants(ctx, tx, c.ID, now); err != nil {
				return err
			}
		}
		sec = sec.WithStatus(now)
		if err := newOutbox(tx, d).emit(ctx, c, watchword.EventSecretRevoked, sec, revokedEvent(in.Reason, in.Compromised)); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionSecretRevoke, d.ID, "secret", id, map[string]string{
			"client_id": c.ID, "hint": sec.Hint, "reason": in.Reason, "compromised": strconv.FormatBool(in.Compromised)})
	})
	s.changed(sec.ClientID, err)
	if in.Compromised {
		s.tokensRevoked(err)
	}
	return sec, err
}

// DeleteSecret removes a revoked or expired secret from lists, keeping a
// tombstone (id, hint, times) for history; its hash is erased.
func (s *Service) DeleteSecret(ctx context.Context, domainName, ref, id string) error {
	var clientID string
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		sec, err := secretOf(ctx, tx, c, id)
		if err != nil {
			return err
		}
		now := tx.Now()
		if sec.ValidAt(now) {
			return watchword.FieldError(watchword.ECONFLICT, "secret", "Secret %q still authenticates; revoke it or let it expire before deleting it.", id)
		}
		sec.DeletedAt, sec.Hash, clientID = &now, []byte{}, c.ID
		if err := tx.UpdateSecret(ctx, sec); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionSecretDelete, d.ID, "secret", id, map[string]string{"client_id": c.ID, "hint": sec.Hint})
	})
	s.changed(clientID, err)
	return err
}

// ListRotations returns a page of a client's rotation history, newest first.
func (s *Service) ListRotations(ctx context.Context, domainName, ref string, offset, limit int) ([]watchword.Rotation, int, error) {
	c, err := s.GetClient(ctx, domainName, ref)
	if err != nil {
		return nil, 0, err
	}
	offset, limit = store.Page(offset, limit)
	rs, n, err := s.Store.ListRotations(ctx, c.ID, offset, limit)
	return rs, n, mapStoreErr(err)
}
