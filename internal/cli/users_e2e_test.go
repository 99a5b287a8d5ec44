package cli

import (
	"strings"
	"testing"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/testenv"
)

// TestUsersEndToEnd manages users with the CLI against a real server, on
// both databases: the password goes from standard input to an argon2id
// hash, readers may read and only admins may change users.
func TestUsersEndToEnd(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			clearEnv(t)
			s := testenv.Start(t, backend, testenv.Options{})
			cli := func(token, stdin string, args ...string) result {
				t.Helper()
				return runCLI(stdin, append([]string{"--endpoint", s.AdminURL, "--token", token}, args...)...)
			}
			r := cli(s.Token, "first-password\n", "user", "create", "Alice", "--email", "alice@example.org", "--display-name", "Alice Liddell")
			if r.code != 0 || !strings.Contains(r.stdout, "Created user alice") {
				t.Fatalf("create: %+v", r)
			}
			if r := cli(s.Token, "short\n", "user", "create", "bob"); r.code == 0 || !strings.Contains(r.stderr, "password") {
				t.Fatalf("short password: %+v", r)
			}
			if r := cli(s.Token, "another-password\n", "user", "create", "alice"); r.code == 0 || !strings.Contains(r.stderr, "already exists") {
				t.Fatalf("duplicate: %+v", r)
			}
			viewer, err := s.Service.CreateToken(s.Ctx, "viewer", watchword.RoleViewer)
			if err != nil {
				t.Fatal(err)
			}
			if r := cli(viewer.Plaintext, "", "user", "list"); r.code != 0 || !strings.Contains(r.stdout, "alice@example.org") {
				t.Fatalf("viewer list: %+v", r)
			}
			if r := cli(viewer.Plaintext, "", "user", "disable", "alice"); r.code == 0 {
				t.Fatalf("viewer disable: %+v", r)
			}
			if r := cli(s.Token, "", "user", "disable", "alice"); r.code != 0 || !strings.Contains(r.stdout, "now disabled") {
				t.Fatalf("disable: %+v", r)
			}
			if r := cli(s.Token, "", "user", "get", "ALICE"); r.code != 0 || !strings.Contains(r.stdout, "disabled") {
				t.Fatalf("get: %+v", r)
			}
			if r := cli(s.Token, "", "user", "enable", "alice"); r.code != 0 {
				t.Fatalf("enable: %+v", r)
			}
			if r := cli(s.Token, "second-password\n", "user", "set-password", "alice"); r.code != 0 {
				t.Fatalf("set-password: %+v", r)
			}
			u, err := s.Service.GetUser(s.Ctx, "default", "alice")
			if err != nil || u.Disabled || u.DisplayName != "Alice Liddell" {
				t.Fatalf("user=%+v %v", u, err)
			}
			if ok, _ := secret.VerifyPassword("second-password", u.PasswordHash); !ok {
				t.Fatal("the password set through the CLI does not verify")
			}
			evs, _, err := s.Service.ListAudit(s.Ctx, "default", watchword.AuditFilter{TargetID: u.ID})
			if err != nil || len(evs) != 4 {
				t.Fatalf("audit=%+v %v, want create, disable, enable, password", evs, err)
			}
			r = cli(s.Token, "", "audit", "list", "--target", u.ID)
			if strings.Contains(r.stdout, "password-") {
				t.Fatalf("a password reached the audit log: %s", r.stdout)
			}
		})
	}
}
