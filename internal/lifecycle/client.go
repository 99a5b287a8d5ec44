package lifecycle

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// ClientCreate is the input of CreateClient.
type ClientCreate struct {
	Name         string               `json:"name"`
	Description  string               `json:"description"`
	Type         watchword.ClientType `json:"type"`
	GrantTypes   []string             `json:"grant_types"`
	RedirectURIs []string             `json:"redirect_uris"`
	Scopes       []string             `json:"scopes"`
	// OAuth holds the client's authorization-server settings; the auth
	// method defaults to client_secret_basic (none for public clients).
	OAuth watchword.ClientOAuth `json:"oauth"`
	// Secret describes the first secret of a confidential client.
	Secret SecretCreate `json:"secret"`
	// Contacts are email addresses told about the client's secrets.
	Contacts []string `json:"contacts,omitempty"`
}

// CreateClient creates a client and, unless it is public, its first secret.
func (s *Service) CreateClient(ctx context.Context, domainName string, in ClientCreate) (watchword.Client, *watchword.NewSecret, error) {
	c := watchword.Client{
		ID: secret.NewID(), Name: in.Name, Description: in.Description, Type: in.Type,
		GrantTypes: in.GrantTypes, RedirectURIs: in.RedirectURIs, Scopes: in.Scopes, OAuth: in.OAuth,
		Contacts: orEmpty(in.Contacts),
	}
	if c.Type == "" {
		c.Type = watchword.ClientConfidential
	}
	if c.OAuth.TokenEndpointAuthMethod == "" {
		c.OAuth.TokenEndpointAuthMethod = watchword.AuthMethodBasic
		if c.Type == watchword.ClientPublic {
			c.OAuth.TokenEndpointAuthMethod = watchword.AuthMethodNone
		}
	}
	if c.GrantTypes == nil {
		c.GrantTypes = defaultGrants(c.Type)
	}
	c.RedirectURIs = orEmpty(c.RedirectURIs)
	c.Scopes = orEmpty(c.Scopes)
	if err := c.Validate(); err != nil {
		return c, nil, err
	}
	if c.Type == watchword.ClientPublic && (in.Secret != SecretCreate{}) {
		return c, nil, watchword.FieldError(watchword.EINVALID, "secret", "A public client has no secrets.")
	}
	var ns *watchword.NewSecret
	err := s.tx(ctx, func(tx store.Tx) error {
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		c.DomainID, c.CreatedAt, c.UpdatedAt = d.ID, tx.Now(), tx.Now()
		if err := tx.CreateClient(ctx, c); errors.Is(err, store.ErrAlreadyExists) {
			return watchword.FieldError(watchword.ECONFLICT, "name", "A client named %q already exists in domain %q.", c.Name, d.Name)
		} else if err != nil {
			return err
		}
		if err := audit(ctx, tx, watchword.ActionClientCreate, d.ID, "client", c.ID, map[string]string{"name": c.Name, "type": string(c.Type)}); err != nil {
			return err
		}
		if c.Type == watchword.ClientPublic {
			return nil
		}
		if ns, err = s.addSecret(ctx, tx, d, c, in.Secret, watchword.SourceGenerated, nil); err != nil {
			return err
		}
		return newOutbox(tx, d).emit(ctx, c, watchword.EventSecretCreated, ns.Secret, nil)
	})
	s.changed(c.ID, err) // a cached "no such client" must go
	return c, ns, err
}

func defaultGrants(t watchword.ClientType) []string {
	if t == watchword.ClientPublic {
		return []string{watchword.GrantAuthorizationCode, watchword.GrantRefreshToken}
	}
	return []string{watchword.GrantClientCredentials}
}

func orEmpty(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// clientIn finds a live client of domain d by id or, failing that, by name.
func clientIn(ctx context.Context, r store.Reader, d watchword.Domain, ref string) (watchword.Client, error) {
	c, err := r.GetClient(ctx, d.ID, ref)
	if errors.Is(err, store.ErrNotFound) {
		c, err = r.GetClientByName(ctx, d.ID, ref)
	}
	if errors.Is(err, store.ErrNotFound) {
		return c, watchword.FieldError(watchword.ENOTFOUND, "client", "Client %q not found in domain %q.", ref, d.Name)
	}
	return c, err
}

// lockClient resolves domain and client and locks the client for the rest
// of the transaction, so that checks and writes on its secrets are serialised.
func lockClient(ctx context.Context, tx store.Tx, domainName, ref string) (watchword.Domain, watchword.Client, error) {
	d, err := domainIn(ctx, tx, domainName)
	if err != nil {
		return d, watchword.Client{}, err
	}
	c, err := clientIn(ctx, tx, d, ref)
	if err != nil {
		return d, c, err
	}
	c, err = tx.LockClient(ctx, d.ID, c.ID)
	return d, c, err
}

// GetClient returns a client by id or name.
func (s *Service) GetClient(ctx context.Context, domainName, ref string) (watchword.Client, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return watchword.Client{}, mapStoreErr(err)
	}
	c, err := clientIn(ctx, s.Store, d, ref)
	return c, mapStoreErr(err)
}

// ListClients returns a page of the domain's clients and the total count.
func (s *Service) ListClients(ctx context.Context, domainName string, f watchword.ClientFilter) ([]watchword.Client, int, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return nil, 0, mapStoreErr(err)
	}
	f.DomainID = d.ID
	f.Offset, f.Limit = store.Page(f.Offset, f.Limit)
	cs, n, err := s.Store.ListClients(ctx, f)
	return cs, n, mapStoreErr(err)
}

// UpdateClient applies a partial update. Disabling a client makes all its
// secrets fail authentication until it is enabled again.
func (s *Service) UpdateClient(ctx context.Context, domainName, ref string, u watchword.ClientUpdate) (watchword.Client, error) {
	var c watchword.Client
	err := s.tx(ctx, func(tx store.Tx) error {
		d, old, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		c = u.Apply(old)
		if err := c.Validate(); err != nil {
			return err
		}
		c.UpdatedAt = tx.Now()
		if err := tx.UpdateClient(ctx, c); errors.Is(err, store.ErrAlreadyExists) {
			return watchword.FieldError(watchword.ECONFLICT, "name", "A client named %q already exists in domain %q.", c.Name, d.Name)
		} else if err != nil {
			return err
		}
		details := map[string]string{}
		if old.Disabled != c.Disabled {
			details["disabled"] = strconv.FormatBool(c.Disabled)
		}
		if old.Name != c.Name {
			details["name"] = c.Name
		}
		return audit(ctx, tx, watchword.ActionClientUpdate, d.ID, "client", c.ID, details)
	})
	s.changed(c.ID, err)
	return c, err
}

// DeleteClient revokes the client's secrets and removes it from lists. Its
// rotation history and audit records are kept.
func (s *Service) DeleteClient(ctx context.Context, domainName, ref string) error {
	var id string
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		now := tx.Now()
		secrets, err := tx.ListSecrets(ctx, c.ID)
		if err != nil {
			return err
		}
		by := watchword.ActorFromContext(ctx).String()
		out := newOutbox(tx, d)
		for _, sec := range secrets {
			if sec.RevokedAt == nil {
				revoked := sec.Revoke(now, by, "client deleted")
				if err := tx.UpdateSecret(ctx, revoked); err != nil {
					return err
				}
				if !sec.ValidAt(now) {
					continue // already expired: nothing stops working
				}
				if err := out.emit(ctx, c, watchword.EventSecretRevoked, revoked, revokedEvent("client deleted", false)); err != nil {
					return err
				}
			}
		}
		if err := endRun(ctx, tx, c, "client deleted"); err != nil {
			return err
		}
		c.DeletedAt, c.UpdatedAt, id = &now, now, c.ID
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		return audit(ctx, tx, watchword.ActionClientDelete, d.ID, "client", c.ID, map[string]string{"name": c.Name})
	})
	s.changed(id, err)
	return err
}

// ClientPolicy is a client's override (nil: domain rules) and the policy in effect.
type ClientPolicy struct {
	UseDomainRules bool                    `json:"use_domain_rules"`
	Override       *watchword.SecretPolicy `json:"override,omitempty"`
	Effective      watchword.SecretPolicy  `json:"effective"`
}

// GetClientPolicy returns the client's policy override and the effective policy.
func (s *Service) GetClientPolicy(ctx context.Context, domainName, ref string) (ClientPolicy, error) {
	d, err := domainIn(ctx, s.Store, domainName)
	if err != nil {
		return ClientPolicy{}, mapStoreErr(err)
	}
	c, err := clientIn(ctx, s.Store, d, ref)
	if err != nil {
		return ClientPolicy{}, mapStoreErr(err)
	}
	return clientPolicy(d, c), nil
}

func clientPolicy(d watchword.Domain, c watchword.Client) ClientPolicy {
	return ClientPolicy{UseDomainRules: c.Policy == nil, Override: c.Policy, Effective: c.EffectivePolicy(d)}
}

// SetClientPolicy sets the client's override; nil returns it to domain rules.
// Existing secrets keep their expiry; see ApplyPolicy.
func (s *Service) SetClientPolicy(ctx context.Context, domainName, ref string, p *watchword.SecretPolicy) (ClientPolicy, error) {
	if p != nil {
		if err := p.Validate(s.ServerMaxSecrets); err != nil {
			return ClientPolicy{}, err
		}
	}
	var out ClientPolicy
	err := s.tx(ctx, func(tx store.Tx) error {
		d, c, err := lockClient(ctx, tx, domainName, ref)
		if err != nil {
			return err
		}
		c.Policy, c.UpdatedAt = p, tx.Now()
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		out = clientPolicy(d, c)
		details := map[string]string{"use_domain_rules": "true"}
		if p != nil {
			details = policyDetails(*p)
		}
		return audit(ctx, tx, watchword.ActionPolicyUpdate, d.ID, "client", c.ID, details)
	})
	return out, err
}

// ApplyPolicy recomputes the expiry of the valid, non-retiring secrets of
// one client (ref set) or of every client of the domain that uses domain
// rules (ref empty), from each secret's creation time and the policy in
// effect. So that applying a stricter policy never causes an outage, no
// secret is made to expire sooner than the policy's default transition
// period from now. It returns how many secrets changed.
func (s *Service) ApplyPolicy(ctx context.Context, domainName, ref string) (int, error) {
	changed := 0
	err := s.tx(ctx, func(tx store.Tx) error {
		changed = 0
		d, err := domainIn(ctx, tx, domainName)
		if err != nil {
			return err
		}
		var clients []watchword.Client
		if ref != "" {
			_, c, err := lockClient(ctx, tx, domainName, ref)
			if err != nil {
				return err
			}
			clients = append(clients, c)
		} else {
			for off := 0; ; off += store.MaxLimit {
				page, _, err := tx.ListClients(ctx, watchword.ClientFilter{DomainID: d.ID, Offset: off, Limit: store.MaxLimit})
				if err != nil {
					return err
				}
				for _, c := range page {
					if c.Policy == nil {
						clients = append(clients, c)
					}
				}
				if len(page) < store.MaxLimit {
					break
				}
			}
		}
		now := tx.Now()
		for _, c := range clients {
			p := c.EffectivePolicy(d)
			secrets, err := tx.ListSecrets(ctx, c.ID)
			if err != nil {
				return err
			}
			for _, sec := range secrets {
				if sec.StatusAt(now) != watchword.StatusActive {
					continue
				}
				exp := p.Expiry.ExpiresAt(sec.CreatedAt)
				if floor := now.Add(time.Duration(p.DefaultTransition)); exp != nil && exp.Before(floor) {
					exp = &floor
				}
				if equalTime(exp, sec.ExpiresAt) {
					continue
				}
				sec.ExpiresAt = exp
				if err := tx.UpdateSecret(ctx, sec); err != nil {
					return err
				}
				changed++
			}
		}
		target, targetType := d.ID, "domain"
		if ref != "" {
			target, targetType = clients[0].ID, "client"
		}
		return audit(ctx, tx, watchword.ActionPolicyApply, d.ID, targetType, target, map[string]string{"secrets_changed": itoa(changed)})
	})
	s.changed("", err)
	return changed, err
}

func equalTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func itoa(n int) string { return strconv.Itoa(n) }
