package cli

import (
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func clientCommand() *cobra.Command {
	return group("client", "Manage OAuth clients",
		clientCreateCommand(), clientListCommand(), clientGetCommand(), clientUpdateCommand(),
		clientEnableCommand("disable", true), clientEnableCommand("enable", false),
		clientDeleteCommand(), clientRotateCommand())
}

// listFlags are the flags that set a client's list fields. StringArray
// rather than StringSlice: a redirect URI or scope may hold a comma.
type listFlags struct{ grantTypes, redirectURIs, scopes, contacts []string }

func (l *listFlags) add(cmd *cobra.Command, verb string) {
	f := cmd.Flags()
	f.StringSliceVar(&l.grantTypes, "grant-type", nil, verb+" grant types: client_credentials, authorization_code, refresh_token (repeat or separate with commas)")
	f.StringArrayVar(&l.redirectURIs, "redirect-uri", nil, verb+" redirect URIs (repeat for several)")
	f.StringArrayVar(&l.scopes, "scope", nil, verb+" scopes (repeat for several)")
	f.StringSliceVar(&l.contacts, "contact", nil, verb+" contact email addresses, told by email channels about the client's secrets (repeat or separate with commas)")
}

// nonEmpty drops empty values, so that --scope ” means "no scopes".
func nonEmpty(v []string) []string {
	out := []string{}
	for _, s := range v {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func clientCreateCommand() *cobra.Command {
	var (
		in        lifecycle.ClientCreate
		lists     listFlags
		typ       string
		fromStdin bool
	)
	cmd := command("create", "Create a client and its first secret", func(s *session, cmd *cobra.Command, _ []string) error {
		in.Type = watchword.ClientType(typ)
		if cmd.Flags().Changed("grant-type") {
			in.GrantTypes = nonEmpty(lists.grantTypes)
		}
		in.RedirectURIs, in.Scopes = nonEmpty(lists.redirectURIs), nonEmpty(lists.scopes)
		in.Contacts = nonEmpty(lists.contacts)
		if fromStdin {
			v, err := readSecretValue(cmd)
			if err != nil {
				return err
			}
			in.Secret.Value = v
		}
		res, err := s.api.CreateClient(cmd.Context(), s.domain, in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Created %s client %s (ID %s) in domain %s.\n", res.Client.Type, clean(res.Client.Name), res.Client.ID, s.domain)
			if res.Secret == nil {
				fmt.Fprintln(w, "A public client has no secrets.")
				return nil
			}
			fmt.Fprintln(w)
			return printNewSecret(w, *res.Secret)
		})
	})
	cmd.Long = `Create a client in the domain of --domain. A confidential client (the
default) gets its first secret, whose value is printed this once; a public
client has no secrets.

Without --grant-type a confidential client may use client_credentials and a
public one authorization_code and refresh_token.`
	f := cmd.Flags()
	f.StringVar(&in.Name, "name", "", "name of the client: a-z, 0-9, '.', '_', '-' (required)")
	f.StringVar(&in.Description, "description", "", "description of the client")
	f.StringVar(&typ, "type", string(watchword.ClientConfidential), "confidential or public")
	lists.add(cmd, "allowed")
	f.StringVar(&in.Secret.Description, "secret-description", "", "description of the first secret")
	f.BoolVar(&fromStdin, "secret-value-stdin", false, "read a custom value for the first secret from standard input instead of generating one")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func clientListCommand() *cobra.Command {
	var (
		f        watchword.ClientFilter
		disabled string
	)
	cmd := command("list", "List clients", func(s *session, cmd *cobra.Command, _ []string) error {
		if disabled != "" {
			b, err := strconv.ParseBool(disabled)
			if err != nil {
				return usageErrorf(cmd, "--disabled must be true or false")
			}
			f.Disabled = &b
		}
		cs, err := s.api.ListClients(cmd.Context(), s.domain, f)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(cs.Items))
			for _, c := range cs.Items {
				rows = append(rows, []string{c.ID, c.Name, string(c.Type), enabled(c), policySource(c), fmtTime(c.CreatedAt)})
			}
			if err := table(w, []string{"ID", "NAME", "TYPE", "STATUS", "POLICY", "CREATED"}, rows); err != nil {
				return err
			}
			morePages(cmd, cs.Offset, len(cs.Items), cs.Total)
			return nil
		})
	})
	fl := cmd.Flags()
	fl.StringVar(&f.NameContains, "name", "", "only clients whose name contains this")
	fl.StringVar(&disabled, "disabled", "", "only disabled (true) or enabled (false) clients")
	pageFlags(cmd, &f.Offset, &f.Limit)
	return cmd
}

// pageFlags adds --offset and --limit; 0 means the server's default.
func pageFlags(cmd *cobra.Command, offset, limit *int) {
	cmd.Flags().IntVar(offset, "offset", 0, "number of items to skip")
	cmd.Flags().IntVar(limit, "limit", 0, "maximum number of items (default: the server's)")
}

// morePages tells people, on stderr so as not to disturb pipes, that a
// list has more items than shown.
func morePages(cmd *cobra.Command, offset, n, total int) {
	if offset+n < total {
		fmt.Fprintf(cmd.ErrOrStderr(), "(%d-%d of %d shown; use --offset %d for more)\n", offset+1, offset+n, total, offset+n)
	}
}

func enabled(c watchword.Client) string {
	if c.Disabled {
		return "disabled"
	}
	return "enabled"
}

func policySource(c watchword.Client) string {
	if c.Policy == nil {
		return "domain"
	}
	return "own"
}

func clientFields(w io.Writer, c watchword.Client) error {
	policy := "the domain's rules"
	if c.Policy != nil {
		policy = "its own policy (see 'watchword policy get " + c.Name + "')"
	}
	rotation := "the domain's schedule"
	switch {
	case c.Rotation != nil && !c.Rotation.Scheduled():
		rotation = "off (its own empty schedule)"
	case c.Rotation != nil:
		rotation = "its own schedule (see 'watchword rotation schedule get " + c.Name + "')"
	}
	return fields(w,
		[2]string{"ID", c.ID},
		[2]string{"Name", c.Name},
		[2]string{"Domain ID", c.DomainID},
		[2]string{"Description", c.Description},
		[2]string{"Type", string(c.Type)},
		[2]string{"Status", enabled(c)},
		[2]string{"Grant types", strings.Join(c.GrantTypes, ", ")},
		[2]string{"Redirect URIs", strings.Join(c.RedirectURIs, " ")},
		[2]string{"Scopes", strings.Join(c.Scopes, " ")},
		[2]string{"Contacts", strings.Join(c.Contacts, ", ")},
		[2]string{"Secret policy", policy},
		[2]string{"Rotation schedule", rotation},
		[2]string{"Created", fmtTime(c.CreatedAt)},
		[2]string{"Updated", fmtTime(c.UpdatedAt)},
	)
}

func clientGetCommand() *cobra.Command {
	return command("get CLIENT", "Show a client", func(s *session, cmd *cobra.Command, args []string) error {
		c, err := s.api.GetClient(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientFields(w, c) })
	})
}

func clientUpdateCommand() *cobra.Command {
	var (
		name, description string
		lists             listFlags
	)
	cmd := command("update CLIENT", "Change a client's fields", func(s *session, cmd *cobra.Command, args []string) error {
		var u watchword.ClientUpdate
		changed := cmd.Flags().Changed
		if changed("name") {
			u.Name = &name
		}
		if changed("description") {
			u.Description = &description
		}
		list := func(flag string, v []string) *[]string {
			if !changed(flag) {
				return nil
			}
			v = nonEmpty(v)
			return &v
		}
		u.GrantTypes = list("grant-type", lists.grantTypes)
		u.RedirectURIs = list("redirect-uri", lists.redirectURIs)
		u.Scopes = list("scope", lists.scopes)
		u.Contacts = list("contact", lists.contacts)
		if !slices.ContainsFunc([]string{"name", "description", "grant-type", "redirect-uri", "scope", "contact"}, changed) {
			return usageErrorf(cmd, "nothing to change: set at least one of --name, --description, --grant-type, --redirect-uri, --scope, --contact")
		}
		c, err := s.api.UpdateClient(cmd.Context(), s.domain, args[0], u)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientFields(w, c) })
	})
	cmd.Long = `Change a client's fields. Only the flags given are changed; a list flag
replaces the whole list (give --scope '' to clear the scopes).`
	cmd.Flags().StringVar(&name, "name", "", "new name")
	cmd.Flags().StringVar(&description, "description", "", "new description")
	lists.add(cmd, "new")
	return cmd
}

func clientEnableCommand(verb string, disable bool) *cobra.Command {
	short := "Enable a disabled client"
	if disable {
		short = "Disable a client: its secrets stop authenticating until it is enabled"
	}
	return command(verb+" CLIENT", short, func(s *session, cmd *cobra.Command, args []string) error {
		c, err := s.api.UpdateClient(cmd.Context(), s.domain, args[0], watchword.ClientUpdate{Disabled: &disable})
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			if disable {
				_, err := fmt.Fprintf(w, "Disabled client %s: its secrets fail authentication until it is enabled again.\n", clean(c.Name))
				return err
			}
			_, err := fmt.Fprintf(w, "Enabled client %s.\n", clean(c.Name))
			return err
		})
	})
}

func clientDeleteCommand() *cobra.Command {
	cmd := command("delete CLIENT", "Delete a client and revoke its secrets", func(s *session, cmd *cobra.Command, args []string) error {
		if err := s.api.DeleteClient(cmd.Context(), s.domain, args[0]); err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Deleted client %s; its secrets were revoked.\n", clean(args[0]))
			return err
		})
	})
	cmd.Long = `Delete a client: its secrets are revoked at once and it leaves the lists.
Its rotation history and audit records are kept.`
	return cmd
}

// graceFlag adds --grace; transition returns it as a request field, nil
// unless it was given so that the policy's default applies.
type graceFlag struct{ value string }

func (g *graceFlag) add(cmd *cobra.Command, what string) {
	cmd.Flags().StringVar(&g.value, "grace", "", "how long "+what+" keep working, e.g. 24h, 90m, 7d; 0 stops them at once (default: the policy's default transition)")
}

func (g *graceFlag) transition(cmd *cobra.Command) (*watchword.Duration, error) {
	if !cmd.Flags().Changed("grace") {
		return nil, nil
	}
	d, err := parseDuration(g.value)
	if err != nil {
		return nil, usageErrorf(cmd, "--grace: %v", err)
	}
	wd := watchword.Duration(d)
	return &wd, nil
}

func clientRotateCommand() *cobra.Command {
	var (
		grace graceFlag
		in    lifecycle.RotateRequest
	)
	cmd := command("rotate CLIENT", "Create a new secret; the others keep working for a grace period", func(s *session, cmd *cobra.Command, args []string) error {
		var err error
		if in.Transition, err = grace.transition(cmd); err != nil {
			return err
		}
		res, err := s.api.RotateClient(cmd.Context(), s.domain, args[0], in)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			fmt.Fprintf(w, "Rotated client %s.\n\n", clean(args[0]))
			if err := printNewSecret(w, res.Secret); err != nil {
				return err
			}
			printRetired(w, res.Rotation)
			return nil
		})
	})
	cmd.Long = `Rotate a client's secrets: create a new secret and put every other valid
secret into a transition period (--grace) after which it stops working on its
own. Deploy the new secret before the period ends. A secret already in a
transition period keeps its earlier end.`
	grace.add(cmd, "the current secrets")
	cmd.Flags().StringVar(&in.Description, "description", "", "description of the new secret")
	cmd.Flags().BoolVar(&in.Compromised, "compromised", false, "the old secrets leaked: with --grace 0, revoke them and the client's refresh tokens and unused codes")
	return cmd
}

func historyCommand() *cobra.Command {
	var offset, limit int
	cmd := command("history CLIENT", "Show a client's rotation history, newest first", func(s *session, cmd *cobra.Command, args []string) error {
		rs, err := s.api.ListRotations(cmd.Context(), s.domain, args[0], offset, limit)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(rs.Items))
			for _, r := range rs.Items {
				old := make([]string, 0, len(r.Old))
				for _, o := range r.Old {
					old = append(old, fmt.Sprintf("%s (%s) until %s", o.ID, hint(o.Hint), fmtTimeOr(o.ExpiresAt, "never")))
				}
				rows = append(rows, []string{
					fmtTime(r.At), r.InitiatedBy, r.Kind, r.NewSecretID + " (" + hint(r.NewSecretHint) + ")",
					strings.Join(old, ", "), fmtDuration(time.Duration(r.Transition)),
				})
			}
			if err := table(w, []string{"TIME", "INITIATED BY", "KIND", "NEW SECRET", "OLD SECRETS", "TRANSITION"}, rows); err != nil {
				return err
			}
			morePages(cmd, rs.Offset, len(rs.Items), rs.Total)
			return nil
		})
	})
	pageFlags(cmd, &offset, &limit)
	return cmd
}
