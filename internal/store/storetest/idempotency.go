package storetest

import (
	"strconv"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// far is an expiry no test clock reaches.
var far = at(100 * 365 * 24 * time.Hour)

func newIdempotencyRecord(actorID, key string) watchword.IdempotencyRecord {
	return watchword.IdempotencyRecord{
		ActorID: actorID, Key: key, Method: "POST", Path: "/admin/v1/domains/one/clients/app%2F1/rotate",
		Fingerprint: []byte{0x00, 0xff, 0x80, 0x01}, FingerprintKeyID: "k1",
		CreatedAt: t0, ExpiresAt: far,
	}
}

func wantIdempotencyRecord(r watchword.IdempotencyRecord) watchword.IdempotencyRecord {
	r.CreatedAt, r.ExpiresAt, r.CompletedAt = store.Truncate(r.CreatedAt), store.Truncate(r.ExpiresAt), tr(r.CompletedAt)
	return r
}

func checkIdempotencyRecord(t *testing.T, s store.Store, what string, want watchword.IdempotencyRecord) {
	t.Helper()
	got, err := s.GetIdempotencyRecord(t.Context(), want.ActorID, want.Key)
	must(t, what, err)
	check(t, what, got, wantIdempotencyRecord(want))
}

// testIdempotencyRecords: a record round-trips pending and completed; a live
// key is taken per actor and exactly as written; an expired one is
// replaced; the record rolls back with its Tx; DeleteExpired removes
// expired records.
func testIdempotencyRecords(t *testing.T, s store.Store) {
	ctx := t.Context()
	_, err := s.GetIdempotencyRecord(ctx, "token:a", "k-1")
	checkErr(t, "GetIdempotencyRecord(no record)", err, store.ErrNotFound)

	rec := newIdempotencyRecord("token:a", "k-1")
	seed(t, s, func(tx store.Tx) error { return tx.CreateIdempotencyRecord(ctx, rec) })
	checkIdempotencyRecord(t, s, "pending record", rec)

	other := newIdempotencyRecord("token:b", "k-1") // same key, another actor
	upper := newIdempotencyRecord("token:a", "K-1") // keys compare exactly
	seed(t, s, func(tx store.Tx) error {
		again := rec
		again.Path = "/admin/v1/tokens"
		checkErr(t, "CreateIdempotencyRecord(live key)", tx.CreateIdempotencyRecord(ctx, again), store.ErrAlreadyExists)
		// The Tx is still usable after ErrAlreadyExists.
		if err := tx.CreateIdempotencyRecord(ctx, other); err != nil {
			return err
		}
		return tx.CreateIdempotencyRecord(ctx, upper)
	})
	checkIdempotencyRecord(t, s, "record of another actor", other)
	checkIdempotencyRecord(t, s, "record of a key differing in case", upper)
	checkIdempotencyRecord(t, s, "first record after a refused duplicate", rec)

	// Update writes the resource and the response, nothing else.
	done := rec
	done.Resource = "client.rotate client cli-1"
	done.CompletedAt = ptr(at(time.Second))
	done.Status, done.ContentType, done.Response = 201, "application/json", []byte("{\"secret_redacted\": true}\n\x00")
	update := done
	update.Path, update.Fingerprint, update.ExpiresAt = "/elsewhere", []byte{9}, at(time.Hour)
	seed(t, s, func(tx store.Tx) error { return tx.UpdateIdempotencyRecord(ctx, update) })
	checkIdempotencyRecord(t, s, "completed record", done)
	err = s.Tx(ctx, func(tx store.Tx) error {
		return tx.UpdateIdempotencyRecord(ctx, newIdempotencyRecord("token:a", "k-none"))
	})
	checkErr(t, "UpdateIdempotencyRecord(no record)", err, store.ErrNotFound)

	// A record that expired at or before Now is replaced by a new one.
	var renewed watchword.IdempotencyRecord
	seed(t, s, func(tx store.Tx) error {
		old := newIdempotencyRecord("token:a", "k-2")
		old.ExpiresAt = tx.Now()
		if err := tx.CreateIdempotencyRecord(ctx, old); err != nil {
			return err
		}
		renewed = newIdempotencyRecord("token:a", "k-2")
		renewed.Method, renewed.Path, renewed.CreatedAt, renewed.ExpiresAt = "DELETE", "/admin/v1/tokens/t1", tx.Now(), tx.Now().Add(time.Hour)
		return tx.CreateIdempotencyRecord(ctx, renewed)
	})
	checkIdempotencyRecord(t, s, "record replacing an expired one", renewed)

	// The record commits or rolls back with its Tx.
	err = s.Tx(ctx, func(tx store.Tx) error {
		must(t, "CreateIdempotencyRecord", tx.CreateIdempotencyRecord(ctx, newIdempotencyRecord("token:a", "k-3")))
		if _, err := tx.GetIdempotencyRecord(ctx, "token:a", "k-3"); err != nil {
			t.Errorf("GetIdempotencyRecord inside the Tx: %v", err)
		}
		return errBoom
	})
	checkErr(t, "Tx", err, errBoom)
	_, err = s.GetIdempotencyRecord(ctx, "token:a", "k-3")
	checkErr(t, "GetIdempotencyRecord(rolled back)", err, store.ErrNotFound)

	// DeleteExpired: strictly before the cut goes, at the cut stays.
	cut := at(time.Hour)
	seed(t, s, func(tx store.Tx) error {
		for key, exp := range map[string]time.Time{"k-gone": store.Truncate(cut).Add(-time.Microsecond), "k-edge": cut} {
			r := newIdempotencyRecord("token:c", key)
			r.ExpiresAt = exp
			if err := tx.CreateIdempotencyRecord(ctx, r); err != nil {
				return err
			}
		}
		return nil
	})
	n, err := s.DeleteExpired(ctx, cut)
	must(t, "DeleteExpired", err)
	check(t, "rows deleted", n, int64(1))
	_, err = s.GetIdempotencyRecord(ctx, "token:c", "k-gone")
	checkErr(t, "GetIdempotencyRecord(deleted)", err, store.ErrNotFound)
	_, err = s.GetIdempotencyRecord(ctx, "token:c", "k-edge")
	must(t, "GetIdempotencyRecord(expiring at the cut)", err)
	checkIdempotencyRecord(t, s, "live record after DeleteExpired", done)
}

// testConcurrentCreateIdempotencyRecord: Txs racing to record one key, each
// with a change beside it, leave exactly one record and one change.
func testConcurrentCreateIdempotencyRecord(t *testing.T, s store.Store) {
	ctx := t.Context()
	errs := race(t, s, func(i int, tx store.Tx) error {
		r := newIdempotencyRecord("token:a", "k-race")
		r.Resource = strconv.Itoa(i)
		if err := tx.CreateIdempotencyRecord(ctx, r); err != nil {
			return err
		}
		return tx.AppendAudit(ctx, watchword.AuditEvent{Time: t0, Actor: "token:a", Action: "x", Outcome: "success", TargetID: strconv.Itoa(i)})
	})
	winner := oneWinner(t, "CreateIdempotencyRecord", errs, store.ErrAlreadyExists)
	got, err := s.GetIdempotencyRecord(ctx, "token:a", "k-race")
	must(t, "GetIdempotencyRecord", err)
	check(t, "resource of the record", got.Resource, strconv.Itoa(winner))
	evs, total, err := s.ListAuditEvents(ctx, watchword.AuditFilter{})
	must(t, "ListAuditEvents", err)
	if total != 1 || len(evs) != 1 || evs[0].TargetID != strconv.Itoa(winner) {
		t.Errorf("audit events = %s, want only the winner's (%d)", dump(evs), winner)
	}
}
