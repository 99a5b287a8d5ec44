package sqlstore

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Columns of the authorization-server tables, in the order the scan
// functions read them.
const (
	signingKeyCols   = "id, domain_id, alg, private, key_id, public, created_at, retired_at"
	userCols         = "id, domain_id, username, email, display_name, password_hash, disabled, created_at, updated_at"
	authRequestCols  = "id, domain_id, client_id, redirect_uri, scopes, state, nonce, code_challenge, code_challenge_method, user_id, auth_time, created_at, expires_at"
	authCodeCols     = "hash, domain_id, client_id, user_id, redirect_uri, scopes, nonce, code_challenge, code_challenge_method, auth_time, created_at, expires_at, used_at, family_id"
	refreshTokenCols = "hash, domain_id, client_id, user_id, family_id, scopes, auth_time, created_at, expires_at, used_at, revoked_at"
)

// marks is n '?' placeholders separated by commas, for IN lists.
func marks(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

// execN runs a write that may touch any number of rows and returns how many
// it touched.
func (t *txn) execN(ctx context.Context, op, query string, args ...any) (int64, error) {
	res, err := t.exec(ctx, query, args...)
	if err != nil {
		return 0, t.fail(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, t.fail(op, err)
	}
	return n, nil
}

// compareAndSet runs a conditional UPDATE of the row of table whose hash
// is hash. If it changed nothing, the row either does not exist
// (ErrNotFound) or no longer met the condition (ErrConflict).
func (t *txn) compareAndSet(ctx context.Context, op, table string, hash []byte, query string, args ...any) error {
	n, err := t.execN(ctx, op, query, args...)
	if err != nil || n > 0 {
		return err
	}
	var one int
	if err := t.queryRow(ctx, "SELECT 1 FROM "+table+" WHERE hash = ?", hash).Scan(&one); err != nil {
		return t.fail(op, err) // sql.ErrNoRows: ErrNotFound
	}
	return store.ErrConflict
}

// ---- signing keys

func scanSigningKey(sc scanner) (watchword.SigningKey, error) {
	var k watchword.SigningKey
	var created int64
	var retired sql.NullInt64
	if err := sc.Scan(&k.ID, &k.DomainID, &k.Alg, &k.Private, &k.KeyID, &k.Public, &created, &retired); err != nil {
		return k, err
	}
	k.CreatedAt, k.RetiredAt = fromMicros(created), fromNullMicros(retired)
	return k, nil
}

func (r *reader) ListSigningKeys(ctx context.Context, domainID string) ([]watchword.SigningKey, error) {
	return list(ctx, r, "list signing keys", scanSigningKey,
		"SELECT "+signingKeyCols+" FROM signing_keys WHERE domain_id = ? ORDER BY created_at, id", domainID)
}

// CreateSigningKey fails with ErrAlreadyExists on a taken id, and when k is
// unretired and the domain already has an unretired key of k.Alg (the
// partial unique index signing_keys_current).
func (t *txn) CreateSigningKey(ctx context.Context, k watchword.SigningKey) error {
	return t.execOne(ctx, "create signing key", true,
		"INSERT INTO signing_keys ("+signingKeyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		k.ID, k.DomainID, k.Alg, k.Private, k.KeyID, k.Public, micros(k.CreatedAt), nullMicros(k.RetiredAt))
}

// ---- users

func scanUser(sc scanner) (watchword.User, error) {
	var u watchword.User
	var created, updated int64
	err := sc.Scan(&u.ID, &u.DomainID, &u.Username, &u.Email, &u.DisplayName, &u.PasswordHash, &u.Disabled,
		&created, &updated)
	if err != nil {
		return u, err
	}
	u.CreatedAt, u.UpdatedAt = fromMicros(created), fromMicros(updated)
	return u, nil
}

func (r *reader) GetUser(ctx context.Context, domainID, id string) (watchword.User, error) {
	u, err := scanUser(r.queryRow(ctx, "SELECT "+userCols+" FROM users WHERE domain_id = ? AND id = ?", domainID, id))
	if err != nil {
		return u, r.fail("get user", err)
	}
	return u, nil
}

func (r *reader) GetUserByUsername(ctx context.Context, domainID, username string) (watchword.User, error) {
	u, err := scanUser(r.queryRow(ctx,
		"SELECT "+userCols+" FROM users WHERE domain_id = ? AND username = ?", domainID, username))
	if err != nil {
		return u, r.fail("get user", err)
	}
	return u, nil
}

func (r *reader) ListUsers(ctx context.Context, domainID string, offset, limit int) ([]watchword.User, int, error) {
	return page(ctx, r, "list users", scanUser, "users", userCols, " WHERE domain_id = ?", "username, id",
		[]any{domainID}, offset, limit)
}

func (t *txn) CreateUser(ctx context.Context, u watchword.User) error {
	return t.execOne(ctx, "create user", true,
		"INSERT INTO users ("+userCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
		u.ID, u.DomainID, u.Username, u.Email, u.DisplayName, u.PasswordHash, u.Disabled,
		micros(u.CreatedAt), micros(u.UpdatedAt))
}

// UpdateUser replaces a user's fields except its domain and creation.
func (t *txn) UpdateUser(ctx context.Context, u watchword.User) error {
	return t.execOne(ctx, "update user", true,
		`UPDATE users SET username = ?, email = ?, display_name = ?, password_hash = ?, disabled = ?, updated_at = ?
		WHERE domain_id = ? AND id = ?`,
		u.Username, u.Email, u.DisplayName, u.PasswordHash, u.Disabled, micros(u.UpdatedAt), u.DomainID, u.ID)
}

// ---- consents

func (r *reader) GetConsent(ctx context.Context, domainID, userID, clientID string) ([]string, error) {
	var scopes string
	err := r.queryRow(ctx, "SELECT scopes FROM consents WHERE domain_id = ? AND user_id = ? AND client_id = ?",
		domainID, userID, clientID).Scan(&scopes)
	if err != nil {
		return nil, r.fail("get consent", err)
	}
	var out []string
	if err := fromJSON(scopes, &out); err != nil {
		return nil, fmt.Errorf("consent of %s to %s: %w", userID, clientID, err)
	}
	return out, nil
}

// PutConsent replaces the scopes a user granted a client, stamped with the
// time of the transaction.
func (t *txn) PutConsent(ctx context.Context, domainID, userID, clientID string, scopes []string) error {
	s, err := toJSON(scopes)
	if err != nil {
		return fmt.Errorf("put consent: %w", err)
	}
	return t.execOne(ctx, "put consent", true,
		`INSERT INTO consents (domain_id, user_id, client_id, scopes, updated_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (domain_id, user_id, client_id) DO UPDATE SET scopes = excluded.scopes, updated_at = excluded.updated_at`,
		domainID, userID, clientID, s, micros(t.now))
}

// ---- authorization requests

func scanAuthRequest(sc scanner) (watchword.AuthRequest, error) {
	var ar watchword.AuthRequest
	var scopes string
	var created, expires int64
	var authTime sql.NullInt64
	err := sc.Scan(&ar.ID, &ar.DomainID, &ar.ClientID, &ar.RedirectURI, &scopes, &ar.State, &ar.Nonce,
		&ar.CodeChallenge, &ar.CodeChallengeMethod, &ar.UserID, &authTime, &created, &expires)
	if err != nil {
		return ar, err
	}
	ar.AuthTime, ar.CreatedAt, ar.ExpiresAt = fromNullMicros(authTime), fromMicros(created), fromMicros(expires)
	if err := fromJSON(scopes, &ar.Scopes); err != nil {
		return ar, fmt.Errorf("auth request %s: %w", ar.ID, err)
	}
	return ar, nil
}

func (r *reader) GetAuthRequest(ctx context.Context, id string) (watchword.AuthRequest, error) {
	ar, err := scanAuthRequest(r.queryRow(ctx, "SELECT "+authRequestCols+" FROM auth_requests WHERE id = ?", id))
	if err != nil {
		return ar, r.fail("get auth request", err)
	}
	return ar, nil
}

// CreateAuthRequest fails with ErrAlreadyExists on a taken id.
func (t *txn) CreateAuthRequest(ctx context.Context, ar watchword.AuthRequest) error {
	scopes, err := toJSON(ar.Scopes)
	if err != nil {
		return fmt.Errorf("create auth request: %w", err)
	}
	return t.execOne(ctx, "create auth request", true,
		"INSERT INTO auth_requests ("+authRequestCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		ar.ID, ar.DomainID, ar.ClientID, ar.RedirectURI, scopes, ar.State, ar.Nonce, ar.CodeChallenge,
		ar.CodeChallengeMethod, ar.UserID, nullMicros(ar.AuthTime), micros(ar.CreatedAt), micros(ar.ExpiresAt))
}

// UpdateAuthRequest replaces a request's fields except its domain, client
// and creation.
func (t *txn) UpdateAuthRequest(ctx context.Context, ar watchword.AuthRequest) error {
	scopes, err := toJSON(ar.Scopes)
	if err != nil {
		return fmt.Errorf("update auth request: %w", err)
	}
	return t.execOne(ctx, "update auth request", false,
		`UPDATE auth_requests SET redirect_uri = ?, scopes = ?, state = ?, nonce = ?, code_challenge = ?,
			code_challenge_method = ?, user_id = ?, auth_time = ?, expires_at = ?
		WHERE id = ?`,
		ar.RedirectURI, scopes, ar.State, ar.Nonce, ar.CodeChallenge, ar.CodeChallengeMethod, ar.UserID,
		nullMicros(ar.AuthTime), micros(ar.ExpiresAt), ar.ID)
}

// DeleteAuthRequest returns ErrNotFound if there was no such request, so
// that of two transactions consuming one request only one succeeds.
func (t *txn) DeleteAuthRequest(ctx context.Context, id string) error {
	return t.execOne(ctx, "delete auth request", false, "DELETE FROM auth_requests WHERE id = ?", id)
}

// ---- authorization codes

func scanAuthCode(sc scanner) (watchword.AuthCode, error) {
	var c watchword.AuthCode
	var scopes string
	var authTime, created, expires int64
	var used sql.NullInt64
	err := sc.Scan(&c.Hash, &c.DomainID, &c.ClientID, &c.UserID, &c.RedirectURI, &scopes, &c.Nonce,
		&c.CodeChallenge, &c.CodeChallengeMethod, &authTime, &created, &expires, &used, &c.FamilyID)
	if err != nil {
		return c, err
	}
	c.AuthTime, c.CreatedAt, c.ExpiresAt = fromMicros(authTime), fromMicros(created), fromMicros(expires)
	c.UsedAt = fromNullMicros(used)
	if err := fromJSON(scopes, &c.Scopes); err != nil {
		return c, fmt.Errorf("auth code of client %s: %w", c.ClientID, err)
	}
	return c, nil
}

func (r *reader) GetAuthCode(ctx context.Context, hash []byte) (watchword.AuthCode, error) {
	c, err := scanAuthCode(r.queryRow(ctx, "SELECT "+authCodeCols+" FROM auth_codes WHERE hash = ?", hash))
	if err != nil {
		return c, r.fail("get auth code", err)
	}
	return c, nil
}

// CreateAuthCode fails with ErrAlreadyExists on a taken hash.
func (t *txn) CreateAuthCode(ctx context.Context, c watchword.AuthCode) error {
	scopes, err := toJSON(c.Scopes)
	if err != nil {
		return fmt.Errorf("create auth code: %w", err)
	}
	return t.execOne(ctx, "create auth code", true,
		"INSERT INTO auth_codes ("+authCodeCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		c.Hash, c.DomainID, c.ClientID, c.UserID, c.RedirectURI, scopes, c.Nonce, c.CodeChallenge,
		c.CodeChallengeMethod, micros(c.AuthTime), micros(c.CreatedAt), micros(c.ExpiresAt), nullMicros(c.UsedAt),
		c.FamilyID)
}

// UseAuthCode is a compare-and-set on used_at: of concurrent redemptions
// exactly one succeeds. ErrNotFound for an unknown code; expiry is the
// caller's to check.
func (t *txn) UseAuthCode(ctx context.Context, hash []byte, at time.Time, familyID string) error {
	return t.compareAndSet(ctx, "use auth code", "auth_codes", hash,
		"UPDATE auth_codes SET used_at = ?, family_id = ? WHERE hash = ? AND used_at IS NULL",
		micros(at), familyID, hash)
}

// ---- refresh tokens

func scanRefreshToken(sc scanner) (watchword.RefreshToken, error) {
	var rt watchword.RefreshToken
	var scopes string
	var authTime, created, expires int64
	var used, revoked sql.NullInt64
	err := sc.Scan(&rt.Hash, &rt.DomainID, &rt.ClientID, &rt.UserID, &rt.FamilyID, &scopes, &authTime, &created,
		&expires, &used, &revoked)
	if err != nil {
		return rt, err
	}
	rt.AuthTime, rt.CreatedAt, rt.ExpiresAt = fromMicros(authTime), fromMicros(created), fromMicros(expires)
	rt.UsedAt, rt.RevokedAt = fromNullMicros(used), fromNullMicros(revoked)
	if err := fromJSON(scopes, &rt.Scopes); err != nil {
		return rt, fmt.Errorf("refresh token of family %s: %w", rt.FamilyID, err)
	}
	return rt, nil
}

func (r *reader) GetRefreshToken(ctx context.Context, hash []byte) (watchword.RefreshToken, error) {
	rt, err := scanRefreshToken(r.queryRow(ctx, "SELECT "+refreshTokenCols+" FROM refresh_tokens WHERE hash = ?", hash))
	if err != nil {
		return rt, r.fail("get refresh token", err)
	}
	return rt, nil
}

// CreateRefreshToken fails with ErrAlreadyExists on a taken hash.
func (t *txn) CreateRefreshToken(ctx context.Context, rt watchword.RefreshToken) error {
	scopes, err := toJSON(rt.Scopes)
	if err != nil {
		return fmt.Errorf("create refresh token: %w", err)
	}
	return t.execOne(ctx, "create refresh token", true,
		"INSERT INTO refresh_tokens ("+refreshTokenCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		rt.Hash, rt.DomainID, rt.ClientID, rt.UserID, rt.FamilyID, scopes, micros(rt.AuthTime), micros(rt.CreatedAt),
		micros(rt.ExpiresAt), nullMicros(rt.UsedAt), nullMicros(rt.RevokedAt))
}

// UseRefreshToken is a compare-and-set on used_at and revoked_at: of
// concurrent refreshes exactly one succeeds. ErrNotFound for an unknown
// token; expiry is the caller's to check.
func (t *txn) UseRefreshToken(ctx context.Context, hash []byte, at time.Time) error {
	return t.compareAndSet(ctx, "use refresh token", "refresh_tokens", hash,
		"UPDATE refresh_tokens SET used_at = ? WHERE hash = ? AND used_at IS NULL AND revoked_at IS NULL",
		micros(at), hash)
}

// RevokeFamily keeps the revocation time of tokens already revoked.
func (t *txn) RevokeFamily(ctx context.Context, familyID string, at time.Time) error {
	_, err := t.execN(ctx, "revoke family",
		"UPDATE refresh_tokens SET revoked_at = ? WHERE family_id = ? AND revoked_at IS NULL", micros(at), familyID)
	return err
}

// RevokeClientGrants keeps the times of tokens already revoked and codes
// already used.
func (t *txn) RevokeClientGrants(ctx context.Context, clientID string, at time.Time) error {
	if _, err := t.execN(ctx, "revoke client grants",
		"UPDATE refresh_tokens SET revoked_at = ? WHERE client_id = ? AND revoked_at IS NULL", micros(at), clientID); err != nil {
		return err
	}
	_, err := t.execN(ctx, "revoke client grants",
		"UPDATE auth_codes SET used_at = ? WHERE client_id = ? AND used_at IS NULL", micros(at), clientID)
	return err
}

// MarkClientFamiliesRevoked inserts one marker per family in one statement;
// the UNION removes the duplicates that ON CONFLICT DO UPDATE would refuse
// on PostgreSQL. The WHERE on the outer SELECT keeps SQLite from reading
// ON CONFLICT as a join constraint.
func (t *txn) MarkClientFamiliesRevoked(ctx context.Context, clientID string, expiresAt time.Time) error {
	_, err := t.execN(ctx, "mark client families revoked",
		`INSERT INTO revoked_tokens (id, domain_id, expires_at)
		SELECT f.family_id, f.domain_id, CAST(? AS BIGINT) FROM (
			SELECT family_id, domain_id FROM refresh_tokens WHERE client_id = ?
			UNION
			SELECT family_id, domain_id FROM auth_codes WHERE client_id = ? AND family_id <> ''
		) AS f WHERE true
		ON CONFLICT (id) DO UPDATE SET expires_at = CASE
			WHEN revoked_tokens.expires_at < excluded.expires_at THEN excluded.expires_at
			ELSE revoked_tokens.expires_at END`,
		micros(expiresAt), clientID, clientID)
	return err
}

// RevokeUserGrants follows RevokeClientGrants and MarkClientFamiliesRevoked,
// for one user of one domain.
func (t *txn) RevokeUserGrants(ctx context.Context, domainID, userID string, at, markUntil time.Time) error {
	if _, err := t.execN(ctx, "revoke user grants",
		"UPDATE refresh_tokens SET revoked_at = ? WHERE domain_id = ? AND user_id = ? AND revoked_at IS NULL",
		micros(at), domainID, userID); err != nil {
		return err
	}
	if _, err := t.execN(ctx, "revoke user grants",
		"UPDATE auth_codes SET used_at = ? WHERE domain_id = ? AND user_id = ? AND used_at IS NULL",
		micros(at), domainID, userID); err != nil {
		return err
	}
	_, err := t.execN(ctx, "revoke user grants",
		`INSERT INTO revoked_tokens (id, domain_id, expires_at)
		SELECT f.family_id, f.domain_id, CAST(? AS BIGINT) FROM (
			SELECT family_id, domain_id FROM refresh_tokens WHERE domain_id = ? AND user_id = ?
			UNION
			SELECT family_id, domain_id FROM auth_codes WHERE domain_id = ? AND user_id = ? AND family_id <> ''
		) AS f WHERE true
		ON CONFLICT (id) DO UPDATE SET expires_at = CASE
			WHEN revoked_tokens.expires_at < excluded.expires_at THEN excluded.expires_at
			ELSE revoked_tokens.expires_at END`,
		micros(markUntil), domainID, userID, domainID, userID)
	return err
}

// ---- revoked tokens

// MarkRevoked inserts the marker, or keeps the later expiry if it exists,
// so that marking again never shortens a revocation.
func (t *txn) MarkRevoked(ctx context.Context, rv watchword.RevokedToken) error {
	_, err := t.execN(ctx, "mark revoked",
		`INSERT INTO revoked_tokens (id, domain_id, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (id) DO UPDATE SET expires_at = CASE
			WHEN revoked_tokens.expires_at < excluded.expires_at THEN excluded.expires_at
			ELSE revoked_tokens.expires_at END`,
		rv.ID, rv.DomainID, micros(rv.ExpiresAt))
	return err
}

// IsRevoked ignores the markers' expiry: a marker outlives its token only
// until DeleteExpired.
func (r *reader) IsRevoked(ctx context.Context, ids ...string) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	var one int
	err := r.queryRow(ctx, "SELECT 1 FROM revoked_tokens WHERE id IN ("+marks(len(ids))+") LIMIT 1", args...).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, r.fail("is revoked", err)
	}
	return true, nil
}

// ---- maintenance, outside a caller's transaction

// RecordSecretUse updates the secrets in id order, so that two instances
// flushing at once lock rows in the same order and cannot deadlock.
func (db *DB) RecordSecretUse(ctx context.Context, uses []watchword.SecretUse) error {
	if len(uses) == 0 {
		return nil
	}
	uses = slices.SortedStableFunc(slices.Values(uses), func(a, b watchword.SecretUse) int {
		return cmp.Compare(a.SecretID, b.SecretID)
	})
	return db.Tx(ctx, func(tx store.Tx) error {
		t := tx.(*txn)
		for _, u := range uses {
			// A zero LastUsedAt records counts only.
			if u.LastUsedAt.IsZero() {
				if _, err := t.execN(ctx, "record secret use",
					"UPDATE secrets SET use_count = use_count + ? WHERE id = ?", u.Count, u.SecretID); err != nil {
					return err
				}
				continue
			}
			last := micros(u.LastUsedAt)
			// CASE rather than MAX (SQLite) or GREATEST (PostgreSQL).
			if _, err := t.execN(ctx, "record secret use",
				`UPDATE secrets SET use_count = use_count + ?,
					last_used_at = CASE WHEN last_used_at IS NULL OR last_used_at < ? THEN ? ELSE last_used_at END
				WHERE id = ?`,
				u.Count, last, last, u.SecretID); err != nil {
				return err
			}
		}
		return nil
	})
}

// DeleteExpired deletes rows whose expires_at is strictly before t; a row
// expiring at t stays.
func (db *DB) DeleteExpired(ctx context.Context, t time.Time) (int64, error) {
	var total int64
	err := db.Tx(ctx, func(tx store.Tx) error {
		txn := tx.(*txn)
		var n int64
		for _, table := range []string{"auth_requests", "auth_codes", "refresh_tokens", "revoked_tokens", "idempotency_records"} {
			m, err := txn.execN(ctx, "delete expired", "DELETE FROM "+table+" WHERE expires_at < ?", micros(t))
			if err != nil {
				return err
			}
			n += m
		}
		total = n
		return nil
	})
	return total, err
}
