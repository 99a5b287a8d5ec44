package cli

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/testenv"
)

// TestRotationWalkthrough sets a schedule, adds delivery targets and starts
// a run with the CLI against a real server, on both databases. The run is
// not carried out: the test server runs no background jobs.
func TestRotationWalkthrough(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			clearEnv(t)
			s := testenv.Start(t, backend, testenv.Options{SMTP: config.SMTP{Host: "127.0.0.1", Port: 2525, From: "watchword@example.org", TLS: "none"}})
			cli := func(args ...string) result {
				t.Helper()
				return runCLI("", append([]string{"--endpoint", s.AdminURL, "--token", s.Token}, args...)...)
			}
			ok := func(r result) result {
				t.Helper()
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				return r
			}
			mustJSON := func(r result, v any) {
				t.Helper()
				if err := json.Unmarshal([]byte(ok(r).stdout), v); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, r.stdout)
				}
			}
			ok(cli("client", "create", "--name", "billing-api"))

			// Schedules: the domain's, inherited, overridden, off, inherited again.
			r := ok(cli("rotation", "schedule", "set", "--every", "30d", "--transition", "24h"))
			if !strings.Contains(r.stdout, "every 30d") || !strings.Contains(r.stdout, "Transition:") {
				t.Errorf("schedule set:\n%s", r.stdout)
			}
			r = ok(cli("rotation", "schedule", "get", "billing-api"))
			if !strings.Contains(r.stdout, "(the domain's schedule)") || !strings.Contains(r.stdout, "every 30d") || regexp.MustCompile(`Next run:\s+none`).MatchString(r.stdout) {
				t.Errorf("inherited schedule:\n%s", r.stdout)
			}
			ok(cli("rotation", "schedule", "set", "billing-api", "--cron", "0 3 * * 1", "--check-url", "https://billing.example/healthz"))
			var cr struct {
				UseDomainSchedule bool `json:"use_domain_schedule"`
				Effective         map[string]string
			}
			mustJSON(cli("rotation", "schedule", "get", "billing-api", "-o", "json"), &cr)
			if cr.UseDomainSchedule || cr.Effective["cron"] != "0 3 * * 1" || cr.Effective["every"] != "" || cr.Effective["transition"] != "24h" ||
				cr.Effective["check_url"] != "https://billing.example/healthz" {
				t.Errorf("client schedule: %+v", cr)
			}
			if r := cli("rotation", "schedule", "set", "billing-api", "--every", "30m"); r.code != 1 || !strings.Contains(r.stderr, "every") || !strings.Contains(r.stderr, "at least 1h") {
				t.Errorf("every below the minimum: %+v", r)
			}
			if r := ok(cli("rotation", "schedule", "off", "billing-api")); !strings.Contains(r.stdout, "its own schedule: off") {
				t.Errorf("off:\n%s", r.stdout)
			}
			if r := ok(cli("rotation", "schedule", "inherit", "billing-api")); !strings.Contains(r.stdout, "(the domain's schedule)") {
				t.Errorf("inherit:\n%s", r.stdout)
			}

			// Targets: a file and a webhook, whose signing secret is shown once.
			path := filepath.Join(t.TempDir(), "billing.env")
			ok(cli("target", "add", "billing-api", "--name", "env-file", "--type", "file", "--path", path, "--format", "env", "--env-name", "BILLING_SECRET"))
			r = ok(cli("targets", "add", "billing-api", "--name", "deploy", "--type", "webhook", "--url", "https://deploy.example/hooks/watchword"))
			signing := regexp.MustCompile(`whsec_[A-Za-z0-9+/=]+`).FindString(r.stdout)
			if signing == "" || !strings.Contains(r.stdout, "shown only once") {
				t.Fatalf("webhook target: no signing secret shown:\n%s", r.stdout)
			}
			if r := cli("target", "add", "billing-api", "--name", "bad", "--type", "file", "--path", "relative/path"); r.code != 1 || !strings.Contains(r.stderr, "config") || !strings.Contains(r.stderr, "absolute") {
				t.Errorf("relative path: %+v", r)
			}
			r = ok(cli("target", "list", "billing-api"))
			for _, want := range []string{"env-file", path, "env (BILLING_SECRET)", "deploy", "https://deploy.example/hooks/watchword"} {
				if !strings.Contains(r.stdout, want) {
					t.Errorf("target list lacks %q:\n%s", want, r.stdout)
				}
			}
			if j := ok(cli("target", "list", "billing-api", "-o", "json")); strings.Contains(r.stdout+j.stdout, signing) {
				t.Errorf("the target list shows the signing secret")
			}

			// Runs: start one; a second start while it runs is refused.
			r = ok(cli("rotation", "start", "billing-api"))
			id := regexp.MustCompile(`run_[A-Za-z0-9]+`).FindString(r.stdout)
			if id == "" {
				t.Fatalf("start:\n%s", r.stdout)
			}
			if r := cli("rotation", "start", "billing-api"); r.code != 1 || !strings.Contains(r.stderr, id) || !strings.Contains(r.stderr, "in progress") {
				t.Errorf("second start: %+v", r)
			}
			if r := ok(cli("rotation", "runs", "billing-api")); !strings.Contains(r.stdout, id) || !strings.Contains(r.stdout, "running") || !strings.Contains(r.stdout, "manual") {
				t.Errorf("runs:\n%s", r.stdout)
			}
			if r := ok(cli("rotation", "show", "billing-api", id)); !strings.Contains(r.stdout, "Steps:") || !strings.Contains(r.stdout, "create") {
				t.Errorf("show:\n%s", r.stdout)
			}

			// A viewer reads runs but cannot start or cancel one.
			var tok struct{ Token string }
			mustJSON(cli("token", "create", "--name", "dash", "--role", "viewer", "-o", "json"), &tok)
			viewer := func(args ...string) result {
				return runCLI("", append([]string{"--endpoint", s.AdminURL, "--token", tok.Token}, args...)...)
			}
			ok(viewer("rotation", "runs", "billing-api"))
			for _, args := range [][]string{{"rotation", "start", "billing-api"}, {"rotation", "cancel", "billing-api", id}, {"target", "delete", "billing-api", "deploy"}, {"target", "disable", "billing-api", "deploy"}} {
				if r := viewer(args...); r.code == 0 || !strings.Contains(r.stderr, "viewer") {
					t.Errorf("viewer %v: %+v", args, r)
				}
			}

			// The README's "email me 10 and 1 days before any expiry".
			ok(cli("notify", "settings", "set", "--owner", "ops@example.com", "--thresholds", "10,1"))
			ok(cli("notify", "channel", "create", "ops-mail", "--type", "email"))
			var ns struct {
				Owners     []string `json:"owners"`
				Thresholds []int    `json:"expiry_thresholds"`
			}
			mustJSON(cli("notify", "settings", "get", "-o", "json"), &ns)
			if !slices.Equal(ns.Owners, []string{"ops@example.com"}) || !slices.Equal(ns.Thresholds, []int{10, 1}) {
				t.Errorf("notify settings: %+v", ns)
			}

			if r := ok(cli("rotation", "cancel", "billing-api", id, "--reason", "testing")); !strings.Contains(r.stdout, "to stop") {
				t.Errorf("cancel:\n%s", r.stdout)
			}
			ok(cli("target", "disable", "billing-api", "deploy"))
			if r := ok(cli("target", "list", "billing-api")); !regexp.MustCompile(`deploy .* disabled`).MatchString(r.stdout) {
				t.Errorf("disabled target not listed as disabled:\n%s", r.stdout)
			}
			ok(cli("target", "enable", "billing-api", "deploy"))
			ok(cli("target", "delete", "billing-api", "deploy"))
			if r := ok(cli("target", "list", "billing-api")); strings.Contains(r.stdout, "deploy") {
				t.Errorf("deleted target still listed:\n%s", r.stdout)
			}
		})
	}
}
