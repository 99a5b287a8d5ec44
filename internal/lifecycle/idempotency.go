package lifecycle

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Idempotency keys (draft-ietf-httpapi-idempotency-key-header) make a
// retried request give the same outcome instead of a second change: never a
// second secret, rotation or audit record (promise 4).
//
// The design is two-phase, because the response a retry must get is only
// known after the change commits (the handler encodes it from what the
// service returns):
//
//  1. The first transaction the request runs through Service.storeTx writes
//     the key's record (actor, key, method, path, body fingerprint) before
//     anything else, and commits it together with the change and its audit
//     record. A crash can therefore leave neither a change without its
//     record nor a record without its change. Writing it first also makes
//     the key the first thing two concurrent requests contend for: the
//     loser fails at once with ErrIdempotencyKeyTaken and rolls back,
//     having changed nothing, instead of running into the winner's change
//     (a name already taken, a cap reached).
//  2. After the handler produced its response, RecordResponse stores it,
//     with every plaintext secret already removed by the caller, in a
//     second small transaction.
//
// Between the two phases the record is pending: a retry that finds it
// cannot replay anything and is told that the request was processed and
// what it changed. That window is the time it takes to encode a response,
// or, if the server stops in it, forever; the change itself is never run
// twice either way. Computing the response inside the transaction instead
// would close the window, but would mean running every handler inside the
// service's transaction.
//
// A request that changes nothing (it failed, or it had nothing to do)
// leaves no record, so a retry simply runs it again; that is safe for the
// same reason.

// ErrIdempotencyKeyTaken is returned by a service call whose transaction
// found the request's idempotency key recorded by another request that
// committed first, such as an identical request sent at the same moment.
// The call changed nothing; the caller answers with the other request's
// record.
var ErrIdempotencyKeyTaken = errors.New("idempotency key taken by a concurrent request")

// IdempotentRequest is a state-changing request sent with an idempotency
// key, as carried in the context of its service calls.
type IdempotentRequest struct {
	record watchword.IdempotencyRecord
	body   []byte
	// recorded is set when a transaction that wrote record committed.
	recorded bool
}

// Recorded reports whether the request's record was committed with a
// change, so that its response must be recorded too.
func (r *IdempotentRequest) Recorded() bool { return r.recorded }

type idempotencyContextKey struct{}

// BeginIdempotent returns a context that makes the service record key with
// the first change it makes for the request (method, path and body) of the
// acting principal, and the request to pass to the other Idempotent calls.
func (s *Service) BeginIdempotent(ctx context.Context, key, method, path string, body []byte) (context.Context, *IdempotentRequest) {
	fp, kid := s.Hasher.Hash(string(body))
	req := &IdempotentRequest{
		record: watchword.IdempotencyRecord{
			ActorID: watchword.ActorFromContext(ctx).ID, Key: key, Method: method, Path: path,
			Fingerprint: fp, FingerprintKeyID: kid,
		},
		body: body,
	}
	return context.WithValue(ctx, idempotencyContextKey{}, req), req
}

func idempotentRequestFrom(ctx context.Context) *IdempotentRequest {
	req, _ := ctx.Value(idempotencyContextKey{}).(*IdempotentRequest)
	return req
}

// FindIdempotent returns the live record of req's key, or nil if there is
// none (never used, expired, or used only by requests that changed
// nothing). same is false when the record is of a different request: another
// method, path or body.
func (s *Service) FindIdempotent(ctx context.Context, req *IdempotentRequest) (rec *watchword.IdempotencyRecord, same bool, err error) {
	r, err := s.Store.GetIdempotencyRecord(ctx, req.record.ActorID, req.record.Key)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, false, nil
	case err != nil:
		return nil, false, err
	case !s.now().Before(r.ExpiresAt):
		return nil, false, nil // replaced when the key is next recorded
	}
	same = r.Method == req.record.Method && r.Path == req.record.Path &&
		s.Hasher.Verify(string(req.body), r.Fingerprint, r.FingerprintKeyID)
	return &r, same, nil
}

// RecordResponse stores the response to req, if req's record was committed
// with a change. body must already be free of plaintext secrets. It runs
// even if ctx is cancelled (the caller went away after the change), since
// a retry depends on it.
func (s *Service) RecordResponse(ctx context.Context, req *IdempotentRequest, status int, contentType string, body []byte) error {
	if !req.recorded {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	rec := req.record
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		now := tx.Now()
		rec.CompletedAt, rec.Status, rec.ContentType, rec.Response = &now, status, contentType, body
		return tx.UpdateIdempotencyRecord(ctx, rec)
	})
	if err != nil {
		return fmt.Errorf("record idempotent response: %w", err)
	}
	req.record = rec
	return nil
}

// storeTx runs fn in a store transaction. If ctx carries an idempotent
// request whose record is not written yet, the transaction writes it first
// and, from the first audit record fn appends, notes what the request
// changed; fn may be re-run, and so is this.
func (s *Service) storeTx(ctx context.Context, fn func(tx store.Tx) error) error {
	req := idempotentRequestFrom(ctx)
	if req == nil || req.recorded {
		return s.Store.Tx(ctx, fn)
	}
	var rec watchword.IdempotencyRecord
	err := s.Store.Tx(ctx, func(tx store.Tx) error {
		rec = req.record
		rec.CreatedAt = tx.Now()
		rec.ExpiresAt = rec.CreatedAt.Add(watchword.IdempotencyLifetime)
		if err := tx.CreateIdempotencyRecord(ctx, rec); errors.Is(err, store.ErrAlreadyExists) {
			return ErrIdempotencyKeyTaken
		} else if err != nil {
			return err
		}
		atx := &auditedTx{Tx: tx}
		if err := fn(atx); err != nil {
			return err
		}
		if atx.first == nil {
			return nil
		}
		rec.Resource = resource(*atx.first)
		return tx.UpdateIdempotencyRecord(ctx, rec)
	})
	if err == nil {
		req.record, req.recorded = rec, true
	}
	return err
}

// auditedTx remembers the first audit record appended through it.
type auditedTx struct {
	store.Tx
	first *watchword.AuditEvent
}

func (t *auditedTx) AppendAudit(ctx context.Context, e watchword.AuditEvent) error {
	if err := t.Tx.AppendAudit(ctx, e); err != nil {
		return err
	}
	if t.first == nil {
		t.first = &e
	}
	return nil
}

// resource describes what an audited change touched, for a retry that
// cannot be given the response: "client.rotate client 3kd… (rotation …,
// new secret …)".
func resource(e watchword.AuditEvent) string {
	s := e.Action
	if e.TargetType != "" {
		s += " " + e.TargetType + " " + e.TargetID
	}
	if id := e.Details["rotation_id"]; id != "" {
		s += fmt.Sprintf(" (rotation %s, new secret %s)", id, e.Details["new_secret_id"])
	}
	return s
}
