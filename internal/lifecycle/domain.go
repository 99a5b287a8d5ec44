package lifecycle

import (
	"context"
	"errors"
	"strconv"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

// CreateDomain creates a domain with the default secret policy.
func (s *Service) CreateDomain(ctx context.Context, name, description string) (watchword.Domain, error) {
	if err := watchword.ValidateName("name", name); err != nil {
		return watchword.Domain{}, err
	}
	var d watchword.Domain
	err := s.storeTx(ctx, func(tx store.Tx) error {
		var err error
		d, err = s.createDomain(ctx, tx, name, description)
		return err
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		return d, watchword.FieldError(watchword.ECONFLICT, "name", "A domain named %q already exists.", name)
	}
	return d, mapStoreErr(err)
}

func (s *Service) createDomain(ctx context.Context, tx store.Tx, name, description string) (watchword.Domain, error) {
	d := watchword.Domain{
		ID: secret.NewID(), Name: name, Description: description,
		Policy:        s.defaultPolicy(),
		OAuth:         watchword.DefaultDomainOAuth(),
		Notifications: watchword.DefaultNotificationSettings(),
		CreatedAt:     tx.Now(), UpdatedAt: tx.Now(),
	}
	if err := tx.CreateDomain(ctx, d); err != nil {
		return d, err
	}
	return d, audit(ctx, tx, watchword.ActionDomainCreate, d.ID, "domain", d.ID, map[string]string{"name": name})
}

func (s *Service) defaultPolicy() watchword.SecretPolicy {
	p := watchword.DefaultSecretPolicy()
	p.MaxSecrets = min(p.MaxSecrets, s.ServerMaxSecrets)
	return p
}

// GetDomain returns a domain by name.
func (s *Service) GetDomain(ctx context.Context, name string) (watchword.Domain, error) {
	d, err := s.Store.GetDomainByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, watchword.FieldError(watchword.ENOTFOUND, "domain", "Domain %q not found.", name)
	}
	return d, mapStoreErr(err)
}

// ListDomains returns every domain.
func (s *Service) ListDomains(ctx context.Context) ([]watchword.Domain, error) {
	ds, err := s.Store.ListDomains(ctx)
	return ds, mapStoreErr(err)
}

// SetDomainPolicy replaces the domain's secret policy. Existing secrets keep
// their expiry; see ApplyPolicy.
func (s *Service) SetDomainPolicy(ctx context.Context, domainName string, p watchword.SecretPolicy) (watchword.Domain, error) {
	if err := p.Validate(s.ServerMaxSecrets); err != nil {
		return watchword.Domain{}, err
	}
	return s.updateDomain(ctx, domainName, func(d *watchword.Domain) { d.Policy = p }, watchword.ActionPolicyUpdate, policyDetails(p))
}

// updateDomain applies change to a domain and audits it, in one transaction.
func (s *Service) updateDomain(ctx context.Context, domainName string, change func(*watchword.Domain), action string, details map[string]string) (watchword.Domain, error) {
	var d watchword.Domain
	err := s.tx(ctx, func(tx store.Tx) error {
		var err error
		if d, err = domainIn(ctx, tx, domainName); err != nil {
			return err
		}
		change(&d)
		d.UpdatedAt = tx.Now()
		if err := tx.UpdateDomain(ctx, d); err != nil {
			return err
		}
		return audit(ctx, tx, action, d.ID, "domain", d.ID, details)
	})
	return d, err
}

func domainIn(ctx context.Context, r store.Reader, name string) (watchword.Domain, error) {
	d, err := r.GetDomainByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		return d, watchword.FieldError(watchword.ENOTFOUND, "domain", "Domain %q not found.", name)
	}
	return d, err
}

func policyDetails(p watchword.SecretPolicy) map[string]string {
	return map[string]string{
		"expiry":             string(p.Expiry.Unit) + ":" + itoa(p.Expiry.Duration),
		"max_secrets":        itoa(p.MaxSecrets),
		"default_transition": p.DefaultTransition.String(),
		"max_transition":     p.MaxTransition.String(),
	}
}

// SetDomainOAuth replaces the domain's authorization-server settings.
func (s *Service) SetDomainOAuth(ctx context.Context, domainName string, o watchword.DomainOAuth) (watchword.Domain, error) {
	if err := o.Validate(); err != nil {
		return watchword.Domain{}, err
	}
	return s.updateDomain(ctx, domainName, func(d *watchword.Domain) { d.OAuth = o }, watchword.ActionDomainUpdate, map[string]string{
		"access_token_lifetime": o.AccessTokenLifetime.String(), "require_pkce": strconv.FormatBool(o.RequirePKCE),
		"require_state": strconv.FormatBool(o.RequireState), "access_token_alg": o.AccessTokenAlg,
	})
}
