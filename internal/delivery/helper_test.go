package delivery_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/delivery"
)

// The test binary doubles as the program that command targets run (the
// os/exec helper-process pattern): with helperEnv set, TestMain runs the
// named helper instead of the tests.
const helperEnv = "DELIVERY_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode))
	}
	os.Exit(m.Run())
}

// helperReport is what the inspect helper writes about itself.
type helperReport struct {
	Args    []string `json:"args"`
	Environ []string `json:"environ"`
	Stdin   string   `json:"stdin"`
	// ProcCmdline and ProcEnviron are what other users of the host see in
	// /proc (empty where there is no /proc).
	ProcCmdline string `json:"proc_cmdline"`
	ProcEnviron string `json:"proc_environ"`
}

func runHelper(mode string) int {
	switch mode {
	case "inspect":
		in, _ := io.ReadAll(os.Stdin)
		cmdline, _ := os.ReadFile("/proc/self/cmdline")
		environ, _ := os.ReadFile("/proc/self/environ")
		b, _ := json.Marshal(helperReport{Args: os.Args, Environ: os.Environ(), Stdin: string(in), ProcCmdline: string(cmdline), ProcEnviron: string(environ)})
		if err := os.WriteFile(os.Getenv("HELPER_OUT"), b, 0o600); err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		return 0
	case "fail":
		in, _ := io.ReadAll(os.Stdin)
		fmt.Fprintf(os.Stderr, "deploy failed: could not use %s\x1b[31m (bad)\n", in)
		return 1
	case "ignore-stdin":
		return 0
	case "sleep":
		time.Sleep(time.Minute)
		return 0
	case "sleep-tree":
		// A grandchild that shares stderr: unless the whole process group
		// is killed, it keeps the pipe open after its parent dies.
		exe, _ := os.Executable()
		c := exec.Command(exe)
		c.Env = append(os.Environ(), helperEnv+"=sleep")
		c.Stderr = os.Stderr
		if err := c.Start(); err != nil {
			return 2
		}
		_ = os.WriteFile(os.Getenv("HELPER_OUT"), []byte(strconv.Itoa(c.Process.Pid)), 0o600)
		time.Sleep(time.Minute)
		return 0
	case "file-deliver":
		// Run as an unprivileged user by TestFileUnwritableDirectory.
		target, err := delivery.NewFile(delivery.FileConfig{Path: os.Getenv("HELPER_PATH")})
		if err != nil {
			fmt.Print(err)
			return 2
		}
		if err := target.Deliver(context.Background(), newDelivery()); err != nil {
			fmt.Print(err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "unknown helper mode", mode)
	return 2
}
