// Package app assembles a Watchword server from its configuration: store,
// server key, lifecycle service, OAuth provider, management API, metrics
// and the two listeners. The CLI's serve command and the end-to-end tests
// both start servers through it.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/clientauth"
	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/delivery"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/jobs"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/logging"
	"github.com/watchword/watchword/internal/notify"
	"github.com/watchword/watchword/internal/oauth"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/server"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/postgres"
	"github.com/watchword/watchword/internal/store/sqlite"
)

// AuthCacheTTL bounds how long another instance's change (a revocation, a
// rotation, a disabled client) can go unseen by this instance's token
// endpoint. Changes made through this instance are seen at once.
const AuthCacheTTL = 500 * time.Millisecond

// Files in the data directory.
const (
	ServerKeyFile  = "server.key"
	AdminTokenFile = "admin-token"
)

// stores maps a backend name to its constructor (wiring happens only here).
var stores = map[string]func(ctx context.Context, source string, now func() time.Time) (store.Store, error){
	"sqlite": func(ctx context.Context, path string, now func() time.Time) (store.Store, error) {
		return sqlite.Open(ctx, sqlite.Config{Path: path, Now: now})
	},
	"postgres": func(ctx context.Context, url string, now func() time.Time) (store.Store, error) {
		return postgres.Open(ctx, postgres.Config{URL: url, Now: now})
	},
}

// OpenStore opens (and migrates) the configured database.
func OpenStore(ctx context.Context, cfg config.Config, now func() time.Time) (store.Store, string, error) {
	kind, source, err := config.ParseDatabase(cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, "", err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	st, err := stores[kind](ctx, source, now)
	if err != nil {
		return nil, "", fmt.Errorf("open %s database: %w", kind, err)
	}
	return st, kind, nil
}

// App is an assembled server.
type App struct {
	Store    store.Store
	Service  *lifecycle.Service
	Provider *oauth.Provider
	Logger   *slog.Logger
	// FirstToken is the admin token created on first start, or nil.
	FirstToken *watchword.NewAdminToken
	// Jobs runs notification delivery, the expiry sweep and the expiry
	// notices; Serve starts it when jobs.enabled is set, and tests may call
	// its methods directly.
	Jobs *jobs.Runner

	srv         *server.Server
	usage       *oauth.Usage
	kind        string
	jobsEnabled bool
}

// Options are what tests may inject.
type Options struct {
	// Now is the clock of the whole server; nil means time.Now.
	Now    func() time.Time
	Stderr io.Writer
}

// New opens the store, initialises it on first start, binds both listeners
// and returns the app ready to Serve.
func New(ctx context.Context, cfg config.Config, opts Options) (_ *App, err error) {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	logger := logging.New(opts.Stderr, cfg.Log.Format, cfg.Log.Level)
	// zitadel/oidc logs through the default logger only.
	slog.SetDefault(logger)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	hasher, err := LoadHasher(cfg)
	if err != nil {
		return nil, err
	}
	st, kind, err := OpenStore(ctx, cfg, now)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			st.Close()
		}
	}()

	svc := lifecycle.New(st, hasher)
	svc.Prefix, svc.ServerMaxSecrets, svc.Logger, svc.Now = cfg.Secrets.Prefix, cfg.Secrets.MaxPerClient, logger, now
	a := &App{Store: st, Service: svc, Logger: logger, kind: kind, jobsEnabled: cfg.Jobs.Enabled}
	mailer, err := NewMailer(cfg.SMTP)
	if err != nil {
		return nil, err
	}
	svc.EmailEnabled = mailer != nil
	a.Jobs = &jobs.Runner{
		Service: svc, Store: st, Now: now, Logger: logger, Interval: cfg.Jobs.Interval, Lease: cfg.Jobs.Lease,
		Dispatcher:       &notify.Dispatcher{Store: st, Hasher: hasher, Mailer: mailer, Now: now, Logger: logger, Lease: cfg.Jobs.Lease},
		RotationSchedule: "@every " + cfg.Rotation.CheckInterval.String(),
		RunLease:         cfg.Rotation.Lease,
	}
	svc.RotationMinInterval = cfg.Rotation.MinInterval
	svc.Runs = lifecycle.RunSettings{
		TokenCheck: func(ctx context.Context, d watchword.Domain, c watchword.Client, secret string) error {
			return a.tokenCheck(ctx, d, c, secret)
		},
		Attempts:    cfg.Rotation.Attempts,
		RetryDelay:  cfg.Rotation.RetryDelay,
		StepTimeout: cfg.Rotation.StepTimeout,
	}
	if cfg.Rotation.AllowLoopback {
		svc.Runs.DeliveryOptions = append(svc.Runs.DeliveryOptions, delivery.AllowLoopback())
	}
	if a.jobsEnabled {
		svc.RunsChanged = a.Jobs.Kick
	}
	if a.FirstToken, err = svc.Initialize(ctx); err != nil {
		return nil, fmt.Errorf("initialise: %w", err)
	}
	if a.FirstToken != nil {
		path := filepath.Join(cfg.DataDir, AdminTokenFile)
		if err := os.WriteFile(path, []byte(a.FirstToken.Plaintext+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("store first admin token: %w", err)
		}
		logger.Info("first start: created default domain and admin token", "token_id", a.FirstToken.ID, "token_file", path)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		lifecycle.NewSecretCollector(st, now))
	a.usage = &oauth.Usage{Store: st, Interval: 2 * time.Second, Logger: logger}
	cache := clientauth.NewCache(AuthCacheTTL)
	svc.Changed = func(clientID string) {
		if clientID == "" {
			cache.InvalidateAll()
		} else {
			cache.Invalidate(clientID)
		}
	}
	svc.TokensRevoked = func() { a.Provider.Forget() }
	a.Provider = oauth.NewProvider(&oauth.Provider{
		Store:    st,
		Verifier: &clientauth.Verifier{Store: st, Hasher: hasher, Now: now, Cache: cache},
		Keys:     &oauth.Keys{Store: st, Hasher: hasher},
		Usage:    a.usage,
		Throttle: oauth.NewThrottle(now),
		Metrics:  oauth.NewMetrics(reg),
		Now:      now,
		Logger:   logger,

		VerifiedTokens: cfg.OAuth.VerifiedTokens,
	})
	admin := http.NewServeMux()
	admin.Handle(httpapi.Prefix+"/", httpapi.New(svc, logger))
	admin.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	a.srv = server.New(a.Provider, admin, st, logger)
	a.srv.ShutdownTimeout = cfg.ShutdownTimeout
	if err := a.srv.Listen(cfg.PublicAddr, cfg.AdminAddr); err != nil {
		return nil, err
	}
	a.Provider.BaseURL = cfg.PublicURL
	if a.Provider.BaseURL == "" {
		a.Provider.BaseURL = "http://" + a.srv.PublicAddr()
	}
	return a, nil
}

// tokenCheck is a rotation run's test: a client_credentials request with
// secret at the domain's token endpoint on this instance's own listener,
// authenticated the way the client is registered to.
func (a *App) tokenCheck(ctx context.Context, d watchword.Domain, c watchword.Client, secret string) error {
	form := url.Values{"grant_type": {"client_credentials"}}
	if c.OAuth.TokenEndpointAuthMethod == watchword.AuthMethodPost {
		form.Set("client_id", c.ID)
		form.Set("client_secret", secret)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+a.PublicAddr()+"/"+d.Name+"/oauth/token", strings.NewReader(form.Encode()))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if c.OAuth.TokenEndpointAuthMethod != watchword.AuthMethodPost {
		req.SetBasicAuth(url.QueryEscape(c.ID), url.QueryEscape(secret))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	var body struct {
		AccessToken string `json:"access_token"`
		Error       string `json:"error"`
	}
	_ = json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&body)
	if resp.StatusCode == http.StatusBadRequest && body.Error == "unauthorized_client" {
		// The client is not allowed this grant (a web app on the code
		// flow), but the endpoint authenticated it first: the secret works.
		return nil
	}
	if resp.StatusCode != http.StatusOK || body.AccessToken == "" {
		return fmt.Errorf("token endpoint answered %d %s", resp.StatusCode, body.Error)
	}
	return nil
}

// PublicAddr and AdminAddr are the bound listener addresses.
func (a *App) PublicAddr() string { return a.srv.PublicAddr() }
func (a *App) AdminAddr() string  { return a.srv.AdminAddr() }

// Serve serves until ctx ends, then shuts down gracefully, flushes the
// secret usage counts and closes the store.
func (a *App) Serve(ctx context.Context) error {
	defer a.Store.Close()
	usageCtx, stopUsage := context.WithCancel(context.WithoutCancel(ctx))
	usageDone := make(chan struct{})
	go func() { a.usage.Run(usageCtx); close(usageDone) }()
	var jobsDone sync.WaitGroup
	if a.jobsEnabled {
		jobsDone.Go(func() { a.Jobs.Run(usageCtx) })
	}
	a.Logger.Info("watchword listening", "database", a.kind, "public", "http://"+a.PublicAddr(),
		"admin", "http://"+a.AdminAddr(), "issuer", a.Provider.BaseURL+"/<domain>", "jobs", a.jobsEnabled)
	err := a.srv.Serve(ctx)
	stopUsage()
	<-usageDone     // the last flush happens before the store closes
	jobsDone.Wait() // so do the outcomes of deliveries in flight
	return err
}

// NewMailer returns the mailer of the SMTP settings, or nil if there is no
// SMTP host.
func NewMailer(c config.SMTP) (*notify.Mailer, error) {
	if c.Host == "" {
		return nil, nil
	}
	password := c.Password
	if c.PasswordFile != "" {
		b, err := os.ReadFile(c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("smtp.password_file: %w", err)
		}
		password = strings.TrimRight(string(b), "\r\n")
	}
	return &notify.Mailer{
		Host: c.Host, Port: c.Port, Username: c.Username, Password: password, From: c.From, TLS: c.TLS,
	}, nil
}

// LoadHasher reads the server key from config, its file, or the data
// directory, generating one there on first start.
func LoadHasher(cfg config.Config) (*secret.Hasher, error) {
	raw := cfg.ServerKey
	if cfg.ServerKeyFile != "" {
		b, err := os.ReadFile(cfg.ServerKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server_key_file: %w", err)
		}
		raw = string(b)
	}
	if raw == "" {
		path := filepath.Join(cfg.DataDir, ServerKeyFile)
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			b = []byte(secret.GenerateKeyHex() + "\n")
			// O_EXCL: never overwrite a key another process just wrote.
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
			if err != nil {
				return nil, fmt.Errorf("create server key: %w", err)
			}
			_, err = f.Write(b)
			if err := errors.Join(err, f.Sync(), f.Close()); err != nil {
				return nil, fmt.Errorf("write server key: %w", err)
			}
		} else if err != nil {
			return nil, fmt.Errorf("read server key: %w", err)
		}
		raw = string(b)
	}
	current, err := secret.ParseKey(raw)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	var previous []secret.Key
	for i, p := range cfg.PreviousServerKeys {
		k, err := secret.ParseKey(p)
		if err != nil {
			return nil, fmt.Errorf("previous_server_keys[%d]: %w", i, err)
		}
		previous = append(previous, k)
	}
	return secret.NewHasher(current, previous...), nil
}
