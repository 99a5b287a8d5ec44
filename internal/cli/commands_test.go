package cli

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword"
)

const secretList = `{"items":[
 {"id":"s1","client_id":"c1","description":"generated 2026-03-01","hint":"abcd","source":"generated","created_at":"2026-03-01T12:00:00Z","created_by":"token:t1 (bootstrap)","use_count":3,"last_used_at":"2026-03-02T08:30:00Z","status":"active"},
 {"id":"s2","client_id":"c1","description":"old\tone","hint":"wxyz","source":"rotation","created_at":"2026-02-01T00:00:00Z","created_by":"system","expires_at":"2026-03-02T12:00:00Z","retiring_since":"2026-03-01T12:00:00Z","use_count":0,"status":"retiring"}
],"total":2,"offset":0,"limit":2}`

func TestSecretListTable(t *testing.T) {
	f := newFakeAPI(t)
	f.on("GET", "/domains/default/clients/web app/secrets", 200, secretList)
	r := f.run("", "secret", "list", "web app")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `ID  DESCRIPTION           HINT   STATUS    SOURCE     CREATED                  EXPIRES                  LAST USED
s1  generated 2026-03-01  …abcd  active    generated  2026-03-01 12:00:00 UTC  never                    2026-03-02 08:30:00 UTC
s2  old one               …wxyz  retiring  rotation   2026-02-01 00:00:00 UTC  2026-03-02 12:00:00 UTC  never
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
	if got := f.last().Path; got != "/domains/default/clients/web app/secrets" {
		t.Errorf("path = %q", got)
	}
}

func TestSecretTableCleansCells(t *testing.T) {
	var buf bytes.Buffer
	err := secretTable(&buf, []watchword.Secret{{ID: "s1", Description: "evil\x1b[31mred\nline", Status: watchword.StatusRevoked}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.ContainsAny(buf.String(), "\x1b") || strings.Count(buf.String(), "\n") != 2 {
		t.Errorf("control characters reached the output: %q", buf.String())
	}
	if !strings.Contains(buf.String(), "evil?[31mred line") {
		t.Errorf("output = %q", buf.String())
	}
}

func TestJSONOutputIsTheAPIResponse(t *testing.T) {
	f := newFakeAPI(t)
	// Fields the CLI does not know must survive -o json.
	f.on("GET", "/domains/prod/clients/web/secrets", 200, `{"items":[{"id":"s1","future_field":{"a":1}}],"total":1,"offset":0,"limit":1}`)
	r := f.run("", "--domain", "prod", "secret", "list", "web", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `{
  "items": [
    {
      "id": "s1",
      "future_field": {
        "a": 1
      }
    }
  ],
  "total": 1,
  "offset": 0,
  "limit": 1
}
`
	if r.stdout != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", r.stdout, want)
	}
}

func TestClientUpdateSendsOnlyChangedFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--description", ""}, `{"description":""}`},
		{[]string{"--name", "new-name"}, `{"name":"new-name"}`},
		{[]string{"--scope", "read", "--scope", "write,admin"}, `{"scopes":["read","write,admin"]}`},
		{[]string{"--scope", ""}, `{"scopes":[]}`},
		{[]string{"--grant-type", "authorization_code,refresh_token", "--redirect-uri", "https://app/cb?a=1,2"},
			`{"grant_types":["authorization_code","refresh_token"],"redirect_uris":["https://app/cb?a=1,2"]}`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("PATCH", "/domains/default/clients/web", 200, `{"id":"c1","name":"web"}`)
			r := f.run("", append([]string{"client", "update", "web"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := f.last().Body; !sameJSON(t, got, tc.want) {
				t.Errorf("body = %s, want %s", got, tc.want)
			}
		})
	}
}

func TestClientDisableEnable(t *testing.T) {
	for verb, want := range map[string]string{"disable": `{"disabled":true}`, "enable": `{"disabled":false}`} {
		f := newFakeAPI(t)
		f.on("PATCH", "/domains/default/clients/web", 200, `{"id":"c1","name":"web"}`)
		if r := f.run("", "client", verb, "web"); r.code != 0 {
			t.Fatalf("%s: exit %d: %s", verb, r.code, r.stderr)
		}
		if got := f.last().Body; !sameJSON(t, got, want) {
			t.Errorf("%s: body = %s, want %s", verb, got, want)
		}
	}
}

const rotateResult = `{"secret":{"id":"s3","client_id":"c1","description":"rotation","hint":"9876","source":"rotation","created_at":"2026-03-01T12:00:00Z","status":"active","secret":"wwcs_NEWPLAINTEXT9876"},
 "rotation":{"id":"r1","client_id":"c1","at":"2026-03-01T12:00:00Z","initiated_by":"token:t1","kind":"rotate","new_secret_id":"s3","new_secret_hint":"9876",
   "old_secrets":[{"id":"s1","hint":"abcd","expires_at":"%s"}],"transition":"%s"}}`

func TestClientRotate(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		transition string // in the response
		expires    string
		wantBody   string
		wantOut    string
	}{
		{"policy default", nil, "24h", "2026-03-02T12:00:00Z", `{}`,
			"old secret s1 (…abcd) stops working at 2026-03-02 12:00:00 UTC\n"},
		{"grace in days", []string{"--grace", "2d", "--description", "q3"}, "48h", "2026-03-03T12:00:00Z",
			`{"transition":"48h","description":"q3"}`, "old secret s1 (…abcd) stops working at 2026-03-03 12:00:00 UTC\n"},
		{"no grace", []string{"--grace", "0"}, "0s", "2026-03-01T12:00:00Z", `{"transition":"0s"}`,
			"old secret s1 (…abcd) stopped working now (no transition period)\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("POST", "/domains/default/clients/web/rotate", 201, strings.ReplaceAll(
				strings.Replace(strings.Replace(rotateResult, "%s", tc.expires, 1), "%s", tc.transition, 1), "\n", ""))
			r := f.run("", append([]string{"client", "rotate", "web"}, tc.args...)...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := f.last().Body; !sameJSON(t, got, tc.wantBody) {
				t.Errorf("body = %s, want %s", got, tc.wantBody)
			}
			if !strings.HasSuffix(r.stdout, tc.wantOut) {
				t.Errorf("stdout = %q, want it to end with %q", r.stdout, tc.wantOut)
			}
			if n := strings.Count(r.stdout, "wwcs_NEWPLAINTEXT9876"); n != 1 {
				t.Errorf("the new secret is shown %d times:\n%s", n, r.stdout)
			}
			if !strings.Contains(r.stdout, "shown only once") {
				t.Errorf("the secret is not marked as shown once:\n%s", r.stdout)
			}
		})
	}
}

func TestSecretAddValueFromStdin(t *testing.T) {
	tests := []struct {
		stdin, want, wantErr string
	}{
		{"my-custom-secret-value-0123456789\n", "my-custom-secret-value-0123456789", ""},
		{"crlf-value\r\n", "crlf-value", ""},
		{"", "", "no secret value on standard input"},
		{"two\nlines\n", "", "must be one line"},
	}
	for _, tc := range tests {
		f := newFakeAPI(t)
		f.on("POST", "/domains/default/clients/web/secrets", 201, `{"id":"s9","hint":"6789","source":"custom","secret":"`+tc.want+`"}`)
		r := f.run(tc.stdin, "secret", "add", "web", "--value-stdin", "--description", "ci")
		if tc.wantErr != "" {
			if r.code == 0 || !strings.Contains(r.stderr, tc.wantErr) || len(f.requests()) != 0 {
				t.Errorf("stdin %q: exit %d, stderr %q, %d requests", tc.stdin, r.code, r.stderr, len(f.requests()))
			}
			continue
		}
		if r.code != 0 {
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
		if got, want := f.last().Body, `{"description":"ci","value":"`+tc.want+`"}`; !hasJSONFields(t, got, want) {
			t.Errorf("body = %s, want %s", got, want)
		}
		if strings.Contains(r.stdout, tc.want) || !strings.Contains(r.stdout, "not shown") {
			t.Errorf("a custom value supplied on stdin was echoed or not acknowledged:\n%s", r.stdout)
		}
	}
}

func TestAuditDomainOnlyWhenFlagGiven(t *testing.T) {
	tests := []struct {
		name      string
		env       string
		args      []string
		wantQuery string
	}{
		{"all domains by default", "", nil, ""},
		{"WATCHWORD_DOMAIN does not filter", "prod", nil, ""},
		{"--domain filters", "prod", []string{"--domain", "staging"}, "domain=staging"},
		{"filters", "", []string{"--action", "client.rotate", "--target", "c1", "--since", "2026-03-01T00:00:00Z", "--limit", "5"},
			"action=client.rotate&limit=5&since=2026-03-01T00%3A00%3A00Z&target=c1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", "/audit", 200, `{"items":[{"id":1,"time":"2026-03-01T12:00:00Z","actor":"token:t1","action":"client.rotate","target_type":"client","target_id":"c1","outcome":"success","details":{"transition":"24h","client_id":"c1"}}],"total":1,"offset":0,"limit":50}`)
			clearEnv(t)
			args := append([]string{"--endpoint", f.srv.URL, "--token", "t", "audit", "list"}, tc.args...)
			t.Setenv("WATCHWORD_DOMAIN", tc.env)
			r := runCLI("", args...)
			if r.code != 0 {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			if got := f.last().Query; got != tc.wantQuery {
				t.Errorf("query = %q, want %q", got, tc.wantQuery)
			}
			if !strings.Contains(r.stdout, "client:c1  client_id=c1 transition=24h") {
				t.Errorf("stdout = %q", r.stdout)
			}
		})
	}
}

const policyJSON = `{"expiry":{"unit":"none"},"max_secrets":10,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":32}`

func TestPolicySetChangesOnlyGivenFields(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		getPath string
		getBody string
		putPath string
		want    string
	}{
		{"domain", []string{"--max-secrets", "5", "--expiry", "90d"},
			"/domains/default/policy", policyJSON, "/domains/default/policy",
			`{"expiry":{"unit":"days","duration":90},"max_secrets":5,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":32}`},
		{"client using domain rules gets its own", []string{"web", "--allow-custom=false", "--default-transition", "1d12h", "--expiry", "none"},
			"/domains/default/clients/web/policy", `{"use_domain_rules":true,"effective":{"expiry":{"unit":"months","duration":3},"max_secrets":4,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":40}}`,
			"/domains/default/clients/web/policy",
			`{"expiry":{"unit":"none"},"max_secrets":4,"default_transition":"36h","max_transition":"168h","allow_custom":false,"min_custom_length":40}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", tc.getPath, 200, tc.getBody)
			f.on("PUT", tc.putPath, 200, tc.getBody)
			r := f.run("", append([]string{"policy", "set"}, tc.args...)...)
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

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in      string
		want    watchword.Expiry
		wantErr bool
	}{
		{"none", watchword.Expiry{Unit: watchword.ExpiryNone}, false},
		{"12h", watchword.Expiry{Unit: watchword.ExpiryHours, Duration: 12}, false},
		{"90d", watchword.Expiry{Unit: watchword.ExpiryDays, Duration: 90}, false},
		{"90 days", watchword.Expiry{Unit: watchword.ExpiryDays, Duration: 90}, false},
		{"3mo", watchword.Expiry{Unit: watchword.ExpiryMonths, Duration: 3}, false},
		{"1 Month", watchword.Expiry{Unit: watchword.ExpiryMonths, Duration: 1}, false},
		{"3m", watchword.Expiry{}, true},
		{"0d", watchword.Expiry{}, true},
		{"2y", watchword.Expiry{}, true},
		{"d", watchword.Expiry{}, true},
		{"-1d", watchword.Expiry{}, true},
		{"", watchword.Expiry{}, true},
	}
	for _, tc := range tests {
		got, err := parseExpiry(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseExpiry(%q) = %+v, %v; want %+v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"0", 0, false},
		{"90m", 90 * time.Minute, false},
		{"24h", 24 * time.Hour, false},
		{"7d", 7 * 24 * time.Hour, false},
		{"1d12h", 36 * time.Hour, false},
		{"1d-1h", 0, true},
		{"d", 0, true},
		{"soon", 0, true},
		{"", 0, true},
	}
	for _, tc := range tests {
		got, err := parseDuration(tc.in)
		if (err != nil) != tc.wantErr || got != tc.want {
			t.Errorf("parseDuration(%q) = %v, %v; want %v, error %v", tc.in, got, err, tc.want, tc.wantErr)
		}
	}
}

func TestClientCreateShowsSecretOnce(t *testing.T) {
	f := newFakeAPI(t)
	f.on("POST", "/domains/default/clients", 201, `{"client":{"id":"c1","name":"web","type":"confidential"},
		"secret":{"id":"s1","hint":"WXYZ","description":"first","status":"active","secret":"wwcs_FIRSTSECRETWXYZ"}}`)
	r := f.run("", "client", "create", "--name", "web", "--scope", "read", "--secret-description", "first")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	want := `{"name":"web","description":"","type":"confidential","grant_types":null,"redirect_uris":[],"scopes":["read"],"secret":{"description":"first"}}`
	if got := f.last().Body; !hasJSONFields(t, got, want) {
		t.Errorf("body = %s\nwant fields %s", got, want)
	}
	for _, s := range []string{"c1", "s1", "shown only once"} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "wwcs_FIRSTSECRETWXYZ"); n != 1 {
		t.Errorf("secret shown %d times:\n%s", n, r.stdout)
	}
}
