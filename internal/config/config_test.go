package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/config"
)

func writeFile(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "watchword.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	c, err := config.Load("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "./watchword-data" || c.PublicAddr != "127.0.0.1:8080" || c.AdminAddr != "127.0.0.1:8081" || c.Secrets.MaxPerClient != 10 {
		t.Fatalf("defaults=%+v", c)
	}
	kind, src, err := config.ParseDatabase(c.Database, c.DataDir)
	if err != nil || kind != "sqlite" || src != filepath.Join("watchword-data", "watchword.db") {
		t.Fatalf("database=%s %s %v", kind, src, err)
	}
}

// TestPrecedence: flags override the environment, which overrides the file.
func TestPrecedence(t *testing.T) {
	file := writeFile(t, "public_addr: 127.0.0.1:1\nadmin_addr: 127.0.0.1:2\nlog:\n  level: debug\nshutdown_timeout: 5s\n")
	env := []string{"WATCHWORD_ADMIN_ADDR=127.0.0.1:3", "WATCHWORD_LOG_LEVEL=warn", "WATCHWORD_TOKEN=ignored-by-server", "PATH=/bin"}
	flags := map[string]string{"log.level": "error"}
	c, err := config.Load(file, env, flags)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, got, want string }{
		{"file only", c.PublicAddr, "127.0.0.1:1"},
		{"env over file", c.AdminAddr, "127.0.0.1:3"},
		{"flag over env", c.Log.Level, "error"},
		{"file duration", c.ShutdownTimeout.String(), (5 * time.Second).String()},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s: got %q, want %q", tt.name, tt.got, tt.want)
		}
	}
}

// TestAllProblemsAtOnce: unknown keys and bad values are reported together,
// each naming its key.
func TestAllProblemsAtOnce(t *testing.T) {
	file := writeFile(t, "public_adr: x\nlog:\n  format: xml\n  colour: red\nsecrets:\n  max_per_client: lots\n")
	env := []string{"WATCHWORD_DATABSE=postgres://x", "WATCHWORD_SHUTDOWN_TIMEOUT=soon"}
	flags := map[string]string{"database": "mysql://db"}
	_, err := config.Load(file, env, flags)
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("err=%v, want *config.Error", err)
	}
	all := strings.Join(ce.Problems, "\n")
	for _, want := range []string{"public_adr", "colour", "max_per_client", "log.format", "WATCHWORD_DATABSE", "WATCHWORD_SHUTDOWN_TIMEOUT", "database"} {
		if !strings.Contains(all, want) {
			t.Errorf("problems do not name %q:\n%s", want, all)
		}
	}
}

func TestParseDatabase(t *testing.T) {
	tests := []struct {
		in, kind, src string
		ok            bool
	}{
		{"", "sqlite", filepath.Join("d", "watchword.db"), true},
		{"sqlite:/tmp/x.db", "sqlite", "/tmp/x.db", true},
		{"postgres://u@h/db", "postgres", "postgres://u@h/db", true},
		{"postgresql://u@h/db", "postgres", "postgresql://u@h/db", true},
		{"sqlite:", "", "", false},
		{"mysql://x", "", "", false},
	}
	for _, tt := range tests {
		kind, src, err := config.ParseDatabase(tt.in, "d")
		if (err == nil) != tt.ok || kind != tt.kind || src != tt.src {
			t.Errorf("ParseDatabase(%q)=%q,%q,%v; want %q,%q,ok=%v", tt.in, kind, src, err, tt.kind, tt.src, tt.ok)
		}
	}
}
