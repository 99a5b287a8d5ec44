// Command watchword runs the Watchword server (watchword serve) and manages
// OAuth clients and their secrets through its management API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/watchword/watchword/internal/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := cli.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
