package delivery_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/delivery"
)

// MustNewHelperCommand returns a command target that runs the test binary
// as the named helper.
func MustNewHelperCommand(tb testing.TB, mode string, timeoutSeconds int, env ...string) *delivery.CommandTarget {
	tb.Helper()
	exe, err := os.Executable()
	if err != nil {
		tb.Fatal(err)
	}
	target, err := delivery.NewCommand(delivery.CommandConfig{
		Argv:           []string{exe, "--mode", mode},
		Env:            append([]string{helperEnv + "=" + mode}, env...),
		TimeoutSeconds: timeoutSeconds,
	})
	if err != nil {
		tb.Fatal(err)
	}
	return target
}

func TestCommandSecretOnStdinOnly(t *testing.T) {
	out := filepath.Join(t.TempDir(), "report.json")
	if err := MustNewHelperCommand(t, "inspect", 30, "HELPER_OUT="+out).Deliver(t.Context(), newDelivery()); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var r helperReport
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if got, want := r.Stdin, testSecret+"\n"; got != want {
		t.Fatalf("stdin=%q, want %q", got, want)
	}
	for name, s := range map[string]string{
		"argv": strings.Join(r.Args, "\x00"), "environ": strings.Join(r.Environ, "\x00"),
		"/proc/self/cmdline": r.ProcCmdline, "/proc/self/environ": r.ProcEnviron,
	} {
		if strings.Contains(s, testSecret) {
			t.Errorf("%s contains the secret: %q", name, s)
		}
	}
	env := strings.Join(r.Environ, "\n")
	for _, want := range []string{"WATCHWORD_CLIENT_ID=client-1", "WATCHWORD_SECRET_ID=0123456789ABCDEF", "WATCHWORD_EVENT_ID=evt_01", "WATCHWORD_PREVIOUS_SECRET_EXPIRES_AT=2030-01-02T03:04:05Z"} {
		if !strings.Contains(env, want) {
			t.Errorf("environ lacks %s: %q", want, r.Environ)
		}
	}
}

func TestCommandIgnoringStdinSucceeds(t *testing.T) {
	if err := MustNewHelperCommand(t, "ignore-stdin", 30).Deliver(t.Context(), newDelivery()); err != nil {
		t.Fatal(err)
	}
}

func TestCommandExit1(t *testing.T) {
	err := MustNewHelperCommand(t, "fail", 30).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	for _, want := range []string{"exit status 1", "deploy failed: could not use " + delivery.Redacted} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("err=%q, want it to contain %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "\x1b") {
		t.Errorf("err=%q keeps control characters", err)
	}
}

func TestCommandTimeoutKillsProcessGroup(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	err := MustNewHelperCommand(t, "sleep-tree", 1, "HELPER_OUT="+pidFile).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err=%v, want a timeout", err)
	}
	// The grandchild holds stderr open; only a group kill lets Run return
	// before the 2s WaitDelay.
	if elapsed := time.Since(start); elapsed > 2500*time.Millisecond {
		t.Errorf("took %v, want about 1s", elapsed)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(string(b))
	deadline := time.Now().Add(3 * time.Second)
	for processAlive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("grandchild %d still running", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processAlive reports whether pid runs and is not a zombie.
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	_, rest, _ := strings.Cut(string(b), ") ")
	return !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

func TestCommandNotFound(t *testing.T) {
	target, err := delivery.NewCommand(delivery.CommandConfig{Argv: []string{"/nonexistent/deploy"}})
	if err != nil {
		t.Fatal(err)
	}
	err = target.Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !strings.Contains(err.Error(), "/nonexistent/deploy") {
		t.Fatalf("err=%v, want it to name the program", err)
	}
}

func TestCommandCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	err := MustNewHelperCommand(t, "sleep", 30).Deliver(ctx, newDelivery())
	MustNotLeak(t, err)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err=%v, want context.Canceled", err)
	}
}
