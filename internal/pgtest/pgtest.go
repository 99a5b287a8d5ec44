// Package pgtest gives tests a throwaway PostgreSQL database.
//
// URL returns the address of a new, empty database. With
// WATCHWORD_TEST_POSTGRES_URL set, the databases are created on that server;
// otherwise the first call starts a private server for the test process,
// from the initdb and postgres binaries on PATH, and Main stops it:
//
//	func TestMain(m *testing.M) { pgtest.Main(m) }
//
// Without binaries or URL the test is skipped, unless CI is set: then it
// fails, so that a CI run cannot pass by skipping the PostgreSQL tests.
package pgtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx"
)

// EnvURL names the variable holding the URL of a server to use instead of
// starting one; its user must be allowed to create databases.
const EnvURL = "WATCHWORD_TEST_POSTGRES_URL"

var (
	mainCalled atomic.Bool

	once     sync.Once
	base     *url.URL // server to create databases on
	admin    *sql.DB  // connected to base
	local    *server  // the private server, if one was started
	skip     string   // why tests cannot get a database, if they cannot
	setupErr error
)

// Main runs the tests, then stops the private server if one was started,
// and exits with the tests' code.
func Main(m *testing.M) {
	mainCalled.Store(true)
	code := m.Run()
	if admin != nil {
		admin.Close()
	}
	if local != nil {
		if err := local.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
		}
	}
	os.Exit(code)
}

// URL returns the connection URL of a new, empty database, dropped when tb
// ends.
func URL(tb testing.TB) string {
	tb.Helper()
	once.Do(setup)
	switch {
	case skip != "" && os.Getenv("CI") != "":
		tb.Fatalf("pgtest: %s (CI is set, so this fails instead of skipping)", skip)
	case skip != "":
		tb.Skipf("pgtest: %s", skip)
	case setupErr != nil:
		tb.Fatalf("pgtest: %v", setupErr)
	}

	name := "watchword_test_" + randomHex(8)
	ident := pgx.Identifier{name}.Sanitize()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+ident); err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// FORCE ends sessions a test left open.
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			tb.Logf("pgtest: drop database %s: %v", name, err)
		}
	})
	u := *base
	u.Path, u.RawPath = "/"+name, ""
	return u.String()
}

func setup() {
	if s := os.Getenv(EnvURL); s != "" {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
			setupErr = fmt.Errorf("%s must be a postgres:// URL", EnvURL)
			return
		}
		base = u
	} else {
		bin, err := findBinaries()
		if err != nil {
			skip = err.Error()
			return
		}
		if !mainCalled.Load() {
			setupErr = errors.New("call pgtest.Main(m) from TestMain, so that the server it starts is stopped")
			return
		}
		if local, err = start(bin); err != nil {
			setupErr = err
			return
		}
		base = local.url
	}
	db, err := sql.Open("pgx", base.String())
	if err != nil {
		setupErr = err
		return
	}
	db.SetMaxOpenConns(4)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		setupErr = fmt.Errorf("connect to %s: %w", base.Redacted(), err)
		return
	}
	admin = db
}

// findBinaries returns the directory of initdb and postgres: on PATH, or in
// a Debian-style /usr/lib/postgresql/N/bin.
func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(dirs, func(a, b string) int { return versionOf(b) - versionOf(a) }) // newest first
	for _, dir := range dirs {
		if _, err := os.Stat(filepath.Join(dir, "initdb")); err == nil {
			return dir, nil
		}
	}
	return "", fmt.Errorf("no PostgreSQL server binaries (initdb, postgres) on PATH; install them or set %s", EnvURL)
}

func versionOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// server is a private PostgreSQL server.
type server struct {
	dir  string
	url  *url.URL
	proc *os.Process
	done chan struct{} // closed when the server has exited
}

// start initialises a cluster in a new directory and starts a server on a
// free port of 127.0.0.1, tuned for speed rather than durability.
func start(bin string) (_ *server, err error) {
	attr, uid, gid, err := runAs()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(tempBase(), "watchword-pgtest-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "-A", "trust",
		"-E", "UTF8", "--locale=C", "--no-sync")
	initdb.SysProcAttr = attr
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}

	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer logFile.Close() // the child has its own descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="+dir,
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=200",
		// Deadlock tests wait this long before PostgreSQL breaks the tie.
		"-c", "deadlock_timeout=100ms")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = attr
	// If the test process dies without Main's clean-up (a -timeout panic,
	// a kill), the kernel sends the server SIGQUIT, PostgreSQL's immediate
	// shutdown. That signal follows the thread that started the server, so
	// start it from a thread that lives as long as the server.
	cmd.SysProcAttr.Pdeathsig = syscall.SIGQUIT
	s := &server{dir: dir, done: make(chan struct{})}
	started := make(chan error)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the server
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		_ = cmd.Wait()
		close(s.done)
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s.proc = cmd.Process
	s.url = &url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Path: "/postgres", RawQuery: "sslmode=disable"}
	if err := s.waitReady(logPath); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

func (s *server) waitReady(logPath string) error {
	db, err := sql.Open("pgx", s.url.String())
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := db.PingContext(ctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-s.done:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres exited at start:\n%s", log)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("postgres not ready after 60s: %v\n%s", err, log)
		}
	}
}

// stop shuts the server down at once (SIGQUIT, as pg_ctl stop -m
// immediate) and removes its directory.
func (s *server) stop() error {
	_ = s.proc.Signal(syscall.SIGQUIT)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.proc.Kill()
		<-s.done
	}
	return os.RemoveAll(s.dir)
}

// runAs returns the process attributes for initdb and postgres, which
// refuse to run as root: as root, they run as the postgres user.
func runAs() (attr *syscall.SysProcAttr, uid, gid int, err error) {
	attr = &syscall.SysProcAttr{}
	if os.Geteuid() != 0 {
		return attr, os.Getuid(), os.Getgid(), nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, 0, 0, fmt.Errorf("running as root, the server must run as the postgres user: %w", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	attr.Credential = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
	return attr, uid, gid, nil
}

// tempBase is where the cluster directory goes: the temporary directory,
// unless the postgres user (when we are root) could not reach into it.
func tempBase() string {
	dir := os.TempDir()
	if os.Geteuid() != 0 {
		return dir
	}
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return "/tmp"
		}
		if p == filepath.Dir(p) {
			return dir
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
