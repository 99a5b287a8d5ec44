package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/watchword/watchword"
)

// table writes a header and rows aligned in columns.
func table(w io.Writer, header []string, rows [][]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	writeRow(tw, header)
	for _, r := range rows {
		writeRow(tw, r)
	}
	return tw.Flush()
}

// fields writes "Key:  value" lines aligned on the values.
func fields(w io.Writer, kv ...[2]string) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, p := range kv {
		writeRow(tw, []string{p[0] + ":", p[1]})
	}
	return tw.Flush()
}

func writeRow(w io.Writer, cells []string) {
	for i, c := range cells {
		if i > 0 {
			io.WriteString(w, "\t")
		}
		io.WriteString(w, clean(c))
	}
	io.WriteString(w, "\n")
}

// clean makes a value safe to print in a cell: stored names and
// descriptions must not break the layout or send terminal escapes.
func clean(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r == '\t' || r == '\n' || r == '\r':
			return ' '
		case unicode.IsControl(r):
			return '?'
		}
		return r
	}, s)
}

// timeLayout is how times are shown to people: local time with its zone.
const timeLayout = "2006-01-02 15:04:05 MST"

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.Local().Format(timeLayout)
}

// fmtTimeOr formats an optional time, or returns none if it is nil.
func fmtTimeOr(t *time.Time, none string) string {
	if t == nil {
		return none
	}
	return fmtTime(*t)
}

// fmtDuration shows a duration without trailing zero units: "24h", "1h30m".
func fmtDuration(d time.Duration) string { return watchword.Duration(d).String() }

func hint(h string) string {
	if h == "" {
		return "-"
	}
	return "…" + h
}

func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}

func fmtExpiry(e watchword.Expiry) string {
	unit := strings.TrimSuffix(string(e.Unit), "s")
	if e.Unit == watchword.ExpiryNone || e.Unit == "" {
		return "never (secrets do not expire)"
	}
	return plural(e.Duration, unit, string(e.Unit)) + " after creation"
}

func policyFields(p watchword.SecretPolicy) [][2]string {
	custom := "not allowed"
	if p.AllowCustom {
		custom = fmt.Sprintf("allowed, at least %d characters", p.MinCustomLength)
	}
	return [][2]string{
		{"Expiry", fmtExpiry(p.Expiry)},
		{"Max valid secrets", fmt.Sprint(p.MaxSecrets)},
		{"Default transition", fmtDuration(time.Duration(p.DefaultTransition))},
		{"Max transition", fmtDuration(time.Duration(p.MaxTransition))},
		{"Custom values", custom},
	}
}

// policyBlock writes a titled, indented description of a policy.
func policyBlock(w io.Writer, title string, p watchword.SecretPolicy) error {
	if _, err := fmt.Fprintf(w, "%s:\n", title); err != nil {
		return err
	}
	kv := policyFields(p)
	for i := range kv {
		kv[i][0] = "  " + kv[i][0]
	}
	return fields(w, kv...)
}

// secretTable lists secrets for people; it never shows secret material,
// which list responses do not hold anyway.
func secretTable(w io.Writer, secrets []watchword.Secret) error {
	rows := make([][]string, 0, len(secrets))
	for _, s := range secrets {
		rows = append(rows, []string{
			s.ID, s.Description, hint(s.Hint), string(s.Status), string(s.Source),
			fmtTime(s.CreatedAt), fmtTimeOr(s.ExpiresAt, "never"), fmtTimeOr(s.LastUsedAt, "never"),
		})
	}
	return table(w, []string{"ID", "DESCRIPTION", "HINT", "STATUS", "SOURCE", "CREATED", "EXPIRES", "LAST USED"}, rows)
}

func secretFields(s watchword.Secret) [][2]string {
	kv := [][2]string{
		{"ID", s.ID},
		{"Client ID", s.ClientID},
		{"Description", s.Description},
		{"Hint", hint(s.Hint)},
		{"Status", string(s.Status)},
		{"Source", string(s.Source)},
		{"Created", fmtTime(s.CreatedAt) + " by " + s.CreatedBy},
		{"Expires", fmtTimeOr(s.ExpiresAt, "never")},
	}
	if s.RetiringSince != nil {
		kv = append(kv, [2]string{"Retiring since", fmtTime(*s.RetiringSince)})
	}
	if s.RevokedAt != nil {
		revoked := fmtTime(*s.RevokedAt) + " by " + s.RevokedBy
		if s.RevokedReason != "" {
			revoked += " (" + s.RevokedReason + ")"
		}
		kv = append(kv, [2]string{"Revoked", revoked})
	}
	return append(kv,
		[2]string{"Last used", fmtTimeOr(s.LastUsedAt, "never")},
		[2]string{"Use count", fmt.Sprint(s.UseCount)},
	)
}

// printPlaintext shows a secret value that the API returns only once.
func printPlaintext(w io.Writer, what, value string) {
	fmt.Fprintf(w, "\n%s (shown only once: store it now, it cannot be retrieved again):\n\n    %s\n\n", what, value)
}

// printRedacted says that a value shown only once was in a lost response:
// the command's request had already succeeded when its retry (same
// idempotency key) got the recorded response, which never holds the value.
func printRedacted(w io.Writer, what, advice string) {
	fmt.Fprintf(w, "\n%s: not shown. An earlier attempt of this request succeeded but its response was lost,\nand the value is only ever sent once. %s\n", what, advice)
}

// printNewSecret describes a new client secret and shows its value.
func printNewSecret(w io.Writer, ns watchword.NewSecret) error {
	if err := fields(w,
		[2]string{"Secret ID", ns.ID},
		[2]string{"Description", ns.Description},
		[2]string{"Hint", hint(ns.Hint)},
		[2]string{"Expires", fmtTimeOr(ns.ExpiresAt, "never")},
	); err != nil {
		return err
	}
	if ns.Source == watchword.SourceCustom {
		// The caller supplied the value; do not echo it to the terminal.
		_, err := fmt.Fprintln(w, "\nThe custom value you supplied is now the secret (not shown).")
		return err
	}
	if ns.Redacted {
		printRedacted(w, "Client secret", "If it was not stored, renew this secret to get a new value.")
		return nil
	}
	printPlaintext(w, "Client secret", ns.Plaintext)
	return nil
}

// printRetired says until when the secrets a rotation or renewal replaced
// keep working.
func printRetired(w io.Writer, r watchword.Rotation) {
	if len(r.Old) == 0 {
		fmt.Fprintln(w, "No other secret was valid.")
		return
	}
	for _, o := range r.Old {
		if r.Transition == 0 {
			fmt.Fprintf(w, "old secret %s (%s) stopped working now (no transition period)\n", o.ID, hint(o.Hint))
		} else {
			fmt.Fprintf(w, "old secret %s (%s) stops working at %s\n", o.ID, hint(o.Hint), fmtTimeOr(o.ExpiresAt, "never"))
		}
	}
}
