package cli

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword/internal/apiclient"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/lifecycle"
)

// ---- delivery targets of automated rotation

func targetCommand() *cobra.Command {
	cmd := group("target", "Manage where a client's rotation runs deliver new secrets",
		targetAddCommand(), targetListCommand(), targetSwitchCommand("disable"), targetSwitchCommand("enable"), targetDeleteCommand())
	cmd.Aliases = []string{"targets"}
	cmd.Long = `A delivery target receives each new secret of a client's automated rotation
runs ('watchword rotation') before the secret is promoted: a file on the
server's host, an HTTPS webhook signed as the Standard Webhooks specification
says, or a local command that reads the secret on its standard input. A run
delivers to every target of the client; if a later step fails, file and
webhook targets are told to go back.`
	return cmd
}

// targetDestination is where a target sends the secret.
func targetDestination(c delivery.Config) string {
	switch {
	case c.File != nil:
		return c.File.Path
	case c.Webhook != nil:
		return c.Webhook.URL
	case c.Command != nil:
		return strings.Join(c.Command.Argv, " ")
	}
	return ""
}

// targetFormat is the format of a file or command target.
func targetFormat(c delivery.Config) string {
	format, env := "", ""
	switch {
	case c.File != nil:
		format, env = c.File.Format, c.File.EnvName
	case c.Command != nil:
		format, env = c.Command.Format, c.Command.EnvName
	default:
		return ""
	}
	if format == "" {
		format = delivery.FormatRaw
	}
	if env != "" {
		format += " (" + env + ")"
	}
	return format
}

func targetStatus(v lifecycle.TargetView) string {
	if v.Disabled {
		return "disabled"
	}
	return "enabled"
}

func targetFields(w io.Writer, v lifecycle.TargetView) error {
	kv := [][2]string{
		{"Name", v.Name},
		{"ID", v.ID},
		{"Type", v.Type},
		{"Destination", targetDestination(v.Config)},
	}
	if f := targetFormat(v.Config); f != "" {
		kv = append(kv, [2]string{"Format", f})
	}
	switch {
	case v.Config.Webhook != nil:
		private := "refused"
		if v.Config.Webhook.AllowPrivate {
			private = "allowed"
		}
		kv = append(kv, [2]string{"Private addresses", private}, [2]string{"Timeout", timeoutText(v.Config.Webhook.TimeoutSeconds, "10s")})
	case v.Config.Command != nil:
		kv = append(kv, [2]string{"Environment", strings.Join(v.Config.Command.Env, " ")}, [2]string{"Timeout", timeoutText(v.Config.Command.TimeoutSeconds, "30s")})
	}
	kv = append(kv, [2]string{"Status", targetStatus(v)}, [2]string{"Created", fmtTime(v.CreatedAt)})
	return fields(w, kv...)
}

func timeoutText(seconds int, def string) string {
	if seconds == 0 {
		return def + " (default)"
	}
	return fmtDuration(time.Duration(seconds) * time.Second)
}

// printTargetSigningSecret shows a generated webhook signing secret, this once.
func printTargetSigningSecret(w io.Writer, res apiclient.TargetCreated) {
	if res.SigningSecretRedacted {
		printRedacted(w, "Signing secret", "If it was not stored, delete the target and add it again.")
		return
	}
	if res.SigningSecret == "" {
		return
	}
	fmt.Fprintf(w, "\nSigning secret (shown only once: it cannot be retrieved again; give it to the receiver to verify webhook-signature):\n\n    %s\n\n", res.SigningSecret)
}

// targetFlags are the flags of 'target add'; which apply depends on --type.
type targetFlags struct {
	name, typ             string
	path, format, envName string
	url                   string
	signingSecretStdin    bool
	allowPrivate          bool
	command               string
	args, env             []string
	timeout               string
}

// targetTypeFlags are the flags each target type takes, besides --name and --type.
var targetTypeFlags = map[string][]string{
	delivery.TypeFile:    {"path", "format", "env-name"},
	delivery.TypeWebhook: {"url", "signing-secret-stdin", "allow-private", "timeout"},
	delivery.TypeCommand: {"command", "arg", "env", "format", "env-name", "timeout"},
}

// targetAllFlags are the flags of targetTypeFlags, in the order of --help.
var targetAllFlags = []string{"path", "format", "env-name", "url", "signing-secret-stdin", "allow-private", "command", "arg", "env", "timeout"}

// targetRequired is the flag each type needs.
var targetRequired = map[string]string{delivery.TypeFile: "path", delivery.TypeWebhook: "url", delivery.TypeCommand: "command"}

// config checks the flags against --type and builds the target's
// configuration; the server checks the values.
func (tf *targetFlags) config(cmd *cobra.Command) (delivery.Config, error) {
	changed := cmd.Flags().Changed
	typ := strings.TrimSpace(tf.typ)
	own, ok := targetTypeFlags[typ]
	if !ok {
		return delivery.Config{}, usageErrorf(cmd, "--type must be file, webhook or command")
	}
	for _, f := range targetAllFlags {
		if changed(f) && !slices.Contains(own, f) {
			return delivery.Config{}, usageErrorf(cmd, "--%s is not for --type %s", f, typ)
		}
	}
	if req := targetRequired[typ]; !changed(req) {
		return delivery.Config{}, usageErrorf(cmd, "--type %s needs --%s", typ, req)
	}
	timeout := 0
	if changed("timeout") {
		d, err := parseDuration(tf.timeout)
		if err != nil {
			return delivery.Config{}, usageErrorf(cmd, "--timeout: %v", err)
		}
		if d < time.Second || d%time.Second != 0 {
			return delivery.Config{}, usageErrorf(cmd, "--timeout must be a whole number of seconds, at least 1s")
		}
		timeout = int(d / time.Second)
	}
	cfg := delivery.Config{Type: typ}
	switch typ {
	case delivery.TypeFile:
		cfg.File = &delivery.FileConfig{Path: tf.path, Format: tf.format, EnvName: tf.envName}
	case delivery.TypeWebhook:
		cfg.Webhook = &delivery.WebhookConfig{URL: tf.url, AllowPrivate: tf.allowPrivate, TimeoutSeconds: timeout}
		if tf.signingSecretStdin {
			v, err := readSecretValue(cmd)
			if err != nil {
				return delivery.Config{}, err
			}
			cfg.Webhook.SigningSecret = v
		}
	case delivery.TypeCommand:
		cfg.Command = &delivery.CommandConfig{
			Argv: append([]string{tf.command}, tf.args...), Env: tf.env,
			Format: tf.format, EnvName: tf.envName, TimeoutSeconds: timeout,
		}
	}
	return cfg, nil
}

func targetAddCommand() *cobra.Command {
	var tf targetFlags
	cmd := command("add CLIENT", "Add a delivery target to a client", func(s *session, cmd *cobra.Command, args []string) error {
		cfg, err := tf.config(cmd)
		if err != nil {
			return err
		}
		res, err := s.api.CreateTarget(cmd.Context(), s.domain, args[0], lifecycle.TargetCreate{Name: tf.name, Config: cfg})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Added %s target %s (ID %s) to client %s.\n\n", res.Type, clean(res.Name), res.ID, clean(args[0]))
			if err := targetFields(w, res.TargetView); err != nil {
				return err
			}
			printTargetSigningSecret(w, res)
			return nil
		})
	})
	cmd.Long = `Add a delivery target to a confidential client. Its configuration is stored
encrypted; paths and commands are those of the server's host.

  --type file      writes the secret to --path (absolute), replacing the file
                   atomically with mode 0600, as --format raw (the value; the
                   default), env (NAME=value, NAME from --env-name) or json.
  --type webhook   POSTs it to --url (https) as a Standard Webhooks message.
                   The signing secret is generated and printed this once, or
                   read with --signing-secret-stdin (whsec_<base64>).
                   --allow-private permits private network addresses.
  --type command   runs --command (absolute path, no shell) with each --arg,
                   the secret on standard input in --format, the delivery's
                   other fields in WATCHWORD_* variables and each --env.

--timeout bounds a webhook (default 10s, at most 120s) or a command (default
30s, at most 600s).`
	cmd.Example = `  watchword target add billing-api --name env-file --type file --path /etc/billing/secret.env --format env --env-name CLIENT_SECRET
  watchword target add billing-api --name deploy --type webhook --url https://deploy.example/hooks/watchword
  watchword target add billing-api --name reload --type command --command /usr/local/bin/reload-secret --arg billing --timeout 1m`
	f := cmd.Flags()
	f.StringVar(&tf.name, "name", "", "name of the target, unique for the client: a-z, 0-9, '.', '_', '-' (required)")
	f.StringVar(&tf.typ, "type", "", "file, webhook or command (required)")
	f.StringVar(&tf.path, "path", "", "file: absolute path of the file")
	f.StringVar(&tf.format, "format", "", "file, command: raw (default), env or json")
	f.StringVar(&tf.envName, "env-name", "", "file, command: variable name of --format env")
	f.StringVar(&tf.url, "url", "", "webhook: where to POST (https)")
	f.BoolVar(&tf.signingSecretStdin, "signing-secret-stdin", false, "webhook: read the signing secret (whsec_…) from standard input instead of generating one")
	f.BoolVar(&tf.allowPrivate, "allow-private", false, "webhook: allow private network addresses")
	f.StringVar(&tf.command, "command", "", "command: absolute path of the program")
	f.StringArrayVar(&tf.args, "arg", nil, "command: an argument (repeat for several)")
	f.StringArrayVar(&tf.env, "env", nil, "command: an extra NAME=value environment entry (repeat for several)")
	f.StringVar(&tf.timeout, "timeout", "", "webhook, command: time limit, e.g. 10s, 2m")
	_ = cmd.MarkFlagRequired("name")
	_ = cmd.MarkFlagRequired("type")
	return cmd
}

func targetListCommand() *cobra.Command {
	return command("list CLIENT", "List a client's delivery targets", func(s *session, cmd *cobra.Command, args []string) error {
		ts, err := s.api.ListTargets(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(ts.Items))
			for _, v := range ts.Items {
				rows = append(rows, []string{v.Name, v.ID, v.Type, targetDestination(v.Config), targetFormat(v.Config), targetStatus(v), fmtTime(v.CreatedAt)})
			}
			return table(w, []string{"NAME", "ID", "TYPE", "DESTINATION", "FORMAT", "STATUS", "CREATED"}, rows)
		})
	})
}

// targetSwitchCommand is 'target disable' or 'target enable'.
func targetSwitchCommand(verb string) *cobra.Command {
	short := "Stop delivering new secrets to a target"
	if verb == "enable" {
		short = "Deliver new secrets to a disabled target again"
	}
	return command(verb+" CLIENT TARGET", short, func(s *session, cmd *cobra.Command, args []string) error {
		disabled := verb == "disable"
		v, err := s.api.UpdateTarget(cmd.Context(), s.domain, args[0], args[1], lifecycle.TargetUpdate{Disabled: &disabled})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Target %s of client %s is %s.\n", clean(v.Name), clean(args[0]), targetStatus(v))
			return err
		})
	})
}

func targetDeleteCommand() *cobra.Command {
	return command("delete CLIENT TARGET", "Remove a delivery target", func(s *session, cmd *cobra.Command, args []string) error {
		if err := s.api.DeleteTarget(cmd.Context(), s.domain, args[0], args[1]); err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deleted target %s of client %s.\n", clean(args[1]), clean(args[0]))
			return err
		})
	})
}
