package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/apiclient"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/pgtest"
)

// instance is a 'watchword serve' process.
type instance struct {
	name   string
	cmd    *exec.Cmd
	admin  string
	stderr *lockedBuffer
	exited chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var runningLine = regexp.MustCompile(`Admin API: (http://\S+)`)

// startInstance runs the test binary as a server with env added to the
// environment and waits until it serves. It is stopped when the test ends.
func startInstance(t *testing.T, name string, env ...string) *instance {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), append([]string{serveEnv + "=1"}, env...)...)
	in := &instance{name: name, cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan struct{})}
	cmd.Stderr = in.stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(in.exited) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-in.exited:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-in.exited
		}
		if t.Failed() {
			t.Logf("instance %s (pid %d) logs:\n%s", name, cmd.Process.Pid, in.stderr.String())
		}
	})
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if m := runningLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case in.admin = <-found:
	case <-in.exited:
		t.Fatalf("instance %s exited: %s", name, in.stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("instance %s did not start: %s", name, in.stderr.String())
	}
	return in
}

// receiver stands for the systems around Watchword: it takes the
// notifications of a webhook channel and the deliveries of webhook targets.
type receiver struct {
	*httptest.Server
	mu         sync.Mutex
	events     map[string]int            // event id -> times received
	runEvents  map[string]map[string]int // run id -> event type -> count
	deliveries map[string]int            // secret id -> times delivered
	hangOn     string                    // client whose deliveries hang until release
	hung       chan struct{}             // gets a value when a delivery hangs
	release    chan struct{}
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{events: map[string]int{}, runEvents: map[string]map[string]int{}, deliveries: map[string]int{},
		hung: make(chan struct{}, 10), release: make(chan struct{})}
	rc.Server = httptest.NewServer(http.HandlerFunc(rc.serve))
	t.Cleanup(rc.Close)
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(rc.release) }) }) // runs before Close
	return rc
}

func (rc *receiver) serve(w http.ResponseWriter, r *http.Request) {
	var msg struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Data struct {
			RunID    string `json:"run_id"`
			ClientID string `json:"client_id"`
			SecretID string `json:"secret_id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(r.Body).Decode(&msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	switch {
	case r.URL.Path == "/events":
		rc.mu.Lock()
		rc.events[msg.ID]++
		if msg.Data.RunID != "" {
			if rc.runEvents[msg.Data.RunID] == nil {
				rc.runEvents[msg.Data.RunID] = map[string]int{}
			}
			rc.runEvents[msg.Data.RunID][msg.Type]++
		}
		rc.mu.Unlock()
	case strings.HasPrefix(r.URL.Path, "/deliver/") && msg.Type == delivery.WebhookEventType:
		rc.mu.Lock()
		hang := rc.hangOn != "" && r.URL.Path == "/deliver/"+rc.hangOn
		rc.mu.Unlock()
		if hang {
			rc.hung <- struct{}{}
			select {
			case <-rc.release:
			case <-r.Context().Done():
			}
			http.Error(w, "gone", http.StatusServiceUnavailable)
			return
		}
		rc.mu.Lock()
		rc.deliveries[msg.Data.SecretID]++
		rc.mu.Unlock()
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestInstancesShareOnePostgres: two server processes on one PostgreSQL run
// the scheduler together. Every scheduled rotation happens once, every
// notification is sent once and every new secret delivered once; then the
// instance holding a run is killed with SIGKILL in the middle of a
// delivery, and the other instance completes the run.
func TestInstancesShareOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("real-time test")
	}
	const every = 3 * time.Second
	rc := newReceiver(t)
	shared := []string{
		"WATCHWORD_DATABASE=" + pgtest.URL(t),
		"WATCHWORD_SERVER_KEY=" + randomHex(32),
		"WATCHWORD_PUBLIC_ADDR=127.0.0.1:0", "WATCHWORD_ADMIN_ADDR=127.0.0.1:0",
		"WATCHWORD_LOG_LEVEL=warn",
		"WATCHWORD_JOBS_INTERVAL=100ms", "WATCHWORD_JOBS_LEASE=3s",
		"WATCHWORD_ROTATION_CHECK_INTERVAL=100ms", "WATCHWORD_ROTATION_LEASE=3s",
		"WATCHWORD_ROTATION_STEP_TIMEOUT=2s", "WATCHWORD_ROTATION_RETRY_DELAY=200ms",
		"WATCHWORD_ROTATION_MIN_INTERVAL=1s", "WATCHWORD_ROTATION_ALLOW_LOOPBACK=true",
	}
	dirA, dirB := t.TempDir(), t.TempDir()
	a := startInstance(t, "a", append(shared, "WATCHWORD_DATA_DIR="+dirA)...)
	token, err := os.ReadFile(filepath.Join(dirA, "admin-token"))
	if err != nil {
		t.Fatal(err)
	}
	b := startInstance(t, "b", append(shared, "WATCHWORD_DATA_DIR="+dirB)...)
	api := func(in *instance) *apiclient.Client {
		return &apiclient.Client{Endpoint: in.admin, Token: strings.TrimSpace(string(token)), HTTP: &http.Client{Timeout: 10 * time.Second}}
	}
	ctx := context.Background()
	ca := api(a)
	if _, err := ca.CreateChannel(ctx, "default", lifecycle.ChannelCreate{Name: "ops", Type: watchword.ChannelWebhook, URL: rc.URL + "/events"}); err != nil {
		t.Fatal(err)
	}
	clients := []string{"c1", "c2", "c3", "c4", "slow"}
	for _, name := range clients {
		if _, err := ca.CreateClient(ctx, "default", lifecycle.ClientCreate{Name: name}); err != nil {
			t.Fatal(err)
		}
		if _, err := ca.CreateTarget(ctx, "default", name, lifecycle.TargetCreate{Name: "hook",
			Config: delivery.Config{Type: delivery.TypeWebhook, Webhook: &delivery.WebhookConfig{URL: rc.URL + "/deliver/" + name}}}); err != nil {
			t.Fatal(err)
		}
	}
	// The slow client is rotated only by hand, later.
	tr := watchword.Duration(time.Second)
	if _, err := ca.SetClientRotation(ctx, "default", "slow", watchword.RotationSchedule{Transition: &tr}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := ca.SetDomainRotation(ctx, "default", watchword.RotationSchedule{Every: watchword.Duration(every), Transition: &tr}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Second)
	if _, err := ca.SetDomainRotation(ctx, "default", watchword.RotationSchedule{}); err != nil {
		t.Fatal(err)
	}
	elapsed := time.Since(start)

	// Wait for the runs in progress, and their notifications, to end.
	var runs []watchword.RotationRun
	waitFor(t, 30*time.Second, "the scheduled runs to end and their notifications to arrive", func() bool {
		runs = runs[:0]
		for _, name := range clients[:4] {
			l, err := ca.ListRotationRuns(ctx, "default", name, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range l.Items {
				if r.Status == watchword.RunRunning {
					return false
				}
			}
			runs = append(runs, l.Items...)
		}
		rc.mu.Lock()
		defer rc.mu.Unlock()
		for _, r := range runs {
			if rc.runEvents[r.ID][watchword.EventRotationCompleted] == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // time for a duplicate, were there one, to arrive

	rc.mu.Lock()
	perClient := map[string][]time.Time{}
	for _, r := range runs {
		perClient[r.ClientID] = append(perClient[r.ClientID], r.CreatedAt)
		if r.Status != watchword.RunCompleted {
			t.Errorf("run %s ended %s: %s", r.ID, r.Status, r.LastError)
		}
		if n := rc.deliveries[r.PendingSecretID]; n != 1 {
			t.Errorf("run %s: secret %s delivered %d times, want once", r.ID, r.PendingSecretID, n)
		}
		for _, typ := range []string{watchword.EventRotationStarted, watchword.EventRotationCompleted} {
			if n := rc.runEvents[r.ID][typ]; n != 1 {
				t.Errorf("run %s: %d %s notifications, want 1", r.ID, n, typ)
			}
		}
	}
	for id, n := range rc.events {
		if n != 1 {
			t.Errorf("event %s received %d times", id, n)
		}
	}
	rc.mu.Unlock()
	maxRuns := int(elapsed/every) + 1
	for id, starts := range perClient {
		if len(starts) < 3 || len(starts) > maxRuns {
			t.Errorf("client %s rotated %d times in %v, want 3 to %d", id, len(starts), elapsed.Round(time.Second), maxRuns)
		}
		for i := 1; i < len(starts); i++ {
			if gap := starts[i-1].Sub(starts[i]); gap < every-time.Second {
				t.Errorf("client %s: two runs %v apart", id, gap)
			}
		}
	}
	if len(perClient) != 4 {
		t.Errorf("%d clients rotated, want 4", len(perClient))
	}
	t.Logf("%d scheduled runs, %d notifications", len(runs), len(rc.events))

	// Kill the instance that holds a run in the middle of its delivery.
	rc.mu.Lock()
	rc.hangOn = "slow"
	rc.mu.Unlock()
	run, err := ca.StartRotation(ctx, "default", "slow")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-rc.hung:
	case <-time.After(30 * time.Second):
		t.Fatal("the delivery of the slow client never came")
	}
	if run, err = ca.GetRotationRun(ctx, "default", "slow", run.ID); err != nil {
		t.Fatal(err)
	}
	holder, survivor := a, b
	if strings.Contains(run.LockedBy, fmt.Sprintf("-%d-", b.cmd.Process.Pid)) {
		holder, survivor = b, a
	} else if !strings.Contains(run.LockedBy, fmt.Sprintf("-%d-", a.cmd.Process.Pid)) {
		t.Fatalf("run held by %q, neither instance", run.LockedBy)
	}
	if err := holder.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-holder.exited
	rc.mu.Lock()
	rc.hangOn = ""
	rc.mu.Unlock()
	killedAt := time.Now()

	cs := api(survivor)
	waitFor(t, 30*time.Second, "the survivor to end the run", func() bool {
		run, err = cs.GetRotationRun(ctx, "default", "slow", run.ID)
		return err == nil && run.Status != watchword.RunRunning
	})
	if len(run.Steps) > 0 {
		t.Logf("last step: %+v", run.Steps[len(run.Steps)-1])
	}
	t.Logf("instance %s killed; %s ended the run %s in %v", holder.name, survivor.name, run.Status, time.Since(killedAt).Round(100*time.Millisecond))
	secrets, err := cs.ListSecrets(ctx, "default", "slow")
	if err != nil {
		t.Fatal(err)
	}
	stages, valid := map[watchword.SecretStage]int{}, 0
	for _, s := range secrets.Items {
		if s.Status == watchword.StatusActive || s.Status == watchword.StatusRetiring {
			stages[s.Stage]++
			valid++
		}
	}
	switch run.Status {
	case watchword.RunCompleted:
		rc.mu.Lock()
		delivered := rc.deliveries[run.PendingSecretID]
		rc.mu.Unlock()
		if delivered != 1 || stages[watchword.StageCurrent] != 1 || stages[watchword.StagePending] != 0 {
			t.Errorf("completed run: secret delivered %d times, valid secrets by stage %v", delivered, stages)
		}
	case watchword.RunFailed:
		if stages[watchword.StagePending] != 0 || valid != 1 {
			t.Errorf("rolled back run left valid secrets by stage %v, want only the first secret", stages)
		}
	default:
		t.Errorf("run ended %s: %s", run.Status, run.LastError)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !done() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
