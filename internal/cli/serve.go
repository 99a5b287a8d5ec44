package cli

import "github.com/spf13/cobra"

// addServerCommands adds serve, migrate and version to root.
// (Written by the server side; see serve.go.)
func addServerCommands(root *cobra.Command) {}
