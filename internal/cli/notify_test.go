package cli

import (
	"strings"
	"testing"
)

const channelJSON = `{"id":"ch1","domain_id":"d1","name":"ops-hook","type":"webhook","url":"https://hooks.example/w","events":[],` +
	`"signing_secrets":[{"id":"ss1","hint":"Zx9Q","created_at":"2026-03-01T12:00:00Z"}],"disabled":false,` +
	`"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`

func TestNotifyCommands(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		stdin         string
		method, path  string
		status        int
		response      string
		wantBody      string // the request body, if any
		wantQuery     string
		wantOut       []string
		wantNotStdout string
	}{
		{
			name:   "channel create prints the signing secret once",
			args:   []string{"notify", "channel", "create", "ops-hook", "--url", "https://hooks.example/w", "--event", "secret.expiring,secret.expired"},
			method: "POST", path: "/domains/default/channels", status: 201,
			response: `{"channel":` + channelJSON + `,"signing_secret":"whsec_c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Ng=="}`,
			wantBody: `{"name":"ops-hook","type":"webhook","url":"https://hooks.example/w","events":["secret.expiring","secret.expired"]}`,
			wantOut:  []string{"Created webhook channel ops-hook", "whsec_c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Ng==", "ss1 …Zx9Q, current"},
		},
		{
			name:   "channel create reads a signing secret from stdin",
			args:   []string{"notify", "channel", "create", "ops-hook", "--url", "https://hooks.example/w", "--signing-secret-stdin"},
			stdin:  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
			method: "POST", path: "/domains/default/channels", status: 201,
			response:      `{"channel":` + channelJSON + `}`,
			wantBody:      `{"name":"ops-hook","type":"webhook","url":"https://hooks.example/w","signing_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}`,
			wantNotStdout: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		},
		{
			name:   "email channel",
			args:   []string{"notify", "channel", "create", "ops-mail", "--type", "email"},
			method: "POST", path: "/domains/default/channels", status: 201,
			response: `{"channel":{"id":"ch2","name":"ops-mail","type":"email","events":[]}}`,
			wantBody: `{"name":"ops-mail","type":"email"}`,
			wantOut:  []string{"owners and client contacts"},
		},
		{
			name:   "rotate-secret with grace",
			args:   []string{"notify", "channel", "rotate-secret", "ops-hook", "--grace", "2d"},
			method: "POST", path: "/domains/default/channels/ops-hook/rotate-secret", status: 200,
			response: `{"channel":` + channelJSON + `,"signing_secret":"whsec_bmV3LXNpZ25pbmctc2VjcmV0LXZhbHVlLTEyMzQ1Njc4"}`,
			wantBody: `{"transition":"48h"}`,
			wantOut:  []string{"whsec_bmV3LXNpZ25pbmctc2VjcmV0LXZhbHVlLTEyMzQ1Njc4"},
		},
		{
			name:   "disable",
			args:   []string{"notify", "channel", "disable", "ops-hook"},
			method: "PATCH", path: "/domains/default/channels/ops-hook", status: 200,
			response: strings.Replace(channelJSON, `"disabled":false`, `"disabled":true`, 1),
			wantBody: `{"disabled":true}`,
			wantOut:  []string{"Channel ops-hook is disabled."},
		},
		{
			name:   "list failed notifications",
			args:   []string{"notify", "list", "--status", "failed", "--client", "billing-api"},
			method: "GET", path: "/domains/default/notifications", status: 200,
			response: `{"items":[{"id":"n1","event_id":"evt_1","event_type":"secret.expiring","channel_id":"ch1","status":"failed","attempts":10,` +
				`"next_attempt_at":"2026-03-01T12:00:00Z","last_attempt_at":"2026-03-01T20:31:00Z","last_error":"webhook: HTTP 500 boom",` +
				`"event":{"id":"evt_1","type":"secret.expiring","data":{"client":{"name":"billing-api"},"secret":{"hint":"ab12"}}}}],"total":1,"offset":0,"limit":50}`,
			wantQuery: "client=billing-api&status=failed",
			wantOut:   []string{"n1", "secret.expiring", "billing-api", "…ab12", "failed", "10", "2026-03-01 20:31:00 UTC", "webhook: HTTP 500 boom"},
		},
		{
			name:   "retry",
			args:   []string{"notify", "retry", "n1"},
			method: "POST", path: "/domains/default/notifications/n1/retry", status: 200,
			response: `{"id":"n1","status":"pending"}`,
			wantOut:  []string{"Notification n1 is pending again"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on(tt.method, tt.path, tt.status, tt.response)
			r := f.run(tt.stdin, tt.args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			got := f.last()
			if got.Method != tt.method || got.Path != tt.path {
				t.Errorf("request %s %s, want %s %s", got.Method, got.Path, tt.method, tt.path)
			}
			if tt.wantBody != "" && !sameJSON(t, got.Body, tt.wantBody) {
				t.Errorf("body %s, want %s", got.Body, tt.wantBody)
			}
			if tt.wantQuery != "" && got.Query != tt.wantQuery {
				t.Errorf("query %q, want %q", got.Query, tt.wantQuery)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
			if tt.wantNotStdout != "" && strings.Contains(r.stdout+r.stderr, tt.wantNotStdout) {
				t.Errorf("output shows %q", tt.wantNotStdout)
			}
		})
	}
}

// TestNotifySettingsSet changes only the flags given: it reads the
// settings, then writes them back with the changes.
func TestNotifySettingsSet(t *testing.T) {
	f := newFakeAPI(t)
	current := `{"owners":["ops@example.org"],"expiry_schedule":"0 5 * * *","expiry_thresholds":[20,15,10,5,1]}`
	f.on("GET", "/domains/default/notification-settings", 200, current)
	f.on("PUT", "/domains/default/notification-settings", 200, `{"owners":["ops@example.org"],"expiry_schedule":"0 5 * * *","expiry_thresholds":[30,7]}`)
	r := f.run("", "notify", "settings", "set", "--thresholds", "30,7")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got, want := f.last().Body, `{"owners":["ops@example.org"],"expiry_schedule":"0 5 * * *","expiry_thresholds":[30,7]}`; !sameJSON(t, got, want) {
		t.Errorf("PUT %s, want %s", got, want)
	}
	if !strings.Contains(r.stdout, "30, 7") {
		t.Errorf("output %q", r.stdout)
	}
	if r := f.run("", "notify", "settings", "set"); r.code == 0 || !strings.Contains(r.stderr, "nothing to change") {
		t.Errorf("set without flags: exit %d, %q", r.code, r.stderr)
	}
}
