// Package delivery hands a newly issued client secret to the places that
// need it: a file on this host, an HTTPS webhook, or a local command.
//
// A rotation delivers the pending secret to every target configured for the
// client before it promotes that secret. Each target implements Target; New
// builds one from a Config, which is plain data so that it can be stored as
// JSON with the client. If a later step of the rotation fails, it rolls
// back: targets that implement Reverter (file and webhook) undo their
// delivery. Check is the HTTP health check a rotation's test step runs.
//
// Promise 7 applies throughout: the plaintext reaches the target and
// nothing else. It is never placed in an error, a log attribute, a command
// line or a process environment. Delivery.Secret is a Plaintext, whose
// fmt, slog and JSON forms are redacted, and every error a target returns is
// scrubbed of the value before it is returned.
package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Target receives new client secrets.
//
// Deliver must be idempotent for a given Delivery.EventID: a rotation that
// is retried delivers the same event again. It returns nil only when the
// target has the secret. The error never contains the plaintext.
type Target interface {
	Deliver(ctx context.Context, d Delivery) error
}

// Reverter is a Target that can undo a delivery when its rotation rolls back.
type Reverter interface {
	Target
	// Prepare is called before Deliver and returns what Revert needs to undo
	// it (it may hold secret material: the caller stores it encrypted).
	Prepare(ctx context.Context) ([]byte, error)
	// Revert undoes the delivery d (d.Secret may be empty), given what Prepare
	// returned. It is idempotent.
	Revert(ctx context.Context, d Delivery, prepared []byte) error
}

// Delivery is one new secret on its way to a target.
type Delivery struct {
	// EventID identifies the delivery for idempotency; receivers drop
	// repeats by it (it is the webhook-id of a webhook delivery).
	EventID    string
	Domain     string
	ClientID   string
	ClientName string
	SecretID   string
	// Secret is the plaintext value.
	Secret Plaintext
	// PreviousExpiresAt is the earliest time the secret being replaced
	// may stop working (it keeps working at least until then); zero when
	// there is none.
	PreviousExpiresAt time.Time
}

// Redacted is what a Plaintext prints as.
const Redacted = "[REDACTED]"

// Plaintext is a secret value in the clear. Its fmt, slog and JSON forms are
// Redacted so that printing or logging a Delivery does not leak it; use
// string(p) where the value itself is meant to go.
type Plaintext string

// Format prints Redacted for every verb.
func (Plaintext) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// LogValue logs Redacted.
func (Plaintext) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalJSON encodes Redacted, so a Delivery stored as JSON holds no secret.
func (Plaintext) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// validate checks the fields every target relies on. Messages name fields,
// never values.
func (d Delivery) validate() error { return d.check(true) }

// validateRevert checks the fields a revert relies on: those of validate,
// except that the secret may be empty.
func (d Delivery) validateRevert() error { return d.check(false) }

func (d Delivery) check(requireSecret bool) error {
	var bad []string
	if d.EventID == "" {
		bad = append(bad, "event id is required")
	}
	if d.ClientID == "" {
		bad = append(bad, "client id is required")
	}
	if d.SecretID == "" {
		bad = append(bad, "secret id is required")
	}
	if d.Secret == "" {
		if requireSecret {
			bad = append(bad, "secret is required")
		}
	} else if strings.ContainsFunc(string(d.Secret), isControl) {
		bad = append(bad, "secret contains a control character")
	}
	for name, v := range map[string]string{"event id": d.EventID, "domain": d.Domain, "client id": d.ClientID, "client name": d.ClientName, "secret id": d.SecretID} {
		if strings.ContainsRune(v, 0) {
			bad = append(bad, name+" contains a NUL byte")
		}
	}
	if len(bad) == 0 {
		return nil
	}
	sort.Strings(bad)
	return fmt.Errorf("delivery: invalid delivery: %s", strings.Join(bad, "; "))
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

// payload is the JSON form of a delivery, used by the json format and as the
// data of a webhook message.
type payload struct {
	EventID                 string     `json:"event_id"`
	Domain                  string     `json:"domain,omitempty"`
	ClientID                string     `json:"client_id"`
	ClientName              string     `json:"client_name,omitempty"`
	SecretID                string     `json:"secret_id"`
	Secret                  string     `json:"secret"`
	PreviousSecretExpiresAt *time.Time `json:"previous_secret_expires_at,omitempty"`
}

func newPayload(d Delivery) payload {
	p := payload{
		EventID:    d.EventID,
		Domain:     d.Domain,
		ClientID:   d.ClientID,
		ClientName: d.ClientName,
		SecretID:   d.SecretID,
		Secret:     string(d.Secret),
	}
	if !d.PreviousExpiresAt.IsZero() {
		t := d.PreviousExpiresAt.UTC()
		p.PreviousSecretExpiresAt = &t
	}
	return p
}

// Formats in which a file or command target receives the secret.
const (
	FormatRaw  = "raw"  // the value and a newline
	FormatEnv  = "env"  // NAME=value and a newline
	FormatJSON = "json" // a JSON object (see payload) and a newline
)

var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// envSafeRE matches values that every env-file reader takes verbatim
// without quoting. Generated secrets are base62 with a prefix.
var envSafeRE = regexp.MustCompile(`^[A-Za-z0-9_\-.+/=:@~]+$`)

// encode renders d in format. format is already validated.
func encode(format, envName string, d Delivery) ([]byte, error) {
	switch format {
	case FormatEnv:
		if !envSafeRE.MatchString(string(d.Secret)) {
			return nil, errors.New("delivery: the secret has characters an env file cannot hold unquoted")
		}
		return []byte(envName + "=" + string(d.Secret) + "\n"), nil
	case FormatJSON:
		b, err := json.Marshal(newPayload(d))
		if err != nil {
			return nil, errors.New("delivery: encoding the secret as JSON failed")
		}
		return append(b, '\n'), nil
	default:
		return []byte(string(d.Secret) + "\n"), nil
	}
}

// scrub returns err with every occurrence of secret replaced by Redacted.
// If the text had to change, the result no longer wraps err: an unwrapped
// cause would still print the secret.
func scrub(err error, secret Plaintext) error {
	if err == nil || secret == "" || !strings.Contains(err.Error(), string(secret)) {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), string(secret), Redacted))
}

// redactBounded returns at most limit bytes of b, starting at its start,
// with every occurrence of secret replaced by Redacted and non-printable
// characters replaced by spaces. b should hold at least limit+len(secret)
// bytes when more were available, so that an occurrence starting before
// limit is seen whole; a trailing part of the secret is also redacted.
func redactBounded(b []byte, secret string, limit int) string {
	var out strings.Builder
	for i := 0; i < len(b) && i < limit; {
		rest := string(b[i:])
		if secret != "" && (strings.HasPrefix(rest, secret) || len(rest) < len(secret) && len(rest) >= 4 && strings.HasPrefix(secret, rest)) {
			out.WriteString(Redacted)
			i += min(len(secret), len(rest))
			continue
		}
		c := b[i]
		if c < ' ' && c != '\t' && c != '\n' || c == 0x7f {
			c = ' '
		}
		out.WriteByte(c)
		i++
	}
	return strings.ToValidUTF8(strings.TrimSpace(out.String()), "?")
}

// Target types.
const (
	TypeFile    = "file"
	TypeWebhook = "webhook"
	TypeCommand = "command"
)

// Config chooses and configures one target. Exactly the member named by
// Type is set.
type Config struct {
	Type    string         `json:"type"`
	File    *FileConfig    `json:"file,omitempty"`
	Webhook *WebhookConfig `json:"webhook,omitempty"`
	Command *CommandConfig `json:"command,omitempty"`
}

// ValidationError lists every problem of a Config, each naming its field.
type ValidationError struct {
	Problems []string
}

func (e *ValidationError) Error() string {
	return "invalid delivery target: " + strings.Join(e.Problems, "; ")
}

// check is one row of a Validate table.
type check struct {
	bad   bool
	field string
	msg   string
}

func collect(checks []check) []string {
	var out []string
	for _, c := range checks {
		if c.bad {
			out = append(out, c.field+": "+c.msg)
		}
	}
	return out
}

// Validate reports every problem of c at once, as a *ValidationError.
func (c Config) Validate() error {
	known := c.Type == TypeFile || c.Type == TypeWebhook || c.Type == TypeCommand
	problems := collect([]check{
		{c.Type == "", "type", "is required (file, webhook or command)"},
		{c.Type != "" && !known, "type", fmt.Sprintf("unknown type %q (want file, webhook or command)", c.Type)},
		{c.Type == TypeFile && c.File == nil, "file", "is required for type file"},
		{c.Type == TypeWebhook && c.Webhook == nil, "webhook", "is required for type webhook"},
		{c.Type == TypeCommand && c.Command == nil, "command", "is required for type command"},
		{known && c.Type != TypeFile && c.File != nil, "file", "is set but type is " + c.Type},
		{known && c.Type != TypeWebhook && c.Webhook != nil, "webhook", "is set but type is " + c.Type},
		{known && c.Type != TypeCommand && c.Command != nil, "command", "is set but type is " + c.Type},
	})
	switch {
	case c.Type == TypeFile && c.File != nil:
		problems = append(problems, c.File.problems()...)
	case c.Type == TypeWebhook && c.Webhook != nil:
		problems = append(problems, c.Webhook.problems()...)
	case c.Type == TypeCommand && c.Command != nil:
		problems = append(problems, c.Command.problems()...)
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// Option adjusts how New builds a target, or how Check runs.
type Option func(*options)

type options struct {
	allowLoopback bool
	allowPrivate  bool
	timeout       time.Duration
	now           func() time.Time
}

// AllowLoopback lets a webhook target, or Check, connect to loopback
// addresses. It is for tests against httptest servers; a stored Config
// cannot enable it.
func AllowLoopback() Option { return func(o *options) { o.allowLoopback = true } }

// AllowPrivate lets Check connect to private addresses (10/8, 172.16/12,
// 192.168/16, 100.64/10, fc00::/7). A webhook target ignores it and follows
// WebhookConfig.AllowPrivate, so that passing the same options to New and
// Check cannot widen what a stored webhook Config may reach.
func AllowPrivate() Option { return func(o *options) { o.allowPrivate = true } }

// WithTimeout bounds the whole exchange of Check, redirects included
// (default 10s; zero or less means the default). A webhook target ignores
// it and follows WebhookConfig.TimeoutSeconds.
func WithTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithNow sets the clock used for webhook timestamps (default time.Now).
func WithNow(now func() time.Time) Option { return func(o *options) { o.now = now } }

func buildOptions(opts []Option) options {
	o := options{now: time.Now}
	for _, f := range opts {
		f(&o)
	}
	return o
}

// constructors maps a Config.Type to the function that builds it from a
// valid Config.
var constructors = map[string]func(Config, []Option) (Target, error){
	TypeFile:    func(c Config, _ []Option) (Target, error) { return NewFile(*c.File) },
	TypeWebhook: func(c Config, o []Option) (Target, error) { return NewWebhook(*c.Webhook, o...) },
	TypeCommand: func(c Config, _ []Option) (Target, error) { return NewCommand(*c.Command) },
}

// New validates cfg and builds its target.
func New(cfg Config, opts ...Option) (Target, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return constructors[cfg.Type](cfg, opts)
}

func formatProblems(prefix, format, envName string) []check {
	return []check{
		{format != "" && format != FormatRaw && format != FormatEnv && format != FormatJSON,
			prefix + ".format", fmt.Sprintf("unknown format %q (want raw, env or json)", format)},
		{format == FormatEnv && envName == "", prefix + ".env_name", "is required for format env"},
		{format == FormatEnv && envName != "" && !envNameRE.MatchString(envName),
			prefix + ".env_name", fmt.Sprintf("%q is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)", envName)},
		{format != FormatEnv && envName != "", prefix + ".env_name", "is only for format env"},
	}
}

func formatOrDefault(f string) string {
	if f == "" {
		return FormatRaw
	}
	return f
}
