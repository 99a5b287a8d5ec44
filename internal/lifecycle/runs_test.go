package lifecycle_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clientauth"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/lifecycle"
)

const lease = time.Minute

// rotating prepares e for rotation runs: every token check is a real
// verification of the secret against the store, and webhook targets may
// use the loopback test servers.
func (e *env) rotating(t *testing.T, svc *lifecycle.Service) {
	t.Helper()
	v := &clientauth.Verifier{Store: svc.Store, Hasher: e.hasher, Now: e.clock.Now}
	svc.Runs = lifecycle.RunSettings{
		TokenCheck: func(ctx context.Context, d watchword.Domain, c watchword.Client, secret string) error {
			_, _, err := v.Verify(ctx, d.ID, c.ID, secret)
			return err
		},
		DeliveryOptions: []delivery.Option{delivery.AllowLoopback(), delivery.WithNow(e.clock.Now)},
		RetryDelay:      30 * time.Second,
	}
}

func (e *env) mustTarget(t *testing.T, client, name string, cfg delivery.Config) {
	t.Helper()
	if _, err := e.svc.AddDeliveryTarget(e.ctx, "default", client, lifecycle.TargetCreate{Name: name, Config: cfg}); err != nil {
		t.Fatalf("AddDeliveryTarget(%s): %v", name, err)
	}
}

func fileTarget(path string) delivery.Config {
	return delivery.Config{Type: delivery.TypeFile, File: &delivery.FileConfig{Path: path}}
}

// advance runs the due steps as instance owner and returns the client's
// latest run.
func (e *env) advance(t *testing.T, svc *lifecycle.Service, owner, client string) watchword.RotationRun {
	t.Helper()
	if _, err := svc.AdvanceRuns(e.ctx, owner, lease); err != nil {
		t.Logf("AdvanceRuns: %v", err)
	}
	return e.latestRun(t, client)
}

func (e *env) latestRun(t *testing.T, client string) watchword.RotationRun {
	t.Helper()
	runs, _, err := e.svc.ListRotationRuns(e.ctx, "default", client, 0, 1)
	if err != nil || len(runs) == 0 {
		t.Fatalf("ListRotationRuns: %v (%d runs)", err, len(runs))
	}
	return runs[0]
}

func (e *env) secrets(t *testing.T, client string) map[string]watchword.Secret {
	t.Helper()
	ss, err := e.svc.ListSecrets(e.ctx, "default", client)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]watchword.Secret{}
	for _, s := range ss {
		m[s.ID] = s
	}
	return m
}

func (e *env) events(t *testing.T, typ string) int {
	t.Helper()
	n := 0
	for _, x := range e.outbox(t) {
		if x.EventType == typ {
			n++
		}
	}
	return n
}

func readSecretFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestScheduledRunLifecycle follows a scheduled run from the exact instant
// it is due to the revocation of the previous secret at the exact end of
// its transition period, with the file target holding the new secret.
func TestScheduledRunLifecycle(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
		c, old := e.mustClient(t, "api")
		path := filepath.Join(t.TempDir(), "api.secret")
		e.mustTarget(t, "api", "file", fileTarget(path))
		jsonPath := filepath.Join(t.TempDir(), "api.json")
		e.mustTarget(t, "api", "json", delivery.Config{Type: delivery.TypeFile, File: &delivery.FileConfig{Path: jsonPath, Format: "json"}})
		if _, err := e.svc.SetDomainRotation(e.ctx, "default", watchword.RotationSchedule{Every: watchword.Duration(30 * 24 * time.Hour), Transition: dur(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		due := old.CreatedAt.Add(30 * 24 * time.Hour)
		cr, err := e.svc.GetClientRotation(e.ctx, "default", "api")
		if err != nil || cr.NextRunAt == nil || !cr.NextRunAt.Equal(due) || !cr.UseDomainSchedule {
			t.Fatalf("GetClientRotation = %+v, %v; want next run %s from the domain", cr, err, due)
		}

		e.clock.Set(due.Add(-time.Microsecond))
		if n, err := e.svc.StartDueRotations(e.ctx); n != 0 || err != nil {
			t.Fatalf("StartDueRotations a microsecond early = %d, %v", n, err)
		}
		e.clock.Set(due)
		if n, err := e.svc.StartDueRotations(e.ctx); n != 1 || err != nil {
			t.Fatalf("StartDueRotations when due = %d, %v", n, err)
		}
		if n, err := e.again().StartDueRotations(e.ctx); n != 0 || err != nil {
			t.Fatalf("a second instance started %d more runs (%v)", n, err)
		}

		run := e.advance(t, e.svc, "a", "api")
		if run.Status != watchword.RunRunning || run.Step != watchword.StepFinish || run.Trigger != watchword.TriggerSchedule || run.InitiatedBy != "system" {
			t.Fatalf("after the first pass: %+v", run)
		}
		delivered := readSecretFile(t, path)
		ss := e.secrets(t, "api")
		cur, prev := ss[run.PendingSecretID], ss[old.ID]
		if cur.Stage != watchword.StageCurrent || cur.Status != watchword.StatusActive || !strings.HasSuffix(delivered, cur.Hint) {
			t.Fatalf("new secret %+v, file holds …%s", cur, delivered[len(delivered)-4:])
		}
		end := due.Add(24 * time.Hour)
		if prev.Stage != watchword.StagePrevious || prev.Status != watchword.StatusRetiring || !prev.ExpiresAt.Equal(end) {
			t.Fatalf("old secret %+v, want previous until %s", prev, end)
		}
		// The consumer learns how long the old secret works at least.
		var payload struct {
			Secret                  string    `json:"secret"`
			PreviousSecretExpiresAt time.Time `json:"previous_secret_expires_at"`
		}
		if b, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(b, &payload) != nil || payload.Secret != delivered || !payload.PreviousSecretExpiresAt.Equal(end) {
			t.Errorf("json target: %+v (%v), want the secret and the previous one's end %s", payload, err, end)
		}
		if _, err := e.svc.RotateClient(e.ctx, "default", "api", lifecycle.RotateRequest{}); watchword.ErrorCode(err) != watchword.ECONFLICT || !strings.Contains(err.Error(), run.ID) {
			t.Fatalf("manual rotation during a run: %v, want a conflict naming the run", err)
		}
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); watchword.ErrorCode(err) != watchword.ECONFLICT {
			t.Fatalf("a second run during a run: %v, want a conflict", err)
		}

		e.clock.Set(end.Add(-time.Microsecond))
		if run = e.advance(t, e.svc, "a", "api"); run.Status != watchword.RunRunning {
			t.Fatalf("run ended before the transition did: %+v", run)
		}
		e.clock.Set(end)
		run = e.advance(t, e.svc, "a", "api")
		if run.Status != watchword.RunCompleted || run.FinishedAt == nil || !run.FinishedAt.Equal(end) {
			t.Fatalf("at the end of the transition: %+v", run)
		}
		if st := e.secrets(t, "api")[old.ID]; st.Status != watchword.StatusRevoked || st.RevokedReason != "rotation finished" {
			t.Fatalf("previous secret after the run: %+v", st)
		}
		for typ, want := range map[string]int{watchword.EventRotationStarted: 1, watchword.EventSecretRotated: 1, watchword.EventRotationCompleted: 1, watchword.EventSecretStillInUse: 0, watchword.EventRotationFailed: 0} {
			if got := e.events(t, typ); got != want {
				t.Errorf("%s events = %d, want %d", typ, got, want)
			}
		}
		var steps []string
		for _, s := range run.Steps {
			steps = append(steps, string(s.Step)+":"+s.Outcome)
		}
		if got := strings.Join(steps, " "); got != "create:ok deliver:ok test:ok promote:ok finish:ok" {
			t.Errorf("steps = %s", got)
		}
		rots, _, err := e.svc.ListRotations(e.ctx, "default", "api", 0, 10)
		if err != nil || len(rots) != 1 || rots[0].RunID != run.ID || rots[0].Kind != "run" {
			t.Fatalf("rotation history = %+v, %v", rots, err)
		}

		// The schedule counts from the start of the latest run.
		cr, _ = e.svc.GetClientRotation(e.ctx, "default", c.ID)
		if want := due.Add(30 * 24 * time.Hour); cr.NextRunAt == nil || !cr.NextRunAt.Equal(want) {
			t.Fatalf("next run at %v, want %s", cr.NextRunAt, want)
		}

		// A rotation by hand retires the current secret: it is no longer
		// labelled current.
		if _, err := e.svc.RotateClient(e.ctx, "default", "api", lifecycle.RotateRequest{Transition: dur(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		if st := e.secrets(t, "api")[run.PendingSecretID]; st.Stage != watchword.StagePrevious || st.Status != watchword.StatusRetiring {
			t.Errorf("the run's secret after a rotation by hand: %+v", st)
		}
	})
}

// TestRunStillInUseAndEarlyFinish checks the still-in-use warnings at
// their boundaries, and finishing early once the previous secret goes
// unused.
func TestRunStillInUseAndEarlyFinish(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
		_, old := e.mustClient(t, "api")
		e.mustTarget(t, "api", "file", fileTarget(filepath.Join(t.TempDir(), "s")))
		window := 15 * time.Minute
		if _, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{Transition: dur(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		start := e.clock.Now()
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		run := e.advance(t, e.svc, "a", "api")
		end := start.Add(time.Hour)
		if run.Step != watchword.StepFinish || !run.NextAttemptAt.Equal(end.Add(-window)) {
			t.Fatalf("run %+v, want the in-use check due at %s", run, end.Add(-window))
		}
		use := func(at time.Time) {
			if err := e.svc.Store.RecordSecretUse(e.ctx, []watchword.SecretUse{{SecretID: old.ID, Count: 1, LastUsedAt: at}}); err != nil {
				t.Fatal(err)
			}
		}
		use(end.Add(-window - time.Minute)) // 16 minutes before the end
		e.clock.Set(end.Add(-window))       // used 1 minute ago: in use
		e.advance(t, e.svc, "a", "api")
		if n := e.events(t, watchword.EventSecretStillInUse); n != 1 {
			t.Fatalf("still_in_use before the end = %d, want 1", n)
		}
		e.clock.Set(end) // last use 16 minutes ago: no longer in use
		if run = e.advance(t, e.svc, "a", "api"); run.Status != watchword.RunCompleted {
			t.Fatalf("run %+v", run)
		}
		if n := e.events(t, watchword.EventSecretStillInUse); n != 1 {
			t.Fatalf("still_in_use at the end = %d more, want none", n-1)
		}

		// Finish early: the previous secret unused for 10 minutes after delivery.
		if _, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{Transition: dur(time.Hour), FinishWhenUnusedFor: watchword.Duration(10 * time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		delivered := e.clock.Now()
		run = e.advance(t, e.svc, "a", "api")
		prev := run.PreviousSecretIDs
		if len(prev) != 1 {
			t.Fatalf("previous secrets %v", prev)
		}
		e.clock.Set(delivered.Add(10*time.Minute - time.Microsecond))
		if run = e.advance(t, e.svc, "a", "api"); run.Status != watchword.RunRunning {
			t.Fatalf("finished a microsecond early: %+v", run)
		}
		e.clock.Set(delivered.Add(10 * time.Minute))
		if run = e.advance(t, e.svc, "a", "api"); run.Status != watchword.RunCompleted {
			t.Fatalf("did not finish early: %+v", run)
		}
		if st := e.secrets(t, "api")[prev[0]]; st.Status != watchword.StatusRevoked || !strings.Contains(st.RevokedReason, "early") {
			t.Fatalf("previous secret after an early finish: %+v", st)
		}
	})
}

// TestRunFailureRollsBack makes each kind of target or test fail: every
// step is tried three times with back-off, then the run rolls back — the
// pending secret revoked, the current one untouched, a file target
// restored — and ends failed with a notification.
func TestRunFailureRollsBack(t *testing.T) {
	fail500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	t.Cleanup(fail500.Close)
	for _, tc := range []struct {
		name   string
		target func(t *testing.T) delivery.Config
		check  string
		reason string
	}{
		{"webhook 500", func(t *testing.T) delivery.Config {
			return delivery.Config{Type: delivery.TypeWebhook, Webhook: &delivery.WebhookConfig{URL: fail500.URL}}
		}, "", "500"},
		{"command exit 1", func(t *testing.T) delivery.Config {
			return delivery.Config{Type: delivery.TypeCommand, Command: &delivery.CommandConfig{Argv: []string{"/bin/sh", "-c", "cat >/dev/null; exit 1"}}}
		}, "", "exit"},
		{"unwritable file", func(t *testing.T) delivery.Config {
			notDir := filepath.Join(t.TempDir(), "plain-file")
			if err := os.WriteFile(notDir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			return fileTarget(filepath.Join(notDir, "secret"))
		}, "", "target broken"},
		{"check URL 500", nil, fail500.URL, "check"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachBackend(t, func(t *testing.T, e *env) {
				e.rotating(t, e.svc)
				e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
				_, old := e.mustClient(t, "api")
				good := filepath.Join(t.TempDir(), "good")
				if err := os.WriteFile(good, []byte("before\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				e.mustTarget(t, "api", "good", fileTarget(good))
				if tc.target != nil {
					e.mustTarget(t, "api", "broken", tc.target(t))
				}
				if _, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{CheckURL: tc.check}); err != nil {
					t.Fatal(err)
				}
				if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
					t.Fatal(err)
				}
				start := e.clock.Now()
				run := e.advance(t, e.svc, "a", "api")
				if run.Status != watchword.RunRunning || run.Attempts != 1 || !run.NextAttemptAt.Equal(start.Add(30*time.Second)) {
					t.Fatalf("after the first failure: %+v", run)
				}
				pending := run.PendingSecretID
				if st := e.secrets(t, "api")[pending]; st.Stage != watchword.StagePending || st.Status != watchword.StatusActive {
					t.Fatalf("pending secret %+v, want it to authenticate already", st)
				}
				e.clock.Set(start.Add(30*time.Second - time.Microsecond))
				if run = e.advance(t, e.svc, "a", "api"); run.Attempts != 1 {
					t.Fatalf("retried before its back-off ended: %+v", run)
				}
				e.clock.Set(start.Add(30 * time.Second))
				if run = e.advance(t, e.svc, "a", "api"); run.Attempts != 2 || !run.NextAttemptAt.Equal(start.Add(90*time.Second)) {
					t.Fatalf("after the second failure: %+v", run)
				}
				e.clock.Set(start.Add(90 * time.Second))
				run = e.advance(t, e.svc, "a", "api")
				if run.Status != watchword.RunFailed || !strings.Contains(run.Reason, "failed 3 times") || !strings.Contains(run.Reason, tc.reason) {
					t.Fatalf("after the third failure: %+v", run)
				}
				ss := e.secrets(t, "api")
				if ss[pending].Status != watchword.StatusRevoked || ss[old.ID].Status != watchword.StatusActive || ss[old.ID].ExpiresAt != old.ExpiresAt {
					t.Fatalf("after rollback: pending %+v, current %+v", ss[pending], ss[old.ID])
				}
				if got := readSecretFile(t, good); got != "before" {
					t.Fatalf("file target after rollback holds %q, want its earlier content", got)
				}
				if len(run.Sealed) != 0 {
					t.Fatal("a finished run still holds the sealed secret")
				}
				for _, typ := range []string{watchword.EventRotationFailed, watchword.EventRotationRolledBack} {
					if n := e.events(t, typ); n != 1 {
						t.Errorf("%s events = %d, want 1", typ, n)
					}
				}
				if n := e.auditCount(t, watchword.ActionRotationFail); n != 1 {
					t.Errorf("rotation.fail audits = %d", n)
				}

				// A failed run blocks nothing: retry starts it over.
				if _, err := e.svc.RotateClient(e.ctx, "default", "api", lifecycle.RotateRequest{Transition: dur(0)}); err != nil {
					t.Fatalf("manual rotation after a failed run: %v", err)
				}
				if _, err := e.svc.RetryRotationRun(e.ctx, "default", "api", run.ID); err != nil {
					t.Fatal(err)
				}
				if run = e.latestRun(t, "api"); run.Status != watchword.RunRunning || run.Step != watchword.StepCreate || run.PendingSecretID != "" {
					t.Fatalf("retried run %+v", run)
				}
			})
		})
	}
}

// TestRunCancel cancels a run before promote (rolled back) and after
// (stopped, previous secrets keep their end), and a compromised rotation
// ends a run at once.
func TestRunCancel(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		_, old := e.mustClient(t, "api")
		path := filepath.Join(t.TempDir(), "s")
		e.mustTarget(t, "api", "file", fileTarget(path))
		var fail atomic.Bool
		check := e.svc.Runs.TokenCheck
		e.svc.Runs.TokenCheck = func(ctx context.Context, d watchword.Domain, c watchword.Client, s string) error {
			if fail.Load() {
				return errors.New("token endpoint answered 401 invalid_client")
			}
			return check(ctx, d, c, s)
		}
		fail.Store(true)
		run, err := e.svc.StartRotation(e.ctx, "default", "api")
		if err != nil {
			t.Fatal(err)
		}
		run = e.advance(t, e.svc, "a", "api")
		if run.Step != watchword.StepTest || run.Attempts != 1 {
			t.Fatalf("run %+v, want waiting to retry the test", run)
		}
		if run, err = e.svc.CancelRotationRun(e.ctx, "default", "api", run.ID, "not today"); err != nil || !run.CancelRequested {
			t.Fatalf("cancel: %+v, %v", run, err)
		}
		run = e.advance(t, e.svc, "a", "api")
		if run.Status != watchword.RunCancelled || run.Reason != "not today" {
			t.Fatalf("after cancel: %+v", run)
		}
		if st := e.secrets(t, "api"); st[run.PendingSecretID].Status != watchword.StatusRevoked || st[old.ID].Status != watchword.StatusActive {
			t.Fatalf("cancel before promote must revoke the pending secret only: %+v", st)
		}
		if _, err := os.Stat(path); !os.IsNotExist(err) {
			t.Fatalf("the file target did not exist before the run and must be removed: %v", err)
		}
		if _, err := e.svc.RetryRotationRun(e.ctx, "default", "api", run.ID); watchword.ErrorCode(err) != watchword.ECONFLICT {
			t.Fatalf("retry of a cancelled run: %v", err)
		}

		fail.Store(false)
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		run = e.advance(t, e.svc, "a", "api")
		if run.Step != watchword.StepFinish {
			t.Fatalf("run %+v", run)
		}
		end := *run.TransitionEnd
		if _, err := e.svc.CancelRotationRun(e.ctx, "default", "api", run.ID, ""); err != nil {
			t.Fatal(err)
		}
		run = e.advance(t, e.svc, "a", "api")
		if st := e.secrets(t, "api")[old.ID]; run.Status != watchword.RunCancelled || st.Status != watchword.StatusRetiring || !st.ExpiresAt.Equal(end) {
			t.Fatalf("cancel after promote: run %+v, previous %+v", run, st)
		}

		// A leak cannot wait for a run.
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RotateClient(e.ctx, "default", "api", lifecycle.RotateRequest{Transition: dur(0), Compromised: true}); err != nil {
			t.Fatalf("compromised rotation during a run: %v", err)
		}
		if run = e.latestRun(t, "api"); run.Status != watchword.RunCancelled || !strings.Contains(run.Reason, "compromised") {
			t.Fatalf("run after a compromised rotation: %+v", run)
		}
	})
}

// TestRunTakeover: an instance stops in the middle of a delivery (its
// context ends, as in a crash); another instance takes the run over once
// the lease has ended and completes it, delivering the same secret.
func TestRunTakeover(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		_, _ = e.mustClient(t, "api")
		started := make(chan struct{}, 10)
		var hang atomic.Bool
		hang.Store(true)
		var got atomic.Int32
		hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// The server notices a client gone only once the body is read.
			_, _ = io.Copy(io.Discard, r.Body)
			if hang.Load() {
				started <- struct{}{}
				<-r.Context().Done()
				return
			}
			got.Add(1)
		}))
		t.Cleanup(hook.Close)
		e.mustTarget(t, "api", "hook", delivery.Config{Type: delivery.TypeWebhook, Webhook: &delivery.WebhookConfig{URL: hook.URL}})
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		ctx, crash := context.WithCancel(e.ctx)
		done := make(chan struct{})
		go func() { _, _ = e.svc.AdvanceRuns(ctx, "a", lease); close(done) }()
		<-started
		crash()
		<-done
		hang.Store(false)

		b := e.again()
		e.rotating(t, b)
		if _, err := b.AdvanceRuns(e.ctx, "b", lease); err != nil {
			t.Fatal(err)
		}
		if run := e.latestRun(t, "api"); run.Step != watchword.StepDeliver || run.Status != watchword.RunRunning {
			t.Fatalf("instance b took the run over inside a's lease: %+v", run)
		}
		e.clock.Advance(lease)
		run := e.advance(t, b, "b", "api")
		if run.Step != watchword.StepFinish || got.Load() != 1 {
			t.Fatalf("after takeover: run %+v, deliveries %d", run, got.Load())
		}
	})
}

// TestRotationScheduleValidation checks the schedule rules, each error
// naming its field.
func TestRotationScheduleValidation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		for _, tc := range []struct {
			sc    watchword.RotationSchedule
			field string
		}{
			{watchword.RotationSchedule{Every: watchword.Duration(59 * time.Minute)}, "every"},
			{watchword.RotationSchedule{Every: watchword.Duration(time.Hour), Cron: "@daily"}, "every"},
			{watchword.RotationSchedule{Cron: "*/30 * * * *"}, "cron"},
			{watchword.RotationSchedule{Cron: "not cron"}, "cron"},
			{watchword.RotationSchedule{Cron: "0 3 * * 1" + strings.Repeat(" ", 120)}, "cron"},
			{watchword.RotationSchedule{Every: watchword.Duration(time.Hour), Transition: dur(-time.Second)}, "transition"},
			{watchword.RotationSchedule{CheckURL: "ftp://x"}, "check_url"},
			{watchword.RotationSchedule{CheckURL: "http://billing.example/healthz"}, "check_url"},
			{watchword.RotationSchedule{Every: watchword.Duration(time.Hour), Transition: dur(169 * time.Hour)}, "transition"}, // over the default max_transition
		} {
			_, err := e.svc.SetDomainRotation(e.ctx, "default", tc.sc)
			wantCode(t, err, watchword.EINVALID, tc.field)
		}
		for _, ok := range []watchword.RotationSchedule{{Every: watchword.Duration(time.Hour)}, {Cron: "0 * * * *"}, {Cron: "@daily"}, {CheckURL: "http://127.0.0.1:8080/healthz"}, {}} {
			if _, err := e.svc.SetDomainRotation(e.ctx, "default", ok); err != nil {
				t.Errorf("SetDomainRotation(%+v): %v", ok, err)
			}
		}

		// A client's schedule is held to its own policy, which may be stricter.
		e.mustClient(t, "api")
		strict := watchword.DefaultSecretPolicy()
		strict.MaxTransition, strict.DefaultTransition = watchword.Duration(time.Hour), 0
		if _, err := e.svc.SetClientPolicy(e.ctx, "default", "api", &strict); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{Transition: dur(2 * time.Hour)})
		wantCode(t, err, watchword.EINVALID, "transition")
		if _, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{Transition: dur(time.Hour)}); err != nil {
			t.Errorf("transition at the client's maximum: %v", err)
		}
	})
}

// TestDisabledTargetSkipped: a disabled target is left out of the runs that
// start after it was disabled, and enabling it brings it back; each change
// is audited, a change to the same state is not.
func TestDisabledTargetSkipped(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		e.mustClient(t, "api")
		dir := t.TempDir()
		on, off := filepath.Join(dir, "on.secret"), filepath.Join(dir, "off.secret")
		e.mustTarget(t, "api", "on", fileTarget(on))
		e.mustTarget(t, "api", "off", fileTarget(off))
		disabled, enabled := true, false
		v, err := e.svc.UpdateDeliveryTarget(e.ctx, "default", "api", "off", lifecycle.TargetUpdate{Disabled: &disabled})
		if err != nil || !v.Disabled || v.Name != "off" {
			t.Fatalf("disable = %+v, %v", v, err)
		}
		if _, err := e.svc.UpdateDeliveryTarget(e.ctx, "default", "api", v.ID, lifecycle.TargetUpdate{Disabled: &disabled}); err != nil {
			t.Fatalf("disable again, by id: %v", err)
		}
		if n := e.auditCount(t, watchword.ActionTargetUpdate); n != 1 {
			t.Fatalf("%d target.update records, want 1 (the second call changed nothing)", n)
		}
		if _, err := e.svc.UpdateDeliveryTarget(e.ctx, "default", "api", "nope", lifecycle.TargetUpdate{Disabled: &disabled}); watchword.ErrorCode(err) != watchword.ENOTFOUND || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("unknown target: %v, want not found", err)
		}

		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		run := e.advance(t, e.svc, "a", "api")
		if run.Status != watchword.RunRunning || run.Step != watchword.StepFinish {
			t.Fatalf("run: %+v", run)
		}
		if !strings.HasSuffix(readSecretFile(t, on), e.secrets(t, "api")[run.PendingSecretID].Hint) {
			t.Error("the enabled target did not get the new secret")
		}
		if _, err := os.Stat(off); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the disabled target was written: %v", err)
		}

		if v, err := e.svc.UpdateDeliveryTarget(e.ctx, "default", "api", "off", lifecycle.TargetUpdate{Disabled: &enabled}); err != nil || v.Disabled {
			t.Fatalf("enable = %+v, %v", v, err)
		}
		ts, err := e.svc.ListDeliveryTargets(e.ctx, "default", "api")
		if err != nil || len(ts) != 2 || ts[0].Disabled || ts[1].Disabled {
			t.Fatalf("targets = %+v, %v; want both enabled", ts, err)
		}
		if n := e.auditCount(t, watchword.ActionTargetUpdate); n != 2 {
			t.Fatalf("%d target.update records, want 2", n)
		}
	})
}

// TestRunFailingAtCreate: a run that cannot create its pending secret (the
// client is at its cap) fails after its attempts, and its rotation.failed
// and rotation.rolled_back events name no secret rather than an empty one.
func TestRunFailingAtCreate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		e.mustChannel(t, lifecycle.ChannelCreate{Name: "hook"})
		p := watchword.DefaultSecretPolicy()
		p.MaxSecrets = 1
		if _, err := e.svc.SetDomainPolicy(e.ctx, "default", p); err != nil {
			t.Fatal(err)
		}
		e.mustClient(t, "api")
		e.mustTarget(t, "api", "file", fileTarget(filepath.Join(t.TempDir(), "secret")))
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		start := e.clock.Now()
		for _, at := range []time.Duration{0, 30 * time.Second, 90 * time.Second} {
			e.clock.Set(start.Add(at))
			e.advance(t, e.svc, "a", "api")
		}
		run := e.latestRun(t, "api")
		if run.Status != watchword.RunFailed || run.Step != watchword.StepCreate || run.PendingSecretID != "" {
			t.Fatalf("run: %+v, want failed at create", run)
		}
		seen := 0
		for _, n := range e.outbox(t) {
			if n.EventType != watchword.EventRotationFailed && n.EventType != watchword.EventRotationRolledBack {
				continue
			}
			seen++
			b, err := json.Marshal(n.Event)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), `"secret"`) || n.SecretID != "" {
				t.Errorf("%s names a secret: %s", n.EventType, b)
			}
		}
		if seen != 2 {
			t.Fatalf("%d rotation.failed/rolled_back notifications, want 2", seen)
		}
	})
}

// TestRollbackRevertsDisabledTarget: a target disabled after a run
// delivered to it is still reverted when the run rolls back.
func TestRollbackRevertsDisabledTarget(t *testing.T) {
	fail500 := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }))
	t.Cleanup(fail500.Close)
	forEachBackend(t, func(t *testing.T, e *env) {
		e.rotating(t, e.svc)
		e.mustClient(t, "api")
		path := filepath.Join(t.TempDir(), "secret")
		if err := os.WriteFile(path, []byte("before\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		e.mustTarget(t, "api", "file", fileTarget(path))
		if _, err := e.svc.SetClientRotation(e.ctx, "default", "api", &watchword.RotationSchedule{CheckURL: fail500.URL}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.StartRotation(e.ctx, "default", "api"); err != nil {
			t.Fatal(err)
		}
		start := e.clock.Now()
		e.advance(t, e.svc, "a", "api")
		if got := readSecretFile(t, path); got == "before" {
			t.Fatal("the first pass did not deliver")
		}
		disabled := true
		if _, err := e.svc.UpdateDeliveryTarget(e.ctx, "default", "api", "file", lifecycle.TargetUpdate{Disabled: &disabled}); err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Duration{30 * time.Second, 90 * time.Second} {
			e.clock.Set(start.Add(at))
			e.advance(t, e.svc, "a", "api")
		}
		if run := e.latestRun(t, "api"); run.Status != watchword.RunFailed {
			t.Fatalf("run: %+v, want failed", run)
		}
		if got := readSecretFile(t, path); got != "before" {
			t.Fatalf("the disabled target holds %q after the rollback, want its earlier content", got)
		}
	})
}
