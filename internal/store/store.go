// Package store is the persistence contract of Watchword. Implementations
// (internal/store/sqlite, internal/store/postgres) must pass the conformance
// suite in internal/store/storetest. Business rules live in
// internal/lifecycle, never in a backend.
//
// All times are stored with microsecond precision and returned in UTC.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/watchword/watchword"
)

// Sentinel errors every backend returns exactly; no driver error leaks.
var (
	ErrNotFound      = errors.New("not found")
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: a compare-and-set found the row already changed (a code
	// or refresh token already used).
	ErrConflict = errors.New("conflict")
)

// Store is the persistence contract.
type Store interface {
	Reader
	// Tx runs fn in one transaction and commits if fn returns nil. A Tx that
	// calls LockClient holds that client until commit, so read-check-write
	// sequences on one client (cap, rotation) are serialised across instances.
	// fn must not have side effects outside tx: it may be re-run when the
	// database reports a serialisation failure.
	Tx(ctx context.Context, fn func(tx Tx) error) error
	// RecordSecretUse adds counts and raises last_used_at (never lowers it)
	// for each secret, in one transaction; unknown ids are ignored.
	RecordSecretUse(ctx context.Context, uses []watchword.SecretUse) error
	// DeleteExpired removes auth requests, codes, refresh tokens, revoked
	// token markers and idempotency records that expired before t, and
	// returns how many rows went.
	DeleteExpired(ctx context.Context, t time.Time) (int64, error)
	// Ping checks that the database answers (readiness).
	Ping(ctx context.Context) error
	Close() error
}

// Reader holds the read operations, available inside and outside a Tx.
type Reader interface {
	GetDomain(ctx context.Context, id string) (watchword.Domain, error)
	GetDomainByName(ctx context.Context, name string) (watchword.Domain, error)
	ListDomains(ctx context.Context) ([]watchword.Domain, error)

	// GetClient and GetClientByName do not return deleted clients.
	GetClient(ctx context.Context, domainID, id string) (watchword.Client, error)
	GetClientByName(ctx context.Context, domainID, name string) (watchword.Client, error)
	// ListClients returns one page of non-deleted clients ordered by name,
	// and the total number that match the filter.
	ListClients(ctx context.Context, f watchword.ClientFilter) ([]watchword.Client, int, error)

	// GetSecret returns a secret by id, deleted ones included (tombstones).
	GetSecret(ctx context.Context, id string) (watchword.Secret, error)
	// ListSecrets returns a client's secrets, oldest first, without deleted ones.
	ListSecrets(ctx context.Context, clientID string) ([]watchword.Secret, error)

	// ListRotations returns a page of a client's rotation history, newest first.
	ListRotations(ctx context.Context, clientID string, offset, limit int) ([]watchword.Rotation, int, error)

	// ListAuditEvents returns a page of audit events, newest first.
	ListAuditEvents(ctx context.Context, f watchword.AuditFilter) ([]watchword.AuditEvent, int, error)

	GetAdminToken(ctx context.Context, id string) (watchword.AdminToken, error)
	// ListAdminTokens returns all tokens, revoked ones included, oldest first.
	ListAdminTokens(ctx context.Context) ([]watchword.AdminToken, error)

	// ListSigningKeys returns a domain's signing keys, retired ones included, oldest first.
	ListSigningKeys(ctx context.Context, domainID string) ([]watchword.SigningKey, error)

	GetUser(ctx context.Context, domainID, id string) (watchword.User, error)
	GetUserByUsername(ctx context.Context, domainID, username string) (watchword.User, error)
	// ListUsers returns a page of a domain's users ordered by username.
	ListUsers(ctx context.Context, domainID string, offset, limit int) ([]watchword.User, int, error)
	// GetConsent returns the scopes a user granted a client, ErrNotFound if none.
	GetConsent(ctx context.Context, domainID, userID, clientID string) ([]string, error)

	GetAuthRequest(ctx context.Context, id string) (watchword.AuthRequest, error)
	GetAuthCode(ctx context.Context, hash []byte) (watchword.AuthCode, error)
	GetRefreshToken(ctx context.Context, hash []byte) (watchword.RefreshToken, error)
	// IsRevoked reports whether any of ids (an access token's jti, its
	// family) is marked revoked.
	IsRevoked(ctx context.Context, ids ...string) (bool, error)

	NotificationReader
	RotationReader

	// GetIdempotencyRecord returns the record of an actor's idempotency key,
	// ErrNotFound if there is none. An expired record is returned until it
	// is deleted or replaced; the caller checks ExpiresAt.
	GetIdempotencyRecord(ctx context.Context, actorID, key string) (watchword.IdempotencyRecord, error)
}

// NotificationReader holds the reads of lifecycle notifications.
type NotificationReader interface {
	GetChannel(ctx context.Context, domainID, id string) (watchword.Channel, error)
	GetChannelByName(ctx context.Context, domainID, name string) (watchword.Channel, error)
	// ListChannels returns a domain's channels ordered by name.
	ListChannels(ctx context.Context, domainID string) ([]watchword.Channel, error)

	GetNotification(ctx context.Context, domainID, id string) (watchword.Notification, error)
	// ListNotifications returns a page of notifications matching every set
	// field of f, newest first, and the number that match.
	ListNotifications(ctx context.Context, f watchword.NotificationFilter) ([]watchword.Notification, int, error)

	// ListUnmarkedExpired returns up to limit secrets, with their clients,
	// whose expiry is at or before at and that the expiry sweep has not
	// marked yet; revoked and deleted secrets and those of deleted clients
	// are left out. Oldest expiry first.
	ListUnmarkedExpired(ctx context.Context, at time.Time, limit int) ([]ClientSecret, error)
	// ListExpiringSecrets returns up to limit valid, non-retiring secrets of
	// the live clients of a domain whose expiry is in (after, until], with
	// their clients, ordered by secret id and starting after afterID.
	ListExpiringSecrets(ctx context.Context, domainID string, after, until time.Time, afterID string, limit int) ([]ClientSecret, error)
}

// RotationReader holds the reads of automated rotation.
type RotationReader interface {
	// GetRotationRun returns a run by id.
	GetRotationRun(ctx context.Context, id string) (watchword.RotationRun, error)
	// ListRotationRuns returns a page of a client's runs, newest first
	// (by CreatedAt, then the order they were created in), and how many there are.
	ListRotationRuns(ctx context.Context, clientID string, offset, limit int) ([]watchword.RotationRun, int, error)
	// LatestRotationRun returns the client's newest run, ErrNotFound if it
	// has none.
	LatestRotationRun(ctx context.Context, clientID string) (watchword.RotationRun, error)

	// ListDeliveryTargets returns a client's targets ordered by name.
	ListDeliveryTargets(ctx context.Context, clientID string) ([]watchword.DeliveryTarget, error)
	// GetDeliveryTarget returns a target of a client by id.
	GetDeliveryTarget(ctx context.Context, clientID, id string) (watchword.DeliveryTarget, error)
}

// RotationWriter holds the writes of automated rotation.
type RotationWriter interface {
	// CreateRotationRun stores a new run. ErrAlreadyExists if the id is
	// taken or the client already has a running run: at most one runs per
	// client, whichever instance starts it.
	CreateRotationRun(ctx context.Context, r watchword.RotationRun) error
	// LockRotationRun returns a run and locks it until the end of the
	// transaction (FOR UPDATE on PostgreSQL).
	LockRotationRun(ctx context.Context, id string) (watchword.RotationRun, error)
	// UpdateRotationRun writes every field of r but its creation; ErrNotFound.
	UpdateRotationRun(ctx context.Context, r watchword.RotationRun) error
	// ClaimRotationRuns leases to owner until until up to limit running
	// runs whose NextAttemptAt is at or before Now and that nobody else
	// holds (never leased, or their lease ended), earliest due first, and
	// returns them as leased. Concurrent claims get disjoint sets.
	ClaimRotationRuns(ctx context.Context, owner string, until time.Time, limit int) ([]watchword.RotationRun, error)

	CreateDeliveryTarget(ctx context.Context, t watchword.DeliveryTarget) error // ErrAlreadyExists on (client, name)
	UpdateDeliveryTarget(ctx context.Context, t watchword.DeliveryTarget) error // ErrNotFound, ErrAlreadyExists
	DeleteDeliveryTarget(ctx context.Context, clientID, id string) error        // ErrNotFound
}

// ClientSecret is a secret and its client.
type ClientSecret struct {
	Client watchword.Client
	Secret watchword.Secret
}

// Job is the persisted state of a scheduled job (internal/jobs).
type Job struct {
	Name string
	// Spec is the schedule NextRunAt was computed from.
	Spec      string
	NextRunAt time.Time
	LastRunAt *time.Time
	LastError string
	// LockedBy and LockedUntil are the lease of the instance running the
	// job; after LockedUntil any instance may take it over.
	LockedBy    string
	LockedUntil *time.Time
}

// Tx is one database transaction.
type Tx interface {
	Reader
	// Now is the time of the transaction, read once from the store's clock.
	Now() time.Time

	// LockClient returns the client and locks it until the end of the
	// transaction (SELECT … FOR UPDATE on PostgreSQL; SQLite transactions
	// are already exclusive writers). ErrNotFound for a deleted client.
	LockClient(ctx context.Context, domainID, id string) (watchword.Client, error)

	CreateDomain(ctx context.Context, d watchword.Domain) error // ErrAlreadyExists on name
	UpdateDomain(ctx context.Context, d watchword.Domain) error // ErrNotFound

	CreateClient(ctx context.Context, c watchword.Client) error // ErrAlreadyExists on (domain, name) of live clients
	UpdateClient(ctx context.Context, c watchword.Client) error // ErrNotFound, ErrAlreadyExists

	CreateSecret(ctx context.Context, s watchword.Secret) error // ErrAlreadyExists on id
	UpdateSecret(ctx context.Context, s watchword.Secret) error // ErrNotFound

	CreateRotation(ctx context.Context, r watchword.Rotation) error
	// AppendAudit stores e; the store assigns e.ID.
	AppendAudit(ctx context.Context, e watchword.AuditEvent) error

	CreateAdminToken(ctx context.Context, t watchword.AdminToken) error // ErrAlreadyExists
	UpdateAdminToken(ctx context.Context, t watchword.AdminToken) error // ErrNotFound

	// CreateSigningKey adds a key; ErrAlreadyExists if the domain already has
	// an unretired key of that algorithm (so instances racing to create the
	// first key agree on one).
	CreateSigningKey(ctx context.Context, k watchword.SigningKey) error

	CreateUser(ctx context.Context, u watchword.User) error // ErrAlreadyExists on (domain, username)
	UpdateUser(ctx context.Context, u watchword.User) error // ErrNotFound, ErrAlreadyExists
	PutConsent(ctx context.Context, domainID, userID, clientID string, scopes []string) error

	CreateAuthRequest(ctx context.Context, r watchword.AuthRequest) error
	UpdateAuthRequest(ctx context.Context, r watchword.AuthRequest) error // ErrNotFound
	DeleteAuthRequest(ctx context.Context, id string) error

	CreateAuthCode(ctx context.Context, c watchword.AuthCode) error
	// UseAuthCode marks an unused code used and records the family of the
	// tokens issued for it; ErrConflict if it was already used.
	UseAuthCode(ctx context.Context, hash []byte, at time.Time, familyID string) error

	CreateRefreshToken(ctx context.Context, t watchword.RefreshToken) error
	// UseRefreshToken marks an unused, unrevoked token used; ErrConflict if
	// it was already used or revoked.
	UseRefreshToken(ctx context.Context, hash []byte, at time.Time) error
	// RevokeFamily revokes every refresh token of a family.
	RevokeFamily(ctx context.Context, familyID string, at time.Time) error
	// RevokeClientGrants revokes a client's refresh tokens and marks its
	// unused codes used (a compromised secret).
	RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error
	// MarkClientFamiliesRevoked marks revoked until expiresAt every token
	// family of a client that has a refresh token or a redeemed code, so
	// that the access tokens issued in those families (they carry the
	// family id) introspect inactive; RevokeClientGrants' companion for a
	// compromised secret. Like MarkRevoked it never shortens a marker.
	MarkClientFamiliesRevoked(ctx context.Context, clientID string, expiresAt time.Time) error
	// RevokeUserGrants revokes a user's refresh tokens, marks their unused
	// codes used, and marks every family of the user revoked until
	// markUntil (a password change or a disabled user).
	RevokeUserGrants(ctx context.Context, domainID, userID string, at, markUntil time.Time) error
	// MarkRevoked records a revoked access token or family; idempotent.
	MarkRevoked(ctx context.Context, r watchword.RevokedToken) error

	// CreateIdempotencyRecord records an actor's idempotency key. A record
	// of the same actor and key that expired at or before Now is replaced;
	// a live one is ErrAlreadyExists. On PostgreSQL a concurrent Tx that
	// inserted the same key first makes this one wait for its outcome.
	CreateIdempotencyRecord(ctx context.Context, r watchword.IdempotencyRecord) error
	// UpdateIdempotencyRecord writes the resource and response fields of the
	// record of r.ActorID and r.Key (Resource, CompletedAt, Status,
	// ContentType, Response); ErrNotFound if there is none.
	UpdateIdempotencyRecord(ctx context.Context, r watchword.IdempotencyRecord) error

	NotificationWriter
	RotationWriter
}

// NotificationWriter holds the writes of lifecycle notifications.
type NotificationWriter interface {
	CreateChannel(ctx context.Context, c watchword.Channel) error // ErrAlreadyExists on (domain, name)
	UpdateChannel(ctx context.Context, c watchword.Channel) error // ErrNotFound, ErrAlreadyExists
	DeleteChannel(ctx context.Context, domainID, id string) error // ErrNotFound

	// EnqueueNotification adds n to the outbox, in the transaction of the
	// change that caused it. ErrAlreadyExists on a taken id or (event,
	// channel).
	EnqueueNotification(ctx context.Context, n watchword.Notification) error
	// ClaimNotifications leases to owner until until up to limit pending
	// notifications that are due at Now and not leased by anyone else
	// (never leased, or their lease ended), oldest due first, and returns
	// them as leased. Concurrent claims get disjoint sets (FOR UPDATE SKIP
	// LOCKED on PostgreSQL; SQLite transactions are serial).
	ClaimNotifications(ctx context.Context, owner string, until time.Time, limit int) ([]watchword.Notification, error)
	// UpdateNotification writes the delivery state of n (status, attempts,
	// times, last error) and its lease, if the lease is still owner's ("":
	// nobody's). ErrConflict if another instance holds it now, ErrNotFound
	// if there is no such notification.
	UpdateNotification(ctx context.Context, n watchword.Notification, owner string) error

	// MarkSecretExpired sets the secret's ExpiredNotifiedAt to at if it is
	// unset: ErrConflict if it was already set, ErrNotFound for no secret.
	// UpdateSecret never writes that field, so a concurrent update cannot
	// clear the mark.
	MarkSecretExpired(ctx context.Context, id string, at time.Time) error
	// CreateExpiryNotice records that the notice of thresholdDays went out
	// for a secret expiring at expiresAt; ErrAlreadyExists if it already did.
	CreateExpiryNotice(ctx context.Context, secretID string, thresholdDays int, expiresAt, at time.Time) error

	// LockJob returns a job's state and locks it until the end of the
	// transaction; ErrNotFound if it has none yet.
	LockJob(ctx context.Context, name string) (Job, error)
	CreateJob(ctx context.Context, j Job) error // ErrAlreadyExists
	UpdateJob(ctx context.Context, j Job) error // ErrNotFound
}

// Pagination defaults shared by every list.
const (
	DefaultLimit = 50
	MaxLimit     = 500
)

// Page normalises offset and limit.
func Page(offset, limit int) (int, int) {
	if offset < 0 {
		offset = 0
	}
	if limit <= 0 {
		limit = DefaultLimit
	}
	return offset, min(limit, MaxLimit)
}

// Truncate rounds t down to the store's precision (microseconds) in UTC,
// so that what is written compares equal to what is read back.
func Truncate(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }
