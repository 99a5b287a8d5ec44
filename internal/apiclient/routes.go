package apiclient

import (
	"context"
	"net/url"
	"strconv"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

// Route paths, as in httpapi.Routes().
const (
	domainPath = "/domains/{domain}"
	clientPath = "/domains/{domain}/clients/{client}"
	secretPath = "/domains/{domain}/clients/{client}/secrets/{secret}"
	userPath   = "/domains/{domain}/users/{user}"
)

// none is the result type of routes that answer 204 No Content.
type none struct{}

// Whoami returns the principal of the token.
func (c *Client) Whoami(ctx context.Context) (watchword.Actor, error) {
	return call[watchword.Actor](ctx, c, "GET", "/whoami", nil, nil)
}

// ListDomains returns every domain.
func (c *Client) ListDomains(ctx context.Context) (List[watchword.Domain], error) {
	return call[List[watchword.Domain]](ctx, c, "GET", "/domains", nil, nil)
}

// CreateDomain creates a domain with the default secret policy.
func (c *Client) CreateDomain(ctx context.Context, name, description string) (watchword.Domain, error) {
	in := struct {
		Name        string `json:"name"`
		Description string `json:"description"`
	}{name, description}
	return call[watchword.Domain](ctx, c, "POST", "/domains", nil, in)
}

// GetDomain returns a domain by name.
func (c *Client) GetDomain(ctx context.Context, domain string) (watchword.Domain, error) {
	return call[watchword.Domain](ctx, c, "GET", domainPath, nil, nil, domain)
}

// GetDomainPolicy returns the domain's secret policy.
func (c *Client) GetDomainPolicy(ctx context.Context, domain string) (watchword.SecretPolicy, error) {
	return call[watchword.SecretPolicy](ctx, c, "GET", domainPath+"/policy", nil, nil, domain)
}

// SetDomainPolicy replaces the domain's secret policy. Existing secrets keep
// their expiry until ApplyPolicy.
func (c *Client) SetDomainPolicy(ctx context.Context, domain string, p watchword.SecretPolicy) (watchword.SecretPolicy, error) {
	return call[watchword.SecretPolicy](ctx, c, "PUT", domainPath+"/policy", nil, p, domain)
}

// GetDomainOAuth returns the domain's authorization-server settings.
func (c *Client) GetDomainOAuth(ctx context.Context, domain string) (watchword.DomainOAuth, error) {
	return call[watchword.DomainOAuth](ctx, c, "GET", domainPath+"/oauth", nil, nil, domain)
}

// SetDomainOAuth replaces the domain's authorization-server settings.
func (c *Client) SetDomainOAuth(ctx context.Context, domain string, o watchword.DomainOAuth) (watchword.DomainOAuth, error) {
	return call[watchword.DomainOAuth](ctx, c, "PUT", domainPath+"/oauth", nil, o, domain)
}

// ApplyPolicy recomputes the expiry of existing secrets from the policy in
// effect: of one client, or (client "") of every client of the domain that
// uses domain rules. It returns how many secrets changed.
func (c *Client) ApplyPolicy(ctx context.Context, domain, client string) (int, error) {
	type result struct {
		SecretsChanged int `json:"secrets_changed"`
	}
	var (
		r   result
		err error
	)
	if client == "" {
		r, err = call[result](ctx, c, "POST", domainPath+"/policy/apply", nil, nil, domain)
	} else {
		r, err = call[result](ctx, c, "POST", clientPath+"/policy/apply", nil, nil, domain, client)
	}
	return r.SecretsChanged, err
}

// ListClients returns a page of the domain's clients. Of f, NameContains,
// Disabled, Offset and Limit are used; zero Offset and Limit mean the
// server's defaults.
func (c *Client) ListClients(ctx context.Context, domain string, f watchword.ClientFilter) (List[watchword.Client], error) {
	q := page(f.Offset, f.Limit)
	if f.NameContains != "" {
		q.Set("name", f.NameContains)
	}
	if f.Disabled != nil {
		q.Set("disabled", strconv.FormatBool(*f.Disabled))
	}
	return call[List[watchword.Client]](ctx, c, "GET", domainPath+"/clients", q, nil, domain)
}

// CreateClient creates a client and, unless it is public, its first secret.
func (c *Client) CreateClient(ctx context.Context, domain string, in lifecycle.ClientCreate) (ClientCreated, error) {
	return call[ClientCreated](ctx, c, "POST", domainPath+"/clients", nil, in, domain)
}

// GetClient returns a client by id or name.
func (c *Client) GetClient(ctx context.Context, domain, client string) (watchword.Client, error) {
	return call[watchword.Client](ctx, c, "GET", clientPath, nil, nil, domain, client)
}

// UpdateClient applies a partial update: nil fields of u are unchanged.
func (c *Client) UpdateClient(ctx context.Context, domain, client string, u watchword.ClientUpdate) (watchword.Client, error) {
	return call[watchword.Client](ctx, c, "PATCH", clientPath, nil, u, domain, client)
}

// DeleteClient revokes the client's secrets and removes it.
func (c *Client) DeleteClient(ctx context.Context, domain, client string) error {
	_, err := call[none](ctx, c, "DELETE", clientPath, nil, nil, domain, client)
	return err
}

// GetClientPolicy returns the client's policy override and the effective policy.
func (c *Client) GetClientPolicy(ctx context.Context, domain, client string) (lifecycle.ClientPolicy, error) {
	return call[lifecycle.ClientPolicy](ctx, c, "GET", clientPath+"/policy", nil, nil, domain, client)
}

// SetClientPolicy gives the client its own policy instead of the domain's.
func (c *Client) SetClientPolicy(ctx context.Context, domain, client string, p watchword.SecretPolicy) (lifecycle.ClientPolicy, error) {
	return call[lifecycle.ClientPolicy](ctx, c, "PUT", clientPath+"/policy", nil, p, domain, client)
}

// DeleteClientPolicy returns the client to the domain's policy.
func (c *Client) DeleteClientPolicy(ctx context.Context, domain, client string) (lifecycle.ClientPolicy, error) {
	return call[lifecycle.ClientPolicy](ctx, c, "DELETE", clientPath+"/policy", nil, nil, domain, client)
}

// RotateClient creates a new secret and puts the client's other valid
// secrets into a transition period.
func (c *Client) RotateClient(ctx context.Context, domain, client string, in lifecycle.RotateRequest) (lifecycle.RotateResult, error) {
	return call[lifecycle.RotateResult](ctx, c, "POST", clientPath+"/rotate", nil, in, domain, client)
}

// ListRotations returns a page of the client's rotation history, newest first.
func (c *Client) ListRotations(ctx context.Context, domain, client string, offset, limit int) (List[watchword.Rotation], error) {
	return call[List[watchword.Rotation]](ctx, c, "GET", clientPath+"/rotations", page(offset, limit), nil, domain, client)
}

// ListSecrets returns the client's secrets (metadata only).
func (c *Client) ListSecrets(ctx context.Context, domain, client string) (List[watchword.Secret], error) {
	return call[List[watchword.Secret]](ctx, c, "GET", clientPath+"/secrets", nil, nil, domain, client)
}

// AddSecret adds a secret, generated or (in.Value) custom, to the client.
func (c *Client) AddSecret(ctx context.Context, domain, client string, in lifecycle.SecretCreate) (watchword.NewSecret, error) {
	return call[watchword.NewSecret](ctx, c, "POST", clientPath+"/secrets", nil, in, domain, client)
}

// GetSecret returns one secret of the client (metadata only).
func (c *Client) GetSecret(ctx context.Context, domain, client, id string) (watchword.Secret, error) {
	return call[watchword.Secret](ctx, c, "GET", secretPath, nil, nil, domain, client, id)
}

// RenewSecret replaces a secret by a new one; the old one keeps working for
// the transition period (nil: the policy's default).
func (c *Client) RenewSecret(ctx context.Context, domain, client, id string, transition *watchword.Duration) (lifecycle.RotateResult, error) {
	in := struct {
		Transition *watchword.Duration `json:"transition,omitempty"`
	}{transition}
	return call[lifecycle.RotateResult](ctx, c, "POST", secretPath+"/renew", nil, in, domain, client, id)
}

// RevokeSecret makes a secret fail authentication from now on.
func (c *Client) RevokeSecret(ctx context.Context, domain, client, id string, in lifecycle.RevokeRequest) (watchword.Secret, error) {
	return call[watchword.Secret](ctx, c, "POST", secretPath+"/revoke", nil, in, domain, client, id)
}

// DeleteSecret removes a revoked or expired secret from lists.
func (c *Client) DeleteSecret(ctx context.Context, domain, client, id string) error {
	_, err := call[none](ctx, c, "DELETE", secretPath, nil, nil, domain, client, id)
	return err
}

// ListUsers returns a page of the domain's users, ordered by username;
// zero offset and limit mean the server's defaults.
func (c *Client) ListUsers(ctx context.Context, domain string, offset, limit int) (List[watchword.User], error) {
	return call[List[watchword.User]](ctx, c, "GET", domainPath+"/users", page(offset, limit), nil, domain)
}

// CreateUser adds a user to the domain's directory.
func (c *Client) CreateUser(ctx context.Context, domain string, in lifecycle.UserCreate) (watchword.User, error) {
	return call[watchword.User](ctx, c, "POST", domainPath+"/users", nil, in, domain)
}

// GetUser returns a user by id or username.
func (c *Client) GetUser(ctx context.Context, domain, user string) (watchword.User, error) {
	return call[watchword.User](ctx, c, "GET", userPath, nil, nil, domain, user)
}

// UpdateUser applies a partial update (nil fields unchanged): email,
// display name, disabled, password.
func (c *Client) UpdateUser(ctx context.Context, domain, user string, u watchword.UserUpdate) (watchword.User, error) {
	return call[watchword.User](ctx, c, "PATCH", userPath, nil, u, domain, user)
}

// ListAudit returns a page of audit events, newest first. domain, if not
// empty, restricts them to that domain (by name); of f, TargetID, Action,
// Since, Offset and Limit are used and DomainID is ignored.
func (c *Client) ListAudit(ctx context.Context, domain string, f watchword.AuditFilter) (List[watchword.AuditEvent], error) {
	q := page(f.Offset, f.Limit)
	for k, v := range map[string]string{"domain": domain, "target": f.TargetID, "action": f.Action} {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Since != nil {
		q.Set("since", f.Since.Format(time.RFC3339Nano))
	}
	return call[List[watchword.AuditEvent]](ctx, c, "GET", "/audit", q, nil)
}

// ListTokens returns every admin token (metadata only).
func (c *Client) ListTokens(ctx context.Context) (List[watchword.AdminToken], error) {
	return call[List[watchword.AdminToken]](ctx, c, "GET", "/tokens", nil, nil)
}

// CreateToken creates an admin token; its plaintext is in the result only.
func (c *Client) CreateToken(ctx context.Context, name string, role watchword.Role) (watchword.NewAdminToken, error) {
	in := struct {
		Name string         `json:"name"`
		Role watchword.Role `json:"role"`
	}{name, role}
	return call[watchword.NewAdminToken](ctx, c, "POST", "/tokens", nil, in)
}

// RevokeToken revokes an admin token.
func (c *Client) RevokeToken(ctx context.Context, id string) (watchword.AdminToken, error) {
	return call[watchword.AdminToken](ctx, c, "DELETE", "/tokens/{token}", nil, nil, id)
}

// page returns the offset and limit query parameters; zero values are left
// out so that the server applies its defaults.
func page(offset, limit int) url.Values {
	q := url.Values{}
	if offset != 0 {
		q.Set("offset", strconv.Itoa(offset))
	}
	if limit != 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	return q
}
