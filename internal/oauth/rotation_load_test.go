package oauth_test

import (
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/testenv"
)

// TestRotationUnderLoad, in real seconds: workers keep requesting tokens
// with the old secret while the client is rotated with a transition period,
// each switching to the new secret at a random moment. No request with the
// old secret fails while it is valid, none with the new one ever fails, and
// every request with the old secret sent from the transition's end fails.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	forEachBackend(t, testenv.Options{}, func(t *testing.T, s *testenv.Server) {
		c, oldSecret := mustClient(t, s, "app", watchword.AuthMethodBasic)
		const transition = 2 * time.Second
		var (
			newSecret atomic.Value // string, set once the rotation returned
			end       atomic.Int64 // unix nanos of the transition's end
			stop      = make(chan struct{})
			wg        sync.WaitGroup
			mu        sync.Mutex
			problems  []string
			oldOK     atomic.Int64
			oldDenied atomic.Int64
			newOK     atomic.Int64
		)
		body := url.Values{"grant_type": {"client_credentials"}}.Encode()
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
		request := func(secret string) int {
			req, _ := http.NewRequest("POST", s.TokenURL("default"), strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.SetBasicAuth(c.ID, secret)
			resp, err := client.Do(req)
			if err != nil {
				return -1
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		report := func(format string) {
			mu.Lock()
			if len(problems) < 10 {
				problems = append(problems, format)
			}
			mu.Unlock()
		}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				switchAt := time.Duration(-1)
				for {
					select {
					case <-stop:
						return
					default:
					}
					ns, rotated := newSecret.Load().(string)
					if rotated && switchAt < 0 {
						// Switch somewhere between now and a little after the end.
						switchAt = time.Duration(rand.Int64N(int64(transition + 500*time.Millisecond)))
						switchAt += time.Duration(time.Now().UnixNano())
					}
					if rotated && time.Duration(time.Now().UnixNano()) >= switchAt {
						if code := request(ns); code != 200 {
							report("new secret refused: " + http.StatusText(code))
						}
						newOK.Add(1)
						continue
					}
					sent := time.Now().UnixNano()
					code := request(oldSecret)
					done := time.Now().UnixNano()
					e := end.Load()
					switch {
					case code == 200 && e != 0 && sent >= e:
						report("old secret accepted after the transition ended")
					case code == 200:
						oldOK.Add(1)
					// 429: refused once the throttle counts the failures (a
					// right secret is never throttled).
					case (code == 401 || code == 429) && (e == 0 || done < e):
						report("old secret refused while still valid")
					case code == 401 || code == 429:
						oldDenied.Add(1)
					default:
						report("unexpected status " + http.StatusText(code))
					}
				}
			}()
		}
		time.Sleep(300 * time.Millisecond)
		tr := watchword.Duration(transition)
		res, err := s.Service.RotateClient(s.Ctx, "default", "app", lifecycle.RotateRequest{Transition: &tr})
		if err != nil {
			t.Fatal(err)
		}
		end.Store(res.Rotation.Old[0].ExpiresAt.UnixNano())
		newSecret.Store(res.Secret.Plaintext)
		time.Sleep(time.Until(*res.Rotation.Old[0].ExpiresAt) + 700*time.Millisecond)
		close(stop)
		wg.Wait()
		if len(problems) > 0 {
			t.Fatalf("problems: %v", problems)
		}
		t.Logf("old secret accepted %d, refused after end %d; new secret accepted %d", oldOK.Load(), oldDenied.Load(), newOK.Load())
		if oldOK.Load() < 100 || newOK.Load() < 100 {
			t.Fatalf("too little load to prove anything: old %d, new %d", oldOK.Load(), newOK.Load())
		}
		if code := request(oldSecret); code != 401 && code != 429 {
			t.Fatalf("old secret after the transition: %d, want 401 or 429", code)
		}
	})
}
