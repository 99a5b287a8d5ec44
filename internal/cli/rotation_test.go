package cli

import (
	"strings"
	"testing"
)

const runJSON = `{"id":"run_abc","domain_id":"d1","client_id":"c1","trigger":"manual","initiated_by":"token:t1 (ops)","status":"failed","step":"deliver",` +
	`"attempts":3,"next_attempt_at":"2026-03-01T12:00:00Z","last_error":"webhook: HTTP 500","reason":"step deliver kept failing","schedule":{},` +
	`"pending_secret_id":"s9","previous_secret_ids":[],"steps":[` +
	`{"step":"create","at":"2026-03-01T12:00:00Z","outcome":"ok","detail":"pending secret s9"},` +
	`{"step":"deliver","at":"2026-03-01T12:00:01Z","outcome":"error","detail":"webhook: HTTP 500"}],` +
	`"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:05:00Z","finished_at":"2026-03-01T12:05:00Z"}`

const targetWebhookJSON = `{"id":"t1","client_id":"c1","name":"deploy","type":"webhook","disabled":false,` +
	`"config":{"type":"webhook","webhook":{"url":"https://deploy.example/h","signing_secret":""}},"created_at":"2026-03-01T12:00:00Z","updated_at":"2026-03-01T12:00:00Z"}`

func TestRotationCommands(t *testing.T) {
	tests := []struct {
		name          string
		args          []string
		stdin         string
		method, path  string
		status        int
		response      string
		wantBody      string // the request body; "-" for none
		wantQuery     string
		wantOut       []string
		wantNotStdout string
	}{
		{
			name: "domain schedule", args: []string{"rotation", "schedule", "get"},
			method: "GET", path: "/domains/default/rotation-schedule", status: 200,
			response: `{"every":"720h","transition":"36h","check_url":"https://app.example/healthz"}`, wantBody: "-",
			wantOut: []string{"Rotation schedule of domain default:", "every 30d after the latest run", "1d12h", "15m (default)", "https://app.example/healthz"},
		},
		{
			name: "client schedule", args: []string{"--domain", "prod", "rotation", "schedule", "get", "web"},
			method: "GET", path: "/domains/prod/clients/web/rotation-schedule", status: 200,
			response: `{"use_domain_schedule":true,"effective":{"cron":"0 3 * * 1"},"next_run_at":"2026-03-02T03:00:00Z"}`, wantBody: "-",
			wantOut: []string{"client web (the domain's schedule)", "cron 0 3 * * 1 (UTC)", "the secret policy's default", "Next run:", "2026-03-02 03:00:00 UTC"},
		},
		{
			name: "off", args: []string{"rotation", "schedule", "off", "web"},
			method: "PUT", path: "/domains/default/clients/web/rotation-schedule", status: 200,
			response: `{"use_domain_schedule":false,"override":{},"effective":{}}`, wantBody: `{}`,
			wantOut: []string{"its own schedule: off", "not on its own", "Next run:", "none"},
		},
		{
			name: "inherit", args: []string{"rotation", "schedule", "inherit", "web"},
			method: "DELETE", path: "/domains/default/clients/web/rotation-schedule", status: 200,
			response: `{"use_domain_schedule":true,"effective":{"every":"24h"}}`, wantBody: "-",
			wantOut: []string{"(the domain's schedule)", "every 1d after"},
		},
		{
			name: "start", args: []string{"rotation", "start", "web"},
			method: "POST", path: "/domains/default/clients/web/rotation-runs", status: 202,
			response: `{"id":"run_new","status":"running","step":"create","steps":[]}`, wantBody: "-",
			wantOut: []string{"Started rotation run run_new of client web.", "watchword rotation show web run_new"},
		},
		{
			name: "runs", args: []string{"rotation", "runs", "web", "--limit", "5"},
			method: "GET", path: "/domains/default/clients/web/rotation-runs", status: 200,
			response: `{"items":[` + runJSON + `,{"id":"run_2","status":"running","cancel_requested":true,"step":"test","trigger":"schedule","initiated_by":"system","created_at":"2026-03-02T12:00:00Z"}],"total":2,"offset":0,"limit":5}`,
			wantBody: "-", wantQuery: "limit=5",
			wantOut: []string{"ID", "STATUS", "run_abc  failed", "deliver", "step deliver kept failing", "2026-03-01 12:05:00 UTC", "run_2    cancelling  test", "system"},
		},
		{
			name: "show", args: []string{"rotation", "show", "web", "run_abc"},
			method: "GET", path: "/domains/default/clients/web/rotation-runs/run_abc", status: 200, response: runJSON, wantBody: "-",
			wantOut: []string{"ID:", "run_abc", "failed", "manual by token:t1 (ops)", "Pending secret:", "s9", "Steps:",
				"TIME                     STEP     OUTCOME  DETAIL", "2026-03-01 12:00:01 UTC  deliver  error    webhook: HTTP 500"},
		},
		{
			name: "retry", args: []string{"rotation", "retry", "web", "run_abc"},
			method: "POST", path: "/domains/default/clients/web/rotation-runs/run_abc/retry", status: 200,
			response: `{"id":"run_abc","status":"running","step":"create"}`, wantBody: "-",
			wantOut: []string{"Rotation run run_abc of client web is running again at step create."},
		},
		{
			name: "cancel with reason", args: []string{"rotation", "cancel", "web", "run_abc", "--reason", "wrong target"},
			method: "POST", path: "/domains/default/clients/web/rotation-runs/run_abc/cancel", status: 200,
			response: `{"id":"run_abc","status":"running","cancel_requested":true}`, wantBody: `{"reason":"wrong target"}`,
			wantOut: []string{"Asked rotation run run_abc of client web to stop"},
		},
		{
			name: "cancel", args: []string{"rotation", "cancel", "web", "run_abc"},
			method: "POST", path: "/domains/default/clients/web/rotation-runs/run_abc/cancel", status: 200,
			response: `{"id":"run_abc","status":"running","cancel_requested":true}`, wantBody: `{}`,
		},
		{
			name: "file target", args: []string{"target", "add", "web", "--name", "env-file", "--type", "file", "--path", "/etc/web/secret.env", "--format", "env", "--env-name", "WEB_SECRET"},
			method: "POST", path: "/domains/default/clients/web/targets", status: 201,
			response: `{"id":"t2","name":"env-file","type":"file","config":{"type":"file","file":{"path":"/etc/web/secret.env","format":"env","env_name":"WEB_SECRET"}}}`,
			wantBody: `{"name":"env-file","config":{"type":"file","file":{"path":"/etc/web/secret.env","format":"env","env_name":"WEB_SECRET"}}}`,
			wantOut:  []string{"Added file target env-file (ID t2) to client web.", "/etc/web/secret.env", "env (WEB_SECRET)"},
		},
		{
			name: "webhook target prints its signing secret once", args: []string{"targets", "add", "web", "--name", "deploy", "--type", "webhook", "--url", "https://deploy.example/h", "--timeout", "15s"},
			method: "POST", path: "/domains/default/clients/web/targets", status: 201,
			response: strings.TrimSuffix(targetWebhookJSON, "}") + `,"signing_secret":"whsec_c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Ng=="}`,
			wantBody: `{"name":"deploy","config":{"type":"webhook","webhook":{"url":"https://deploy.example/h","signing_secret":"","timeout_seconds":15}}}`,
			wantOut:  []string{"Added webhook target deploy", "https://deploy.example/h", "shown only once", "whsec_c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Ng=="},
		},
		{
			name: "webhook target with a signing secret from stdin", args: []string{"target", "add", "web", "--name", "deploy", "--type", "webhook", "--url", "https://10.0.0.7/h", "--signing-secret-stdin", "--allow-private"},
			stdin:  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\n",
			method: "POST", path: "/domains/default/clients/web/targets", status: 201, response: targetWebhookJSON,
			wantBody:      `{"name":"deploy","config":{"type":"webhook","webhook":{"url":"https://10.0.0.7/h","signing_secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw","allow_private":true}}}`,
			wantNotStdout: "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		},
		{
			name: "replayed webhook target", args: []string{"target", "add", "web", "--name", "deploy", "--type", "webhook", "--url", "https://deploy.example/h"},
			method: "POST", path: "/domains/default/clients/web/targets", status: 201,
			response: strings.TrimSuffix(targetWebhookJSON, "}") + `,"signing_secret_redacted":true}`,
			wantOut:  []string{"Signing secret: not shown", "delete the target and add it again"},
		},
		{
			name: "command target", args: []string{"target", "add", "web", "--name", "reload", "--type", "command", "--command", "/usr/local/bin/reload",
				"--arg", "web", "--arg", "a b,c", "--env", "MODE=prod", "--format", "json", "--timeout", "2m"},
			method: "POST", path: "/domains/default/clients/web/targets", status: 201,
			response: `{"id":"t3","name":"reload","type":"command","config":{"type":"command","command":{"argv":["/usr/local/bin/reload","web","a b,c"],"format":"json","timeout_seconds":120}}}`,
			wantBody: `{"name":"reload","config":{"type":"command","command":{"argv":["/usr/local/bin/reload","web","a b,c"],"env":["MODE=prod"],"format":"json","timeout_seconds":120}}}`,
			wantOut:  []string{"Added command target reload", "/usr/local/bin/reload web a b,c", "2m"},
		},
		{
			name: "target list", args: []string{"target", "list", "web"},
			method: "GET", path: "/domains/default/clients/web/targets", status: 200,
			response: `{"items":[` + targetWebhookJSON + `],"total":1,"offset":0,"limit":1}`, wantBody: "-",
			wantOut: []string{"NAME    ID  TYPE     DESTINATION               FORMAT  STATUS   CREATED", "deploy  t1  webhook  https://deploy.example/h  -       enabled"},
		},
		{
			name: "target disable", args: []string{"target", "disable", "web", "deploy"},
			method: "PATCH", path: "/domains/default/clients/web/targets/deploy", status: 200,
			response: `{"id":"t1","name":"deploy","type":"webhook","disabled":true,"config":{"type":"webhook","webhook":{"url":"https://deploy.example/h"}}}`,
			wantBody: `{"disabled":true}`,
			wantOut:  []string{"Target deploy of client web is disabled."},
		},
		{
			name: "target enable", args: []string{"target", "enable", "web", "deploy"},
			method: "PATCH", path: "/domains/default/clients/web/targets/deploy", status: 200,
			response: targetWebhookJSON, wantBody: `{"disabled":false}`,
			wantOut: []string{"Target deploy of client web is enabled."},
		},
		{
			name: "target delete", args: []string{"target", "delete", "web", "deploy"},
			method: "DELETE", path: "/domains/default/clients/web/targets/deploy", status: 204, wantBody: "-",
			wantOut: []string{"Deleted target deploy of client web."},
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
			if n := len(f.requests()); n != 1 {
				t.Errorf("%d requests, want 1", n)
			}
			got := f.last()
			if got.Method != tt.method || got.Path != tt.path {
				t.Errorf("request %s %s, want %s %s", got.Method, got.Path, tt.method, tt.path)
			}
			switch tt.wantBody {
			case "":
			case "-":
				if got.Body != "" {
					t.Errorf("body %s, want none", got.Body)
				}
			default:
				if !sameJSON(t, got.Body, tt.wantBody) {
					t.Errorf("body %s, want %s", got.Body, tt.wantBody)
				}
			}
			if got.Query != tt.wantQuery {
				t.Errorf("query %q, want %q", got.Query, tt.wantQuery)
			}
			for _, want := range tt.wantOut {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("output lacks %q:\n%s", want, r.stdout)
				}
			}
			if s := "whsec_c2VjcmV0LXNpZ25pbmcta2V5LXZhbHVlLTEyMzQ1Ng=="; strings.Count(r.stdout, s) > 1 {
				t.Errorf("the signing secret is shown more than once:\n%s", r.stdout)
			}
			if tt.wantNotStdout != "" && strings.Contains(r.stdout+r.stderr, tt.wantNotStdout) {
				t.Errorf("output shows %q", tt.wantNotStdout)
			}
		})
	}
}

// TestScheduleSet changes only the flags given: it reads the schedule in
// effect, then writes it back with the changes.
func TestScheduleSet(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		getPath string
		getBody string
		putPath string
		want    string
	}{
		{"domain", []string{"--every", "30d", "--transition", "24h"},
			"/domains/default/rotation-schedule", `{"check_url":"https://app.example/h"}`, "/domains/default/rotation-schedule",
			`{"every":"720h","transition":"24h","check_url":"https://app.example/h"}`},
		{"cron replaces every", []string{"web", "--cron", "0 3 * * 1", "--still-in-use-window", "30m", "--finish-when-unused-for", "2h"},
			"/domains/default/clients/web/rotation-schedule", `{"use_domain_schedule":true,"effective":{"every":"720h","transition":"24h"}}`,
			"/domains/default/clients/web/rotation-schedule",
			`{"cron":"0 3 * * 1","transition":"24h","still_in_use_window":"30m","finish_when_unused_for":"2h"}`},
		{"every replaces cron, empty values clear", []string{"web", "--every", "12h", "--transition", "", "--check-url", ""},
			"/domains/default/clients/web/rotation-schedule", `{"use_domain_schedule":false,"override":{},"effective":{"cron":"@daily","transition":"1h","check_url":"https://x/h"}}`,
			"/domains/default/clients/web/rotation-schedule", `{"every":"12h"}`},
		{"transition 0 is kept", []string{"--transition", "0"},
			"/domains/default/rotation-schedule", `{"every":"24h"}`, "/domains/default/rotation-schedule", `{"every":"24h","transition":"0s"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", tc.getPath, 200, tc.getBody)
			f.on("PUT", tc.putPath, 200, tc.getBody)
			r := f.run("", append([]string{"rotation", "schedule", "set"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			reqs := f.requests()
			if len(reqs) != 2 || reqs[0].Method != "GET" || reqs[1].Method != "PUT" {
				t.Fatalf("requests = %+v", reqs)
			}
			if !sameJSON(t, reqs[1].Body, tc.want) {
				t.Errorf("PUT body = %s\nwant %s", reqs[1].Body, tc.want)
			}
		})
	}
}

// TestRotationUsageErrors: mistakes in the command line are reported
// before any request.
func TestRotationUsageErrors(t *testing.T) {
	addFile := []string{"target", "add", "web", "--name", "f", "--type", "file"}
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"rotation", "schedule", "set"}, "nothing to change"},
		{[]string{"rotation", "schedule", "set", "web", "--every", "30d", "--cron", "@daily"}, "--every and --cron exclude each other"},
		{[]string{"rotation", "schedule", "set", "--every", "monthly"}, `--every: "monthly" is not a duration`},
		{[]string{"rotation", "schedule", "set", "--transition", "1d-1h"}, "--transition:"},
		{[]string{"rotation", "schedule", "off"}, "usage: watchword rotation schedule off CLIENT [flags]"},
		{[]string{"rotation", "schedule", "get", "a", "b"}, "wrong number of arguments (2)"},
		{[]string{"rotation", "show", "web"}, "usage: watchword rotation show CLIENT RUN [flags]"},
		{[]string{"rotation", "start"}, "usage: watchword rotation start CLIENT [flags]"},
		{[]string{"rotation", "cancel", "web", "run_1", "--force"}, "unknown flag: --force"},
		{[]string{"rotation", "frobnicate"}, `unknown command "frobnicate" for "watchword rotation"`},
		{[]string{"target", "add", "web", "--type", "file", "--path", "/x"}, `required flag(s) "name" not set`},
		{[]string{"target", "add", "web", "--name", "f"}, `required flag(s) "type" not set`},
		{[]string{"target", "add", "web", "--name", "f", "--type", "ftp"}, "--type must be file, webhook or command"},
		{addFile, "--type file needs --path"},
		{append(addFile, "--path", "/x", "--url", "https://h/"), "--url is not for --type file"},
		{append(addFile, "--path", "/x", "--timeout", "5s"), "--timeout is not for --type file"},
		{[]string{"target", "add", "web", "--name", "w", "--type", "webhook", "--url", "https://h/", "--format", "env"}, "--format is not for --type webhook"},
		{[]string{"target", "add", "web", "--name", "w", "--type", "webhook", "--url", "https://h/", "--timeout", "1500ms"}, "--timeout must be a whole number of seconds"},
		{[]string{"target", "add", "web", "--name", "c", "--type", "command", "--arg", "x"}, "--type command needs --command"},
		{[]string{"target", "add", "web", "--name", "w", "--type", "webhook", "--url", "https://h/", "--signing-secret-stdin"}, "no secret value on standard input"},
		{[]string{"target", "delete", "web"}, "usage: watchword target delete CLIENT TARGET [flags]"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			r := f.run("", tc.args...)
			if r.code == 0 {
				t.Errorf("exit code 0")
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tc.want)
			}
			if reqs := f.requests(); len(reqs) != 0 {
				t.Errorf("a usage error sent %d requests: %+v", len(reqs), reqs)
			}
		})
	}
}

// TestRotationAPIErrors: the API's problems reach people with their fields.
func TestRotationAPIErrors(t *testing.T) {
	f := newFakeAPI(t)
	f.on("GET", "/domains/default/rotation-schedule", 200, `{}`)
	f.on("PUT", "/domains/default/rotation-schedule", 400,
		`{"status":400,"code":"invalid","field":"every","detail":"every: must be at least 1h","errors":[{"field":"every","detail":"must be at least 1h"}]}`)
	r := f.run("", "rotation", "schedule", "set", "--every", "30m")
	if r.code != 1 || !strings.Contains(r.stderr, "every: must be at least 1h") {
		t.Errorf("bad schedule: %+v", r)
	}
	f.on("POST", "/domains/default/clients/web/rotation-runs", 409,
		`{"status":409,"code":"conflict","field":"client","detail":"Client \"web\" has rotation run run_1 in progress (step deliver); wait for it or cancel it first."}`)
	r = f.run("", "rotation", "start", "web")
	if r.code != 1 || !strings.Contains(r.stderr, "run_1 in progress") {
		t.Errorf("second run: %+v", r)
	}
}
