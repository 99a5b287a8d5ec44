package watchword

import "time"

// IdempotencyLifetime is how long the server remembers a request sent with an
// idempotency key: a retry within it gets the recorded outcome, a request
// after it runs anew.
const IdempotencyLifetime = 24 * time.Hour

// IdempotencyRecord is what the server keeps of a state-changing request sent
// with an Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header),
// so that a retry gets the same outcome instead of a second change.
//
// The record is written in the transaction of the request's change, so a
// change never exists without its record nor a record without its change.
// The response is added after that transaction commits, with every
// plaintext secret removed: a secret's value exists only in the one
// response that created it.
type IdempotencyRecord struct {
	// ActorID is the principal that sent the request ("token:<id>"); keys
	// are scoped to it, so two tokens never share a record.
	ActorID string
	Key     string
	Method  string
	// Path is the request path, escaped as it was sent.
	Path string
	// Fingerprint is the HMAC-SHA-256 of the request body under the server
	// key FingerprintKeyID. It is keyed because a body may hold a custom
	// secret value, a signing secret or a password, and a plain digest of a
	// predictable body would let whoever reads the database test guesses.
	Fingerprint      []byte
	FingerprintKeyID string
	// Resource names what the request changed, from its first audit record
	// ("client.rotate client 3kd… (rotation …, new secret …)"); it is what a
	// retry is told when the response was never recorded.
	Resource  string
	CreatedAt time.Time
	ExpiresAt time.Time
	// CompletedAt is when the response was recorded. It stays nil while the
	// response is being sent, and for good if the server stopped between
	// the commit and recording the response.
	CompletedAt *time.Time
	// Status, ContentType and Response are the recorded response; Response
	// has every plaintext secret removed.
	Status      int
	ContentType string
	Response    []byte
}
