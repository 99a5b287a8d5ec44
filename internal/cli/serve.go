package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"

	"github.com/watchword/watchword/internal/app"
	"github.com/watchword/watchword/internal/config"
)

// Version is set at build time with -ldflags "-X …/internal/cli.Version=…".
var Version = "dev"

// serverGCPercent is the collector's target when GOGC is not set. The
// server's live heap is small (tens of MB), so Go's default of 100 collects
// every few MB allocated, dozens of times a second under token load; 400
// trades some memory for about a fifth of the CPU per token
// (docs/benchmarks.md).
const serverGCPercent = 400

func tuneGC() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
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
			tuneGC()
			cfg, err := loadConfig(cmd)
			if err != nil {
				return err
			}
			a, err := app.New(cmd.Context(), cfg, app.Options{Stderr: cmd.ErrOrStderr()})
			if err != nil {
				return err
			}
			if a.FirstToken != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "Created the default domain and the first admin token (shown once, also stored in %s):\n\n    %s\n\n",
					filepath.Join(cfg.DataDir, app.AdminTokenFile), a.FirstToken.Plaintext)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Watchword is running. Public (OAuth): http://%s  Admin API: http://%s\n", a.PublicAddr(), a.AdminAddr())
			return a.Serve(cmd.Context())
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
			st, kind, err := app.OpenStore(cmd.Context(), cfg, time.Now)
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

// adminTokenFile is where the server stores its first admin token.
const adminTokenFile = app.AdminTokenFile
