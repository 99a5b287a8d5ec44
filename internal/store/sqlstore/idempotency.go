package sqlstore

import (
	"context"
	"database/sql"

	"github.com/watchword/watchword"
)

// idempotencyCols are the columns of idempotency_records, in the order
// scanIdempotencyRecord reads them.
const idempotencyCols = "actor_id, idempotency_key, method, path, fingerprint, fingerprint_key_id, resource, created_at, expires_at, completed_at, status, content_type, response"

func scanIdempotencyRecord(sc scanner) (watchword.IdempotencyRecord, error) {
	var r watchword.IdempotencyRecord
	var created, expires int64
	var completed sql.NullInt64
	err := sc.Scan(&r.ActorID, &r.Key, &r.Method, &r.Path, &r.Fingerprint, &r.FingerprintKeyID, &r.Resource,
		&created, &expires, &completed, &r.Status, &r.ContentType, &r.Response)
	if err != nil {
		return r, err
	}
	r.CreatedAt, r.ExpiresAt, r.CompletedAt = fromMicros(created), fromMicros(expires), fromNullMicros(completed)
	if len(r.Response) == 0 {
		r.Response = nil // drivers differ on an empty BLOB
	}
	return r, nil
}

// orEmptyBytes keeps a nil body from becoming NULL in a NOT NULL column.
func orEmptyBytes(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

func (r *reader) GetIdempotencyRecord(ctx context.Context, actorID, key string) (watchword.IdempotencyRecord, error) {
	rec, err := scanIdempotencyRecord(r.queryRow(ctx,
		"SELECT "+idempotencyCols+" FROM idempotency_records WHERE actor_id = ? AND idempotency_key = ?", actorID, key))
	if err != nil {
		return rec, r.fail("get idempotency record", err)
	}
	return rec, nil
}

// CreateIdempotencyRecord first deletes an expired record of the same key,
// so that a key may be used again after its lifetime whether or not
// DeleteExpired ran. The INSERT is what decides between concurrent requests
// with one key: on PostgreSQL the second waits on the first's uncommitted
// row and fails with a unique violation once it commits; SQLite writers are
// serial.
func (t *txn) CreateIdempotencyRecord(ctx context.Context, r watchword.IdempotencyRecord) error {
	const op = "create idempotency record"
	if _, err := t.execN(ctx, op,
		"DELETE FROM idempotency_records WHERE actor_id = ? AND idempotency_key = ? AND expires_at <= ?",
		r.ActorID, r.Key, micros(t.now)); err != nil {
		return err
	}
	return t.execOne(ctx, op, true,
		"INSERT INTO idempotency_records ("+idempotencyCols+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
		r.ActorID, r.Key, r.Method, r.Path, orEmptyBytes(r.Fingerprint), r.FingerprintKeyID, r.Resource,
		micros(r.CreatedAt), micros(r.ExpiresAt), nullMicros(r.CompletedAt), r.Status, r.ContentType, orEmptyBytes(r.Response))
}

func (t *txn) UpdateIdempotencyRecord(ctx context.Context, r watchword.IdempotencyRecord) error {
	return t.execOne(ctx, "update idempotency record", false,
		`UPDATE idempotency_records SET resource = ?, completed_at = ?, status = ?, content_type = ?, response = ?
		WHERE actor_id = ? AND idempotency_key = ?`,
		r.Resource, nullMicros(r.CompletedAt), r.Status, r.ContentType, orEmptyBytes(r.Response), r.ActorID, r.Key)
}
