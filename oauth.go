package watchword

import "time"

// Token endpoint authentication methods a client may register.
const (
	AuthMethodBasic = "client_secret_basic"
	AuthMethodPost  = "client_secret_post"
	AuthMethodNone  = "none"
)

// Signing algorithms for tokens.
const (
	AlgEdDSA = "EdDSA"
	AlgES256 = "ES256"
	AlgRS256 = "RS256"
)

// DomainOAuth holds a domain's authorization-server settings.
type DomainOAuth struct {
	AccessTokenLifetime  Duration `json:"access_token_lifetime"`
	IDTokenLifetime      Duration `json:"id_token_lifetime"`
	RefreshTokenLifetime Duration `json:"refresh_token_lifetime"`
	CodeLifetime         Duration `json:"code_lifetime"`
	// RequirePKCE applies to confidential clients; public clients always need PKCE.
	RequirePKCE bool `json:"require_pkce"`
	// RequireState rejects authorization requests without state.
	RequireState bool `json:"require_state"`
	// AccessTokenAlg signs access tokens (EdDSA, ES256 or RS256); ID tokens use RS256.
	AccessTokenAlg string `json:"access_token_alg"`
}

// DefaultDomainOAuth is what a new domain gets.
func DefaultDomainOAuth() DomainOAuth {
	return DomainOAuth{
		AccessTokenLifetime:  Duration(10 * time.Minute),
		IDTokenLifetime:      Duration(time.Hour),
		RefreshTokenLifetime: Duration(30 * 24 * time.Hour),
		CodeLifetime:         Duration(time.Minute),
		RequirePKCE:          true,
		RequireState:         true,
		AccessTokenAlg:       AlgEdDSA,
	}
}

// Validate reports every invalid setting at once.
func (o DomainOAuth) Validate() error {
	var errs Errors
	for _, f := range []struct {
		name string
		d    Duration
	}{
		{"access_token_lifetime", o.AccessTokenLifetime}, {"id_token_lifetime", o.IDTokenLifetime},
		{"refresh_token_lifetime", o.RefreshTokenLifetime}, {"code_lifetime", o.CodeLifetime},
	} {
		if f.d < Duration(10*time.Second) || time.Duration(f.d) > 366*24*time.Hour {
			errs.Add(f.name, "must be between 10s and 366 days")
		}
	}
	if o.CodeLifetime > Duration(10*time.Minute) {
		errs.Add("code_lifetime", "must be at most 10m (RFC 6749 §4.1.2)")
	}
	switch o.AccessTokenAlg {
	case AlgEdDSA, AlgES256, AlgRS256:
	default:
		errs.Add("access_token_alg", "must be EdDSA, ES256 or RS256")
	}
	return errs.Err()
}

// ClientOAuth holds a client's authorization-server settings; zero values
// mean "as the domain says".
type ClientOAuth struct {
	// TokenEndpointAuthMethod is enforced: a client registered for basic
	// cannot authenticate with post, and the other way round.
	TokenEndpointAuthMethod string `json:"token_endpoint_auth_method"`
	// FirstParty clients skip the consent page.
	FirstParty bool `json:"first_party"`
	// RequirePKCE overrides the domain for a confidential client.
	RequirePKCE *bool `json:"require_pkce,omitempty"`
	// AllowPlainPKCE permits code_challenge_method=plain.
	AllowPlainPKCE       bool      `json:"allow_plain_pkce"`
	AccessTokenLifetime  *Duration `json:"access_token_lifetime,omitempty"`
	RefreshTokenLifetime *Duration `json:"refresh_token_lifetime,omitempty"`
	// RefreshReuseWindow lets a client that retries present a just-rotated
	// refresh token again for this long without revoking its family.
	RefreshReuseWindow Duration `json:"refresh_reuse_window"`
}

// SigningKey is a domain's token signing key. The private key is stored
// encrypted under the server key (KeyID names which).
type SigningKey struct {
	ID        string     `json:"kid"`
	DomainID  string     `json:"domain_id"`
	Alg       string     `json:"alg"`
	Private   []byte     `json:"-"` // encrypted PKCS#8
	KeyID     string     `json:"-"`
	Public    []byte     `json:"-"` // PKIX DER
	CreatedAt time.Time  `json:"created_at"`
	RetiredAt *time.Time `json:"retired_at,omitempty"`
}

// User is a person in a domain's built-in directory.
type User struct {
	ID           string    `json:"id"`
	DomainID     string    `json:"domain_id"`
	Username     string    `json:"username"`
	Email        string    `json:"email"`
	DisplayName  string    `json:"display_name"`
	PasswordHash string    `json:"-"` // argon2id, PHC string form
	Disabled     bool      `json:"disabled"`
	CreatedAt    time.Time `json:"created_at"`
	UpdatedAt    time.Time `json:"updated_at"`
}

// AuthRequest is an authorization request waiting for login and consent.
type AuthRequest struct {
	ID                  string     `json:"id"`
	DomainID            string     `json:"domain_id"`
	ClientID            string     `json:"client_id"`
	RedirectURI         string     `json:"redirect_uri"`
	Scopes              []string   `json:"scopes"`
	State               string     `json:"state"`
	Nonce               string     `json:"nonce"`
	CodeChallenge       string     `json:"code_challenge"`
	CodeChallengeMethod string     `json:"code_challenge_method"`
	UserID              string     `json:"user_id,omitempty"` // set once logged in
	AuthTime            *time.Time `json:"auth_time,omitempty"`
	CreatedAt           time.Time  `json:"created_at"`
	ExpiresAt           time.Time  `json:"expires_at"`
}

// AuthCode is an issued authorization code; only its hash is stored.
type AuthCode struct {
	Hash                []byte     `json:"-"`
	DomainID            string     `json:"domain_id"`
	ClientID            string     `json:"client_id"`
	UserID              string     `json:"user_id"`
	RedirectURI         string     `json:"redirect_uri"`
	Scopes              []string   `json:"scopes"`
	Nonce               string     `json:"nonce"`
	CodeChallenge       string     `json:"code_challenge"`
	CodeChallengeMethod string     `json:"code_challenge_method"`
	AuthTime            time.Time  `json:"auth_time"`
	CreatedAt           time.Time  `json:"created_at"`
	ExpiresAt           time.Time  `json:"expires_at"`
	UsedAt              *time.Time `json:"used_at,omitempty"`
	// FamilyID names the tokens issued when the code was redeemed, so a
	// replay can revoke them.
	FamilyID string `json:"family_id,omitempty"`
}

// RefreshToken is one refresh token of a family; a refresh rotates it and
// presenting a used one revokes the family (RFC 9700).
type RefreshToken struct {
	Hash      []byte     `json:"-"`
	DomainID  string     `json:"domain_id"`
	ClientID  string     `json:"client_id"`
	UserID    string     `json:"user_id"`
	FamilyID  string     `json:"family_id"`
	Scopes    []string   `json:"scopes"`
	AuthTime  time.Time  `json:"auth_time"`
	CreatedAt time.Time  `json:"created_at"`
	ExpiresAt time.Time  `json:"expires_at"`
	UsedAt    *time.Time `json:"used_at,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
}

// FamilyRevocationLifetime is how long the marker of a revoked token family
// is kept: longer than any access token of the family can live (lifetimes
// are capped at 366 days).
const FamilyRevocationLifetime = 400 * 24 * time.Hour

// RevokedToken marks an access token (by jti) or a whole token family as
// revoked until the tokens would have expired anyway.
type RevokedToken struct {
	ID        string    `json:"id"` // jti or family id
	DomainID  string    `json:"domain_id"`
	ExpiresAt time.Time `json:"expires_at"`
}

// SecretUse is usage of one secret aggregated in memory between flushes.
type SecretUse struct {
	SecretID   string
	Count      int64
	LastUsedAt time.Time
}
