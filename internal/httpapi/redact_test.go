package httpapi

import (
	"strings"
	"testing"
)

// TestRedact pins what a recorded response keeps: every string member that
// carries a value shown once goes, at any depth and in arrays; everything
// else stays as it was, in order.
func TestRedact(t *testing.T) {
	tests := []struct {
		name, contentType, body, want string
	}{
		{"new secret", "application/json",
			`{"id":"s1","hint":"ab12","secret":"wwcs_x","status":"active"}`,
			`{"id":"s1","hint":"ab12","secret_redacted":true,"status":"active"}`},
		{"nested, object kept", "application/json; charset=utf-8",
			`{"secret":{"id":"s1","secret":"wwcs_x"},"rotation":{"id":"r1","old_secrets":[]}}`,
			`{"secret":{"id":"s1","secret_redacted":true},"rotation":{"id":"r1","old_secrets":[]}}`},
		{"token and signing secret", "application/json",
			`{"token":"wwat_x","items":[{"signing_secret":"whsec_x","n":1.50}],"null":null}`,
			`{"token_redacted":true,"items":[{"signing_secret_redacted":true,"n":1.50}],"null":null}`},
		{"delivery target", "application/json",
			`{"id":"t1","config":{"type":"webhook","webhook":{"url":"https://h/","signing_secret":""}},"signing_secret":"whsec_x"}`,
			`{"id":"t1","config":{"type":"webhook","webhook":{"url":"https://h/","signing_secret_redacted":true}},"signing_secret_redacted":true}`},
		{"no secret", "application/json", `{"secrets_changed":3,"s":"\u003csecret\u003e"}`, `{"secrets_changed":3,"s":"\u003csecret\u003e"}`},
		{"problem", "application/problem+json", `{"status":404,"detail":"No."}`, `{"status":404,"detail":"No."}`},
		{"empty", "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := redact(tc.contentType, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			compact := strings.Join(strings.Fields(string(got)), "")
			if want := strings.ReplaceAll(tc.want, " ", ""); compact != want {
				t.Errorf("redact(%s) = %s, want %s", tc.body, got, tc.want)
			}
		})
	}
	for _, body := range []string{`wwcs_x`, `{"secret": "wwcs_x"`} {
		if got, err := redact("application/json", []byte(body)); err == nil {
			t.Errorf("redact(%q) = %q, want an error", body, got)
		}
	}
	if got, err := redact("text/plain", []byte("wwcs_x")); err == nil {
		t.Errorf("redact(text/plain) = %q, want an error", got)
	}
}
