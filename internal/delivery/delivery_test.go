package delivery_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/notify"
)

// testSecret looks like a generated client secret.
const testSecret = "wwcs_0123456789ABCDEFsEcReTvAlUe0123456789abcdefghijklmnopqrsXYZ123"

func newDelivery() delivery.Delivery {
	return delivery.Delivery{
		EventID:           "evt_01",
		Domain:            "example.com",
		ClientID:          "client-1",
		ClientName:        "Billing",
		SecretID:          "0123456789ABCDEF",
		Secret:            testSecret,
		PreviousExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

// MustNotLeak fails if err is nil or its text holds the test secret.
func MustNotLeak(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		tb.Fatal("err=nil, want an error")
	}
	if strings.Contains(err.Error(), testSecret) {
		tb.Fatalf("error contains the plaintext secret: %v", err)
	}
}

func TestPlaintextRedacted(t *testing.T) {
	d := newDelivery()
	for _, s := range []string{
		fmt.Sprint(d), fmt.Sprintf("%v %+v %#v %s %q", d, d, d, d.Secret, d.Secret),
	} {
		if strings.Contains(s, testSecret) {
			t.Errorf("fmt printed the secret: %s", s)
		}
	}
	var b strings.Builder
	slog.New(slog.NewJSONHandler(&b, nil)).Info("x", "delivery", d, "secret", d.Secret)
	if strings.Contains(b.String(), testSecret) {
		t.Errorf("slog printed the secret: %s", b.String())
	}
	j, err := json.Marshal(d)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(j), testSecret) {
		t.Errorf("JSON holds the secret: %s", j)
	}
}

func TestConfigValidate(t *testing.T) {
	sig := notify.NewSigningSecret()
	tests := []struct {
		name string
		cfg  delivery.Config
		want []string // substrings of the error, all of them; nil = valid
	}{
		{"file ok", delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "/run/s/secret", Format: "env", EnvName: "CLIENT_SECRET"}}, nil},
		{"webhook ok", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://hooks.example.com/x", SigningSecret: sig}}, nil},
		{"webhook http loopback ok", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "http://127.0.0.1:8080/x", SigningSecret: sig}}, nil},
		{"webhook private allowed", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://10.1.2.3/x", SigningSecret: sig, AllowPrivate: true}}, nil},
		{"command ok", delivery.Config{Type: "command", Command: &delivery.CommandConfig{Argv: []string{"/usr/bin/true"}, Env: []string{"A=b"}}}, nil},
		{"no type", delivery.Config{}, []string{"type: is required"}},
		{"unknown type", delivery.Config{Type: "ftp"}, []string{`unknown type "ftp"`}},
		{"missing member and extra member", delivery.Config{Type: "file", Webhook: &delivery.WebhookConfig{}}, []string{"file: is required", "webhook: is set but type is file"}},
		{"file bad fields all reported", delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "relative/secret", Format: "yaml", EnvName: "X"}},
			[]string{"file.path: must be absolute", `file.format: unknown format "yaml"`, "file.env_name: is only for format env"}},
		{"file env name", delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "/a/b", Format: "env", EnvName: "1BAD-NAME"}}, []string{"file.env_name:", "not an environment variable name"}},
		{"file env name missing", delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "/a/b", Format: "env"}}, []string{"file.env_name: is required"}},
		{"file dir path", delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "/a/b/"}}, []string{"file.path: must name a file"}},
		{"webhook http non-loopback", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "http://hooks.example.com/x", SigningSecret: sig}}, []string{"webhook.url: must use https"}},
		{"webhook private literal", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://192.168.1.10/x", SigningSecret: sig}}, []string{"webhook.url:", "private"}},
		{"webhook metadata literal even if private allowed", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://169.254.169.254/latest", SigningSecret: sig, AllowPrivate: true}}, []string{"webhook.url:", "metadata"}},
		{"webhook ipv6 metadata", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://[fd00:ec2::254]/", SigningSecret: sig, AllowPrivate: true}}, []string{"metadata"}},
		{"webhook link-local v6", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://[fe80::1]/", SigningSecret: sig}}, []string{"link-local"}},
		{"webhook credentials, bad secret, bad timeout", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://u:p@example.com/", SigningSecret: "nope", TimeoutSeconds: -1}},
			[]string{"webhook.url: must not contain credentials", "webhook.signing_secret:", "webhook.timeout_seconds:"}},
		{"webhook ftp", delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "ftp://example.com/", SigningSecret: sig}}, []string{`scheme "ftp"`}},
		{"command bad", delivery.Config{Type: "command", Command: &delivery.CommandConfig{Argv: []string{"deploy.sh"}, Env: []string{"NOEQUALS", "WATCHWORD_X=1"}, TimeoutSeconds: 100000}},
			[]string{"command.argv: argv[0] must be an absolute path", "env[0] is not NAME=value", "env[1]: WATCHWORD_ names are reserved", "command.timeout_seconds:"}},
		{"command empty", delivery.Config{Type: "command", Command: &delivery.CommandConfig{}}, []string{"command.argv: is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if tt.want == nil {
				if err != nil {
					t.Fatalf("Validate()=%v, want nil", err)
				}
				if _, err := delivery.New(tt.cfg); err != nil {
					t.Fatalf("New()=%v, want nil", err)
				}
				return
			}
			var ve *delivery.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Validate()=%v, want a *ValidationError", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate()=%q, want it to contain %q", err, w)
				}
			}
			if _, err := delivery.New(tt.cfg); err == nil {
				t.Errorf("New()=nil error, want one")
			}
		})
	}
}

func TestConfigJSONRoundTrip(t *testing.T) {
	in := delivery.Config{Type: "command", Command: &delivery.CommandConfig{Argv: []string{"/bin/x", "-y"}, Format: "json", TimeoutSeconds: 5}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var out delivery.Config
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if got, want := string(mustJSON(t, out)), string(b); got != want {
		t.Fatalf("round trip=%s, want %s", got, want)
	}
	if err := out.Validate(); err != nil {
		t.Fatal(err)
	}
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func TestInvalidDeliveryRefused(t *testing.T) {
	target, err := delivery.NewFile(delivery.FileConfig{Path: t.TempDir() + "/s"})
	if err != nil {
		t.Fatal(err)
	}
	d := newDelivery()
	d.Secret = delivery.Plaintext(testSecret + "\nINJECTED=1")
	err = target.Deliver(t.Context(), d)
	if err == nil || !strings.Contains(err.Error(), "control character") {
		t.Fatalf("Deliver()=%v, want a control character error", err)
	}
	MustNotLeak(t, err)
	if err := target.Deliver(t.Context(), delivery.Delivery{Secret: testSecret}); err == nil || !strings.Contains(err.Error(), "event id is required") {
		t.Fatalf("Deliver()=%v, want missing fields", err)
	}
}

// TestReverters: file and webhook targets can undo a delivery; a command
// target cannot.
func TestReverters(t *testing.T) {
	sig := notify.NewSigningSecret()
	for _, tt := range []struct {
		cfg  delivery.Config
		want bool
	}{
		{delivery.Config{Type: "file", File: &delivery.FileConfig{Path: "/run/s/secret"}}, true},
		{delivery.Config{Type: "webhook", Webhook: &delivery.WebhookConfig{URL: "https://hooks.example.com/x", SigningSecret: sig}}, true},
		{delivery.Config{Type: "command", Command: &delivery.CommandConfig{Argv: []string{"/usr/bin/true"}}}, false},
	} {
		target, err := delivery.New(tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, got := target.(delivery.Reverter); got != tt.want {
			t.Errorf("%s: implements Reverter=%v, want %v", tt.cfg.Type, got, tt.want)
		}
	}
}
