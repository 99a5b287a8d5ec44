package cli

import (
	"io"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
)

func domainCommand() *cobra.Command {
	list := command("list", "List domains", func(s *session, cmd *cobra.Command, _ []string) error {
		ds, err := s.api.ListDomains(cmd.Context())
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			rows := make([][]string, 0, len(ds.Items))
			for _, d := range ds.Items {
				rows = append(rows, []string{d.Name, d.ID, d.Description, fmtTime(d.CreatedAt)})
			}
			return table(w, []string{"NAME", "ID", "DESCRIPTION", "CREATED"}, rows)
		})
	})

	get := command("get [NAME]", "Show a domain and its secret policy", func(s *session, cmd *cobra.Command, args []string) error {
		name := s.domain
		if len(args) > 0 {
			name = args[0]
		}
		d, err := s.api.GetDomain(cmd.Context(), name)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return domainFields(w, d) })
	})
	get.Long = "Show a domain and its secret policy: NAME, or the domain of --domain."

	var description string
	create := command("create NAME", "Create a domain", func(s *session, cmd *cobra.Command, args []string) error {
		d, err := s.api.CreateDomain(cmd.Context(), args[0], description)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return domainFields(w, d) })
	})
	create.Long = `Create a domain: an isolated tenant or environment with its own clients and
secret policy. It starts with the default policy; see 'watchword policy set'.`
	create.Flags().StringVar(&description, "description", "", "description of the domain")

	return group("domain", "Manage domains (tenants)", list, get, create)
}

func domainFields(w io.Writer, d watchword.Domain) error {
	err := fields(w,
		[2]string{"Name", d.Name},
		[2]string{"ID", d.ID},
		[2]string{"Description", d.Description},
		[2]string{"Created", fmtTime(d.CreatedAt)},
		[2]string{"Updated", fmtTime(d.UpdatedAt)},
	)
	if err != nil {
		return err
	}
	return policyBlock(w, "Secret policy", d.Policy)
}
