package cli

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func userCommand() *cobra.Command {
	return group("user", "Manage the users who sign in on a domain's login page",
		userCreateCommand(), userListCommand(), userGetCommand(),
		userEnableCommand("disable", true), userEnableCommand("enable", false),
		userSetPasswordCommand())
}

func userCreateCommand() *cobra.Command {
	var in lifecycle.UserCreate
	cmd := command("create USERNAME", "Create a user", func(s *session, cmd *cobra.Command, args []string) error {
		pw, err := readPassword(cmd)
		if err != nil {
			return err
		}
		in.Username, in.Password = args[0], pw
		u, err := s.api.CreateUser(cmd.Context(), s.domain, in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Created user %s (ID %s) in domain %s.\n", clean(u.Username), u.ID, s.domain)
			return nil
		})
	})
	cmd.Long = `Create a user in the domain's built-in directory. Users sign in on the login
page of the domain's authorization endpoint (the authorization code flow).

The password is read from standard input, never from the command line where
it would land in shell history and the process list: at a terminal it is
asked for twice without echo, otherwise the first line is read. It must have
at least 8 characters; it is stored only as an argon2id hash.

The username is stored in lower case.`
	cmd.Example = `  watchword user create alice --email alice@example.org --display-name "Alice Liddell"
  printf '%s\n' "$PASSWORD" | watchword user create alice`
	f := cmd.Flags()
	f.StringVar(&in.Email, "email", "", "email address")
	f.StringVar(&in.DisplayName, "display-name", "", "full name shown to applications (the name claim)")
	f.BoolVar(&in.Disabled, "disabled", false, "create the user disabled")
	return cmd
}

func userListCommand() *cobra.Command {
	var offset, limit int
	cmd := command("list", "List users", func(s *session, cmd *cobra.Command, _ []string) error {
		us, err := s.api.ListUsers(cmd.Context(), s.domain, offset, limit)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(us.Items))
			for _, u := range us.Items {
				rows = append(rows, []string{u.Username, u.ID, u.Email, u.DisplayName, userStatus(u), fmtTime(u.CreatedAt)})
			}
			if err := table(w, []string{"USERNAME", "ID", "EMAIL", "DISPLAY NAME", "STATUS", "CREATED"}, rows); err != nil {
				return err
			}
			morePages(cmd, us.Offset, len(us.Items), us.Total)
			return nil
		})
	})
	pageFlags(cmd, &offset, &limit)
	return cmd
}

func userGetCommand() *cobra.Command {
	return command("get USER", "Show a user", func(s *session, cmd *cobra.Command, args []string) error {
		u, err := s.api.GetUser(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return userFields(w, u) })
	})
}

func userEnableCommand(verb string, disable bool) *cobra.Command {
	short := "Enable a user"
	if disable {
		short = "Disable a user: they can no longer sign in, refresh tokens or read userinfo"
	}
	return command(verb+" USER", short, func(s *session, cmd *cobra.Command, args []string) error {
		u, err := s.api.UpdateUser(cmd.Context(), s.domain, args[0], watchword.UserUpdate{Disabled: &disable})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "User %s is now %s.\n", clean(u.Username), userStatus(u))
			return err
		})
	})
}

func userSetPasswordCommand() *cobra.Command {
	cmd := command("set-password USER", "Set a user's password", func(s *session, cmd *cobra.Command, args []string) error {
		pw, err := readPassword(cmd)
		if err != nil {
			return err
		}
		u, err := s.api.UpdateUser(cmd.Context(), s.domain, args[0], watchword.UserUpdate{Password: &pw})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Set the password of user %s.\n", clean(u.Username))
			return err
		})
	})
	cmd.Long = `Set a user's password. It is read from standard input, never from the command
line: at a terminal it is asked for twice without echo, otherwise the first
line is read.`
	return cmd
}

func userStatus(u watchword.User) string {
	if u.Disabled {
		return "disabled"
	}
	return "enabled"
}

func userFields(w io.Writer, u watchword.User) error {
	return fields(w,
		[2]string{"Username", u.Username},
		[2]string{"ID", u.ID},
		[2]string{"Email", u.Email},
		[2]string{"Display name", u.DisplayName},
		[2]string{"Status", userStatus(u)},
		[2]string{"Created", fmtTime(u.CreatedAt)},
		[2]string{"Updated", fmtTime(u.UpdatedAt)},
	)
}

// readPassword reads a new password from standard input: at a terminal
// twice without echo, otherwise the first line (without its line break).
func readPassword(cmd *cobra.Command) (watchword.Password, error) {
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		ask := func(prompt string) (string, error) {
			fmt.Fprint(cmd.ErrOrStderr(), prompt)
			b, err := term.ReadPassword(int(f.Fd()))
			fmt.Fprintln(cmd.ErrOrStderr())
			return string(b), err
		}
		first, err := ask("Password (not echoed): ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		again, err := ask("Password again: ")
		if err != nil {
			return "", fmt.Errorf("read password: %w", err)
		}
		if first != again {
			return "", errors.New("the passwords do not match")
		}
		return checkPassword(first)
	}
	b, err := io.ReadAll(io.LimitReader(in, watchword.MaxPasswordBytes+2))
	if err != nil {
		return "", fmt.Errorf("read password from standard input: %w", err)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	return checkPassword(strings.TrimSuffix(line, "\r"))
}

func checkPassword(p string) (watchword.Password, error) {
	if p == "" {
		return "", errors.New("no password on standard input")
	}
	return watchword.Password(p), nil
}
