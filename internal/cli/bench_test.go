package cli

import (
	"regexp"
	"strings"
	"testing"

	"github.com/watchword/watchword/internal/testenv"
)

// TestBenchCommand runs 'watchword bench' briefly against a real server:
// every scenario is reported with its medians, the wrong secret's answers
// are listed as non-200, and each ratio comes with the rounds it is the
// median of.
func TestBenchCommand(t *testing.T) {
	clearEnv(t)
	s := testenv.Start(t, "sqlite", testenv.Options{MaxSecretsPerClient: 32})
	r := runCLI("", "--endpoint", s.AdminURL, "--token", s.Token, "bench", "--public-url", s.PublicURL,
		"--duration", "150ms", "--warmup", "20ms", "--rounds", "3", "--connections", "2")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	_, medians, ok := strings.Cut(r.stdout, "median of 3 rounds:")
	if !ok {
		t.Fatalf("no medians:\n%s", r.stdout)
	}
	for _, name := range []string{"reference", "cc-basic", "cc-basic-20", "cc-basic-1v20/1", "cc-basic-1v20/20", "cc-wrong-secret", "introspect"} {
		if !regexp.MustCompile(`(?m)^` + name + ` +\d+ req/s`).MatchString(medians) {
			t.Errorf("no median line for %s:\n%s", name, medians)
		}
	}
	if !regexp.MustCompile(`answers with status (401|429)`).MatchString(medians) {
		t.Errorf("the wrong secret's answers are not reported:\n%s", medians)
	}
	for _, label := range []string{"cc-basic / reference", "cc-basic-20 / cc-basic", "cc-basic-1v20: 20 / 1", "cc-wrong-secret / cc-basic"} {
		if !regexp.MustCompile(regexp.QuoteMeta(label) + ` +\d+\.\d\d \(rounds: \d+\.\d\d \d+\.\d\d \d+\.\d\d\)`).MatchString(medians) {
			t.Errorf("no ratio line for %s:\n%s", label, medians)
		}
	}
}
