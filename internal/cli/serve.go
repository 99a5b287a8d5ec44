package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword/internal/config"
	"github.com/watchword/watchword/internal/httpapi"
	"github.com/watchword/watchword/internal/lifecycle"
	"github.com/watchword/watchword/internal/logging"
	"github.com/watchword/watchword/internal/secret"
	"github.com/watchword/watchword/internal/server"
	"github.com/watchword/watchword/internal/store"
	"github.com/watchword/watchword/internal/store/postgres"
	"github.com/watchword/watchword/internal/store/sqlite"
)

// Version is set at build time with -ldflags "-X …/internal/cli.Version=…".
var Version = "dev"

// Files in the data directory.
const (
	serverKeyFile  = "server.key"
	adminTokenFile = "admin-token"
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

// addServerCommands adds serve, migrate and version to root.
func addServerCommands(root *cobra.Command) {
	serve := &cobra.Command{
		Use:   "serve",
		Short: "Run the Watchword server",
		Long: `Run the server. With no configuration it uses an embedded SQLite database in
./watchword-data, listens on 127.0.0.1:8080 (public) and 127.0.0.1:8081 (admin),
and on first start prints an admin token and stores it in the data directory.

Settings come from --config (YAML), WATCHWORD_* environment variables and flags;
flags override the environment, which overrides the file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			return runServer(cmd.Context(), cfg, cmd.OutOrStdout(), cmd.ErrOrStderr(), nil)
		},
	}
	migrate := &cobra.Command{
		Use:   "migrate",
		Short: "Apply database migrations and exit",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			st, kind, err := openStore(cmd.Context(), cfg, time.Now)
			if err != nil {
				return err
			}
			defer st.Close()
			fmt.Fprintf(cmd.OutOrStdout(), "%s database is up to date\n", kind)
			return nil
		},
	}
	for _, c := range []*cobra.Command{serve, migrate} {
		c.Flags().String("config", os.Getenv("WATCHWORD_CONFIG"), "YAML configuration file (env WATCHWORD_CONFIG)")
		for _, k := range config.Keys() {
			if k.Name == "data_dir" {
				continue // a persistent root flag shared with the client commands
			}
			c.Flags().String(k.Flag(), "", k.Usage+" (env "+k.Env()+")")
		}
	}
	version := &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			v := Version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "watchword %s\n", v)
		},
	}
	root.AddCommand(serve, migrate, version)
}

// loadConfig merges file, environment and the flags that were set.
func loadConfig(cmd *cobra.Command) (config.Config, error) {
	flags := map[string]string{}
	for _, k := range config.Keys() {
		if f := cmd.Flags().Lookup(k.Flag()); f != nil && f.Changed {
			flags[k.Name] = f.Value.String()
		}
	}
	path, _ := cmd.Flags().GetString("config")
	return config.Load(path, os.Environ(), flags)
}

func openStore(ctx context.Context, cfg config.Config, now func() time.Time) (store.Store, string, error) {
	kind, source, err := config.ParseDatabase(cfg.Database, cfg.DataDir)
	if err != nil {
		return nil, "", err
	}
	if kind == "sqlite" {
		if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, "", err
		}
	}
	st, err := stores[kind](ctx, source, now)
	if err != nil {
		return nil, "", fmt.Errorf("open %s database: %w", kind, err)
	}
	return st, kind, nil
}

// Ready is told the bound addresses once the server listens (tests use it).
type Ready func(publicAddr, adminAddr string)

// runServer runs the server until ctx is cancelled.
func runServer(ctx context.Context, cfg config.Config, stdout, stderr io.Writer, ready Ready) error {
	logger := logging.New(stderr, cfg.Log.Format, cfg.Log.Level)
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	hasher, err := loadHasher(cfg)
	if err != nil {
		return err
	}
	st, kind, err := openStore(ctx, cfg, time.Now)
	if err != nil {
		return err
	}
	defer st.Close()

	svc := lifecycle.New(st, hasher)
	svc.Prefix, svc.ServerMaxSecrets, svc.Logger = cfg.Secrets.Prefix, cfg.Secrets.MaxPerClient, logger
	first, err := svc.Initialize(ctx)
	if err != nil {
		return fmt.Errorf("initialise: %w", err)
	}
	if first != nil {
		path := filepath.Join(cfg.DataDir, adminTokenFile)
		if err := os.WriteFile(path, []byte(first.Plaintext+"\n"), 0o600); err != nil {
			return fmt.Errorf("store first admin token: %w", err)
		}
		fmt.Fprintf(stdout, "Created the default domain and the first admin token (shown once, also stored in %s):\n\n    %s\n\n", path, first.Plaintext)
		logger.Info("first start: created default domain and admin token", "token_id", first.ID, "token_file", path)
	}

	srv := server.New(nil, httpapi.New(svc, logger), st, logger)
	srv.ShutdownTimeout = cfg.ShutdownTimeout
	if err := srv.Listen(cfg.PublicAddr, cfg.AdminAddr); err != nil {
		return err
	}
	logger.Info("watchword listening", "database", kind, "public", "http://"+srv.PublicAddr(), "admin", "http://"+srv.AdminAddr())
	if ready != nil {
		ready(srv.PublicAddr(), srv.AdminAddr())
	}
	return srv.Serve(ctx)
}

// loadHasher reads the server key from config, its file, or the data
// directory, generating one there on first start.
func loadHasher(cfg config.Config) (*secret.Hasher, error) {
	raw := cfg.ServerKey
	if cfg.ServerKeyFile != "" {
		b, err := os.ReadFile(cfg.ServerKeyFile)
		if err != nil {
			return nil, fmt.Errorf("server_key_file: %w", err)
		}
		raw = string(b)
	}
	if raw == "" {
		path := filepath.Join(cfg.DataDir, serverKeyFile)
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

var _ = strings.TrimSpace
var _ = slog.Default
