// Package watchword holds the domain of the Watchword authorization server:
// domains (tenants), OAuth clients, their secrets and the policy that governs
// them, rotation history, admin tokens and the audit log.
//
// Vocabulary:
//   - A secret is valid while it is not revoked and now < expires_at.
//   - A rotation creates a new secret and puts the client's other valid
//     secrets into a transition period: they keep working until the
//     transition ends, then stop on their own. No job is needed for that.
//   - The status of a secret (active, retiring, expired, revoked) is a pure
//     function of its stored fields and the time; see Secret.Status.
//
// This package imports only the standard library. Storage, HTTP and the CLI
// live under internal/ and speak in terms of these types.
package watchword
