package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/testenv"
)

// TestServeFirstStart runs 'watchword serve' as a newcomer would: no config,
// a fresh data directory. It prints the first admin token once, stores it
// with mode 0600 in a 0700 directory, serves both listeners, and shuts down
// cleanly when told to.
func TestServeFirstStart(t *testing.T) {
	clearEnv(t)
	dir := filepath.Join(t.TempDir(), "data")
	t.Setenv("WATCHWORD_PUBLIC_ADDR", "127.0.0.1:0")
	t.Setenv("WATCHWORD_ADMIN_ADDR", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--data-dir", dir}, strings.NewReader(""), pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var printedToken, admin string
	running := regexp.MustCompile(`Admin API: (http://\S+)`)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "wwat_") {
			printedToken = line
		}
		if m := running.FindStringSubmatch(line); m != nil {
			admin = m[1]
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if printedToken == "" || admin == "" {
		t.Fatalf("serve printed no token (%q) or no address (%q); stderr:\n%s", printedToken, admin, stderr.String())
	}
	stored, err := os.ReadFile(filepath.Join(dir, "admin-token"))
	if err != nil || strings.TrimSpace(string(stored)) != printedToken {
		t.Fatalf("stored token %q, %v; want the printed one", stored, err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, filepath.Join(dir, "admin-token"): 0o600, filepath.Join(dir, "server.key"): 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, %v; want %v", path, fi.Mode().Perm(), err, want)
		}
	}
	// The CLI on the same machine works with no further setup: the token
	// comes from the data directory.
	r := runCLI("", "--endpoint", admin, "--data-dir", dir, "whoami")
	if r.code != 0 || !strings.Contains(r.stdout, "admin") {
		t.Fatalf("whoami: %+v", r)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(admin + p)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", p, resp, err)
		}
		resp.Body.Close()
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("serve exited %d after shutdown", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not shut down")
	}
}

// TestWalkthrough follows the README's five minutes with the CLI against a
// real server, on both databases.
func TestWalkthrough(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			clearEnv(t)
			s := testenv.Start(t, backend, testenv.Options{})
			cli := func(args ...string) result {
				t.Helper()
				return runCLI("", append([]string{"--endpoint", s.AdminURL, "--token", s.Token}, args...)...)
			}
			mustJSON := func(r result, v any) {
				t.Helper()
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
					t.Fatalf("not JSON: %v\n%s", err, r.stdout)
				}
			}

			var created struct {
				Client struct{ ID string }
				Secret struct {
					ID     string
					Secret string
				}
			}
			mustJSON(cli("client", "create", "--name", "billing-api", "-o", "json"), &created)
			if !strings.HasPrefix(created.Secret.Secret, "wwcs_") {
				t.Fatalf("created=%+v", created)
			}
			r := cli("client", "rotate", "billing-api", "--grace", "24h")
			if r.code != 0 || !strings.Contains(r.stdout, created.Secret.ID) || !strings.Contains(r.stdout, "wwcs_") {
				t.Fatalf("rotate: %+v", r)
			}
			var secrets struct {
				Items []struct{ ID, Status string }
			}
			mustJSON(cli("secret", "list", "billing-api", "-o", "json"), &secrets)
			statuses := map[string]string{}
			for _, sec := range secrets.Items {
				statuses[sec.ID] = sec.Status
			}
			if len(statuses) != 2 || statuses[created.Secret.ID] != "retiring" {
				t.Fatalf("secrets after rotate: %v", statuses)
			}
			if r := cli("history", "billing-api"); r.code != 0 || !strings.Contains(r.stdout, created.Secret.ID) {
				t.Fatalf("history: %+v", r)
			}
			if r := cli("audit", "list"); r.code != 0 || !strings.Contains(r.stdout, "client.rotate") {
				t.Fatalf("audit: %+v", r)
			}

			// The old secret still gets tokens during the transition.
			form := url.Values{"grant_type": {"client_credentials"}}
			req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(created.Client.ID, created.Secret.Secret)
			resp, err := http.DefaultClient.Do(req)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("token with the retiring secret: %v %v", resp, err)
			}
			resp.Body.Close()

			// Bad input: a clear message naming the field, a non-zero exit, no change.
			if r := cli("client", "rotate", "billing-api", "--grace", "200h"); r.code == 0 || !strings.Contains(r.stderr, "transition") {
				t.Fatalf("rotate over the maximum: %+v", r)
			}
			// A viewer token may read but not rotate.
			var tok struct{ Token string }
			mustJSON(cli("token", "create", "--name", "dash", "--role", "viewer", "-o", "json"), &tok)
			viewer := func(args ...string) result {
				return runCLI("", append([]string{"--endpoint", s.AdminURL, "--token", tok.Token}, args...)...)
			}
			if r := viewer("secret", "list", "billing-api"); r.code != 0 {
				t.Fatalf("viewer list: %+v", r)
			}
			if r := viewer("client", "rotate", "billing-api"); r.code == 0 || !strings.Contains(r.stderr, "viewer") {
				t.Fatalf("viewer rotate: %+v", r)
			}
			mustJSON(cli("secret", "list", "billing-api", "-o", "json"), &secrets)
			if len(secrets.Items) != 2 {
				t.Fatalf("refused calls changed state: %d secrets", len(secrets.Items))
			}
			if r := cli("audit", "list", "--action", "request.denied"); r.code != 0 || !strings.Contains(r.stdout, "request.denied") {
				t.Fatalf("denied call not audited: %+v", r)
			}
		})
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
