package lifecycle_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/store"
)

func TestUsers(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		const pw = "correct horse battery staple"
		u, err := e.svc.CreateUser(e.ctx, "default", lifecycle.UserCreate{
			Username: " Alice ", Email: "alice@example.org", DisplayName: "Alice Liddell", Password: pw,
		})
		if err != nil {
			t.Fatal(err)
		}
		if u.Username != "alice" || u.Disabled || u.ID == "" {
			t.Fatalf("user=%+v, want username alice, enabled", u)
		}
		if !strings.HasPrefix(u.PasswordHash, "$argon2id$") {
			t.Fatalf("password hash=%q, want argon2id PHC", u.PasswordHash)
		}
		if ok, err := secret.VerifyPassword(pw, u.PasswordHash); !ok || err != nil {
			t.Fatalf("VerifyPassword=%v,%v", ok, err)
		}
		for _, ref := range []string{u.ID, "alice", "ALICE"} {
			got, err := e.svc.GetUser(e.ctx, "default", ref)
			if err != nil || got.ID != u.ID {
				t.Fatalf("GetUser(%q)=%v,%v, want %s", ref, got.ID, err, u.ID)
			}
		}
		tests := []struct {
			name  string
			in    lifecycle.UserCreate
			code  string
			field string
		}{
			{"duplicate", lifecycle.UserCreate{Username: "ALICE"}, watchword.ECONFLICT, "username"},
			{"empty username", lifecycle.UserCreate{}, watchword.EINVALID, "username"},
			{"bad username", lifecycle.UserCreate{Username: "a b"}, watchword.EINVALID, "username"},
			{"bad email", lifecycle.UserCreate{Username: "bob", Email: "Bob <bob@example.org>"}, watchword.EINVALID, "email"},
			{"short password", lifecycle.UserCreate{Username: "bob", Password: "short"}, watchword.EINVALID, "password"},
			{"control in name", lifecycle.UserCreate{Username: "bob", DisplayName: "Bob\x1b[31m"}, watchword.EINVALID, "display_name"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				_, err := e.svc.CreateUser(e.ctx, "default", tt.in)
				wantCode(t, err, tt.code, tt.field)
			})
		}
		if _, err := e.svc.CreateUser(e.ctx, "nope", lifecycle.UserCreate{Username: "x"}); watchword.ErrorCode(err) != watchword.ENOTFOUND {
			t.Fatalf("unknown domain: %v", err)
		}
		bob, err := e.svc.CreateUser(e.ctx, "default", lifecycle.UserCreate{Username: "bob"})
		if err != nil || bob.PasswordHash != "" {
			t.Fatalf("user without password: %+v %v", bob, err)
		}
		us, total, err := e.svc.ListUsers(e.ctx, "default", 0, 0)
		if err != nil || total != 2 || len(us) != 2 || us[0].Username != "alice" || us[1].Username != "bob" {
			t.Fatalf("ListUsers=%v,%d,%v", us, total, err)
		}

		// Disable, change the password, enable.
		yes, no := true, false
		e.clock.Advance(time.Minute)
		u2, err := e.svc.UpdateUser(e.ctx, "default", "alice", watchword.UserUpdate{Disabled: &yes})
		if err != nil || !u2.Disabled || !u2.UpdatedAt.After(u.UpdatedAt) || u2.PasswordHash != u.PasswordHash {
			t.Fatalf("disable: %+v %v", u2, err)
		}
		newPW := watchword.Password("tr0ub4dor&3-but-longer")
		u3, err := e.svc.UpdateUser(e.ctx, "default", u.ID, watchword.UserUpdate{Password: &newPW, Disabled: &no})
		if err != nil || u3.Disabled {
			t.Fatalf("set password: %+v %v", u3, err)
		}
		if ok, _ := secret.VerifyPassword(string(newPW), u3.PasswordHash); !ok {
			t.Fatal("new password does not verify")
		}
		if ok, _ := secret.VerifyPassword(pw, u3.PasswordHash); ok {
			t.Fatal("old password still verifies")
		}
		short := watchword.Password("1234567")
		_, err = e.svc.UpdateUser(e.ctx, "default", "alice", watchword.UserUpdate{Password: &short})
		wantCode(t, err, watchword.EINVALID, "password")
		bad := "not an address"
		_, err = e.svc.UpdateUser(e.ctx, "default", "alice", watchword.UserUpdate{Email: &bad})
		wantCode(t, err, watchword.EINVALID, "email")
		_, err = e.svc.UpdateUser(e.ctx, "default", "nobody", watchword.UserUpdate{Disabled: &yes})
		wantCode(t, err, watchword.ENOTFOUND, "user")

		// Audited, never with a password.
		evs, _, err := e.svc.ListAudit(e.ctx, "default", watchword.AuditFilter{TargetID: u.ID})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, ev := range evs {
			got = append(got, ev.Action+" "+details(ev.Details))
		}
		want := []string{
			"user.update changed=password disabled=false username=alice",
			"user.update disabled=true username=alice",
			"user.create disabled=false password_set=true username=alice",
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Fatalf("audit:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
		b, _ := json.Marshal(evs)
		for _, s := range []string{pw, string(newPW), "argon2"} {
			if bytes.Contains(b, []byte(s)) {
				t.Fatalf("audit log holds %q", s)
			}
		}
	})
}

func details(m map[string]string) string {
	var parts []string
	for _, k := range []string{"changed", "disabled", "password_set", "username"} {
		if v, ok := m[k]; ok {
			parts = append(parts, k+"="+v)
		}
	}
	return strings.Join(parts, " ")
}

// TestPasswordNeverPrinted: a Password formats and logs redacted.
func TestPasswordNeverPrinted(t *testing.T) {
	p := watchword.Password("hunter2-hunter2")
	in := lifecycle.UserCreate{Username: "alice", Password: p}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("create", "password", p, "in", in)
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%v %+v %#v %s %q", in, in, in, p, p), buf.String()} {
		if strings.Contains(s, "hunter2") {
			t.Fatalf("password printed: %s", s)
		}
	}
	b, _ := json.Marshal(in)
	if !strings.Contains(string(b), `"password":"hunter2-hunter2"`) {
		t.Fatalf("JSON=%s, want the password (the API request body)", b)
	}
}

// TestCompromisedRevokesFamilies: a compromised revocation or rotation marks
// every token family of the client revoked, so access tokens carrying one
// stop introspecting active.
func TestCompromisedRevokesFamilies(t *testing.T) {
	forEachBackend(t, func(t *testing.T, e *env) {
		c, ns := e.mustClient(t, "app")
		d, err := e.svc.GetDomain(e.ctx, "default")
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		err = e.svc.Store.Tx(e.ctx, func(tx store.Tx) error {
			if err := tx.CreateRefreshToken(e.ctx, watchword.RefreshToken{
				Hash: []byte("rt"), DomainID: d.ID, ClientID: c.ID, UserID: "u", FamilyID: "fam-rt",
				Scopes: []string{"openid"}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Hour),
			}); err != nil {
				return err
			}
			return tx.CreateAuthCode(e.ctx, watchword.AuthCode{
				Hash: []byte("code"), DomainID: d.ID, ClientID: c.ID, UserID: "u", RedirectURI: "https://app.example/cb",
				Scopes: []string{"openid"}, AuthTime: now, CreatedAt: now, ExpiresAt: now.Add(time.Minute),
				UsedAt: &now, FamilyID: "fam-code",
			})
		})
		if err != nil {
			t.Fatal(err)
		}
		revoked := func() bool {
			t.Helper()
			ok, err := e.svc.Store.IsRevoked(e.ctx, "fam-rt")
			ok2, err2 := e.svc.Store.IsRevoked(e.ctx, "fam-code")
			if err != nil || err2 != nil || ok != ok2 {
				t.Fatalf("IsRevoked=%v,%v / %v,%v", ok, err, ok2, err2)
			}
			return ok
		}
		if _, err := e.svc.AddSecret(e.ctx, "default", "app", lifecycle.SecretCreate{Description: "second"}); err != nil {
			t.Fatal(err)
		}
		if _, err := e.svc.RevokeSecret(e.ctx, "default", "app", ns.ID, lifecycle.RevokeRequest{}); err != nil {
			t.Fatal(err)
		}
		if revoked() {
			t.Fatal("a plain revocation revoked the token families")
		}
		zero := watchword.Duration(0)
		if _, err := e.svc.RotateClient(e.ctx, "default", "app", lifecycle.RotateRequest{Transition: &zero, Compromised: true}); err != nil {
			t.Fatal(err)
		}
		if !revoked() {
			t.Fatal("a compromised rotation left the token families active")
		}
	})
}
