package httpapi_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// tokenFor creates an admin token with role and returns its plaintext.
func tokenFor(t *testing.T, s *testenv.Server, role watchword.Role) string {
	t.Helper()
	tok, err := api(s).CreateToken(t.Context(), "t-"+string(role), role)
	fatalIf(t, err)
	return tok.Plaintext
}

// wantForbidden checks that token may not call method path.
func wantForbidden(t *testing.T, s *testenv.Server, token, method, path, body string) {
	t.Helper()
	wantProblem(t, method+" "+path, sendAs(t, s, token, method, path, body), http.StatusForbidden, watchword.EFORBIDDEN, "")
}

// TestRotationScheduleAPI: the domain's schedule and a client's override,
// read by viewers and set by admins only; bad schedules are problems naming
// the field.
func TestRotationScheduleAPI(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := testenv.Start(t, backend, testenv.Options{})
			_, err := api(s).CreateClient(t.Context(), "default", lifecycle.ClientCreate{Name: "app"})
			fatalIf(t, err)
			viewer, manager := tokenFor(t, s, watchword.RoleViewer), tokenFor(t, s, watchword.RoleSecretManager)
			const dom, cli = "/domains/default/rotation-schedule", "/domains/default/clients/app/rotation-schedule"

			r := sendAs(t, s, viewer, "GET", dom, "")
			wantStatus(t, "viewer reads the domain schedule", r, http.StatusOK, false)
			if got := decodeAs[watchword.RotationSchedule](t, r); got.Scheduled() {
				t.Errorf("a new domain has schedule %+v, want none", got)
			}

			r = send(t, s, "PUT", dom, "", `{"every": "30d", "transition": "24h", "check_url": "https://app.example/healthz"}`)
			wantStatus(t, "set the domain schedule", r, http.StatusOK, false)
			if !bytes.Contains(r.body, []byte(`"every": "720h"`)) || !bytes.Contains(r.body, []byte(`"transition": "24h"`)) {
				t.Errorf("PUT response %s", r.body)
			}
			if got := decodeAs[watchword.RotationSchedule](t, send(t, s, "GET", dom, "", "")); got.Every != watchword.Duration(30*24*time.Hour) || got.CheckURL != "https://app.example/healthz" {
				t.Errorf("domain schedule after PUT: %+v", got)
			}

			for _, tc := range []struct{ name, body, field string }{
				{"every below the minimum", `{"every": "30m"}`, "every"},
				{"every and cron", `{"every": "24h", "cron": "0 3 * * 1"}`, "every"},
				{"bad cron", `{"cron": "every monday"}`, "cron"},
				{"cron too often", `{"cron": "*/5 * * * *"}`, "cron"},
				{"negative transition", `{"every": "24h", "transition": "-1h"}`, "transition"},
				{"bad check url", `{"every": "24h", "check_url": "ftp://x/y"}`, "check_url"},
				{"unknown field", `{"interval": "24h"}`, "interval"},
			} {
				for _, path := range []string{dom, cli} {
					p := wantProblem(t, tc.name+" "+path, send(t, s, "PUT", path, "", tc.body), http.StatusBadRequest, watchword.EINVALID, tc.field)
					if p.Type != "urn:watchword:problem:invalid" || p.Detail == "" {
						t.Errorf("%s: problem %+v", tc.name, p)
					}
				}
			}

			// The client inherits the domain's schedule.
			r = sendAs(t, s, viewer, "GET", cli, "")
			wantStatus(t, "viewer reads the client schedule", r, http.StatusOK, false)
			cr := decodeAs[lifecycle.ClientRotation](t, r)
			if !cr.UseDomainSchedule || cr.Override != nil || cr.Effective.Every != watchword.Duration(720*time.Hour) || cr.NextRunAt == nil {
				t.Errorf("inherited: %+v", cr)
			}
			// An override; {} turns automated rotation off.
			cr = decodeAs[lifecycle.ClientRotation](t, send(t, s, "PUT", cli, "", `{"cron": "@weekly", "finish_when_unused_for": "2h"}`))
			if cr.UseDomainSchedule || cr.Override == nil || cr.Effective.Cron != "@weekly" || cr.NextRunAt == nil {
				t.Errorf("override: %+v", cr)
			}
			r = send(t, s, "PUT", cli, "", `{}`)
			wantStatus(t, "turn off", r, http.StatusOK, false)
			cr = decodeAs[lifecycle.ClientRotation](t, r)
			if cr.UseDomainSchedule || cr.Override == nil || cr.Effective.Scheduled() || cr.NextRunAt != nil {
				t.Errorf("off: %+v (%s)", cr, r.body)
			}
			cr = decodeAs[lifecycle.ClientRotation](t, send(t, s, "DELETE", cli, "", ""))
			if !cr.UseDomainSchedule || cr.Override != nil || cr.Effective.Every != watchword.Duration(720*time.Hour) {
				t.Errorf("back to the domain's: %+v", cr)
			}
			if c, err := api(s).GetClient(t.Context(), "default", "app"); err != nil || c.Rotation != nil {
				t.Errorf("client after DELETE: rotation %+v, %v", c.Rotation, err)
			}

			// Only admins change schedules.
			for _, tok := range []string{viewer, manager} {
				wantForbidden(t, s, tok, "PUT", dom, `{}`)
				wantForbidden(t, s, tok, "PUT", cli, `{}`)
				wantForbidden(t, s, tok, "DELETE", cli, "")
			}
			wantProblem(t, "missing client", send(t, s, "GET", "/domains/default/clients/ghost/rotation-schedule", "", ""),
				http.StatusNotFound, watchword.ENOTFOUND, "client")
		})
	}
}

// startWithApps starts a server with a confidential client "app" and a
// public client "spa".
func startWithApps(t *testing.T, backend string) *testenv.Server {
	s := testenv.Start(t, backend, testenv.Options{})
	_, err := api(s).CreateClient(t.Context(), "default", lifecycle.ClientCreate{Name: "app"})
	fatalIf(t, err)
	_, err = api(s).CreateClient(t.Context(), "default", lifecycle.ClientCreate{Name: "spa", Type: watchword.ClientPublic})
	fatalIf(t, err)
	return s
}

// TestDeliveryTargetsAPI: admins add and delete targets, readers list them;
// a webhook's generated signing secret is in the creation response only;
// a bad configuration is a problem on field "config".
func TestDeliveryTargetsAPI(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startWithApps(t, backend)
			ctx := t.Context()
			viewer, manager := tokenFor(t, s, watchword.RoleViewer), tokenFor(t, s, watchword.RoleSecretManager)
			const path = "/domains/default/clients/app/targets"

			r := send(t, s, "POST", path, "", `{"name": "deploy-hook", "config": {"type": "webhook", "webhook": {"url": "https://deploy.example/hook", "timeout_seconds": 5}}}`)
			wantStatus(t, "create a webhook target", r, http.StatusCreated, false)
			created := decodeAs[httpapi.TargetCreated](t, r)
			signing := created.SigningSecret
			if !strings.HasPrefix(signing, "whsec_") || created.ID == "" || created.Type != "webhook" || created.Config.Webhook == nil ||
				created.Config.Webhook.SigningSecret != "" || created.Config.Webhook.TimeoutSeconds != 5 {
				t.Fatalf("created: %s", r.body)
			}
			if n := bytes.Count(r.body, []byte(signing)); n != 1 {
				t.Errorf("the signing secret is %d times in the response: %s", n, r.body)
			}

			r = send(t, s, "POST", path, "", `{"name": "secret-file", "config": {"type": "file", "file": {"path": "/etc/app/secret.env", "format": "env", "env_name": "APP_SECRET"}}}`)
			wantStatus(t, "create a file target", r, http.StatusCreated, false)
			if v := decodeAs[httpapi.TargetCreated](t, r); v.SigningSecret != "" || v.Config.File == nil || v.Config.File.EnvName != "APP_SECRET" {
				t.Errorf("file target: %s", r.body)
			}
			// A webhook target given its signing secret does not echo it.
			const given = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
			r = send(t, s, "POST", path, "", `{"name": "own-hook", "config": {"type": "webhook", "webhook": {"url": "https://deploy.example/2", "signing_secret": "`+given+`"}}}`)
			wantStatus(t, "webhook target with its own signing secret", r, http.StatusCreated, false)
			if bytes.Contains(r.body, []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")) {
				t.Errorf("the given signing secret is echoed: %s", r.body)
			}

			// A command's environment may hold credentials: only the names show.
			r = send(t, s, "POST", path, "", `{"name": "reload", "config": {"type": "command", "command": {"argv": ["/usr/local/bin/reload"], "env": ["DEPLOY_TOKEN=tok-8f2e1a"]}}}`)
			wantStatus(t, "create a command target", r, http.StatusCreated, false)
			if v := decodeAs[httpapi.TargetCreated](t, r); bytes.Contains(r.body, []byte("tok-8f2e1a")) || v.Config.Command == nil ||
				!slices.Equal(v.Config.Command.Env, []string{"DEPLOY_TOKEN=[REDACTED]"}) {
				t.Errorf("command target: %s", r.body)
			}

			r = sendAs(t, s, viewer, "GET", path, "")
			wantStatus(t, "viewer lists targets", r, http.StatusOK, false)
			l := decodeAs[httpapi.List[lifecycle.TargetView]](t, r)
			if l.Total != 4 || len(l.Items) != 4 {
				t.Fatalf("list: %s", r.body)
			}
			if bytes.Contains(r.body, []byte(signing)) || bytes.Contains(r.body, []byte("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")) || bytes.Contains(r.body, []byte("tok-8f2e1a")) {
				t.Errorf("the list holds a credential: %s", r.body)
			}
			for _, v := range l.Items {
				if v.SigningSecret != "" || (v.Config.Webhook != nil && v.Config.Webhook.SigningSecret != "") {
					t.Errorf("listed target %s has a signing secret", v.Name)
				}
			}

			for _, tc := range []struct{ name, body, field string }{
				{"relative path", `{"name": "f", "config": {"type": "file", "file": {"path": "etc/secret"}}}`, "config"},
				{"no type", `{"name": "f", "config": {}}`, "config"},
				{"type without its member", `{"name": "f", "config": {"type": "command"}}`, "config"},
				{"plain http webhook", `{"name": "f", "config": {"type": "webhook", "webhook": {"url": "http://deploy.example/hook"}}}`, "config"},
				{"relative command", `{"name": "f", "config": {"type": "command", "command": {"argv": ["reload"]}}}`, "config"},
				{"bad name", `{"name": "Bad Name", "config": {"type": "file", "file": {"path": "/etc/x"}}}`, "name"},
				{"unknown config member", `{"name": "f", "config": {"type": "file", "file": {"path": "/etc/x", "mode": "0600"}}}`, "mode"},
			} {
				p := wantProblem(t, tc.name, send(t, s, "POST", path, "", tc.body), http.StatusBadRequest, watchword.EINVALID, tc.field)
				if tc.field == "config" && (len(p.Errors) == 0 && !strings.Contains(p.Detail, ":")) {
					t.Errorf("%s: the problem does not say what is wrong: %+v", tc.name, p)
				}
			}
			p := wantProblem(t, "two problems", send(t, s, "POST", path, "", `{"name": "f", "config": {"type": "file", "file": {"path": "x", "format": "yaml"}}}`),
				http.StatusBadRequest, watchword.EINVALID, "config")
			if len(p.Errors) != 2 || !strings.Contains(p.Errors[0].Detail, "file.path") || !strings.Contains(p.Errors[1].Detail, "file.format") {
				t.Errorf("errors %+v, want file.path and file.format", p.Errors)
			}
			wantProblem(t, "duplicate name", send(t, s, "POST", path, "", `{"name": "secret-file", "config": {"type": "file", "file": {"path": "/etc/y"}}}`),
				http.StatusConflict, watchword.ECONFLICT, "name")
			wantProblem(t, "public client", send(t, s, "POST", "/domains/default/clients/spa/targets", "", `{"name": "f", "config": {"type": "file", "file": {"path": "/etc/y"}}}`),
				http.StatusBadRequest, watchword.EINVALID, "client")

			// Secret managers and viewers may not change targets.
			for _, tok := range []string{viewer, manager} {
				wantForbidden(t, s, tok, "POST", path, `{"name": "f", "config": {"type": "file", "file": {"path": "/etc/y"}}}`)
				wantForbidden(t, s, tok, "DELETE", path+"/secret-file", "")
			}

			// Delete by name and by id.
			r = send(t, s, "DELETE", path+"/secret-file", "", "")
			wantStatus(t, "delete by name", r, http.StatusNoContent, false)
			wantStatus(t, "delete by id", send(t, s, "DELETE", path+"/"+created.ID, "", ""), http.StatusNoContent, false)
			wantProblem(t, "delete again", send(t, s, "DELETE", path+"/secret-file", "", ""), http.StatusNotFound, watchword.ENOTFOUND, "target")
			if l, err := api(s).ListTargets(ctx, "default", "app"); err != nil || l.Total != 2 || l.Items[0].Name != "own-hook" || l.Items[1].Name != "reload" {
				t.Errorf("after deletes: %+v, %v", l, err)
			}
		})
	}
}

// TestRotationRunsAPI: secret managers start, retry and cancel runs,
// viewers and auditors only read them; one run at a time per client.
func TestRotationRunsAPI(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := startWithApps(t, backend)
			viewer, manager, auditor := tokenFor(t, s, watchword.RoleViewer), tokenFor(t, s, watchword.RoleSecretManager), tokenFor(t, s, watchword.RoleAuditor)
			const runs = "/domains/default/clients/app/rotation-runs"

			wantForbidden(t, s, viewer, "POST", runs, "")
			wantForbidden(t, s, auditor, "POST", runs, "")
			wantProblem(t, "a body with a field", sendAs(t, s, manager, "POST", runs, `{"transition": "1h"}`), http.StatusBadRequest, watchword.EINVALID, "transition")
			wantProblem(t, "public client", sendAs(t, s, manager, "POST", "/domains/default/clients/spa/rotation-runs", ""),
				http.StatusConflict, watchword.ECONFLICT, "client")

			r := sendAs(t, s, manager, "POST", runs, "")
			wantStatus(t, "rotate now", r, http.StatusAccepted, false)
			run := decodeAs[watchword.RotationRun](t, r)
			if !strings.HasPrefix(run.ID, "run_") || run.Status != watchword.RunRunning || run.Trigger != watchword.TriggerManual ||
				run.Step != watchword.StepCreate || !strings.Contains(run.InitiatedBy, "token:") {
				t.Fatalf("started run: %s", r.body)
			}
			wantStatus(t, "rotate now with {}", sendAs(t, s, manager, "POST", runs, "{}"), http.StatusConflict, false)
			p := wantProblem(t, "a second run", send(t, s, "POST", runs, "", ""), http.StatusConflict, watchword.ECONFLICT, "client")
			if !strings.Contains(p.Detail, run.ID) {
				t.Errorf("the conflict does not name the running run: %q", p.Detail)
			}

			for _, tok := range []string{viewer, auditor} {
				r := sendAs(t, s, tok, "GET", runs, "")
				wantStatus(t, "list runs", r, http.StatusOK, false)
				if l := decodeAs[httpapi.List[watchword.RotationRun]](t, r); l.Total != 1 || l.Items[0].ID != run.ID || l.Limit != 50 {
					t.Errorf("runs: %s", r.body)
				}
				r = sendAs(t, s, tok, "GET", runs+"/"+run.ID, "")
				wantStatus(t, "get run", r, http.StatusOK, false)
				if got := decodeAs[watchword.RotationRun](t, r); got.ID != run.ID || got.Steps == nil {
					t.Errorf("run: %s", r.body)
				}
				wantForbidden(t, s, tok, "POST", runs+"/"+run.ID+"/retry", "")
				wantForbidden(t, s, tok, "POST", runs+"/"+run.ID+"/cancel", `{}`)
			}
			wantProblem(t, "unknown run", send(t, s, "GET", runs+"/run_nope", "", ""), http.StatusNotFound, watchword.ENOTFOUND, "run")
			wantProblem(t, "bad page", send(t, s, "GET", runs+"?limit=-1", "", ""), http.StatusBadRequest, watchword.EINVALID, "limit")

			r = sendAs(t, s, manager, "POST", runs+"/"+run.ID+"/retry", "")
			wantStatus(t, "retry a waiting step now", r, http.StatusOK, false)
			wantProblem(t, "cancel with an unknown field", sendAs(t, s, manager, "POST", runs+"/"+run.ID+"/cancel", `{"why": "x"}`),
				http.StatusBadRequest, watchword.EINVALID, "why")
			wantProblem(t, "cancel with a long reason", sendAs(t, s, manager, "POST", runs+"/"+run.ID+"/cancel", `{"reason": "`+strings.Repeat("x", 600)+`"}`),
				http.StatusBadRequest, watchword.EINVALID, "reason")
			r = sendAs(t, s, manager, "POST", runs+"/"+run.ID+"/cancel", `{"reason": "wrong target"}`)
			wantStatus(t, "cancel", r, http.StatusOK, false)
			if got := decodeAs[watchword.RotationRun](t, r); !got.CancelRequested || got.Reason != "wrong target" {
				t.Errorf("cancelled run: %s", r.body)
			}
			wantProblem(t, "retry of another client's run", sendAs(t, s, manager, "POST", "/domains/default/clients/spa/rotation-runs/"+run.ID+"/retry", ""),
				http.StatusNotFound, watchword.ENOTFOUND, "run")

			// The list pages like the rotation history.
			r = send(t, s, "GET", runs+"?limit=1&offset=1", "", "")
			wantStatus(t, "second page", r, http.StatusOK, false)
			if l := decodeAs[httpapi.List[watchword.RotationRun]](t, r); l.Total != 1 || len(l.Items) != 0 || l.Offset != 1 || l.Limit != 1 {
				t.Errorf("second page: %s", r.body)
			}
			r = send(t, s, "GET", runs+"?limit=1000", "", "")
			if l := decodeAs[httpapi.List[watchword.RotationRun]](t, r); l.Total != 1 || len(l.Items) != 1 || l.Limit != 500 {
				t.Errorf("limit above the maximum: %s", r.body)
			}
		})
	}
}

// TestIdempotentRotationRoutes: "rotate now" retried with its key gets the
// first response again instead of a conflict with the run it started, and
// a schedule change retried with its key changes nothing more.
func TestIdempotentRotationRoutes(t *testing.T) {
	s := testenv.Start(t, "sqlite", testenv.Options{})
	ctx := t.Context()
	_, err := api(s).CreateClient(ctx, "default", lifecycle.ClientCreate{Name: "app"})
	fatalIf(t, err)
	const runs = "/domains/default/clients/app/rotation-runs"

	first := send(t, s, "POST", runs, "start-1", "")
	wantStatus(t, "start", first, http.StatusAccepted, false)
	again := send(t, s, "POST", runs, "start-1", "")
	wantStatus(t, "start retried with its key", again, http.StatusAccepted, true)
	if a, b := decodeAs[watchword.RotationRun](t, first), decodeAs[watchword.RotationRun](t, again); a.ID != b.ID {
		t.Errorf("the replay names run %s, the first response %s", b.ID, a.ID)
	}
	wantProblem(t, "start with a new key", send(t, s, "POST", runs, "start-2", ""), http.StatusConflict, watchword.ECONFLICT, "client")
	if l, err := api(s).ListRotationRuns(ctx, "default", "app", 0, 0); err != nil || l.Total != 1 {
		t.Errorf("runs after a retried start: %+v, %v", l, err)
	}

	const sched = "/domains/default/clients/app/rotation-schedule"
	wantStatus(t, "set", send(t, s, "PUT", sched, "sched-1", `{"every": "48h"}`), http.StatusOK, false)
	wantStatus(t, "set retried", send(t, s, "PUT", sched, "sched-1", `{"every": "48h"}`), http.StatusOK, true)
	wantProblem(t, "key reused for another schedule", send(t, s, "PUT", sched, "sched-1", `{"every": "72h"}`),
		http.StatusUnprocessableEntity, watchword.EUNPROCESSABLE, httpapi.HeaderIdempotencyKey)
	evs, err := api(s).ListAudit(ctx, "", watchword.AuditFilter{Action: watchword.ActionRotationScheduleUpdate})
	fatalIf(t, err)
	if evs.Total != 1 {
		t.Errorf("%d schedule updates audited, want 1", evs.Total)
	}
}
