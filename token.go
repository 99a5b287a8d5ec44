package watchword

import "time"

// Role is what an admin token may do.
type Role string

const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleSecretManager may add, renew, rotate and revoke secrets and read clients.
	RoleSecretManager Role = "secret-manager"
	// RoleViewer may read metadata, never secret values.
	RoleViewer Role = "viewer"
	// RoleAuditor may read the audit log and rotation history only.
	RoleAuditor Role = "auditor"
)

// ValidRole reports whether r is a known role.
func ValidRole(r Role) bool {
	switch r {
	case RoleAdmin, RoleSecretManager, RoleViewer, RoleAuditor:
		return true
	}
	return false
}

// AdminToken authenticates callers of the management API. Like a client
// secret, only its keyed hash is stored.
type AdminToken struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Role      Role       `json:"role"`
	Hint      string     `json:"hint"`
	Hash      []byte     `json:"-"`
	KeyID     string     `json:"-"`
	CreatedAt time.Time  `json:"created_at"`
	CreatedBy string     `json:"created_by"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	RevokedBy string     `json:"revoked_by,omitempty"`
}

// NewAdminToken is a token with its plaintext, shown once.
type NewAdminToken struct {
	AdminToken
	Plaintext string `json:"token"`
	// Redacted is set, and Plaintext empty, in the replay of the response
	// to a retried request: the value was in the first response only.
	Redacted bool `json:"token_redacted,omitempty"`
}
