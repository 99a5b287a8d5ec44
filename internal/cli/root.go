// Package cli is the watchword command: the server commands (serve,
// migrate, version) and the client commands that call the management API.
package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/apiclient"
	"github.com/watchword/watchword/internal/config"
)

// Run runs the watchword command with args and returns the exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, os.Stdin, stdout, stderr)
}

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	if ctx.Err() != nil && errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "error: interrupted")
		return 130
	}
	printError(stderr, err)
	return 1
}

// printError shows an error to people: the API's own message and, when
// several fields were wrong, one line per field.
func printError(w io.Writer, err error) {
	var (
		apiErr *watchword.Error
		use    *usageError
	)
	switch {
	case errors.As(err, &apiErr) && len(apiErr.Fields) > 0:
		fmt.Fprintf(w, "error: %s:\n", plural(len(apiErr.Fields), "problem", "problems"))
		for _, f := range apiErr.Fields {
			fmt.Fprintf(w, "  %s: %s\n", f.Field, f.Message)
		}
	case errors.As(err, &apiErr):
		msg := apiErr.Message
		if r, _ := utf8.DecodeRuneInString(msg); apiErr.Field != "" && unicode.IsLower(r) {
			msg = apiErr.Field + ": " + msg // a fragment such as "is required"
		}
		fmt.Fprintf(w, "error: %s\n", msg)
		if apiErr.Code == watchword.EUNAUTHORIZED {
			fmt.Fprintln(w, "(the admin token comes from --token, WATCHWORD_TOKEN or the file admin-token in --data-dir)")
		}
	case errors.As(err, &use):
		fmt.Fprintf(w, "error: %s\n", use.err)
		fmt.Fprintf(w, "Run '%s --help' for usage.\n", use.cmd.CommandPath())
	default:
		fmt.Fprintf(w, "error: %s\n", err)
		if op := (*net.OpError)(nil); errors.As(err, &op) && op.Op == "dial" {
			fmt.Fprintln(w, "(is the server running? the endpoint comes from --endpoint or WATCHWORD_ENDPOINT)")
		}
	}
}

// usageError is a mistake in the command line rather than in its execution.
type usageError struct {
	cmd *cobra.Command
	err error
}

func (e *usageError) Error() string { return e.err.Error() }
func (e *usageError) Unwrap() error { return e.err }

func usageErrorf(cmd *cobra.Command, format string, args ...any) error {
	return &usageError{cmd, fmt.Errorf(format, args...)}
}

const rootLong = `Watchword manages the secrets of OAuth clients: their creation, rotation with
a transition period, expiry policy, revocation and audit.

'watchword serve' runs the server. The other commands call its management API
on the admin listener. Their settings come from flags, then environment
variables, then defaults:

  --endpoint   WATCHWORD_ENDPOINT   default ` + apiclient.DefaultEndpoint + `
  --token      WATCHWORD_TOKEN      default: the file admin-token in the data directory
  --data-dir   WATCHWORD_DATA_DIR   default ./watchword-data
  --domain     WATCHWORD_DOMAIN     default "default"
  --output     WATCHWORD_OUTPUT     default table

On first start the server writes its first admin token to admin-token in its
data directory (mode 0600), so on the server's host the client commands work
without further setup. Prefer WATCHWORD_TOKEN to --token elsewhere: a flag is
visible to other users in the process list and lands in shell history.

Clients are named by id or name. With -o json a command prints the API's
response as JSON.`

// newRoot builds the watchword command with every subcommand.
func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "watchword",
		Short:         "OAuth client-secret lifecycle server and its command-line client",
		Long:          rootLong,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          cobra.NoArgs,
		RunE:          func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetFlagErrorFunc(func(cmd *cobra.Command, err error) error { return &usageError{cmd, err} })
	pf := root.PersistentFlags()
	for _, s := range []setting{endpointSetting, tokenSetting, dataDirSetting, domainSetting} {
		pf.String(s.flag, "", s.usage)
	}
	pf.StringP(outputSetting.flag, "o", "", outputSetting.usage)

	root.AddCommand(domainCommand(), clientCommand(), secretCommand(), historyCommand(),
		policyCommand(), rotationCommand(), targetCommand(), userCommand(), tokenCommand(), auditCommand(), notifyCommand(), whoamiCommand(), benchCommand())
	addServerCommands(root)
	return root
}

// setting is a root flag that may also come from the environment; a flag
// that was set beats the environment, which beats the default.
type setting struct {
	flag, env, def string
	usage          string // ends with the default, for --help
}

func newSetting(flag, env, def, usage, defaultUsage string) setting {
	return setting{flag, env, def, fmt.Sprintf("%s (env %s; default %s)", usage, env, defaultUsage)}
}

var (
	endpointSetting = newSetting("endpoint", "WATCHWORD_ENDPOINT", apiclient.DefaultEndpoint,
		"URL of the admin listener", apiclient.DefaultEndpoint)
	tokenSetting = newSetting("token", "WATCHWORD_TOKEN", "",
		"admin token", "the file "+adminTokenFile+" in the data directory")
	dataDirSetting = newSetting("data-dir", "WATCHWORD_DATA_DIR", config.Default().DataDir,
		"data directory of the server", config.Default().DataDir)
	domainSetting = newSetting("domain", "WATCHWORD_DOMAIN", watchword.DefaultDomainName,
		"domain of the client commands", watchword.DefaultDomainName)
	outputSetting = newSetting("output", "WATCHWORD_OUTPUT", "table",
		"output format: table or json", "table")
)

// value returns the setting's value for cmd and whether it came from a
// flag or the environment rather than the default.
func (s setting) value(cmd *cobra.Command) (string, bool) {
	if f := cmd.Flag(s.flag); f != nil && f.Changed {
		return f.Value.String(), true
	}
	if v := os.Getenv(s.env); v != "" {
		return v, true
	}
	return s.def, false
}

func (s setting) get(cmd *cobra.Command) string {
	v, _ := s.value(cmd)
	return v
}

// dataDir returns the data directory: --data-dir, WATCHWORD_DATA_DIR or the
// default. serve reads the same flag through the configuration keys.
func dataDir(cmd *cobra.Command) string { return dataDirSetting.get(cmd) }

// adminToken returns the token from --token, WATCHWORD_TOKEN, or the
// admin-token file in the data directory.
func adminToken(cmd *cobra.Command) (string, error) {
	if t, set := tokenSetting.value(cmd); set {
		if t = strings.TrimSpace(t); t == "" {
			return "", usageErrorf(cmd, "--token is empty")
		}
		return t, nil
	}
	return readTokenFile(filepath.Join(dataDir(cmd), adminTokenFile))
}

// readTokenFile reads an admin token from a file such as the one the
// server writes on first start.
func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("no admin token: set --token or WATCHWORD_TOKEN, or point --data-dir (WATCHWORD_DATA_DIR) at the server's data directory (%s does not exist)", path)
	} else if err != nil {
		return "", fmt.Errorf("read admin token: %w", err)
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", fmt.Errorf("read admin token: %s is empty", path)
	}
	if strings.ContainsAny(t, " \t\r\n") {
		return "", fmt.Errorf("read admin token: %s holds more than one line", path)
	}
	return t, nil
}

// session is what a client command needs: the API client, the domain and
// the output format.
type session struct {
	api    *apiclient.Client
	domain string
	json   bool
	out    io.Writer
	// last is the body of the last successful response, printed by -o json.
	last []byte
}

func newSession(cmd *cobra.Command) (*session, error) {
	s := &session{domain: domainSetting.get(cmd), out: cmd.OutOrStdout()}
	switch o := outputSetting.get(cmd); o {
	case "table":
	case "json":
		s.json = true
	default:
		return nil, usageErrorf(cmd, "invalid output format %q: use table or json", o)
	}
	token, err := adminToken(cmd)
	if err != nil {
		return nil, err
	}
	s.api = &apiclient.Client{
		Endpoint:   endpointSetting.get(cmd),
		Token:      token,
		HTTP:       &http.Client{Timeout: time.Minute, CheckRedirect: apiclient.NoRedirects},
		OnResponse: func(b []byte) { s.last = b },
		// Every state-changing call gets a fresh idempotency key and is sent
		// once more with it after a transport error, so that a lost response
		// never makes a second secret.
		IdempotencyKeys: apiclient.NewIdempotencyKey,
		Retries:         1,
	}
	return s, nil
}

// print writes the result of a command: with -o json the last API response,
// indented; otherwise what human writes.
func (s *session) print(human func(w io.Writer) error) error {
	if !s.json {
		return human(s.out)
	}
	raw := bytes.TrimSpace(s.last)
	if len(raw) == 0 {
		return nil // 204 No Content
	}
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	buf.WriteByte('\n')
	_, err := s.out.Write(buf.Bytes())
	return err
}

// command returns a leaf command whose run function gets a session. Its
// positional arguments are checked against its Use line.
func command(use, short string, run func(s *session, cmd *cobra.Command, args []string) error) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Args:  useArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := newSession(cmd)
			if err != nil {
				return err
			}
			return run(s, cmd, args)
		},
	}
}

// useArgs checks the positional arguments against the command's Use line:
// "get CLIENT ID" wants two, "get [CLIENT]" zero or one.
func useArgs(cmd *cobra.Command, args []string) error {
	names := strings.Fields(cmd.Use)[1:]
	required := 0
	for _, n := range names {
		if !strings.HasPrefix(n, "[") {
			required++
		}
	}
	if len(args) < required || len(args) > len(names) {
		return usageErrorf(cmd, "wrong number of arguments (%d); usage: %s", len(args), cmd.UseLine())
	}
	return nil
}

// group returns a command that only holds subcommands.
func group(use, short string, children ...*cobra.Command) *cobra.Command {
	g := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usageErrorf(cmd, "unknown command %q for %q", args[0], cmd.CommandPath())
			}
			return cmd.Help()
		},
	}
	g.AddCommand(children...)
	return g
}

// optionalArg returns args[0], or "" when the optional argument is absent.
func optionalArg(args []string) string {
	if len(args) == 0 {
		return ""
	}
	return args[0]
}
