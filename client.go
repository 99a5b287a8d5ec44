package watchword

import (
	"net/url"
	"slices"
	"time"
)

// ClientType is confidential (has secrets) or public (has none).
type ClientType string

const (
	ClientConfidential ClientType = "confidential"
	ClientPublic       ClientType = "public"
)

// Grant types a client may be allowed.
const (
	GrantClientCredentials = "client_credentials"
	GrantAuthorizationCode = "authorization_code"
	GrantRefreshToken      = "refresh_token"
)

var knownGrantTypes = []string{GrantClientCredentials, GrantAuthorizationCode, GrantRefreshToken}

// Client is an OAuth client (application) of a domain.
type Client struct {
	ID           string     `json:"id"`
	DomainID     string     `json:"domain_id"`
	Name         string     `json:"name"`
	Description  string     `json:"description,omitempty"`
	Type         ClientType `json:"type"`
	GrantTypes   []string   `json:"grant_types"`
	RedirectURIs []string   `json:"redirect_uris"`
	Scopes       []string   `json:"scopes"`
	Disabled     bool       `json:"disabled"`
	// Policy overrides the domain's secret policy; nil means "use domain rules".
	Policy *SecretPolicy `json:"policy,omitempty"`
	OAuth  ClientOAuth   `json:"oauth"`
	// Contacts are the email addresses that email channels notify about
	// this client's secrets, besides the domain's owners.
	Contacts []string `json:"contacts"`
	// Rotation overrides the domain's rotation schedule; nil inherits it.
	Rotation  *RotationSchedule `json:"rotation,omitempty"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	DeletedAt *time.Time        `json:"deleted_at,omitempty"`
}

// EffectivePolicy is the policy that applies to the client's secrets.
func (c Client) EffectivePolicy(d Domain) SecretPolicy {
	if c.Policy != nil {
		return *c.Policy
	}
	return d.Policy
}

// Validate checks the client's own fields, reporting every problem at once.
func (c Client) Validate() error {
	var errs Errors
	if err := ValidateName("name", c.Name); err != nil {
		errs = append(errs, err)
	}
	if len(c.Description) > 1024 {
		errs.Add("description", "must be at most 1024 characters")
	}
	if c.Type != ClientConfidential && c.Type != ClientPublic {
		errs.Add("type", "must be confidential or public")
	}
	for _, g := range c.GrantTypes {
		if !slices.Contains(knownGrantTypes, g) {
			errs.Add("grant_types", "unknown grant type %q", g)
			break
		}
	}
	if c.Type == ClientPublic && slices.Contains(c.GrantTypes, GrantClientCredentials) {
		errs.Add("grant_types", "a public client cannot use client_credentials")
	}
	for _, u := range c.RedirectURIs {
		p, err := url.Parse(u)
		if err != nil || !p.IsAbs() || p.Fragment != "" {
			errs.Add("redirect_uris", "%q must be an absolute URI without a fragment", u)
			break
		}
	}
	if err := ValidateEmails("contacts", c.Contacts); err != nil {
		errs = append(errs, err)
	}
	for _, s := range c.Scopes {
		if s == "" || len(s) > 128 {
			errs.Add("scopes", "scopes must be 1-128 characters")
			break
		}
	}
	switch m := c.OAuth.TokenEndpointAuthMethod; {
	case c.Type == ClientPublic && m != AuthMethodNone:
		errs.Add("oauth.token_endpoint_auth_method", "a public client authenticates with none")
	case c.Type == ClientConfidential && m != AuthMethodBasic && m != AuthMethodPost:
		errs.Add("oauth.token_endpoint_auth_method", "must be client_secret_basic or client_secret_post")
	}
	if w := c.OAuth.RefreshReuseWindow; w < 0 || time.Duration(w) > time.Minute {
		errs.Add("oauth.refresh_reuse_window", "must be between 0 and 1m")
	}
	for _, f := range []struct {
		name string
		d    *Duration
	}{{"oauth.access_token_lifetime", c.OAuth.AccessTokenLifetime}, {"oauth.refresh_token_lifetime", c.OAuth.RefreshTokenLifetime}} {
		if f.d != nil && (*f.d < Duration(time.Minute) || time.Duration(*f.d) > 366*24*time.Hour) {
			errs.Add(f.name, "must be between 1m and 366 days")
		}
	}
	return errs.Err()
}

// ClientFilter selects clients in a list.
type ClientFilter struct {
	DomainID string
	// NameContains matches part of the name.
	NameContains string
	Disabled     *bool
	Offset       int
	Limit        int
}

// ClientUpdate holds the fields of a partial update; nil means unchanged.
type ClientUpdate struct {
	Name         *string      `json:"name,omitempty"`
	Description  *string      `json:"description,omitempty"`
	GrantTypes   *[]string    `json:"grant_types,omitempty"`
	RedirectURIs *[]string    `json:"redirect_uris,omitempty"`
	Scopes       *[]string    `json:"scopes,omitempty"`
	Disabled     *bool        `json:"disabled,omitempty"`
	OAuth        *ClientOAuth `json:"oauth,omitempty"`
	Contacts     *[]string    `json:"contacts,omitempty"`
}

// Apply returns c with the update applied.
func (u ClientUpdate) Apply(c Client) Client {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	setList := func(dst *[]string, v *[]string) {
		if v != nil {
			*dst = slices.Clone(*v)
		}
	}
	set(&c.Name, u.Name)
	set(&c.Description, u.Description)
	setList(&c.GrantTypes, u.GrantTypes)
	setList(&c.RedirectURIs, u.RedirectURIs)
	setList(&c.Scopes, u.Scopes)
	setList(&c.Contacts, u.Contacts)
	if u.Disabled != nil {
		c.Disabled = *u.Disabled
	}
	if u.OAuth != nil {
		c.OAuth = *u.OAuth
	}
	return c
}
