package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// probe runs args on the real root command with an extra "probe" command
// and returns what fn computed from the probe's flags.
func probe[T any](t *testing.T, args []string, fn func(cmd *cobra.Command) T) (T, error) {
	t.Helper()
	var got T
	root := newRoot()
	root.AddCommand(&cobra.Command{Use: "probe", RunE: func(cmd *cobra.Command, _ []string) error {
		got = fn(cmd)
		return nil
	}})
	root.SetArgs(args)
	root.SetOut(new(bytes.Buffer))
	root.SetErr(new(bytes.Buffer))
	err := root.ExecuteContext(context.Background())
	return got, err
}

func TestSettingPrecedence(t *testing.T) {
	type values struct{ endpoint, domain, output, dataDir string }
	defaults := values{"http://127.0.0.1:8081", "default", "table", "./watchword-data"}
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want values
	}{
		{"defaults", nil, []string{"probe"}, defaults},
		{"environment", map[string]string{
			"WATCHWORD_ENDPOINT": "http://env:1", "WATCHWORD_DOMAIN": "envdom", "WATCHWORD_OUTPUT": "json", "WATCHWORD_DATA_DIR": "/env/data",
		}, []string{"probe"}, values{"http://env:1", "envdom", "json", "/env/data"}},
		{"flags beat environment", map[string]string{
			"WATCHWORD_ENDPOINT": "http://env:1", "WATCHWORD_DOMAIN": "envdom", "WATCHWORD_OUTPUT": "json", "WATCHWORD_DATA_DIR": "/env/data",
		}, []string{"probe", "--endpoint", "http://flag:2", "--domain", "flagdom", "-o", "table", "--data-dir", "/flag/data"},
			values{"http://flag:2", "flagdom", "table", "/flag/data"}},
		{"flags before the command", nil, []string{"--domain=prod", "--output", "json", "probe"},
			values{defaults.endpoint, "prod", "json", defaults.dataDir}},
		{"flag set to the default still beats environment", map[string]string{"WATCHWORD_DOMAIN": "envdom"},
			[]string{"probe", "--domain", "default"}, defaults},
		{"empty environment counts as unset", map[string]string{"WATCHWORD_DOMAIN": "", "WATCHWORD_ENDPOINT": ""},
			[]string{"probe"}, defaults},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			got, err := probe(t, tc.args, func(cmd *cobra.Command) values {
				return values{endpointSetting.get(cmd), domainSetting.get(cmd), outputSetting.get(cmd), dataDir(cmd)}
			})
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestAdminToken(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "admin-token"), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return d
	}
	good := write("good", "wwat_fromfile\n")
	other := write("other", "  wwat_otherfile  \r\n")
	empty := write("empty", "\n")
	twoLines := write("two", "wwat_a\nwwat_b\n")
	missing := filepath.Join(dir, "missing")

	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		want    string
		wantErr string
	}{
		{"flag beats env and file", map[string]string{"WATCHWORD_TOKEN": "wwat_env", "WATCHWORD_DATA_DIR": good},
			[]string{"--token", "wwat_flag"}, "wwat_flag", ""},
		{"env beats file", map[string]string{"WATCHWORD_TOKEN": "wwat_env", "WATCHWORD_DATA_DIR": good}, nil, "wwat_env", ""},
		{"file in data dir from env", map[string]string{"WATCHWORD_DATA_DIR": good}, nil, "wwat_fromfile", ""},
		{"file in data dir from flag beats env", map[string]string{"WATCHWORD_DATA_DIR": good},
			[]string{"--data-dir", other}, "wwat_otherfile", ""},
		{"missing file", map[string]string{"WATCHWORD_DATA_DIR": missing}, nil, "",
			"no admin token: set --token or WATCHWORD_TOKEN, or point --data-dir (WATCHWORD_DATA_DIR) at the server's data directory (" + filepath.Join(missing, "admin-token") + " does not exist)"},
		{"empty file", nil, []string{"--data-dir", empty}, "", "is empty"},
		{"two lines", nil, []string{"--data-dir", twoLines}, "", "more than one line"},
		{"empty flag", map[string]string{"WATCHWORD_DATA_DIR": good}, []string{"--token", " "}, "", "--token is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			type out struct {
				token string
				err   error
			}
			got, err := probe(t, append([]string{"probe"}, tc.args...), func(cmd *cobra.Command) out {
				tok, err := adminToken(cmd)
				return out{tok, err}
			})
			if err != nil {
				t.Fatal(err)
			}
			if tc.wantErr != "" {
				if got.err == nil || !strings.Contains(got.err.Error(), tc.wantErr) {
					t.Errorf("error = %v, want one containing %q", got.err, tc.wantErr)
				}
				return
			}
			if got.err != nil || got.token != tc.want {
				t.Errorf("token = %q, %v; want %q", got.token, got.err, tc.want)
			}
		})
	}
}

// TestTokenFileUsed checks end to end that a command sends the token from
// the data directory.
func TestTokenFileUsed(t *testing.T) {
	f := newFakeAPI(t)
	f.on("GET", "/whoami", 200, `{"id":"token:abc","name":"bootstrap","role":"admin"}`)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "admin-token"), []byte("wwat_secretfile\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	clearEnv(t)
	t.Setenv("WATCHWORD_DATA_DIR", dir)
	r := runCLI("", "--endpoint", f.srv.URL, "whoami")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	if got := f.last().Auth; got != "Bearer wwat_secretfile" {
		t.Errorf("Authorization = %q", got)
	}
	if !strings.Contains(r.stdout, "token:abc") || !strings.Contains(r.stdout, "admin") {
		t.Errorf("stdout = %q", r.stdout)
	}
}

func TestErrorOutput(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		wantStderr string
	}{
		{"api message", 404,
			`{"type":"urn:watchword:problem:not_found","title":"Not Found","status":404,"detail":"Client \"web\" not found in domain \"default\".","code":"not_found","field":"client"}`,
			"error: Client \"web\" not found in domain \"default\".\n"},
		{"several fields", 400,
			`{"title":"Bad Request","status":400,"detail":"name: is required; type: must be confidential or public","code":"invalid","field":"name",
			  "errors":[{"field":"name","detail":"is required"},{"field":"type","detail":"must be confidential or public"}]}`,
			"error: 2 problems:\n  name: is required\n  type: must be confidential or public\n"},
		{"unauthorized adds where the token comes from", 401,
			`{"status":401,"detail":"Invalid or missing admin token.","code":"unauthorized"}`,
			"error: Invalid or missing admin token.\n(the admin token comes from --token, WATCHWORD_TOKEN or the file admin-token in --data-dir)\n"},
		{"a message fragment is prefixed with its field", 400,
			`{"status":400,"detail":"is required","code":"invalid","field":"name"}`,
			"error: name: is required\n"},
		{"not a problem", 502, "upstream down", "unexpected response 502 Bad Gateway: upstream down\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", "/domains/default/clients/web", tc.status, tc.body)
			r := f.run("", "client", "get", "web")
			if r.code != 1 {
				t.Errorf("exit code %d, want 1", r.code)
			}
			if r.stdout != "" {
				t.Errorf("stdout = %q, want nothing", r.stdout)
			}
			if !strings.HasSuffix(r.stderr, tc.wantStderr) || !strings.HasPrefix(r.stderr, "error: ") {
				t.Errorf("stderr = %q, want %q", r.stderr, tc.wantStderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"client", "get"}, "error: wrong number of arguments (0); usage: watchword client get CLIENT [flags]\n"},
		{[]string{"secret", "get", "web"}, "usage: watchword secret get CLIENT ID [flags]"},
		{[]string{"secret", "list", "a", "b"}, "wrong number of arguments (2)"},
		{[]string{"policy", "get", "a", "b"}, "usage: watchword policy get [CLIENT] [flags]"},
		{[]string{"client", "frobnicate"}, `error: unknown command "frobnicate" for "watchword client"`},
		{[]string{"client", "list", "--bogus"}, "error: unknown flag: --bogus\nRun 'watchword client list --help' for usage.\n"},
		{[]string{"client", "list", "-o", "xml"}, `invalid output format "xml": use table or json`},
		{[]string{"client", "list", "--disabled", "maybe"}, "--disabled must be true or false"},
		{[]string{"client", "update", "web"}, "nothing to change"},
		{[]string{"client", "rotate", "web", "--grace", "soon"}, `--grace: "soon" is not a duration`},
		{[]string{"policy", "set"}, "nothing to change"},
		{[]string{"policy", "set", "--expiry", "3m"}, `"3m" is ambiguous: write 3mo for months`},
		{[]string{"client", "create"}, `required flag(s) "name" not set`},
		{[]string{"bogus"}, `unknown command "bogus" for "watchword"`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAPI(t)
			f.on("GET", "/domains/default/policy", 200, `{"expiry":{"unit":"none"},"max_secrets":10,"default_transition":"24h","max_transition":"168h","allow_custom":true,"min_custom_length":32}`)
			r := f.run("", tc.args...)
			if r.code == 0 {
				t.Errorf("exit code 0")
			}
			if !strings.Contains(r.stderr, tc.want) {
				t.Errorf("stderr = %q, want it to contain %q", r.stderr, tc.want)
			}
			for _, req := range f.requests() {
				if req.Method != "GET" {
					t.Errorf("a usage error sent %s %s", req.Method, req.Path)
				}
			}
		})
	}
}
