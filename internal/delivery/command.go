package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// CommandConfig runs a local program with the secret on its standard input.
// The program gets the delivery's other fields in WATCHWORD_* environment
// variables; the secret is never in its arguments or environment.
type CommandConfig struct {
	// Argv is the program (an absolute path) and its arguments. It is
	// run directly, not through a shell.
	Argv []string `json:"argv"`
	// Env holds extra NAME=value environment entries. The program's
	// environment is PATH, these, and the WATCHWORD_* variables only.
	Env []string `json:"env,omitempty"`
	// Format of standard input: raw (default), env or json.
	Format  string `json:"format,omitempty"`
	EnvName string `json:"env_name,omitempty"`
	// TimeoutSeconds bounds the run (default 30, at most 600); the whole
	// process group is killed when it ends.
	TimeoutSeconds int `json:"timeout_seconds,omitempty"`
}

// Command limits.
const (
	defaultCommandTimeout = 30 * time.Second
	maxCommandTimeout     = 600
	maxStderr             = 1024
	// commandWaitDelay bounds how long Wait waits for output pipes that a
	// leftover process keeps open after the command exits.
	commandWaitDelay = 2 * time.Second
)

// Environment variables a command receives.
const (
	EnvEventID           = "WATCHWORD_EVENT_ID"
	EnvDomain            = "WATCHWORD_DOMAIN"
	EnvClientID          = "WATCHWORD_CLIENT_ID"
	EnvClientName        = "WATCHWORD_CLIENT_NAME"
	EnvSecretID          = "WATCHWORD_SECRET_ID"
	EnvPreviousExpiresAt = "WATCHWORD_PREVIOUS_SECRET_EXPIRES_AT" // RFC 3339, empty when none
)

// Validate reports every problem of c at once.
func (c CommandConfig) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func (c CommandConfig) problems() []string {
	checks := []check{
		{len(c.Argv) == 0, "command.argv", "is required"},
		{len(c.Argv) > 0 && !filepath.IsAbs(c.Argv[0]), "command.argv", "argv[0] must be an absolute path"},
		{c.TimeoutSeconds < 0 || c.TimeoutSeconds > maxCommandTimeout, "command.timeout_seconds", fmt.Sprintf("must be 0 (default) to %d", maxCommandTimeout)},
	}
	for i, a := range c.Argv {
		checks = append(checks, check{strings.ContainsRune(a, 0), "command.argv", fmt.Sprintf("argv[%d] contains a NUL byte", i)})
	}
	for i, e := range c.Env {
		name, value, ok := strings.Cut(e, "=")
		checks = append(checks,
			check{!ok || !envNameRE.MatchString(name), "command.env", fmt.Sprintf("env[%d] is not NAME=value with NAME a variable name", i)},
			check{ok && strings.ContainsRune(value, 0), "command.env", fmt.Sprintf("env[%d] contains a NUL byte", i)},
			check{ok && strings.HasPrefix(name, "WATCHWORD_"), "command.env", fmt.Sprintf("env[%d]: WATCHWORD_ names are reserved", i)},
		)
	}
	return collect(append(checks, formatProblems("command", c.Format, c.EnvName)...))
}

// CommandTarget runs a program for each delivery.
type CommandTarget struct {
	argv    []string
	env     []string
	format  string
	envName string
	timeout time.Duration
}

var _ Target = (*CommandTarget)(nil)

// NewCommand validates c and returns its target.
func NewCommand(c CommandConfig) (*CommandTarget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	timeout := defaultCommandTimeout
	if c.TimeoutSeconds > 0 {
		timeout = time.Duration(c.TimeoutSeconds) * time.Second
	}
	return &CommandTarget{
		argv:    append([]string(nil), c.Argv...),
		env:     append([]string(nil), c.Env...),
		format:  formatOrDefault(c.Format),
		envName: c.EnvName,
		timeout: timeout,
	}, nil
}

// Deliver runs the command with the secret on standard input. Exit status 0
// means delivered. Otherwise the error names the status and carries the
// start of standard error, with the secret redacted.
func (t *CommandTarget) Deliver(ctx context.Context, d Delivery) error {
	if err := d.validate(); err != nil {
		return err
	}
	input, err := encode(t.format, t.envName, d)
	if err != nil {
		return err
	}
	runCtx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()

	cmd := exec.CommandContext(runCtx, t.argv[0], t.argv[1:]...)
	cmd.Env = t.environ(d)
	cmd.Dir = "/"
	cmd.Stdin = bytes.NewReader(input)
	stderr := &boundedBuffer{limit: maxStderr + len(d.Secret)}
	cmd.Stderr = stderr
	cmd.WaitDelay = commandWaitDelay
	setProcessGroup(cmd)

	start := time.Now()
	err = cmd.Run()
	if err == nil || errors.Is(err, exec.ErrWaitDelay) && cmd.ProcessState.Success() {
		// ErrWaitDelay after exit 0: a process the command left behind
		// still holds stderr; the command itself succeeded.
		return nil
	}
	msg := redactBounded(stderr.buf.Bytes(), string(d.Secret), maxStderr)
	if msg != "" {
		msg = "; stderr: " + msg
	}
	var exitErr *exec.ExitError
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("delivery: command %s: %w%s", t.argv[0], ctx.Err(), msg)
	case runCtx.Err() != nil:
		return fmt.Errorf("delivery: command %s: timed out after %s%s", t.argv[0], time.Since(start).Round(time.Millisecond), msg)
	case errors.As(err, &exitErr):
		return fmt.Errorf("delivery: command %s: %s%s", t.argv[0], exitErr.ProcessState, msg)
	default:
		// Start failures (not found, not executable) and I/O errors.
		return scrub(fmt.Errorf("delivery: command %s: %w%s", t.argv[0], err, msg), d.Secret)
	}
}

// environ is the child's whole environment: PATH, the configured entries
// and the delivery's non-secret fields.
func (t *CommandTarget) environ(d Delivery) []string {
	env := make([]string, 0, 7+len(t.env))
	if p, ok := os.LookupEnv("PATH"); ok {
		env = append(env, "PATH="+p)
	}
	env = append(env, t.env...)
	prev := ""
	if !d.PreviousExpiresAt.IsZero() {
		prev = d.PreviousExpiresAt.UTC().Format(time.RFC3339)
	}
	return append(env,
		EnvEventID+"="+d.EventID,
		EnvDomain+"="+d.Domain,
		EnvClientID+"="+d.ClientID,
		EnvClientName+"="+d.ClientName,
		EnvSecretID+"="+d.SecretID,
		EnvPreviousExpiresAt+"="+prev,
	)
}

// boundedBuffer keeps the first limit bytes written and discards the rest
// while reporting success, so the child never blocks or fails on a full
// pipe.
type boundedBuffer struct {
	buf   bytes.Buffer
	limit int
}

func (b *boundedBuffer) Write(p []byte) (int, error) {
	if room := b.limit - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}
