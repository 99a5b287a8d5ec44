// Package config reads Watchword's server configuration from a YAML file,
// WATCHWORD_* environment variables and flags; flags override the
// environment, which overrides the file. Every unknown key and invalid value
// is reported at once, each with its key.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/mail"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the server configuration.
type Config struct {
	// DataDir holds the SQLite database, the server key and the first admin token.
	DataDir string `yaml:"data_dir"`
	// Database is empty (SQLite in DataDir), a SQLite path ("sqlite:PATH"),
	// or a PostgreSQL URL ("postgres://…").
	Database   string `yaml:"database"`
	PublicAddr string `yaml:"public_addr"`
	// PublicURL is the base of every issuer (issuer = PublicURL/<domain>);
	// empty means http://<public_addr>. Issuers never come from request headers.
	PublicURL string `yaml:"public_url"`
	AdminAddr string `yaml:"admin_addr"`
	Log       struct {
		Format string `yaml:"format"` // text or json
		Level  string `yaml:"level"`  // debug, info, warn, error
	} `yaml:"log"`
	Secrets struct {
		// Prefix starts every generated client secret.
		Prefix string `yaml:"prefix"`
		// MaxPerClient is the server-wide cap on valid secrets per client.
		MaxPerClient int `yaml:"max_per_client"`
	} `yaml:"secrets"`
	OAuth struct {
		// VerifiedTokens is how many access tokens whose signature verified
		// are remembered, so that introspecting the same token again skips
		// the signature check; 0 remembers none.
		VerifiedTokens int `yaml:"verified_tokens"`
	} `yaml:"oauth"`
	// ServerKey (hex, 32+ bytes) hashes secrets; or ServerKeyFile names a file
	// holding it. Without either, a key is generated into DataDir. Several
	// instances on one PostgreSQL must share the same key.
	ServerKey     string `yaml:"server_key"`
	ServerKeyFile string `yaml:"server_key_file"`
	// PreviousServerKeys still verify hashes made before a server key rotation.
	PreviousServerKeys []string      `yaml:"previous_server_keys"`
	ShutdownTimeout    time.Duration `yaml:"shutdown_timeout"`
	// SMTP is the relay that email notification channels send through;
	// without a host there is no email.
	SMTP SMTP `yaml:"smtp"`
	// Jobs are the background jobs: notification delivery, the expiry
	// sweep and upcoming-expiry notices.
	Jobs struct {
		// Enabled runs the jobs on this instance. Every instance may run
		// them at once; turn them off only for instances that must not
		// send anything.
		Enabled bool `yaml:"enabled"`
		// Interval is how often the jobs look for due work.
		Interval time.Duration `yaml:"interval"`
		// Lease is how long an instance holds a scheduled job or a
		// notification it is sending; after it (a crash), another takes over.
		Lease time.Duration `yaml:"lease"`
	} `yaml:"jobs"`
	// Rotation tunes automated, staged rotation runs.
	Rotation struct {
		// CheckInterval is how often clients' rotation schedules are looked at.
		CheckInterval time.Duration `yaml:"check_interval"`
		// Lease is how long an instance holds a run it works on; after it,
		// another instance takes over (a crashed instance's run resumes).
		Lease time.Duration `yaml:"lease"`
		// StepTimeout bounds one step's deliveries or tests; below Lease.
		StepTimeout time.Duration `yaml:"step_timeout"`
		// Attempts a step gets before its run rolls back, the first
		// RetryDelay apart, doubling.
		Attempts   int           `yaml:"attempts"`
		RetryDelay time.Duration `yaml:"retry_delay"`
		// MinInterval is the shortest schedule interval allowed (1h; lower
		// it only to try rotation out or to test).
		MinInterval time.Duration `yaml:"min_interval"`
		// AllowLoopback lets webhook targets and check URLs use loopback
		// addresses, over plain http too (development and tests only).
		AllowLoopback bool `yaml:"allow_loopback"`
	} `yaml:"rotation"`
}

// SMTP holds the server-wide SMTP settings.
type SMTP struct {
	Host string `yaml:"host"`
	Port int    `yaml:"port"`
	// Username and Password (or PasswordFile) authenticate with AUTH PLAIN.
	Username     string `yaml:"username"`
	Password     string `yaml:"password"`
	PasswordFile string `yaml:"password_file"`
	// From is the sender address of notification emails.
	From string `yaml:"from"`
	// TLS is none, starttls (required, not opportunistic) or tls (implicit,
	// usually port 465).
	TLS string `yaml:"tls"`
}

// Default returns the configuration used when nothing is set.
func Default() Config {
	var c Config
	c.DataDir = "./watchword-data"
	c.PublicAddr = "127.0.0.1:8080"
	c.AdminAddr = "127.0.0.1:8081"
	c.Log.Format = "text"
	c.Log.Level = "info"
	c.Secrets.Prefix = "wwcs_"
	c.Secrets.MaxPerClient = 10
	c.OAuth.VerifiedTokens = 10000
	c.ShutdownTimeout = 15 * time.Second
	c.SMTP.Port = 587
	c.SMTP.TLS = "starttls"
	c.Jobs.Enabled = true
	c.Jobs.Interval = 5 * time.Second
	c.Jobs.Lease = 2 * time.Minute
	c.Rotation.CheckInterval = time.Minute
	c.Rotation.Lease = 5 * time.Minute
	c.Rotation.StepTimeout = 2 * time.Minute
	c.Rotation.Attempts = 3
	c.Rotation.RetryDelay = 30 * time.Second
	c.Rotation.MinInterval = time.Hour
	return c
}

// Key is one setting that may come from the environment or a flag.
type Key struct {
	Name  string // dotted YAML path, e.g. "log.format"
	Usage string
	set   func(c *Config, v string) error
}

// Env is the environment variable of the key.
func (k Key) Env() string {
	return "WATCHWORD_" + strings.ToUpper(strings.NewReplacer(".", "_").Replace(k.Name))
}

// Flag is the command-line flag of the key.
func (k Key) Flag() string { return strings.NewReplacer(".", "-", "_", "-").Replace(k.Name) }

func str(f func(c *Config) *string) func(*Config, string) error {
	return func(c *Config, v string) error { *f(c) = v; return nil }
}

// Keys lists the settings that the environment and flags can set.
func Keys() []Key {
	return []Key{
		{"data_dir", "directory for the SQLite database, server key and first admin token", str(func(c *Config) *string { return &c.DataDir })},
		{"database", "database: empty for SQLite in the data directory, sqlite:PATH, or postgres://…", str(func(c *Config) *string { return &c.Database })},
		{"public_addr", "address of the public listener (OAuth endpoints)", str(func(c *Config) *string { return &c.PublicAddr })},
		{"public_url", "base URL of the issuers (issuer = URL/<domain>); default http://<public_addr>", str(func(c *Config) *string { return &c.PublicURL })},
		{"admin_addr", "address of the admin listener (management API)", str(func(c *Config) *string { return &c.AdminAddr })},
		{"log.format", "log format: text or json", str(func(c *Config) *string { return &c.Log.Format })},
		{"log.level", "log level: debug, info, warn or error", str(func(c *Config) *string { return &c.Log.Level })},
		{"secrets.prefix", "prefix of generated client secrets", str(func(c *Config) *string { return &c.Secrets.Prefix })},
		{"secrets.max_per_client", "server-wide cap on valid secrets per client", integer(func(c *Config) *int { return &c.Secrets.MaxPerClient })},
		{"oauth.verified_tokens", "access tokens remembered as verified, so introspecting one again skips the signature check; 0 for none", integer(func(c *Config) *int { return &c.OAuth.VerifiedTokens })},
		{"server_key", "server key (hex, 32+ bytes) that hashes secrets", str(func(c *Config) *string { return &c.ServerKey })},
		{"server_key_file", "file holding the server key", str(func(c *Config) *string { return &c.ServerKeyFile })},
		{"shutdown_timeout", "how long in-flight requests may take to finish on shutdown", duration(func(c *Config) *time.Duration { return &c.ShutdownTimeout })},
		{"smtp.host", "SMTP relay for email notifications; empty means no email", str(func(c *Config) *string { return &c.SMTP.Host })},
		{"smtp.port", "SMTP port", integer(func(c *Config) *int { return &c.SMTP.Port })},
		{"smtp.username", "SMTP user (AUTH PLAIN)", str(func(c *Config) *string { return &c.SMTP.Username })},
		{"smtp.password", "SMTP password (prefer the environment or smtp.password_file to a flag)", str(func(c *Config) *string { return &c.SMTP.Password })},
		{"smtp.password_file", "file holding the SMTP password", str(func(c *Config) *string { return &c.SMTP.PasswordFile })},
		{"smtp.from", "sender address of notification emails", str(func(c *Config) *string { return &c.SMTP.From })},
		{"smtp.tls", "SMTP connection security: none, starttls or tls", str(func(c *Config) *string { return &c.SMTP.TLS })},
		{"jobs.enabled", "run the background jobs (notification delivery, expiry sweep and notices) on this instance", boolean(func(c *Config) *bool { return &c.Jobs.Enabled })},
		{"jobs.interval", "how often the background jobs look for due work", duration(func(c *Config) *time.Duration { return &c.Jobs.Interval })},
		{"jobs.lease", "how long an instance holds a scheduled job or a notification it sends before another may take it over", duration(func(c *Config) *time.Duration { return &c.Jobs.Lease })},
		{"rotation.check_interval", "how often clients' rotation schedules are looked at", duration(func(c *Config) *time.Duration { return &c.Rotation.CheckInterval })},
		{"rotation.lease", "how long an instance holds a rotation run before another may take it over", duration(func(c *Config) *time.Duration { return &c.Rotation.Lease })},
		{"rotation.step_timeout", "time limit of one rotation step's deliveries or tests (below rotation.lease)", duration(func(c *Config) *time.Duration { return &c.Rotation.StepTimeout })},
		{"rotation.attempts", "attempts of a rotation step before its run rolls back", integer(func(c *Config) *int { return &c.Rotation.Attempts })},
		{"rotation.retry_delay", "wait after a rotation step's first failure (doubles after each)", duration(func(c *Config) *time.Duration { return &c.Rotation.RetryDelay })},
		{"rotation.min_interval", "shortest rotation schedule interval allowed (lower only to test)", duration(func(c *Config) *time.Duration { return &c.Rotation.MinInterval })},
		{"rotation.allow_loopback", "let webhook targets and check URLs use loopback addresses (development and tests only)", boolean(func(c *Config) *bool { return &c.Rotation.AllowLoopback })},
	}
}

func integer(f func(c *Config) *int) func(*Config, string) error {
	return func(c *Config, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("must be an integer")
		}
		*f(c) = n
		return nil
	}
}

func boolean(f func(c *Config) *bool) func(*Config, string) error {
	return func(c *Config, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("must be true or false")
		}
		*f(c) = b
		return nil
	}
}

func duration(f func(c *Config) *time.Duration) func(*Config, string) error {
	return func(c *Config, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New("must be a duration such as 15s")
		}
		*f(c) = d
		return nil
	}
}

// clientEnv are WATCHWORD_* variables read by the CLI and tests, not the server.
var clientEnv = []string{"WATCHWORD_ENDPOINT", "WATCHWORD_TOKEN", "WATCHWORD_DOMAIN", "WATCHWORD_OUTPUT", "WATCHWORD_CONFIG", "WATCHWORD_TEST_POSTGRES_URL"}

// Load builds the configuration: defaults, then the YAML file at path (if
// any), then environ (KEY=value pairs), then flags (key name → value, for
// the flags that were set). All problems are returned together.
func Load(path string, environ []string, flags map[string]string) (Config, error) {
	c := Default()
	var problems []string
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return c, fmt.Errorf("config file: %w", err)
		}
		problems = append(problems, decodeYAML(b, &c)...)
	}
	byEnv := map[string]Key{}
	byName := map[string]Key{}
	for _, k := range Keys() {
		byEnv[k.Env()], byName[k.Name] = k, k
	}
	for _, kv := range environ {
		name, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, "WATCHWORD_") || slices.Contains(clientEnv, name) {
			continue
		}
		k, ok := byEnv[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("%s: unknown environment variable", name))
			continue
		}
		if err := k.set(&c, v); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", name, err))
		}
	}
	for name, v := range flags {
		k, ok := byName[name]
		if !ok {
			problems = append(problems, fmt.Sprintf("--%s: unknown setting", name))
			continue
		}
		if err := k.set(&c, v); err != nil {
			problems = append(problems, fmt.Sprintf("--%s: %v", k.Flag(), err))
		}
	}
	problems = append(problems, c.validate()...)
	if len(problems) > 0 {
		return c, &Error{Problems: problems}
	}
	return c, nil
}

// Error lists every configuration problem.
type Error struct{ Problems []string }

func (e *Error) Error() string {
	return "invalid configuration:\n  " + strings.Join(e.Problems, "\n  ")
}

func decodeYAML(b []byte, c *Config) []string {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(c)
	if err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	var te *yaml.TypeError
	if !errors.As(err, &te) {
		return []string{"config file: " + err.Error()}
	}
	// yaml.v3 names the line, not always the key: put the key in front.
	var root yaml.Node
	_ = yaml.Unmarshal(b, &root)
	keys := map[int]string{}
	keyLines(&root, "", keys)
	problems := make([]string, 0, len(te.Errors))
	for _, msg := range te.Errors {
		var line int
		if _, err := fmt.Sscanf(msg, "line %d:", &line); err == nil && keys[line] != "" {
			msg = keys[line] + ": " + msg
		}
		problems = append(problems, msg)
	}
	return problems
}

// keyLines records the dotted key path that starts on each line.
func keyLines(n *yaml.Node, prefix string, out map[int]string) {
	for _, c := range n.Content {
		if n.Kind != yaml.MappingNode {
			keyLines(c, prefix, out)
		}
	}
	if n.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := n.Content[i]
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		out[k.Line] = path
		keyLines(n.Content[i+1], path, out)
	}
}

func (c Config) validate() []string {
	checks := []struct {
		bad bool
		msg string
	}{
		{c.DataDir == "", "data_dir: must not be empty"},
		{c.PublicAddr == "", "public_addr: must not be empty"},
		{c.AdminAddr == "", "admin_addr: must not be empty"},
		{c.PublicAddr != "" && c.PublicAddr == c.AdminAddr && !strings.HasSuffix(c.AdminAddr, ":0"), "admin_addr: must differ from public_addr"},
		{!slices.Contains([]string{"text", "json"}, c.Log.Format), fmt.Sprintf("log.format: %q is not text or json", c.Log.Format)},
		{!slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level), fmt.Sprintf("log.level: %q is not debug, info, warn or error", c.Log.Level)},
		{!validPrefix(c.Secrets.Prefix), "secrets.prefix: must be 1-16 characters of a-z, 0-9 and '_'"},
		{c.Secrets.MaxPerClient < 1 || c.Secrets.MaxPerClient > 1000, "secrets.max_per_client: must be between 1 and 1000"},
		{c.OAuth.VerifiedTokens < 0 || c.OAuth.VerifiedTokens > 1000000, "oauth.verified_tokens: must be between 0 and 1000000"},
		{c.ServerKey != "" && c.ServerKeyFile != "", "server_key_file: set either server_key or server_key_file, not both"},
		{c.ShutdownTimeout < 0, "shutdown_timeout: must not be negative"},
		{c.PublicURL != "" && !validBaseURL(c.PublicURL), "public_url: must be an absolute http(s) URL without a trailing slash, query or fragment"},
		{!validDatabase(c.Database), "database: must be empty, sqlite:PATH or a postgres:// URL"},
		{!slices.Contains([]string{"none", "starttls", "tls"}, c.SMTP.TLS), fmt.Sprintf("smtp.tls: %q is not none, starttls or tls", c.SMTP.TLS)},
		{c.SMTP.Port < 1 || c.SMTP.Port > 65535, "smtp.port: must be between 1 and 65535"},
		{c.SMTP.Host != "" && !validAddress(c.SMTP.From), "smtp.from: must be an email address such as watchword@example.org when smtp.host is set"},
		{c.SMTP.Password != "" && c.SMTP.PasswordFile != "", "smtp.password_file: set either smtp.password or smtp.password_file, not both"},
		{(c.SMTP.Password != "" || c.SMTP.PasswordFile != "") && c.SMTP.Username == "", "smtp.username: must be set with a password"},
		{c.SMTP.Username != "" && c.SMTP.TLS == "none" && !isLoopback(c.SMTP.Host), "smtp.tls: credentials are sent only over starttls or tls (or to localhost)"},
		{c.Jobs.Interval < 10*time.Millisecond || c.Jobs.Interval > time.Hour, "jobs.interval: must be between 10ms and 1h"},
		{c.Jobs.Lease < time.Second, "jobs.lease: must be at least 1s"},
		{c.Rotation.CheckInterval < 10*time.Millisecond || c.Rotation.CheckInterval > 24*time.Hour, "rotation.check_interval: must be between 10ms and 24h"},
		{c.Rotation.StepTimeout < 10*time.Millisecond, "rotation.step_timeout: must be at least 10ms"},
		{c.Rotation.Lease <= c.Rotation.StepTimeout, "rotation.lease: must be longer than rotation.step_timeout"},
		{c.Rotation.Attempts < 1 || c.Rotation.Attempts > 20, "rotation.attempts: must be between 1 and 20"},
		{c.Rotation.RetryDelay < 0, "rotation.retry_delay: must not be negative"},
		{c.Rotation.MinInterval < time.Second, "rotation.min_interval: must be at least 1s"},
	}
	var problems []string
	for _, ch := range checks {
		if ch.bad {
			problems = append(problems, ch.msg)
		}
	}
	return problems
}

func validAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address != ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func validBaseURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" &&
		u.RawQuery == "" && u.Fragment == "" && !strings.HasSuffix(s, "/")
}

func validPrefix(p string) bool {
	if p == "" || len(p) > 16 {
		return false
	}
	for _, r := range p {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
			return false
		}
	}
	return true
}

func validDatabase(db string) bool {
	_, _, err := ParseDatabase(db, "")
	return err == nil
}

// ParseDatabase returns the backend ("sqlite" or "postgres") and its
// data source: a file path for SQLite, the URL for PostgreSQL.
func ParseDatabase(db, dataDir string) (kind, source string, err error) {
	switch {
	case db == "":
		return "sqlite", filepath.Join(dataDir, "watchword.db"), nil
	case strings.HasPrefix(db, "sqlite:"):
		if p := strings.TrimPrefix(db, "sqlite:"); p != "" {
			return "sqlite", p, nil
		}
	case strings.HasPrefix(db, "postgres://"), strings.HasPrefix(db, "postgresql://"):
		return "postgres", db, nil
	}
	return "", "", fmt.Errorf("unsupported database %q", db)
}
