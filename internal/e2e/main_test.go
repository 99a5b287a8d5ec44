package e2e

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"

	"github.com/watchword/watchword/internal/cli"
	"github.com/watchword/watchword/internal/pgtest"
)

// serveEnv, when set, makes the test binary run 'watchword serve' instead
// of the tests, so that a test can start server processes and kill them.
const serveEnv = "E2E_SERVE_WATCHWORD" // not WATCHWORD_*: the server refuses unknown ones

func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		code := cli.Run(ctx, []string{"serve"}, os.Stdout, os.Stderr)
		stop()
		os.Exit(code)
	}
	pgtest.Main(m)
}
