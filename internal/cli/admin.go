package cli

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
)

func tokenCommand() *cobra.Command {
	list := command("list", "List admin tokens", func(s *session, cmd *cobra.Command, _ []string) error {
		ts, err := s.api.ListTokens(cmd.Context())
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(ts.Items))
			for _, t := range ts.Items {
				status := "active"
				if t.RevokedAt != nil {
					status = "revoked " + fmtTime(*t.RevokedAt)
				}
				rows = append(rows, []string{t.ID, t.Name, string(t.Role), hint(t.Hint), status, fmtTime(t.CreatedAt), t.CreatedBy})
			}
			return table(w, []string{"ID", "NAME", "ROLE", "HINT", "STATUS", "CREATED", "CREATED BY"}, rows)
		})
	})

	var name, role string
	create := command("create", "Create an admin token", func(s *session, cmd *cobra.Command, _ []string) error {
		t, err := s.api.CreateToken(cmd.Context(), name, watchword.Role(role))
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			if err := fields(w,
				[2]string{"ID", t.ID},
				[2]string{"Name", t.Name},
				[2]string{"Role", string(t.Role)},
			); err != nil {
				return err
			}
			if t.Redacted {
				printRedacted(w, "Admin token", "If it was not stored, revoke this token and create another.")
				return nil
			}
			printPlaintext(w, "Admin token", t.Plaintext)
			return nil
		})
	})
	create.Long = `Create an admin token for the management API. Roles:

  admin           everything
  secret-manager  add, renew, rotate and revoke secrets; read clients
  viewer          read metadata, never secret values
  auditor         read the audit log and rotation history only

The token is printed this once.`
	create.Flags().StringVar(&name, "name", "", "name of the token, e.g. who or what uses it (required)")
	create.Flags().StringVar(&role, "role", "", "admin, secret-manager, viewer or auditor (required)")
	_ = create.MarkFlagRequired("name")
	_ = create.MarkFlagRequired("role")

	revoke := command("revoke ID", "Revoke an admin token", func(s *session, cmd *cobra.Command, args []string) error {
		t, err := s.api.RevokeToken(cmd.Context(), args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			_, err := fmt.Fprintf(w, "Revoked admin token %s (%s).\n", t.ID, clean(t.Name))
			return err
		})
	})
	revoke.Long = "Revoke an admin token. The last active admin token cannot be revoked."

	return group("token", "Manage admin tokens of the management API", list, create, revoke)
}

func auditCommand() *cobra.Command {
	var (
		f     watchword.AuditFilter
		since string
	)
	list := command("list", "List audit events, newest first", func(s *session, cmd *cobra.Command, _ []string) error {
		if since != "" {
			t, err := parseSince(since, time.Now())
			if err != nil {
				return usageErrorf(cmd, "--since: %v", err)
			}
			f.Since = &t
		}
		domain := ""
		if cmd.Flags().Changed("domain") {
			domain = s.domain
		}
		evs, err := s.api.ListAudit(cmd.Context(), domain, f)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(evs.Items))
			for _, e := range evs.Items {
				target := e.TargetID
				if e.TargetType != "" {
					target = e.TargetType + ":" + e.TargetID
				}
				rows = append(rows, []string{fmtTime(e.Time), e.Actor, e.Action, e.Outcome, target, details(e.Details)})
			}
			if err := table(w, []string{"TIME", "ACTOR", "ACTION", "OUTCOME", "TARGET", "DETAILS"}, rows); err != nil {
				return err
			}
			morePages(cmd, evs.Offset, len(evs.Items), evs.Total)
			return nil
		})
	})
	list.Long = `List audit events, newest first. Every change and every refused call is
recorded; secret values never are.

All domains are listed unless --domain is given on this command line:
WATCHWORD_DOMAIN does not restrict the audit log.`
	fl := list.Flags()
	fl.StringVar(&f.TargetID, "target", "", "only events about this id (client, secret, token, domain)")
	fl.StringVar(&f.Action, "action", "", "only this action, e.g. client.rotate, secret.revoke, request.denied")
	fl.StringVar(&since, "since", "", "only events at or after this time: RFC 3339 (2025-01-02T15:04:05Z) or a duration ago (24h, 7d)")
	pageFlags(list, &f.Offset, &f.Limit)
	return group("audit", "Read the audit log", list)
}

// parseSince reads an RFC 3339 time or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	d, err := parseDuration(s)
	if err != nil || d < 0 {
		return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time such as 2025-01-02T15:04:05Z nor a duration such as 24h or 7d", s)
	}
	return now.Add(-d), nil
}

// details formats audit details as key=value pairs in key order.
func details(m map[string]string) string {
	parts := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, " ")
}

func whoamiCommand() *cobra.Command {
	return command("whoami", "Show the admin token in use and its role", func(s *session, cmd *cobra.Command, _ []string) error {
		a, err := s.api.Whoami(cmd.Context())
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			return fields(w,
				[2]string{"ID", a.ID},
				[2]string{"Name", a.Name},
				[2]string{"Role", string(a.Role)},
				[2]string{"Endpoint", s.api.Endpoint},
			)
		})
	})
}
