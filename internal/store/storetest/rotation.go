package storetest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// ---- fixtures

// newRun is a bare running run of a client of dom-1, created at created
// and due then.
func newRun(id, clientID string, created time.Time) watchword.RotationRun {
	return watchword.RotationRun{
		ID: id, DomainID: "dom-1", ClientID: clientID, Trigger: watchword.TriggerSchedule, InitiatedBy: "system",
		Status: watchword.RunRunning, Step: watchword.StepCreate, NextAttemptAt: created,
		Schedule:  watchword.RotationSchedule{Every: watchword.Duration(24 * time.Hour)},
		CreatedAt: created, UpdatedAt: created,
	}
}

// fullRun is a run with every field set, times with nanoseconds and
// offsets.
func fullRun(id, clientID string) watchword.RotationRun {
	r := newRun(id, clientID, at(time.Second).In(ist))
	r.Trigger, r.InitiatedBy = watchword.TriggerManual, "token:t1 (ci)"
	r.Step, r.Attempts, r.NextAttemptAt = watchword.StepTest, 3, at(time.Hour)
	r.LastError, r.Reason = `check_url: HTTP 503 "unavailable"`, "ünïcode reason"
	r.CancelRequested = true
	r.Schedule = watchword.RotationSchedule{
		Cron: "0 3 * * 1", Transition: ptr(watchword.Duration(0)), // a set zero differs from nil
		StillInUseWindow: watchword.Duration(10 * time.Minute), FinishWhenUnusedFor: watchword.Duration(time.Hour),
		CheckURL: "https://app.example/health?x=1",
	}
	r.PendingSecretID, r.PreviousSecretIDs = "sec-new", []string{"sec-old-1", "sec-old-2"}
	r.DeliveredAt, r.PromotedAt = ptr(at(2*time.Second)), ptr(at(3*time.Second).In(time.FixedZone("", -7*3600)))
	r.TransitionEnd, r.InUseChecks = ptr(at(48*time.Hour)), 2
	r.Steps = []watchword.RunStepRecord{
		{Step: watchword.StepCreate, At: at(time.Second).In(ist), Outcome: watchword.StepOutcomeOK},
		{Step: watchword.StepDeliver, At: at(2 * time.Second), Outcome: watchword.StepOutcomeError, Detail: "target vault: timeout"},
		{Step: watchword.StepDeliver, At: at(3 * time.Second), Outcome: watchword.StepOutcomeOK},
	}
	r.Sealed, r.SealKeyID = []byte{0x00, 0xff, 0x10, 0x00}, "k2"
	r.UpdatedAt, r.FinishedAt = at(4*time.Second), ptr(at(5*time.Second))
	r.LockedBy, r.LockedUntil = "inst-1", ptr(at(time.Minute))
	return r
}

func newTarget(id, clientID, name string) watchword.DeliveryTarget {
	return watchword.DeliveryTarget{
		ID: id, ClientID: clientID, Name: name, Type: "webhook", Sealed: []byte{0x01, 0x00, 0xfe},
		KeyID: "k1", CreatedAt: t0, UpdatedAt: t0,
	}
}

// wantRun is what a store returns for r: times truncated, in UTC; nil
// PreviousSecretIDs and Steps as empty lists; an empty Sealed as nil.
func wantRun(r watchword.RotationRun) watchword.RotationRun {
	r.NextAttemptAt, r.CreatedAt, r.UpdatedAt = store.Truncate(r.NextAttemptAt), store.Truncate(r.CreatedAt), store.Truncate(r.UpdatedAt)
	r.DeliveredAt, r.PromotedAt, r.TransitionEnd = tr(r.DeliveredAt), tr(r.PromotedAt), tr(r.TransitionEnd)
	r.FinishedAt, r.LockedUntil = tr(r.FinishedAt), tr(r.LockedUntil)
	if r.PreviousSecretIDs == nil {
		r.PreviousSecretIDs = []string{}
	}
	steps := make([]watchword.RunStepRecord, len(r.Steps))
	for i, s := range r.Steps {
		s.At = store.Truncate(s.At)
		steps[i] = s
	}
	r.Steps = steps
	if len(r.Sealed) == 0 {
		r.Sealed = nil
	}
	return r
}

func wantRuns(rs ...watchword.RotationRun) []watchword.RotationRun {
	out := []watchword.RotationRun{}
	for _, r := range rs {
		out = append(out, wantRun(r))
	}
	return out
}

func wantTarget(d watchword.DeliveryTarget) watchword.DeliveryTarget {
	d.CreatedAt, d.UpdatedAt = store.Truncate(d.CreatedAt), store.Truncate(d.UpdatedAt)
	if len(d.Sealed) == 0 {
		d.Sealed = nil
	}
	return d
}

func createRuns(t *testing.T, s store.Store, rs ...watchword.RotationRun) {
	t.Helper()
	seed(t, s, func(tx store.Tx) error {
		return each(func(r watchword.RotationRun) error { return tx.CreateRotationRun(t.Context(), r) }, rs...)
	})
}

// seedClients creates dom-1 and the clients cli-<i> (named app-<i>) for
// the given i.
func seedClients(t *testing.T, s store.Store, n int) {
	t.Helper()
	var cs []watchword.Client
	for i := range n {
		cs = append(cs, newClient(fmt.Sprintf("cli-%d", i), "dom-1", fmt.Sprintf("app-%d", i)))
	}
	seedDomainClient(t, s, newDomain("dom-1", "one"), cs...)
}

func getRun(t *testing.T, s store.Reader, id string) watchword.RotationRun {
	t.Helper()
	r, err := s.GetRotationRun(t.Context(), id)
	must(t, "GetRotationRun("+id+")", err)
	return r
}

// ---- the rotation fields of domains, clients, secrets and rotations

func testRotationFields(t *testing.T, s store.Store) {
	ctx := t.Context()
	d := newDomain("dom-1", "one")
	d.Rotation = watchword.RotationSchedule{
		Every: watchword.Duration(30 * 24 * time.Hour), Transition: ptr(watchword.Duration(2 * time.Hour)),
		StillInUseWindow: watchword.Duration(5 * time.Minute), FinishWhenUnusedFor: watchword.Duration(time.Hour),
		CheckURL: "https://app.example/check",
	}
	inherit := newClient("cli-1", "dom-1", "inherit") // nil: inherits
	off := newClient("cli-2", "dom-1", "off")
	off.Rotation = &watchword.RotationSchedule{} // set, and empty: rotation off
	own := newClient("cli-3", "dom-1", "own")
	own.Rotation = &watchword.RotationSchedule{Cron: "@daily", Transition: ptr(watchword.Duration(0))}
	seedDomainClient(t, s, d, inherit, off, own)

	got, err := s.GetDomain(ctx, "dom-1")
	must(t, "GetDomain", err)
	check(t, "GetDomain (rotation schedule)", got, wantDomain(d))
	for _, c := range []watchword.Client{inherit, off, own} {
		gotC, err := s.GetClient(ctx, "dom-1", c.ID)
		must(t, "GetClient", err)
		check(t, "GetClient("+c.Name+")", gotC, wantClient(c))
	}
	list, _, err := s.ListClients(ctx, watchword.ClientFilter{DomainID: "dom-1"})
	must(t, "ListClients", err)
	check(t, "ListClients", list, []watchword.Client{wantClient(inherit), wantClient(off), wantClient(own)})

	// Updates change them both ways.
	d.Rotation, d.UpdatedAt = watchword.RotationSchedule{}, at(time.Hour)
	inherit.Rotation = &watchword.RotationSchedule{Every: watchword.Duration(time.Hour)}
	own.Rotation = nil
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateDomain(ctx, d); err != nil {
			return err
		}
		if err := tx.UpdateClient(ctx, inherit); err != nil {
			return err
		}
		return tx.UpdateClient(ctx, own)
	})
	got, err = s.GetDomain(ctx, "dom-1")
	must(t, "GetDomain after update", err)
	check(t, "GetDomain after update", got, wantDomain(d))
	for _, c := range []watchword.Client{inherit, own} {
		var gotC watchword.Client
		seed(t, s, func(tx store.Tx) error {
			var err error
			gotC, err = tx.LockClient(ctx, "dom-1", c.ID)
			return err
		})
		check(t, "LockClient("+c.Name+") after update", gotC, wantClient(c))
	}

	// Secret stages: written by CreateSecret and UpdateSecret, read by
	// every secret query.
	hand := newSecret("sec-1", "cli-1", t0)
	pending := newSecret("sec-2", "cli-1", at(time.Second))
	pending.Stage, pending.ExpiresAt = watchword.StagePending, ptr(at(time.Hour))
	seed(t, s, func(tx store.Tx) error {
		return each(func(sec watchword.Secret) error { return tx.CreateSecret(ctx, sec) }, hand, pending)
	})
	secs, err := s.ListSecrets(ctx, "cli-1")
	must(t, "ListSecrets", err)
	check(t, "ListSecrets (stages)", secs, []watchword.Secret{wantSecret(hand), wantSecret(pending)})
	exp, err := s.ListUnmarkedExpired(ctx, at(2*time.Hour), 10)
	must(t, "ListUnmarkedExpired", err)
	if len(exp) != 1 || exp[0].Secret.Stage != watchword.StagePending {
		t.Errorf("ListUnmarkedExpired = %s, want sec-2 with stage pending", dump(exp))
	}
	for _, stage := range []watchword.SecretStage{watchword.StageCurrent, watchword.StagePrevious, ""} {
		pending.Stage = stage
		hand.Stage = watchword.StagePrevious
		seed(t, s, func(tx store.Tx) error {
			if err := tx.UpdateSecret(ctx, pending); err != nil {
				return err
			}
			return tx.UpdateSecret(ctx, hand)
		})
		for _, sec := range []watchword.Secret{pending, hand} {
			got, err := s.GetSecret(ctx, sec.ID)
			must(t, "GetSecret", err)
			check(t, fmt.Sprintf("GetSecret(%s) after UpdateSecret(stage %q)", sec.ID, sec.Stage), got, wantSecret(sec))
		}
	}

	// The run a rotation came from.
	byRun := watchword.Rotation{ID: "rot-1", ClientID: "cli-1", At: at(time.Minute), InitiatedBy: "system", Kind: "run",
		RunID: "run-1", NewSecretID: "sec-2", NewSecretHint: "ab12", Old: []watchword.RotatedSecret{}}
	byHand := watchword.Rotation{ID: "rot-2", ClientID: "cli-1", At: at(2 * time.Minute), Kind: "rotate"}
	seed(t, s, func(tx store.Tx) error {
		return each(func(r watchword.Rotation) error { return tx.CreateRotation(ctx, r) }, byRun, byHand)
	})
	rots, _, err := s.ListRotations(ctx, "cli-1", 0, 10)
	must(t, "ListRotations", err)
	check(t, "ListRotations (run ids)", rots, []watchword.Rotation{wantRotation(byHand), wantRotation(byRun)})
}

// ---- runs

func testRotationRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 3)
	full := fullRun("run-full", "cli-0")
	bare := newRun("run-bare", "cli-1", t0) // nil lists and Sealed
	empty := newRun("run-empty", "cli-2", t0)
	empty.PreviousSecretIDs, empty.Steps, empty.Sealed = []string{}, []watchword.RunStepRecord{}, []byte{}
	empty.Status = watchword.RunCancelled
	createRuns(t, s, full, bare, empty)

	for _, r := range []watchword.RotationRun{full, bare, empty} {
		check(t, "GetRotationRun("+r.ID+")", getRun(t, s, r.ID), wantRun(r))
	}
	if got := getRun(t, s, "run-bare"); got.PreviousSecretIDs == nil || got.Steps == nil || got.Sealed != nil {
		t.Errorf("bare run: PreviousSecretIDs %s, Steps %s, Sealed %s; want [], [] and nil",
			dump(got.PreviousSecretIDs), dump(got.Steps), dump(got.Sealed))
	}
	_, err := s.GetRotationRun(ctx, "run-x")
	checkErr(t, "GetRotationRun(missing)", err, store.ErrNotFound)

	// A taken id, in a Tx that goes on after the error.
	seed(t, s, func(tx store.Tx) error {
		dup := newRun("run-bare", "cli-2", t0)
		dup.Status = watchword.RunCompleted
		checkErr(t, "CreateRotationRun(same id)", tx.CreateRotationRun(ctx, dup), store.ErrAlreadyExists)
		checkErr(t, "UpdateRotationRun(missing)", tx.UpdateRotationRun(ctx, newRun("run-x", "cli-2", t0)), store.ErrNotFound)
		_, err := tx.LockRotationRun(ctx, "run-x")
		checkErr(t, "LockRotationRun(missing)", err, store.ErrNotFound)
		return tx.CreateRotationRun(ctx, newRun("run-after", "cli-2", t0))
	})
	check(t, "run created after errors in the same Tx", getRun(t, s, "run-after"), wantRun(newRun("run-after", "cli-2", t0)))
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateRotationRun(ctx, newRun("run-y", "cli-x", t0)) })
	if err == nil {
		t.Errorf("CreateRotationRun(unknown client): got no error, want a foreign key violation")
	}

	// Lock, then update every field; the identity and creation stay.
	upd := bare
	upd.Trigger, upd.InitiatedBy = watchword.TriggerManual, "token:t2"
	upd.Status, upd.Step, upd.Attempts = watchword.RunFailed, watchword.StepPromote, 7
	upd.NextAttemptAt, upd.LastError, upd.Reason = at(time.Hour), "boom", "kept failing"
	upd.CancelRequested = true
	upd.Schedule = watchword.RotationSchedule{Every: watchword.Duration(2 * time.Hour), Transition: ptr(watchword.Duration(time.Minute))}
	upd.PendingSecretID, upd.PreviousSecretIDs = "sec-9", []string{"sec-8"}
	upd.DeliveredAt, upd.PromotedAt, upd.TransitionEnd = ptr(at(time.Minute)), ptr(at(2*time.Minute)), ptr(at(3*time.Minute))
	upd.InUseChecks = 1
	upd.Steps = []watchword.RunStepRecord{{Step: watchword.StepPromote, At: at(time.Minute).In(ist), Outcome: watchword.StepOutcomeRolledBack, Detail: "x"}}
	upd.Sealed, upd.SealKeyID = []byte{9, 8, 7}, "k3"
	upd.UpdatedAt, upd.FinishedAt = at(time.Hour), ptr(at(time.Hour))
	upd.LockedBy, upd.LockedUntil = "inst-2", ptr(at(2*time.Hour))
	moved := upd
	moved.DomainID, moved.ClientID, moved.CreatedAt = "dom-x", "cli-0", at(99*time.Hour)
	seed(t, s, func(tx store.Tx) error {
		got, err := tx.LockRotationRun(ctx, "run-bare")
		must(t, "LockRotationRun", err)
		check(t, "LockRotationRun", got, wantRun(bare))
		return tx.UpdateRotationRun(ctx, moved)
	})
	check(t, "GetRotationRun after update", getRun(t, s, "run-bare"), wantRun(upd))

	// And back: every optional field cleared, the sealed data erased.
	cleared := full
	cleared.LastError, cleared.Reason, cleared.PendingSecretID, cleared.CancelRequested = "", "", "", false
	cleared.PreviousSecretIDs, cleared.Steps, cleared.Sealed, cleared.SealKeyID = nil, nil, nil, ""
	cleared.DeliveredAt, cleared.PromotedAt, cleared.TransitionEnd, cleared.FinishedAt = nil, nil, nil, nil
	cleared.LockedBy, cleared.LockedUntil, cleared.Schedule, cleared.InUseChecks = "", nil, watchword.RotationSchedule{}, 0
	seed(t, s, func(tx store.Tx) error { return tx.UpdateRotationRun(ctx, cleared) })
	check(t, "GetRotationRun after clearing", getRun(t, s, "run-full"), wantRun(cleared))
}

// testOneRunningRun: at most one running run per client, enforced by
// CreateRotationRun and UpdateRotationRun alike.
func testOneRunningRun(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 2)
	first := newRun("run-1", "cli-0", t0)
	done := newRun("run-0", "cli-0", at(-time.Hour))
	done.Status = watchword.RunCompleted
	createRuns(t, s, done, first, newRun("run-other", "cli-1", t0))

	second := newRun("run-2", "cli-0", at(time.Minute))
	err := s.Tx(ctx, func(tx store.Tx) error { return tx.CreateRotationRun(ctx, second) })
	checkErr(t, "CreateRotationRun(second running run)", err, store.ErrAlreadyExists)
	_, err = s.GetRotationRun(ctx, "run-2")
	checkErr(t, "GetRotationRun(refused run)", err, store.ErrNotFound)
	// Finished runs do not count.
	for _, status := range []watchword.RunStatus{watchword.RunFailed, watchword.RunCancelled, watchword.RunCompleted} {
		r := newRun("run-"+string(status), "cli-0", at(time.Second))
		r.Status = status
		createRuns(t, s, r)
	}

	// Once the first is finished, a new one may run.
	first.Status, first.FinishedAt = watchword.RunCompleted, ptr(at(time.Minute))
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateRotationRun(ctx, first); err != nil {
			return err
		}
		return tx.CreateRotationRun(ctx, second)
	})
	check(t, "second run", getRun(t, s, "run-2"), wantRun(second))

	// Running a finished run again would make two.
	seed(t, s, func(tx store.Tx) error {
		again := first
		again.Status = watchword.RunRunning
		checkErr(t, "UpdateRotationRun(second running run)", tx.UpdateRotationRun(ctx, again), store.ErrAlreadyExists)
		// The Tx is still usable, and the refused update changed nothing.
		check(t, "run-1 after the refused update", getRun(t, tx, "run-1"), wantRun(first))
		first.Reason = "noted"
		return tx.UpdateRotationRun(ctx, first)
	})
	check(t, "run-1", getRun(t, s, "run-1"), wantRun(first))
	// Updating the running run itself is no second run.
	second.Step, second.Attempts = watchword.StepDeliver, 1
	seed(t, s, func(tx store.Tx) error { return tx.UpdateRotationRun(ctx, second) })
	check(t, "run-2 after update", getRun(t, s, "run-2"), wantRun(second))

	// Racing instances: exactly one starts a run for cli-1 once run-other ends.
	other := newRun("run-other", "cli-1", t0)
	other.Status = watchword.RunCancelled
	seed(t, s, func(tx store.Tx) error { return tx.UpdateRotationRun(ctx, other) })
	errs := race(t, s, func(i int, tx store.Tx) error {
		return tx.CreateRotationRun(ctx, newRun(fmt.Sprintf("run-race-%d", i), "cli-1", at(time.Duration(i)*time.Second)))
	})
	winner := oneWinner(t, "CreateRotationRun(racing)", errs, store.ErrAlreadyExists)
	latest, err := s.LatestRotationRun(ctx, "cli-1")
	must(t, "LatestRotationRun", err)
	check(t, "latest run of cli-1", latest.ID, fmt.Sprintf("run-race-%d", winner))
}

func testListRotationRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 3)
	finished := func(id string, created time.Time) watchword.RotationRun {
		r := newRun(id, "cli-0", created)
		r.Status = watchword.RunCompleted
		return r
	}
	// Written out of order; run-c and run-b share their creation time, so
	// the order of creation decides (not the id).
	runs := []watchword.RotationRun{
		finished("run-c", at(time.Hour)),
		finished("run-a", t0),
		newRun("run-d", "cli-0", at(2*time.Hour)),
		finished("run-b", at(time.Hour).In(time.FixedZone("", 3600))),
		finished("run-e", at(-time.Hour)),
	}
	other := newRun("run-z", "cli-1", at(5*time.Hour))
	createRuns(t, s, append(runs, other)...)
	byID := map[string]watchword.RotationRun{}
	for _, r := range runs {
		byID[r.ID] = r
	}
	want := func(ids ...string) []watchword.RotationRun {
		out := []watchword.RotationRun{}
		for _, id := range ids {
			out = append(out, wantRun(byID[id]))
		}
		return out
	}
	for _, tc := range []struct {
		name          string
		client        string
		offset, limit int
		want          []watchword.RotationRun
		total         int
	}{
		{"newest first", "cli-0", 0, 0, want("run-d", "run-b", "run-c", "run-a", "run-e"), 5},
		{"page", "cli-0", 1, 2, want("run-b", "run-c"), 5},
		{"last page", "cli-0", 4, 2, want("run-e"), 5},
		{"negative offset", "cli-0", -1, 1, want("run-d"), 5},
		{"past the end", "cli-0", 5, 10, want(), 5},
		{"other client", "cli-1", 0, 10, wantRuns(other), 1},
		{"no runs", "cli-2", 0, 10, want(), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := s.ListRotationRuns(ctx, tc.client, tc.offset, tc.limit)
			must(t, "ListRotationRuns", err)
			check(t, "runs", got, tc.want)
			check(t, "total", total, tc.total)
		})
	}

	latest, err := s.LatestRotationRun(ctx, "cli-0")
	must(t, "LatestRotationRun", err)
	check(t, "LatestRotationRun", latest, wantRun(byID["run-d"]))
	_, err = s.LatestRotationRun(ctx, "cli-2")
	checkErr(t, "LatestRotationRun(no runs)", err, store.ErrNotFound)
	// A newer finished run is the latest, running or not; a tie goes to the
	// greater id.
	tie := finished("run-f", at(2*time.Hour))
	createRuns(t, s, tie)
	latest, err = s.LatestRotationRun(ctx, "cli-0")
	must(t, "LatestRotationRun", err)
	check(t, "LatestRotationRun (tie on creation)", latest, wantRun(tie))
}

// testClaimRotationRuns uses times around the real clock: the store's
// Tx.Now is time.Now in the conformance suite.
func testClaimRotationRuns(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 9)
	now := time.Now()
	mk := func(id string, client int, due time.Duration, change func(*watchword.RotationRun)) watchword.RotationRun {
		r := newRun(id, fmt.Sprintf("cli-%d", client), now.Add(-3*time.Hour))
		r.NextAttemptAt, r.Attempts, r.Step = now.Add(due), 2, watchword.StepDeliver
		r.Sealed, r.Steps = []byte{1, 2, 3}, []watchword.RunStepRecord{{Step: watchword.StepCreate, At: r.CreatedAt, Outcome: "ok"}}
		if change != nil {
			change(&r)
		}
		return r
	}
	due := mk("run-due", 0, -time.Minute, nil)
	later := mk("run-later", 1, time.Hour, nil)
	leased := mk("run-leased", 2, -time.Minute, func(r *watchword.RotationRun) {
		r.LockedBy, r.LockedUntil = "other", ptr(now.Add(time.Hour))
	})
	crashed := mk("run-crashed", 3, -2*time.Minute, func(r *watchword.RotationRun) {
		r.LockedBy, r.LockedUntil = "dead", ptr(now.Add(-time.Second))
	})
	oldest := mk("run-oldest", 4, -time.Hour, nil)
	var finished []watchword.RotationRun
	for i, st := range []watchword.RunStatus{watchword.RunCompleted, watchword.RunFailed, watchword.RunCancelled} {
		finished = append(finished, mk("run-"+string(st), 5+i, -2*time.Hour, func(r *watchword.RotationRun) { r.Status = st }))
	}
	createRuns(t, s, append([]watchword.RotationRun{due, later, leased, crashed, oldest}, finished...)...)

	until := now.Add(2 * time.Minute)
	claim := func(owner string, limit int) []watchword.RotationRun {
		t.Helper()
		var got []watchword.RotationRun
		seed(t, s, func(tx store.Tx) error {
			var err error
			got, err = tx.ClaimRotationRuns(ctx, owner, until, limit)
			return err
		})
		return got
	}
	leasedTo := func(owner string, rs ...watchword.RotationRun) []watchword.RotationRun {
		out := []watchword.RotationRun{}
		for _, r := range rs {
			r.LockedBy, r.LockedUntil = owner, &until
			out = append(out, wantRun(r))
		}
		return out
	}

	// Earliest due first, limited; then the rest.
	got := claim("me", 2)
	check(t, "ClaimRotationRuns(limit 2)", got, leasedTo("me", oldest, crashed))
	got = claim("me", 10)
	check(t, "ClaimRotationRuns(rest)", got, leasedTo("me", due))
	for _, r := range leasedTo("me", oldest, crashed, due) {
		check(t, "GetRotationRun("+r.ID+") after claim", getRun(t, s, r.ID), r)
	}
	for _, r := range append([]watchword.RotationRun{later, leased}, finished...) {
		check(t, "GetRotationRun("+r.ID+") (not claimed)", getRun(t, s, r.ID), wantRun(r))
	}
	check(t, "ClaimRotationRuns while leased", claim("you", 10), wantRuns())
	check(t, "ClaimRotationRuns by the holder while leased", claim("me", 10), wantRuns())

	// Released and due again, or moved into the future.
	retry := leasedTo("me", due)[0]
	retry.Attempts, retry.LastError, retry.LockedBy, retry.LockedUntil = 3, "timeout", "", nil
	retry.NextAttemptAt = store.Truncate(now.Add(-time.Second))
	wait := leasedTo("me", oldest)[0]
	wait.NextAttemptAt, wait.LockedBy, wait.LockedUntil = now.Add(time.Hour), "", nil
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateRotationRun(ctx, retry); err != nil {
			return err
		}
		return tx.UpdateRotationRun(ctx, wait)
	})
	check(t, "ClaimRotationRuns after release", claim("you", 10), leasedTo("you", retry))

	for _, tc := range []struct {
		owner string
		limit int
	}{{"", 1}, {"me", 0}} {
		err := s.Tx(ctx, func(tx store.Tx) error {
			_, err := tx.ClaimRotationRuns(ctx, tc.owner, until, tc.limit)
			return err
		})
		if err == nil {
			t.Errorf("ClaimRotationRuns(owner %q, limit %d): got no error", tc.owner, tc.limit)
		}
	}
}

// RunRotationConcurrencyTest has several handles on one database (as
// several instances would be) start runs for one client at once, where
// exactly one may succeed, and claim a batch of due runs at once, where
// each must be claimed exactly once.
func RunRotationConcurrencyTest(t *testing.T, stores ...store.Store) {
	const n, workers = 40, 8
	ctx := t.Context()
	seedClients(t, stores[0], n)

	t.Run("CreateRunning", func(t *testing.T) {
		errs := make([]error, workers)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for w := range workers {
			s := stores[w%len(stores)]
			wg.Go(func() {
				<-start
				errs[w] = s.Tx(ctx, func(tx store.Tx) error {
					return tx.CreateRotationRun(ctx, newRun(fmt.Sprintf("run-start-%d", w), "cli-0", time.Now().Add(time.Hour)))
				})
			})
		}
		close(start)
		wg.Wait()
		winner := oneWinner(t, "CreateRotationRun", errs, store.ErrAlreadyExists)
		got, total, err := stores[len(stores)-1].ListRotationRuns(ctx, "cli-0", 0, 0)
		must(t, "ListRotationRuns", err)
		if total != 1 || len(got) != 1 || got[0].ID != fmt.Sprintf("run-start-%d", winner) {
			t.Errorf("runs of cli-0 = %s (total %d), want only run-start-%d", dump(got), total, winner)
		}
	})

	t.Run("Claim", func(t *testing.T) {
		var runs []watchword.RotationRun
		for i := 1; i < n; i++ {
			runs = append(runs, newRun(fmt.Sprintf("run-%03d", i), fmt.Sprintf("cli-%d", i), time.Now().Add(-time.Hour)))
		}
		createRuns(t, stores[0], runs...)
		var mu sync.Mutex
		claims := map[string][]string{}
		var wg sync.WaitGroup
		for w := range workers {
			s, owner := stores[w%len(stores)], fmt.Sprintf("worker-%d", w)
			wg.Go(func() {
				for {
					var got []watchword.RotationRun
					err := s.Tx(ctx, func(tx store.Tx) error {
						var err error
						got, err = tx.ClaimRotationRuns(ctx, owner, time.Now().Add(time.Hour), 3)
						return err
					})
					if err != nil {
						t.Errorf("%s: ClaimRotationRuns: %v", owner, err)
						return
					}
					if len(got) == 0 {
						return
					}
					for _, r := range got {
						mu.Lock()
						claims[r.ID] = append(claims[r.ID], owner)
						again := len(claims[r.ID]) > 1
						mu.Unlock()
						if again { // a broken claim would loop forever
							t.Errorf("%s: claimed %s, already claimed", owner, r.ID)
							return
						}
						if r.LockedBy != owner {
							t.Errorf("%s: claimed %s leased to %q", owner, r.ID, r.LockedBy)
						}
						err := s.Tx(ctx, func(tx store.Tx) error {
							cur, err := tx.LockRotationRun(ctx, r.ID)
							if err != nil {
								return err
							}
							if cur.LockedBy != owner {
								return fmt.Errorf("%s is leased to %q", r.ID, cur.LockedBy)
							}
							cur.Status, cur.LockedBy, cur.LockedUntil = watchword.RunCompleted, "", nil
							return tx.UpdateRotationRun(ctx, cur)
						})
						if err != nil {
							t.Errorf("%s: finishing %s: %v", owner, r.ID, err)
						}
					}
				}
			})
		}
		wg.Wait()
		for _, r := range runs {
			if got := claims[r.ID]; len(got) != 1 {
				t.Errorf("run %s claimed by %q, want exactly one claim", r.ID, got)
			}
		}
	})
}

// ---- delivery targets

func testDeliveryTargets(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 2)
	vault := newTarget("tgt-b", "cli-0", "vault")
	file := newTarget("tgt-a", "cli-0", "file")
	file.Type, file.Sealed, file.KeyID, file.Disabled = "file", nil, "k2", true // nil Sealed reads back nil
	file.CreatedAt, file.UpdatedAt = at(time.Hour).In(ist), at(2*time.Hour)
	elsewhere := newTarget("tgt-c", "cli-1", "vault") // same name, other client
	seed(t, s, func(tx store.Tx) error {
		return each(func(d watchword.DeliveryTarget) error { return tx.CreateDeliveryTarget(ctx, d) }, vault, file, elsewhere)
	})

	got, err := s.GetDeliveryTarget(ctx, "cli-0", "tgt-b")
	must(t, "GetDeliveryTarget", err)
	check(t, "GetDeliveryTarget", got, wantTarget(vault))
	got, err = s.GetDeliveryTarget(ctx, "cli-0", "tgt-a")
	must(t, "GetDeliveryTarget", err)
	check(t, "GetDeliveryTarget(no sealed data)", got, wantTarget(file))
	_, err = s.GetDeliveryTarget(ctx, "cli-1", "tgt-b")
	checkErr(t, "GetDeliveryTarget(other client)", err, store.ErrNotFound)
	_, err = s.GetDeliveryTarget(ctx, "cli-0", "tgt-x")
	checkErr(t, "GetDeliveryTarget(missing)", err, store.ErrNotFound)
	list, err := s.ListDeliveryTargets(ctx, "cli-0")
	must(t, "ListDeliveryTargets", err)
	check(t, "ListDeliveryTargets (by name)", list, []watchword.DeliveryTarget{wantTarget(file), wantTarget(vault)})
	list, err = s.ListDeliveryTargets(ctx, "cli-x")
	must(t, "ListDeliveryTargets(unknown client)", err)
	check(t, "ListDeliveryTargets(unknown client)", list, []watchword.DeliveryTarget{})

	// Each failure leaves the Tx usable.
	seed(t, s, func(tx store.Tx) error {
		checkErr(t, "CreateDeliveryTarget(same name)", tx.CreateDeliveryTarget(ctx, newTarget("tgt-d", "cli-0", "vault")), store.ErrAlreadyExists)
		checkErr(t, "CreateDeliveryTarget(same id)", tx.CreateDeliveryTarget(ctx, newTarget("tgt-b", "cli-1", "other")), store.ErrAlreadyExists)
		clash := vault
		clash.Name = "file"
		checkErr(t, "UpdateDeliveryTarget(taken name)", tx.UpdateDeliveryTarget(ctx, clash), store.ErrAlreadyExists)
		checkErr(t, "UpdateDeliveryTarget(missing)", tx.UpdateDeliveryTarget(ctx, newTarget("tgt-x", "cli-0", "x")), store.ErrNotFound)
		wrong := vault
		wrong.ClientID = "cli-1"
		checkErr(t, "UpdateDeliveryTarget(other client)", tx.UpdateDeliveryTarget(ctx, wrong), store.ErrNotFound)
		checkErr(t, "DeleteDeliveryTarget(other client)", tx.DeleteDeliveryTarget(ctx, "cli-1", "tgt-b"), store.ErrNotFound)
		return tx.CreateDeliveryTarget(ctx, newTarget("tgt-d", "cli-0", "zeta"))
	})
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.CreateDeliveryTarget(ctx, newTarget("tgt-y", "cli-x", "y")) })
	if err == nil {
		t.Errorf("CreateDeliveryTarget(unknown client): got no error, want a foreign key violation")
	}

	// Update writes every field but the client and creation; a rename
	// reorders the list.
	upd := vault
	upd.Name, upd.Type, upd.Sealed, upd.KeyID, upd.Disabled, upd.UpdatedAt = "aws", "command", []byte{7, 0}, "k9", true, at(3*time.Hour)
	moved := upd
	moved.CreatedAt = at(99 * time.Hour)
	seed(t, s, func(tx store.Tx) error { return tx.UpdateDeliveryTarget(ctx, moved) })
	got, err = s.GetDeliveryTarget(ctx, "cli-0", "tgt-b")
	must(t, "GetDeliveryTarget after update", err)
	check(t, "GetDeliveryTarget after update", got, wantTarget(upd))
	// The name it left is free again.
	seed(t, s, func(tx store.Tx) error { return tx.CreateDeliveryTarget(ctx, newTarget("tgt-e", "cli-0", "vault")) })
	names := func(client string) []string {
		t.Helper()
		list, err := s.ListDeliveryTargets(ctx, client)
		must(t, "ListDeliveryTargets", err)
		out := []string{}
		for _, d := range list {
			out = append(out, d.Name)
		}
		return out
	}
	check(t, "target names after rename", names("cli-0"), []string{"aws", "file", "vault", "zeta"})

	seed(t, s, func(tx store.Tx) error { return tx.DeleteDeliveryTarget(ctx, "cli-0", "tgt-a") })
	_, err = s.GetDeliveryTarget(ctx, "cli-0", "tgt-a")
	checkErr(t, "GetDeliveryTarget(deleted)", err, store.ErrNotFound)
	err = s.Tx(ctx, func(tx store.Tx) error { return tx.DeleteDeliveryTarget(ctx, "cli-0", "tgt-a") })
	checkErr(t, "DeleteDeliveryTarget(again)", err, store.ErrNotFound)
	check(t, "target names after delete", names("cli-0"), []string{"aws", "vault", "zeta"})
	check(t, "targets of cli-1", names("cli-1"), []string{"vault"})
	// A deleted name may be used again.
	seed(t, s, func(tx store.Tx) error { return tx.CreateDeliveryTarget(ctx, newTarget("tgt-f", "cli-0", "file")) })
	check(t, "target names after reuse", names("cli-0"), []string{"aws", "file", "vault", "zeta"})
}

// testRotationRollback: runs and targets written in a failed Tx are gone.
func testRotationRollback(t *testing.T, s store.Store) {
	ctx := t.Context()
	seedClients(t, s, 1)
	err := s.Tx(ctx, func(tx store.Tx) error {
		must(t, "CreateRotationRun", tx.CreateRotationRun(ctx, newRun("run-1", "cli-0", t0)))
		must(t, "CreateDeliveryTarget", tx.CreateDeliveryTarget(ctx, newTarget("tgt-1", "cli-0", "vault")))
		if _, err := tx.GetRotationRun(ctx, "run-1"); err != nil {
			t.Errorf("GetRotationRun inside the Tx: %v", err)
		}
		return errBoom
	})
	checkErr(t, "Tx", err, errBoom)
	_, err = s.GetRotationRun(ctx, "run-1")
	checkErr(t, "GetRotationRun after rollback", err, store.ErrNotFound)
	targets, err := s.ListDeliveryTargets(ctx, "cli-0")
	must(t, "ListDeliveryTargets", err)
	check(t, "targets after rollback", len(targets), 0)
	// The running run rolled back too: a new one may start.
	createRuns(t, s, newRun("run-2", "cli-0", t0))
}

// ---- migration 5

// V4Rows fill a schema at migration 4 with a domain, a client, a secret and
// a rotation, none of which knows of automated rotation. A backend test
// runs them, migrates to the latest version and calls CheckV4Backfill.
var V4Rows = []V2Row{
	{`INSERT INTO domains (id, name, description, policy, oauth, notification_settings, created_at, updated_at)
	VALUES ('dom-v4', 'v4', '', '{"expiry":{"unit":"none"},"max_secrets":10,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":32}',
	'{"access_token_lifetime":"10m","id_token_lifetime":"1h","refresh_token_lifetime":"720h","code_lifetime":"1m","require_pkce":true,"require_state":true,"access_token_alg":"EdDSA"}',
	'{"owners":[],"expiry_schedule":"0 5 * * *","expiry_thresholds":[20,15,10,5,1]}', 1, 2)`, nil},
	{`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, oauth, contacts, created_at, updated_at)
	VALUES ('cli-v4', 'dom-v4', 'app', 'confidential', '["client_credentials"]', '[]', '[]', '{"token_endpoint_auth_method":"client_secret_basic"}', '[]', 3, 4)`, nil},
	{`INSERT INTO secrets (id, client_id, hash, key_id, source, created_at) VALUES ('sec-v4', 'cli-v4', ?, 'k1', 'generated', 5)`,
		[]any{[]byte{1}}},
	{`INSERT INTO rotations (id, client_id, at, kind, new_secret_id, old_secrets, transition)
	VALUES ('rot-v4', 'cli-v4', 6, 'rotate', 'sec-v4', '[]', 0)`, nil},
}

// CheckV4Backfill checks what migration 5 made of V4Rows: the domain has
// the empty schedule, the client inherits it, the secret has no stage and
// the rotation no run; there are no runs nor targets.
func CheckV4Backfill(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	d, err := s.GetDomain(ctx, "dom-v4")
	must(t, "GetDomain", err)
	check(t, "rotation schedule of migrated domain", d.Rotation, watchword.RotationSchedule{})
	c, err := s.GetClient(ctx, "dom-v4", "cli-v4")
	must(t, "GetClient", err)
	check(t, "rotation schedule of migrated client", c.Rotation, (*watchword.RotationSchedule)(nil))
	sec, err := s.GetSecret(ctx, "sec-v4")
	must(t, "GetSecret", err)
	check(t, "stage of migrated secret", sec.Stage, watchword.SecretStage(""))
	rots, _, err := s.ListRotations(ctx, "cli-v4", 0, 10)
	must(t, "ListRotations", err)
	if len(rots) != 1 || rots[0].ID != "rot-v4" || rots[0].RunID != "" {
		t.Errorf("rotations of migrated client = %s, want rot-v4 without run", dump(rots))
	}
	runs, total, err := s.ListRotationRuns(ctx, "cli-v4", 0, 10)
	must(t, "ListRotationRuns", err)
	check(t, "runs of migrated client", [2]int{len(runs), total}, [2]int{0, 0})
	targets, err := s.ListDeliveryTargets(ctx, "cli-v4")
	must(t, "ListDeliveryTargets", err)
	check(t, "targets of migrated client", targets, []watchword.DeliveryTarget{})
	// The store writes the new columns of the migrated rows.
	sec.Stage = watchword.StageCurrent
	d.Rotation = watchword.RotationSchedule{Every: watchword.Duration(24 * time.Hour)}
	c.Rotation = &watchword.RotationSchedule{}
	run := newRun("run-v4", "cli-v4", t0)
	run.DomainID = "dom-v4"
	seed(t, s, func(tx store.Tx) error {
		if err := tx.UpdateSecret(ctx, sec); err != nil {
			return err
		}
		if err := tx.UpdateDomain(ctx, d); err != nil {
			return err
		}
		if err := tx.UpdateClient(ctx, c); err != nil {
			return err
		}
		if err := tx.CreateDeliveryTarget(ctx, newTarget("tgt-v4", "cli-v4", "vault")); err != nil {
			return err
		}
		return tx.CreateRotationRun(ctx, run)
	})
	got, err := s.GetSecret(ctx, "sec-v4")
	must(t, "GetSecret after update", err)
	check(t, "stage after update", got.Stage, watchword.StageCurrent)
	gotD, err := s.GetDomain(ctx, "dom-v4")
	must(t, "GetDomain after update", err)
	check(t, "domain after update", gotD, d)
	gotC, err := s.GetClient(ctx, "dom-v4", "cli-v4")
	must(t, "GetClient after update", err)
	check(t, "client after update", gotC, c)
	check(t, "run of migrated client", getRun(t, s, "run-v4"), wantRun(run))
}

// V5Rows fill a schema at migration 5 with rows in every table and column
// it added, which its Down must drop.
var V5Rows = []V2Row{
	{`INSERT INTO domains (id, name, description, policy, oauth, notification_settings, rotation, created_at, updated_at)
	VALUES ('dom-v5', 'v5', '', '{}', '{}', '{}', '{"every":"1h"}', 1, 2)`, nil},
	{`INSERT INTO clients (id, domain_id, name, type, grant_types, redirect_uris, scopes, oauth, contacts, rotation, created_at, updated_at)
	VALUES ('cli-v5', 'dom-v5', 'app', 'confidential', '[]', '[]', '[]', '{}', '[]', '{}', 3, 4)`, nil},
	{`INSERT INTO secrets (id, client_id, hash, key_id, source, created_at, stage) VALUES ('sec-v5', 'cli-v5', ?, 'k1', 'generated', 5, 'pending')`,
		[]any{[]byte{1}}},
	{`INSERT INTO rotations (id, client_id, at, kind, old_secrets, transition, run_id) VALUES ('rot-v5', 'cli-v5', 6, 'run', '[]', 0, 'run-v5')`, nil},
	{`INSERT INTO rotation_runs (id, domain_id, client_id, trigger, status, step, next_attempt_at, schedule, previous_secret_ids, steps, sealed, created_at, updated_at)
	VALUES ('run-v5', 'dom-v5', 'cli-v5', 'manual', 'running', 'create', 1, '{}', '[]', '[]', ?, 1, 1)`, []any{[]byte{2}}},
	{`INSERT INTO delivery_targets (id, client_id, name, type, sealed, key_id, created_at, updated_at)
	VALUES ('tgt-v5', 'cli-v5', 'vault', 'webhook', ?, 'k1', 1, 1)`, []any{[]byte{3}}},
}

// CheckV5DownUp checks a store whose migration 5 was rolled back with
// V5Rows in it and applied again: the rows of older tables stayed, with
// the defaults of the new columns; the runs and targets went.
func CheckV5DownUp(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	d, err := s.GetDomain(ctx, "dom-v5")
	must(t, "GetDomain", err)
	check(t, "rotation schedule of the domain", d.Rotation, watchword.RotationSchedule{})
	c, err := s.GetClient(ctx, "dom-v5", "cli-v5")
	must(t, "GetClient", err)
	check(t, "rotation schedule of the client", c.Rotation, (*watchword.RotationSchedule)(nil))
	sec, err := s.GetSecret(ctx, "sec-v5")
	must(t, "GetSecret", err)
	check(t, "stage of the secret", sec.Stage, watchword.SecretStage(""))
	rots, _, err := s.ListRotations(ctx, "cli-v5", 0, 10)
	must(t, "ListRotations", err)
	if len(rots) != 1 || rots[0].RunID != "" {
		t.Errorf("rotations = %s, want rot-v5 without run", dump(rots))
	}
	_, err = s.GetRotationRun(ctx, "run-v5")
	checkErr(t, "GetRotationRun(dropped)", err, store.ErrNotFound)
	targets, err := s.ListDeliveryTargets(ctx, "cli-v5")
	must(t, "ListDeliveryTargets", err)
	check(t, "targets", targets, []watchword.DeliveryTarget{})
}

// rotationSchemaProbes are statements that succeed only on a schema with
// migration 5.
var rotationSchemaProbes = []string{
	"SELECT stage FROM secrets",
	"SELECT rotation FROM domains",
	"SELECT rotation FROM clients",
	"SELECT run_id FROM rotations",
	"SELECT id FROM rotation_runs",
	"SELECT id FROM delivery_targets",
}

// checkRotationSchema checks that every probe succeeds (present) or that
// every probe fails (absent).
func checkRotationSchema(t *testing.T, ctx context.Context, db *sql.DB, present bool) {
	t.Helper()
	for _, q := range rotationSchemaProbes {
		rows, err := db.QueryContext(ctx, q)
		if err == nil {
			err = errors.Join(rows.Err(), rows.Close())
		}
		if got := err == nil; got != present {
			t.Errorf("%s: error %v, want the schema of migration 5 present = %v", q, err, present)
		}
	}
}
