package cli

import (
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/lifecycle"
)

func policyCommand() *cobra.Command {
	return group("policy", "Show and change secret policies",
		policyGetCommand(), policySetCommand(), policyUseDomainCommand(), policyApplyCommand())
}

const applyHint = "Existing secrets keep their expiry; 'watchword policy apply%s' recomputes it.\n"

func policyGetCommand() *cobra.Command {
	cmd := command("get [CLIENT]", "Show the domain's or a client's secret policy", func(s *session, cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			p, err := s.api.GetDomainPolicy(cmd.Context(), s.domain)
			if err != nil {
				return err
			}
			return s.print(func(w io.Writer) error { return policyBlock(w, "Secret policy of domain "+s.domain, p) })
		}
		cp, err := s.api.GetClientPolicy(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error { return clientPolicyBlock(w, args[0], cp) })
	})
	cmd.Long = `Show the secret policy of the domain of --domain or, given CLIENT, the policy
in effect for that client and whether it is the domain's or its own.`
	return cmd
}

func clientPolicyBlock(w io.Writer, client string, cp lifecycle.ClientPolicy) error {
	source := "its own policy"
	if cp.UseDomainRules {
		source = "the domain's rules"
	}
	return policyBlock(w, fmt.Sprintf("Secret policy of client %s (%s)", client, source), cp.Effective)
}

// policyFlags are the flags of 'policy set'; each given one changes one
// field of the current policy.
type policyFlags struct {
	expiry                           string
	maxSecrets, minCustomLength      int
	defaultTransition, maxTransition string
	allowCustom                      bool
}

func (pf *policyFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&pf.expiry, "expiry", "", "lifetime of new secrets: none, or a number with h (hours), d (days) or mo (months), e.g. 12h, 90d, 3mo")
	f.IntVar(&pf.maxSecrets, "max-secrets", 0, "maximum number of valid secrets per client")
	f.StringVar(&pf.defaultTransition, "default-transition", "", "default transition (grace) period of rotation and renewal, e.g. 24h, 7d")
	f.StringVar(&pf.maxTransition, "max-transition", "", "maximum transition period that may be asked for, e.g. 168h, 14d")
	f.BoolVar(&pf.allowCustom, "allow-custom", false, "allow custom secret values (--allow-custom=false forbids them)")
	f.IntVar(&pf.minCustomLength, "min-custom-length", 0, "minimum length of custom secret values")
}

// apply changes the fields of p whose flags were given and reports whether
// any was.
func (pf *policyFlags) apply(cmd *cobra.Command, p *watchword.SecretPolicy) (bool, error) {
	changed := cmd.Flags().Changed
	set := false
	if changed("expiry") {
		e, err := parseExpiry(pf.expiry)
		if err != nil {
			return false, usageErrorf(cmd, "--expiry: %v", err)
		}
		p.Expiry, set = e, true
	}
	for _, d := range []struct {
		flag  string
		value string
		dst   *watchword.Duration
	}{
		{"default-transition", pf.defaultTransition, &p.DefaultTransition},
		{"max-transition", pf.maxTransition, &p.MaxTransition},
	} {
		if changed(d.flag) {
			v, err := parseDuration(d.value)
			if err != nil {
				return false, usageErrorf(cmd, "--%s: %v", d.flag, err)
			}
			*d.dst, set = watchword.Duration(v), true
		}
	}
	if changed("max-secrets") {
		p.MaxSecrets, set = pf.maxSecrets, true
	}
	if changed("allow-custom") {
		p.AllowCustom, set = pf.allowCustom, true
	}
	if changed("min-custom-length") {
		p.MinCustomLength, set = pf.minCustomLength, true
	}
	return set, nil
}

func policySetCommand() *cobra.Command {
	var pf policyFlags
	cmd := command("set [CLIENT]", "Change the domain's or a client's secret policy", func(s *session, cmd *cobra.Command, args []string) error {
		ctx, client := cmd.Context(), optionalArg(args)
		var (
			p   watchword.SecretPolicy
			err error
		)
		if client == "" {
			p, err = s.api.GetDomainPolicy(ctx, s.domain)
		} else {
			var cp lifecycle.ClientPolicy
			cp, err = s.api.GetClientPolicy(ctx, s.domain, client)
			p = cp.Effective
		}
		if err != nil {
			return err
		}
		if ok, err := pf.apply(cmd, &p); err != nil {
			return err
		} else if !ok {
			return usageErrorf(cmd, "nothing to change: set at least one of --expiry, --max-secrets, --default-transition, --max-transition, --allow-custom, --min-custom-length")
		}
		if client == "" {
			p, err = s.api.SetDomainPolicy(ctx, s.domain, p)
			if err != nil {
				return err
			}
			return s.print(func(w io.Writer) error {
				if err := policyBlock(w, "Secret policy of domain "+s.domain, p); err != nil {
					return err
				}
				_, err := fmt.Fprintf(w, applyHint, "")
				return err
			})
		}
		cp, err := s.api.SetClientPolicy(ctx, s.domain, client, p)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			if err := clientPolicyBlock(w, client, cp); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, applyHint, " "+client)
			return err
		})
	})
	cmd.Long = `Change the secret policy of the domain of --domain or, given CLIENT, of that
client. The current policy is read (for a client, the one in effect), the
fields of the flags given are changed, and the result is written back. A
client that used the domain's rules gets its own policy this way; 'watchword
policy use-domain CLIENT' returns it to the domain's.

--expiry is the lifetime of new secrets: "none", or a whole number followed by
h (hours), d (days) or mo (months, calendar months), e.g. 12h, 90d, 3mo.
Transition periods are durations such as 90m, 24h or 7d.

A policy applies to secrets created or renewed after it changes; use
'watchword policy apply' to recompute the expiry of existing secrets.`
	pf.add(cmd)
	return cmd
}

func policyUseDomainCommand() *cobra.Command {
	return command("use-domain CLIENT", "Make a client use the domain's policy again", func(s *session, cmd *cobra.Command, args []string) error {
		cp, err := s.api.DeleteClientPolicy(cmd.Context(), s.domain, args[0])
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			if err := clientPolicyBlock(w, args[0], cp); err != nil {
				return err
			}
			_, err := fmt.Fprintf(w, applyHint, " "+args[0])
			return err
		})
	})
}

func policyApplyCommand() *cobra.Command {
	cmd := command("apply [CLIENT]", "Recompute the expiry of existing secrets from the policy", func(s *session, cmd *cobra.Command, args []string) error {
		client := optionalArg(args)
		n, err := s.api.ApplyPolicy(cmd.Context(), s.domain, client)
		if err != nil {
			return err
		}
		return s.print(func(w io.Writer) error {
			scope := "the clients of domain " + s.domain + " that use its rules"
			if client != "" {
				scope = "client " + client
			}
			_, err := fmt.Fprintf(w, "Changed the expiry of %s of %s.\n", plural(n, "secret", "secrets"), clean(scope))
			return err
		})
	})
	cmd.Long = `Apply the policy in effect to existing active secrets: recompute each one's
expiry from its creation time. Without CLIENT this covers every client of the
domain that uses the domain's rules. Secrets in a transition period are left
alone, and no secret is made to expire sooner than the policy's default
transition period from now.`
	return cmd
}

var expiryRE = regexp.MustCompile(`^(\d+)\s*([a-z]+)$`)

// parseExpiry reads "none" or a whole number of hours, days or months:
// 12h, 90d, 3mo (also "90 days", "3 months").
func parseExpiry(s string) (watchword.Expiry, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "none" || s == "never" {
		return watchword.Expiry{Unit: watchword.ExpiryNone}, nil
	}
	m := expiryRE.FindStringSubmatch(s)
	if m == nil {
		return watchword.Expiry{}, fmt.Errorf("%q is not none or a number with a unit, such as 12h, 90d or 3mo", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil || n < 1 {
		return watchword.Expiry{}, fmt.Errorf("%q: the number must be at least 1", s)
	}
	var unit watchword.ExpiryUnit
	switch m[2] {
	case "h", "hour", "hours":
		unit = watchword.ExpiryHours
	case "d", "day", "days":
		unit = watchword.ExpiryDays
	case "mo", "month", "months":
		unit = watchword.ExpiryMonths
	case "m":
		return watchword.Expiry{}, fmt.Errorf("%q is ambiguous: write %dmo for months (expiry is counted in hours, days or months)", s, n)
	default:
		return watchword.Expiry{}, fmt.Errorf("unknown unit %q: use h (hours), d (days) or mo (months)", m[2])
	}
	return watchword.Expiry{Unit: unit, Duration: n}, nil
}

// parseDuration reads a Go duration ("90m", "24h") that may start with a
// whole number of days ("7d", "1d12h").
// The error is the message alone, for flag errors such as "--grace: ...".
func parseDuration(s string) (time.Duration, error) {
	d, err := watchword.ParseDuration(s)
	if err != nil {
		return 0, errors.New(watchword.ErrorMessage(err))
	}
	return d, nil
}
