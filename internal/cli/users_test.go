package cli

import (
	"strings"
	"testing"
)

const userJSON = `{"id":"u1","domain_id":"d1","username":"alice","email":"alice@example.org","display_name":"Alice Liddell","disabled":false,"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`

// TestUserPasswordFromStdin: the password comes from standard input (its
// first line) and goes only into the request body, never into the output.
func TestUserPasswordFromStdin(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		stdin  string
		method string
		path   string
		want   string
	}{
		{"create", []string{"user", "create", "alice", "--email", "alice@example.org", "--display-name", "Alice Liddell"},
			"s3cret-pass\nignored\n", "POST", "/domains/default/users",
			`{"username":"alice","email":"alice@example.org","display_name":"Alice Liddell","password":"s3cret-pass","disabled":false}`},
		{"create CRLF", []string{"user", "create", "alice"}, "s3cret-pass\r\n", "POST", "/domains/default/users",
			`{"username":"alice","email":"","display_name":"","password":"s3cret-pass","disabled":false}`},
		{"set-password", []string{"user", "set-password", "alice"}, "n3w-password", "PATCH", "/domains/default/users/alice",
			`{"password":"n3w-password"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on(tt.method, tt.path, 200, userJSON)
			r := f.run(tt.stdin, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := f.last(); got.Method != tt.method || !sameJSON(t, got.Body, tt.want) {
				t.Errorf("request %s %s, want %s", got.Method, got.Body, tt.want)
			}
			if strings.Contains(r.stdout+r.stderr, "pass") && !strings.Contains(r.stdout, "password of user") {
				t.Errorf("password echoed: %q %q", r.stdout, r.stderr)
			}
		})
	}
	f := newFakeAPI(t)
	if r := f.run("", "user", "set-password", "alice"); r.code == 0 || !strings.Contains(r.stderr, "no password on standard input") {
		t.Errorf("empty stdin: exit %d, stderr %q", r.code, r.stderr)
	}
	if len(f.requests()) != 0 {
		t.Error("a request was sent without a password")
	}
	if r := f.run("x\n", "user", "set-password", "alice", "--password", "x"); r.code == 0 {
		t.Error("--password flag accepted: a password must never be a flag")
	}
}

func TestUserCommands(t *testing.T) {
	f := newFakeAPI(t)
	f.on("GET", "/domains/prod/users", 200, `{"items":[`+userJSON+`,{"id":"u2","username":"bob","disabled":true,"created_at":"2026-03-02T00:00:00Z"}],"total":3,"offset":0,"limit":2}`)
	r := f.run("", "--domain", "prod", "user", "list", "--limit", "2")
	want := `USERNAME  ID  EMAIL              DISPLAY NAME   STATUS    CREATED
alice     u1  alice@example.org  Alice Liddell  enabled   2026-03-01 12:00:00 UTC
bob       u2  -                  -              disabled  2026-03-02 00:00:00 UTC
`
	if r.code != 0 || r.stdout != want {
		t.Errorf("list: exit %d\n%s\nwant:\n%s%s", r.code, r.stdout, want, r.stderr)
	}
	if q := f.last().Query; q != "limit=2" {
		t.Errorf("list query %q", q)
	}
	if !strings.Contains(r.stderr, "use --offset 2 for more") {
		t.Errorf("stderr %q", r.stderr)
	}

	f.on("GET", "/domains/default/users/alice", 200, userJSON)
	if r := f.run("", "user", "get", "alice"); r.code != 0 || !strings.Contains(r.stdout, "Display name:  Alice Liddell") {
		t.Errorf("get: exit %d %q %q", r.code, r.stdout, r.stderr)
	}
	for _, tc := range []struct{ verb, body string }{{"disable", `{"disabled":true}`}, {"enable", `{"disabled":false}`}} {
		f.on("PATCH", "/domains/default/users/alice", 200, userJSON)
		r := f.run("", "user", tc.verb, "alice")
		if r.code != 0 || !sameJSON(t, f.last().Body, tc.body) {
			t.Errorf("%s: exit %d body %s, want %s", tc.verb, r.code, f.last().Body, tc.body)
		}
	}
}
