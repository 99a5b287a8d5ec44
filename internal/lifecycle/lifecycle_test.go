package lifecycle_test

import (
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func TestCreateClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c, ns := e.mustClient(t, "billing-api")
		if ns == nil || !strings.HasPrefix(ns.Plaintext, "wwcs_") {
			t.Fatalf("first secret=%+v, want a generated wwcs_ secret", ns)
		}
		if ns.ClientID != c.ID || ns.Status != watchword.StatusActive || ns.Source != watchword.SourceGenerated {
			t.Fatalf("secret=%+v, want active generated secret of %s", ns.Secret, c.ID)
		}
		if got, want := ns.Hint, ns.Plaintext[len(ns.Plaintext)-4:]; got != want {
			t.Fatalf("hint=%q, want %q", got, want)
		}
		// Commands accept id or name.
		for _, ref := range []string{c.ID, c.Name} {
			got, err := e.svc.GetClient(e.ctx, "default", ref)
			if err != nil || got.ID != c.ID {
				t.Fatalf("GetClient(%q)=%v,%v, want %s", ref, got.ID, err, c.ID)
			}
		}
		pub, ps, err := e.svc.CreateClient(e.ctx, "default", lifecycle.ClientCreate{Name: "spa", Type: watchword.ClientPublic})
		if err != nil || ps != nil {
			t.Fatalf("public client: secret=%v err=%v, want no secret", ps, err)
		}
		_, err = e.svc.AddSecret(e.ctx, "default", pub.ID, lifecycle.SecretCreate{})
		wantCode(t, err, watchword.EINVALID, "client")

		tests := []struct {
			name  string
			in    lifecycle.ClientCreate
			code  string
			field string
		}{
			{"duplicate name", lifecycle.ClientCreate{Name: "billing-api"}, watchword.ECONFLICT, "name"},
			{"empty name", lifecycle.ClientCreate{}, watchword.EINVALID, "name"},
			{"bad name", lifecycle.ClientCreate{Name: "Billing API"}, watchword.EINVALID, "name"},
			{"bad type", lifecycle.ClientCreate{Name: "x", Type: "secretive"}, watchword.EINVALID, "type"},
			{"bad redirect", lifecycle.ClientCreate{Name: "x", RedirectURIs: []string{"/relative"}}, watchword.EINVALID, "redirect_uris"},
			{"short custom secret", lifecycle.ClientCreate{Name: "x", Secret: lifecycle.SecretCreate{Value: "short"}}, watchword.EINVALID, "value"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, _, err := e.svc.CreateClient(e.ctx, "default", tt.in)
				wantCode(t, err, tt.code, tt.field)
			})
		}
		// A failed create leaves nothing behind.
		cs, total, err := e.svc.ListClients(e.ctx, "default", watchword.ClientFilter{})
		if err != nil || total != 2 || len(cs) != 2 {
			t.Fatalf("clients=%d total=%d err=%v, want 2", len(cs), total, err)
		}
		_, _, err = e.svc.CreateClient(e.ctx, "nope", lifecycle.ClientCreate{Name: "x"})
		wantCode(t, err, watchword.ENOTFOUND, "domain")
	})
}

// TestExpiryBoundary proves "valid while now < expires_at" to the microsecond.
func TestExpiryBoundary(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		p := watchword.DefaultSecretPolicy()
		p.Expiry = watchword.Expiry{Unit: watchword.ExpiryHours, Duration: 2}
		if _, err := e.svc.SetDomainPolicy(e.ctx, "default", p); err != nil {
			t.Fatal(err)
		}
		_, ns := e.mustClient(t, "app")
		if want := t0.Add(2 * time.Hour); ns.ExpiresAt == nil || !ns.ExpiresAt.Equal(want) {
			t.Fatalf("expires_at=%v, want %v", ns.ExpiresAt, want)
		}
		e.clock.Set(t0.Add(2*time.Hour - time.Microsecond))
		if got := e.statuses(t, "app")[ns.ID]; got != watchword.StatusActive {
			t.Fatalf("1µs before expiry: status=%s, want active", got)
		}
		e.clock.Set(t0.Add(2 * time.Hour))
		if got := e.statuses(t, "app")[ns.ID]; got != watchword.StatusExpired {
			t.Fatalf("at expiry: status=%s, want expired", got)
		}
	})
}

func TestRotate(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, first := e.mustClient(t, "app")
		res, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		end := t0.Add(24 * time.Hour)
		if len(res.Rotation.Old) != 1 || res.Rotation.Old[0].ID != first.ID || !res.Rotation.Old[0].ExpiresAt.Equal(end) {
			t.Fatalf("rotation old=%+v, want %s ending %v", res.Rotation.Old, first.ID, end)
		}
		second := res.Secret
		if second.Source != watchword.SourceRotation || second.Plaintext == first.Plaintext {
			t.Fatalf("new secret=%+v", second.Secret)
		}
		st := e.statuses(t, "app")
		if st[first.ID] != watchword.StatusRetiring || st[second.ID] != watchword.StatusActive {
			t.Fatalf("statuses=%v, want first retiring, second active", st)
		}

		// Rotating again during the transition keeps the first secret's earlier end.
		e.clock.Advance(time.Hour)
		res, err = e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(48 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range res.Rotation.Old {
			want := e.clock.Now().Add(48 * time.Hour)
			if o.ID == first.ID {
				want = end
			}
			if !o.ExpiresAt.Equal(want) {
				t.Fatalf("old %s ends %v, want %v", o.ID, o.ExpiresAt, want)
			}
		}

		e.clock.Set(end.Add(-time.Microsecond))
		if got := e.statuses(t, "app")[first.ID]; got != watchword.StatusRetiring {
			t.Fatalf("1µs before transition end: %s, want retiring", got)
		}
		e.clock.Set(end)
		if got := e.statuses(t, "app")[first.ID]; got != watchword.StatusExpired {
			t.Fatalf("at transition end: %s, want expired", got)
		}

		// History, newest first.
		rs, total, err := e.svc.ListRotations(e.ctx, "default", "app", 0, 0)
		if err != nil || total != 2 || rs[0].NewSecretID != res.Secret.ID || rs[1].NewSecretID != second.ID {
			t.Fatalf("history=%+v total=%d err=%v", rs, total, err)
		}
		if rs[0].InitiatedBy != "token:test (tester)" || time.Duration(rs[0].Transition) != 48*time.Hour {
			t.Fatalf("history entry=%+v", rs[0])
		}
	})
}

func TestRotateTransitionRules(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, first := e.mustClient(t, "app")
		_, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(169 * time.Hour)})
		wantCode(t, err, watchword.EINVALID, "transition")
		_, err = e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(-time.Second)})
		wantCode(t, err, watchword.EINVALID, "transition")
		if got := e.statuses(t, "app"); len(got) != 1 || got[first.ID] != watchword.StatusActive {
			t.Fatalf("a refused rotation changed state: %v", got)
		}

		// Default transition comes from the policy (24 h).
		res, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{})
		if err != nil || !res.Rotation.Old[0].ExpiresAt.Equal(t0.Add(24*time.Hour)) {
			t.Fatalf("default transition: %+v, %v", res.Rotation, err)
		}
		// Transition 0: every old secret stops at once.
		res, err = e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(0)})
		if err != nil {
			t.Fatal(err)
		}
		for id, st := range e.statuses(t, "app") {
			if want := watchword.StatusExpired; id != res.Secret.ID && st != want {
				t.Fatalf("after transition 0: %s is %s, want %s", id, st, want)
			}
		}
	})
}

// TestCap: the cap counts valid secrets only, so daily rotation never hits it.
func TestCap(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c, _ := e.mustClient(t, "app")
		p := watchword.DefaultSecretPolicy()
		p.MaxSecrets = 3
		if _, err := e.svc.SetClientPolicy(e.ctx, "default", c.ID, &p); err != nil {
			t.Fatal(err)
		}
		for i := range 2 {
			if _, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{}); err != nil {
				t.Fatalf("add %d: %v", i, err)
			}
		}
		_, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{})
		wantCode(t, err, watchword.ECONFLICT, "")
		_, err = e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{})
		wantCode(t, err, watchword.ECONFLICT, "")

		// Transition 0 frees the old ones; then a year of daily rotations with
		// a 12 h transition stays under the cap.
		if _, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(0)}); err != nil {
			t.Fatal(err)
		}
		for day := range 365 {
			e.clock.Advance(24 * time.Hour)
			if _, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(12 * time.Hour)}); err != nil {
				t.Fatalf("day %d: %v", day, err)
			}
		}
		valid := 0
		for _, st := range e.statuses(t, "app") {
			if st == watchword.StatusActive || st == watchword.StatusRetiring {
				valid++
			}
		}
		if valid != 2 {
			t.Fatalf("valid secrets=%d, want 2 (new + one retiring)", valid)
		}
	})
}

func TestRevokeAndDelete(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, first := e.mustClient(t, "app")
		_, err := e.svc.RevokeSecret(e.ctx, "default", "app", first.ID, lifecycle.RevokeRequest{Reason: "leaked"})
		wantCode(t, err, watchword.ECONFLICT, "force")
		err = e.svc.DeleteSecret(e.ctx, "default", "app", first.ID)
		wantCode(t, err, watchword.ECONFLICT, "secret")

		second, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Description: "partner"})
		if err != nil {
			t.Fatal(err)
		}
		sec, err := e.svc.RevokeSecret(e.ctx, "default", "app", first.ID, lifecycle.RevokeRequest{Reason: "leaked"})
		if err != nil || sec.Status != watchword.StatusRevoked || sec.RevokedReason != "leaked" || !sec.RevokedAt.Equal(t0) {
			t.Fatalf("revoke=%+v, %v", sec, err)
		}
		_, err = e.svc.RevokeSecret(e.ctx, "default", "app", first.ID, lifecycle.RevokeRequest{})
		wantCode(t, err, watchword.ECONFLICT, "secret")

		if err := e.svc.DeleteSecret(e.ctx, "default", "app", first.ID); err != nil {
			t.Fatal(err)
		}
		if st := e.statuses(t, "app"); len(st) != 1 || st[second.ID] != watchword.StatusActive {
			t.Fatalf("after delete: %v, want only %s", st, second.ID)
		}
		_, err = e.svc.GetSecret(e.ctx, "default", "app", first.ID)
		wantCode(t, err, watchword.ENOTFOUND, "secret")

		// Force revokes the last one.
		if _, err := e.svc.RevokeSecret(e.ctx, "default", "app", second.ID, lifecycle.RevokeRequest{Force: true}); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.RevokeSecret(e.ctx, "default", "other", second.ID, lifecycle.RevokeRequest{})
		wantCode(t, err, watchword.ENOTFOUND, "client")
	})
}

func TestRenew(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.mustClient(t, "app")
		partner, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Description: "partner"})
		if err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Description: "partner"})
		wantCode(t, err, watchword.ECONFLICT, "description")

		res, err := e.svc.RenewSecret(e.ctx, "default", "app", partner.ID, dur(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if res.Secret.Description != "partner" || len(res.Rotation.Old) != 1 || res.Rotation.Old[0].ID != partner.ID {
			t.Fatalf("renew=%+v", res)
		}
		st := e.statuses(t, "app")
		if st[partner.ID] != watchword.StatusRetiring || st[res.Secret.ID] != watchword.StatusActive || len(st) != 3 {
			t.Fatalf("statuses=%v", st)
		}
		_, err = e.svc.RenewSecret(e.ctx, "default", "app", partner.ID, dur(200*time.Hour))
		wantCode(t, err, watchword.EINVALID, "transition")
	})
}

func TestCustomSecrets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c, _ := e.mustClient(t, "app")
		value := strings.Repeat("k", 40)
		ns, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Value: value})
		if err != nil || ns.Source != watchword.SourceCustom || ns.Plaintext != value {
			t.Fatalf("custom=%+v, %v", ns, err)
		}
		p := watchword.DefaultSecretPolicy()
		p.AllowCustom = false
		if _, err := e.svc.SetClientPolicy(e.ctx, "default", c.ID, &p); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Value: strings.Repeat("z", 40)})
		wantCode(t, err, watchword.EINVALID, "value")
	})
}

func TestPolicyInheritance(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c, before := e.mustClient(t, "app")
		dp := watchword.DefaultSecretPolicy()
		dp.Expiry = watchword.Expiry{Unit: watchword.ExpiryDays, Duration: 90}
		if _, err := e.svc.SetDomainPolicy(e.ctx, "default", dp); err != nil {
			t.Fatal(err)
		}
		// Changing the policy does not touch the existing secret…
		if sec, _ := e.svc.GetSecret(e.ctx, "default", "app", before.ID); sec.ExpiresAt != nil {
			t.Fatalf("existing secret got expiry %v from a policy change", sec.ExpiresAt)
		}
		// …new ones follow it…
		ns, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{})
		if err != nil || !ns.ExpiresAt.Equal(t0.AddDate(0, 0, 90)) {
			t.Fatalf("new secret expires %v, %v", ns.ExpiresAt, err)
		}
		// …and "apply to existing" is explicit.
		n, err := e.svc.ApplyPolicy(e.ctx, "default", "")
		if err != nil || n != 1 {
			t.Fatalf("apply changed %d, %v; want 1", n, err)
		}
		if sec, _ := e.svc.GetSecret(e.ctx, "default", "app", before.ID); !sec.ExpiresAt.Equal(t0.AddDate(0, 0, 90)) {
			t.Fatalf("after apply expires %v", sec.ExpiresAt)
		}

		// A client override wins; removing it returns to domain rules.
		cp := dp
		cp.Expiry = watchword.Expiry{Unit: watchword.ExpiryNone}
		out, err := e.svc.SetClientPolicy(e.ctx, "default", c.ID, &cp)
		if err != nil || out.UseDomainRules || out.Effective.Expiry.Unit != watchword.ExpiryNone {
			t.Fatalf("override=%+v, %v", out, err)
		}
		ns, _ = e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{})
		if ns.ExpiresAt != nil {
			t.Fatalf("override none: expires %v", ns.ExpiresAt)
		}
		out, err = e.svc.SetClientPolicy(e.ctx, "default", c.ID, nil)
		if err != nil || !out.UseDomainRules || out.Effective.Expiry != dp.Expiry {
			t.Fatalf("use domain rules=%+v, %v", out, err)
		}

		bad := dp
		bad.MaxSecrets, bad.DefaultTransition = 0, watchword.Duration(500*time.Hour)
		_, err = e.svc.SetDomainPolicy(e.ctx, "default", bad)
		var ae *watchword.Error
		if !errors.As(err, &ae) || len(ae.Fields) != 2 {
			t.Fatalf("bad policy: %v, want two field errors", err)
		}
	})
}

func TestDisableAndDeleteClient(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		_, ns := e.mustClient(t, "app")
		yes := true
		if _, err := e.svc.UpdateClient(e.ctx, "default", "app", watchword.ClientUpdate{Disabled: &yes}); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{})
		wantCode(t, err, watchword.ECONFLICT, "client")

		if err := e.svc.DeleteClient(e.ctx, "default", "app"); err != nil {
			t.Fatal(err)
		}
		_, err = e.svc.GetClient(e.ctx, "default", "app")
		wantCode(t, err, watchword.ENOTFOUND, "client")
		if sec, err := e.svc.Store.GetSecret(e.ctx, ns.ID); err != nil || sec.StatusAt(e.clock.Now()) != watchword.StatusRevoked {
			t.Fatalf("secret of deleted client: %+v, %v; want revoked", sec, err)
		}
		// Its name is free again; history and audit remain.
		e.mustClient(t, "app")
		evs, _, err := e.svc.ListAudit(e.ctx, "default", watchword.AuditFilter{Action: watchword.ActionClientDelete})
		if err != nil || len(evs) != 1 {
			t.Fatalf("client.delete audit=%d, %v; want 1", len(evs), err)
		}
	})
}

// TestAuditNeverHoldsSecrets runs every kind of change and checks that each
// is audited once and that no plaintext appears anywhere in the log.
func TestAuditNeverHoldsSecrets(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		var plaintexts []string
		_, ns := e.mustClient(t, "app")
		plaintexts = append(plaintexts, ns.Plaintext)
		add, _ := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Value: strings.Repeat("c", 33)})
		plaintexts = append(plaintexts, add.Plaintext)
		res, _ := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{})
		plaintexts = append(plaintexts, res.Secret.Plaintext)
		tok, _ := e.svc.CreateToken(e.ctx, "ci", watchword.RoleViewer)
		plaintexts = append(plaintexts, tok.Plaintext)

		evs, total, err := e.svc.ListAudit(e.ctx, "", watchword.AuditFilter{Limit: 500})
		if err != nil {
			t.Fatal(err)
		}
		count := map[string]int{}
		for _, ev := range evs {
			count[ev.Action]++
		}
		want := map[string]int{
			watchword.ActionDomainCreate: 1, watchword.ActionTokenCreate: 2, watchword.ActionClientCreate: 1,
			watchword.ActionSecretAdd: 1, watchword.ActionClientRotate: 1,
		}
		for a, n := range want {
			if count[a] != n {
				t.Errorf("audit %s=%d, want %d (all: %v)", a, count[a], n, count)
			}
		}
		if total != len(evs) {
			t.Fatalf("total=%d, len=%d", total, len(evs))
		}
		b, _ := json.Marshal(evs)
		for _, p := range plaintexts {
			if strings.Contains(string(b), p) {
				t.Fatal("audit log holds a plaintext secret")
			}
		}
	})
}

// TestConcurrentRotation: rotations of one client from two instances at once
// are serialised or refused, never lost and never over the cap.
func TestConcurrentRotation(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		e.mustClient(t, "app")
		instances := []*lifecycle.Service{e.svc, e.again()}
		const workers, each = 8, 5
		var (
			wg        sync.WaitGroup
			mu        sync.Mutex
			ok, confl int
			failures  []error
		)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				svc := instances[w%2]
				for range each {
					_, err := svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: dur(time.Hour)})
					mu.Lock()
					switch watchword.ErrorCode(err) {
					case "":
						ok++
					case watchword.ECONFLICT:
						confl++
					default:
						failures = append(failures, err)
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if len(failures) > 0 {
			t.Fatalf("unexpected errors: %v", failures)
		}
		valid := 0
		for _, st := range e.statuses(t, "app") {
			if st == watchword.StatusActive || st == watchword.StatusRetiring {
				valid++
			}
		}
		_, rotations, err := e.svc.ListRotations(e.ctx, "default", "app", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		// The cap is 10: 1 initial + 9 rotations fit; the rest are refused.
		if ok != 9 || confl != workers*each-9 || valid != 10 || rotations != ok {
			t.Fatalf("ok=%d conflicts=%d valid=%d rotations=%d; want 9, %d, 10, 9", ok, confl, valid, rotations, workers*each-9)
		}
	})
}
