package e2e

import (
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// TestScheduledRotationRealSeconds: a client rotates every few seconds for
// a minute, its new secrets delivered to a file, while consumers read the
// file and request tokens with what it holds. Not one request fails, and
// every secret that was retired is refused afterwards.
func TestScheduledRotationRealSeconds(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const (
		every      = 5 * time.Second
		transition = 3 * time.Second
		duration   = time.Minute
	)
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			t.Parallel()
			s := testenv.Start(t, backend, testenv.Options{Jobs: true, JobsInterval: 100 * time.Millisecond,
				Configure: func(c *config.Config) {
					c.Rotation.CheckInterval = 200 * time.Millisecond
					c.Rotation.MinInterval = time.Second
					c.Rotation.RetryDelay = 200 * time.Millisecond
					c.Rotation.StepTimeout = 5 * time.Second
				}})
			c, ns, err := s.Service.CreateClient(s.Ctx, "default", lifecycle.ClientCreate{Name: "billing"})
			if err != nil {
				t.Fatal(err)
			}
			// The consumer's secret file, as the operator set it up.
			path := filepath.Join(t.TempDir(), "billing.secret")
			if err := os.WriteFile(path, []byte(ns.Plaintext+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Service.AddDeliveryTarget(s.Ctx, "default", "billing", lifecycle.TargetCreate{
				Name: "file", Config: delivery.Config{Type: delivery.TypeFile, File: &delivery.FileConfig{Path: path}},
			}); err != nil {
				t.Fatal(err)
			}
			tr := watchword.Duration(transition)
			if _, err := s.Service.SetClientRotation(s.Ctx, "default", "billing",
				&watchword.RotationSchedule{Every: watchword.Duration(every), Transition: &tr}); err != nil {
				t.Fatal(err)
			}

			hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}, Timeout: 10 * time.Second}
			token := func(secret string) (int, error) {
				req, _ := http.NewRequest("POST", s.TokenURL("default"),
					strings.NewReader(url.Values{"grant_type": {"client_credentials"}}.Encode()))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.ID, secret)
				resp, err := hc.Do(req)
				if err != nil {
					return 0, err
				}
				resp.Body.Close()
				return resp.StatusCode, nil
			}

			var (
				mu       sync.Mutex
				seen     = map[string]bool{}
				failures []string
				ok       atomic.Int64
				stop     = make(chan struct{})
				wg       sync.WaitGroup
			)
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						b, err := os.ReadFile(path)
						secret := strings.TrimSpace(string(b))
						if err != nil || secret == "" {
							mu.Lock()
							failures = append(failures, fmt.Sprintf("read the secret file: %q, %v", b, err))
							mu.Unlock()
							continue
						}
						code, err := token(secret)
						mu.Lock()
						seen[secret] = true
						if code != http.StatusOK {
							failures = append(failures, fmt.Sprintf("%s: token request answered %d, %v", time.Now().Format(time.StampMilli), code, err))
						}
						mu.Unlock()
						if code == http.StatusOK {
							ok.Add(1)
						}
					}
				}()
			}
			time.Sleep(duration)
			close(stop)
			wg.Wait()

			// Let the run in progress, if any, finish before judging.
			if _, err := s.Service.SetClientRotation(s.Ctx, "default", "billing", &watchword.RotationSchedule{}); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			var runs []watchword.RotationRun
			for {
				if runs, _, err = s.Service.ListRotationRuns(s.Ctx, "default", "billing", 0, 100); err != nil {
					t.Fatal(err)
				}
				if len(runs) > 0 && runs[0].Status != watchword.RunRunning {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("the last run did not end: %+v", runs[0])
				}
				time.Sleep(100 * time.Millisecond)
			}

			if len(failures) > 0 {
				t.Errorf("%d failed requests (of %d good), first ones: %q", len(failures), ok.Load(), failures[:min(len(failures), 5)])
			}
			completed := 0
			for _, r := range runs {
				if r.Status == watchword.RunCompleted {
					completed++
				} else {
					t.Errorf("run %s ended %s: %s", r.ID, r.Status, r.LastError)
				}
			}
			if want := int(duration/every) / 2; completed < want { // a slow machine stretches the runs
				t.Errorf("%d runs completed in %v, want at least %d", completed, duration, want)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			current := strings.TrimSpace(string(b))
			if len(seen) < completed {
				t.Errorf("consumers used %d secrets over %d rotations", len(seen), completed)
			}
			// Retired secrets are refused: 401, or 429 once the failures
			// have the client throttled (a right secret is still accepted
			// then, so 429 means wrong too); the current one, asked last,
			// still gets a token.
			for secret := range seen {
				if secret == current {
					continue
				}
				if code, err := token(secret); err != nil || (code != http.StatusUnauthorized && code != http.StatusTooManyRequests) {
					t.Errorf("a retired secret answered %d, %v; want 401 or 429", code, err)
				}
			}
			if code, err := token(current); err != nil || code != http.StatusOK {
				t.Errorf("the current secret answered %d, %v", code, err)
			}
			t.Logf("%s: %d token requests succeeded, %d rotations, %d secrets used", backend, ok.Load(), completed, len(seen))
		})
	}
}

// TestRunTestsCodeFlowClient: the test step of a client not allowed the
// client_credentials grant counts the token endpoint's unauthorized_client
// as proof, because the endpoint answers it only to an authenticated
// client; a wrong secret gets invalid_client.
func TestRunTestsCodeFlowClient(t *testing.T) {
	for _, backend := range testenv.Backends {
		t.Run(backend, func(t *testing.T) {
			s := testenv.Start(t, backend, testenv.Options{Jobs: true, JobsInterval: 50 * time.Millisecond})
			c, ns, err := s.Service.CreateClient(s.Ctx, "default", lifecycle.ClientCreate{Name: "web",
				GrantTypes: []string{watchword.GrantAuthorizationCode}, RedirectURIs: []string{"https://web.example/callback"}})
			if err != nil {
				t.Fatal(err)
			}
			form := url.Values{"grant_type": {"client_credentials"}}.Encode()
			for secret, want := range map[string]int{ns.Plaintext: http.StatusBadRequest, ns.Plaintext + "x": http.StatusUnauthorized} {
				req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader(form))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(c.ID, secret)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Errorf("client_credentials with a code-flow client's %s secret: %d, want %d", map[bool]string{true: "right", false: "wrong"}[secret == ns.Plaintext], resp.StatusCode, want)
				}
			}

			path := filepath.Join(t.TempDir(), "web.secret")
			if _, err := s.Service.AddDeliveryTarget(s.Ctx, "default", "web", lifecycle.TargetCreate{
				Name: "file", Config: delivery.Config{Type: delivery.TypeFile, File: &delivery.FileConfig{Path: path}},
			}); err != nil {
				t.Fatal(err)
			}
			zero := watchword.Duration(0)
			if _, err := s.Service.SetClientRotation(s.Ctx, "default", "web", &watchword.RotationSchedule{Transition: &zero}); err != nil {
				t.Fatal(err)
			}
			run, err := s.Service.StartRotation(s.Ctx, "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(30 * time.Second)
			for run.Status == watchword.RunRunning && time.Now().Before(deadline) {
				time.Sleep(50 * time.Millisecond)
				if run, err = s.Service.GetRotationRun(s.Ctx, "default", "web", run.ID); err != nil {
					t.Fatal(err)
				}
			}
			if run.Status != watchword.RunCompleted {
				t.Fatalf("run %s: %s (%s)", run.Status, run.LastError, run.Reason)
			}
		})
	}
}
