package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchword/watchword/internal/lifecycle"
)

func secretCommand() *cobra.Command {
	return group("secret", "Manage a client's secrets",
		secretListCommand(), secretGetCommand(), secretAddCommand(), secretRenewCommand(),
		secretRevokeCommand(), secretDeleteCommand())
}

func secretListCommand() *cobra.Command {
	cmd := command("list CLIENT", "List a client's secrets", func(s *session, cmd *cobra.Command, args []string) error {
		ss, err := s.api.ListSecrets(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return secretTable(w, ss.Items) })
	})
	cmd.Long = `List a client's secrets with their status: active, retiring (in a transition
period, still valid until EXPIRES), expired or revoked. Secret values are
never shown after they are created; HINT is the end of the value.`
	return cmd
}

func secretGetCommand() *cobra.Command {
	return command("get CLIENT ID", "Show one secret of a client", func(s *session, cmd *cobra.Command, args []string) error {
		sec, err := s.api.GetSecret(cmd.Context(), s.domain, args[0], args[1])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return fields(w, secretFields(sec)...) })
	})
}

func secretAddCommand() *cobra.Command {
	var (
		in        lifecycle.SecretCreate
		fromStdin bool
	)
	cmd := command("add CLIENT", "Add a secret to a client", func(s *session, cmd *cobra.Command, args []string) error {
		if fromStdin {
			v, err := readSecretValue(cmd)
			if err != nil {
				return err
			}
			in.Value = v
		}
		ns, err := s.api.AddSecret(cmd.Context(), s.domain, args[0], in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Added a secret to client %s.\n\n", clean(args[0]))
			return printNewSecret(w, ns)
		})
	})
	cmd.Long = `Add a secret to a client beside its current ones. The value is generated
unless --value-stdin reads a custom one from standard input (never from the
command line, where it would land in shell history); the client's policy
must allow custom values. At a terminal the value is read without echo.`
	cmd.Flags().StringVar(&in.Description, "description", "", "description of the secret, unique among the client's active secrets")
	cmd.Flags().BoolVar(&fromStdin, "value-stdin", false, "read a custom secret value from standard input")
	return cmd
}

func secretRenewCommand() *cobra.Command {
	var grace graceFlag
	cmd := command("renew CLIENT ID", "Replace a secret by a new one; the old one keeps working for a grace period", func(s *session, cmd *cobra.Command, args []string) error {
		t, err := grace.transition(cmd)
		if err != nil {
			return err
		}
		res, err := s.api.RenewSecret(cmd.Context(), s.domain, args[0], args[1], t)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Renewed secret %s of client %s.\n\n", clean(args[1]), clean(args[0]))
			if err := printNewSecret(w, res.Secret); err != nil {
				return err
			}
			printRetired(w, res.Rotation)
			return nil
		})
	})
	cmd.Long = `Renew a secret: create a new secret with the same description and put the
old one into a transition period (--grace) after which it stops working.`
	grace.add(cmd, "the old secret may")
	return cmd
}

func secretRevokeCommand() *cobra.Command {
	var in lifecycle.RevokeRequest
	cmd := command("revoke CLIENT ID", "Revoke a secret at once", func(s *session, cmd *cobra.Command, args []string) error {
		sec, err := s.api.RevokeSecret(cmd.Context(), s.domain, args[0], args[1], in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Revoked secret %s (%s) of client %s: it no longer authenticates.\n", sec.ID, hint(sec.Hint), clean(args[0]))
			return err
		})
	})
	cmd.Long = `Revoke a secret: it fails authentication from now on. Revoking the last valid
secret of an enabled client would leave it unable to authenticate, so that
needs --force; rotating is usually what you want instead.`
	cmd.Flags().StringVar(&in.Reason, "reason", "", "why the secret is revoked (recorded in the audit log)")
	cmd.Flags().BoolVar(&in.Force, "force", false, "revoke even the client's last valid secret")
	cmd.Flags().BoolVar(&in.Compromised, "compromised", false, "the secret leaked: also revoke the client's refresh tokens and unused codes")
	return cmd
}

func secretDeleteCommand() *cobra.Command {
	cmd := command("delete CLIENT ID", "Delete a revoked or expired secret", func(s *session, cmd *cobra.Command, args []string) error {
		if err := s.api.DeleteSecret(cmd.Context(), s.domain, args[0], args[1]); err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deleted secret %s of client %s.\n", clean(args[1]), clean(args[0]))
			return err
		})
	})
	cmd.Long = `Delete a secret that no longer authenticates (revoked or expired) so that it
leaves the lists. Its id and hint stay in the rotation history.`
	return cmd
}

// maxSecretValue bounds what is read from standard input; the server's own
// limit is lower and reported by it.
const maxSecretValue = 64 << 10

// readSecretValue reads a custom secret value from standard input: without
// echo at a terminal, otherwise all of it, without a final line break.
func readSecretValue(cmd *cobra.Command) (string, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(cmd.ErrOrStderr(), "Secret value (not echoed): ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return "", fmt.Errorf("read secret value: %w", err)
		}
		return checkSecretValue(string(b))
	}
	b, err := io.ReadAll(io.LimitReader(in, maxSecretValue+1))
	if err != nil {
		return "", fmt.Errorf("read secret value from standard input: %w", err)
	}
	if len(b) > maxSecretValue {
		return "", errors.New("the secret value on standard input is too long")
	}
	return checkSecretValue(strings.TrimRight(string(b), "\r\n"))
}

func checkSecretValue(v string) (string, error) {
	if v == "" {
		return "", errors.New("no secret value on standard input")
	}
	if strings.ContainsAny(v, "\r\n") {
		return "", errors.New("the secret value on standard input must be one line")
	}
	return v, nil
}
