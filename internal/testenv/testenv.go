// Package testenv starts whole Watchword servers for end-to-end tests: real
// listeners on free loopback ports, a real database (SQLite in a temp dir or
// a throwaway PostgreSQL), and optionally a test clock.
package testenv

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/app"
	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/pgtest"
)

// Backends are the databases every end-to-end test runs on.
var Backends = []string{"sqlite", "postgres"}

// Server is a running server.
type Server struct {
	*app.App
	PublicURL, AdminURL string
	// Token is the first admin token.
	Token string
	// Ctx carries an admin actor, for calling the service directly.
	Ctx context.Context
}

// Options tune Start.
type Options struct {
	Now func() time.Time
	// Database, if set, is used instead of a fresh one (a second instance).
	Database string
	// ServerKey, if set, is used instead of a fresh one (instances must share it).
	ServerKey string
	Logs      io.Writer
	// MaxSecretsPerClient raises the server-wide cap (default 10).
	MaxSecretsPerClient int
	// Jobs runs the background jobs (delivery, expiry sweep and notices)
	// every JobsInterval (default 20ms). Without it they run only when a
	// test calls Server.Jobs, so that a test clock decides what is due.
	Jobs         bool
	JobsInterval time.Duration
	// SMTP, if its Host is set, lets the server send email notifications.
	SMTP config.SMTP
	// Configure, if set, changes the configuration last.
	Configure func(*config.Config)
}

// Start runs a server on backend until the test ends.
func Start(t testing.TB, backend string, opts Options) *Server {
	t.Helper()
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.PublicAddr, cfg.AdminAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.Log.Level = "warn"
	cfg.ServerKey = opts.ServerKey
	cfg.ShutdownTimeout = 5 * time.Second
	if opts.MaxSecretsPerClient > 0 {
		cfg.Secrets.MaxPerClient = opts.MaxSecretsPerClient
	}
	cfg.Jobs.Enabled, cfg.Jobs.Interval = opts.Jobs, 20*time.Millisecond
	if opts.JobsInterval > 0 {
		cfg.Jobs.Interval = opts.JobsInterval
	}
	if opts.SMTP.Host != "" {
		cfg.SMTP = opts.SMTP
	}
	switch {
	case opts.Database != "":
		cfg.Database = opts.Database
	case backend == "postgres":
		cfg.Database = pgtest.URL(t)
	}
	if opts.Configure != nil {
		opts.Configure(&cfg)
	}
	logs := opts.Logs
	if logs == nil {
		logs = io.Discard
	}
	a, err := app.New(t.Context(), cfg, app.Options{Now: opts.Now, Stderr: logs})
	if err != nil {
		t.Fatalf("start server: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("server: %v", err)
		}
	})
	s := &Server{App: a, PublicURL: "http://" + a.PublicAddr(), AdminURL: "http://" + a.AdminAddr()}
	if a.FirstToken != nil {
		s.Token = a.FirstToken.Plaintext
	}
	s.Ctx = watchword.NewContextWithActor(context.Background(), watchword.Actor{ID: "test", Role: watchword.RoleAdmin})
	return s
}

// Issuer is the issuer URL of a domain.
func (s *Server) Issuer(domain string) string { return s.PublicURL + "/" + domain }

// TokenURL is the token endpoint of a domain.
func (s *Server) TokenURL(domain string) string { return s.Issuer(domain) + "/oauth/token" }
