package delivery_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/watchword/watchword/internal/delivery"
)

func MustNewFile(tb testing.TB, c delivery.FileConfig) *delivery.FileTarget {
	tb.Helper()
	target, err := delivery.NewFile(c)
	if err != nil {
		tb.Fatal(err)
	}
	return target
}

func TestFileFormats(t *testing.T) {
	tests := []struct {
		name  string
		cfg   delivery.FileConfig
		check func(t *testing.T, got string)
	}{
		{"raw", delivery.FileConfig{Format: "raw"}, func(t *testing.T, got string) {
			if want := testSecret + "\n"; got != want {
				t.Fatalf("content=%q, want %q", got, want)
			}
		}},
		{"default is raw", delivery.FileConfig{}, func(t *testing.T, got string) {
			if want := testSecret + "\n"; got != want {
				t.Fatalf("content=%q, want %q", got, want)
			}
		}},
		{"env", delivery.FileConfig{Format: "env", EnvName: "BILLING_CLIENT_SECRET"}, func(t *testing.T, got string) {
			if want := "BILLING_CLIENT_SECRET=" + testSecret + "\n"; got != want {
				t.Fatalf("content=%q, want %q", got, want)
			}
		}},
		{"json", delivery.FileConfig{Format: "json"}, func(t *testing.T, got string) {
			var v map[string]any
			if err := json.Unmarshal([]byte(got), &v); err != nil {
				t.Fatalf("content %q is not JSON: %v", got, err)
			}
			want := map[string]any{
				"event_id": "evt_01", "domain": "example.com", "client_id": "client-1", "client_name": "Billing",
				"secret_id": "0123456789ABCDEF", "secret": testSecret, "previous_secret_expires_at": "2030-01-02T03:04:05Z",
			}
			for k, w := range want {
				if v[k] != w {
					t.Errorf("%s=%v, want %v", k, v[k], w)
				}
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "client.secret")
			// An existing file with loose permissions is replaced, not
			// reused: the result is 0600 either way.
			if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			tt.cfg.Path = path
			if err := MustNewFile(t, tt.cfg).Deliver(t.Context(), newDelivery()); err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			tt.check(t, string(b))
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
				t.Fatalf("mode=%v, want %v", got, want)
			}
			MustOnlyFile(t, dir, "client.secret")
		})
	}
}

// MustOnlyFile fails if dir holds anything but name (a leftover temporary
// file, say).
func MustOnlyFile(tb testing.TB, dir, name string) {
	tb.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		tb.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		tb.Fatalf("directory holds %v, want only %s", names, name)
	}
}

func TestFileEnvRefusesUnsafeValue(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.env")
	d := newDelivery()
	d.Secret = delivery.Plaintext(testSecret + " $(reboot)")
	err := MustNewFile(t, delivery.FileConfig{Path: path, Format: "env", EnvName: "S"}).Deliver(t.Context(), d)
	MustNotLeak(t, err)
	if _, err := os.Stat(path); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Stat=%v, want the file not written", err)
	}
}

func TestFileMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing", "s")
	err := MustNewFile(t, delivery.FileConfig{Path: path}).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
		t.Fatalf("err=%v, want ErrNotExist naming %s", err, path)
	}
}

// TestFileRenameFails replaces a path that is a directory: the rename step
// fails, the temporary file is removed and the directory is untouched.
func TestFileRenameFails(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := MustNewFile(t, delivery.FileConfig{Path: path}).Deliver(t.Context(), newDelivery())
	MustNotLeak(t, err)
	if !strings.Contains(err.Error(), "rename") {
		t.Fatalf("err=%v, want a rename error", err)
	}
	MustOnlyFile(t, dir, "s")
}

// TestFileUnwritableDirectory: a directory the server cannot write fails
// with a clear error and leaves the old file as it was. As root, which
// ignores permissions, the delivery runs in a helper process as nobody.
func TestFileUnwritableDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "client.secret")
	const old = "old-secret\n"
	if err := os.WriteFile(path, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })

	var errText string
	if os.Geteuid() != 0 {
		err := MustNewFile(t, delivery.FileConfig{Path: path}).Deliver(t.Context(), newDelivery())
		MustNotLeak(t, err)
		if !errors.Is(err, fs.ErrPermission) {
			t.Fatalf("err=%v, want fs.ErrPermission", err)
		}
		errText = err.Error()
	} else {
		errText = runFileDeliverAsNobody(t, path)
	}
	if !strings.Contains(errText, "permission denied") || !strings.Contains(errText, path) {
		t.Fatalf("err=%q, want permission denied naming %s", errText, path)
	}
	if strings.Contains(errText, testSecret) {
		t.Fatalf("error contains the plaintext secret: %s", errText)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != old {
		t.Fatalf("old file=%q, %v; want %q untouched", b, err, old)
	}
	MustOnlyFile(t, dir, "client.secret")
}

// runFileDeliverAsNobody runs the file-deliver helper as uid/gid 65534 from
// a world-readable copy of the test binary and returns its error text.
func runFileDeliverAsNobody(t *testing.T, path string) string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	for d := binDir; d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	bin := filepath.Join(binDir, "helper")
	data, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	// The target's directory must be reachable by nobody too.
	for d := filepath.Dir(filepath.Dir(path)); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.CommandContext(t.Context(), bin)
	cmd.Env = []string{helperEnv + "=file-deliver", "HELPER_PATH=" + path}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.Output()
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) || exitErr.ExitCode() != 1 {
		t.Skipf("cannot run the helper as nobody (%v, output %q)", err, out)
	}
	return string(out)
}

// TestFileReaderSeesOnlyWholeValues reads the file continuously while many
// deliveries replace it: every read must be one complete value.
func TestFileReaderSeesOnlyWholeValues(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	target := MustNewFile(t, delivery.FileConfig{Path: path, Format: "json"})
	// Long values make a torn read likely if writes were not atomic.
	value := func(i int) string { return strings.Repeat(string(rune('a'+i%26)), 64<<10) }
	first := newDelivery()
	first.Secret = delivery.Plaintext(value(0))
	if err := target.Deliver(t.Context(), first); err != nil {
		t.Fatal(err)
	}

	var stop atomic.Bool
	var reads atomic.Int64
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			for !stop.Load() {
				b, err := os.ReadFile(path)
				if err != nil {
					errc <- err
					return
				}
				var p struct{ Secret string }
				if err := json.Unmarshal(b, &p); err != nil || len(p.Secret) != 64<<10 || strings.Count(p.Secret, p.Secret[:1]) != len(p.Secret) {
					errc <- errors.New("read a partial or mixed file")
					return
				}
				reads.Add(1)
			}
		})
	}
	deadline := time.Now().Add(5 * time.Second)
	var wwg sync.WaitGroup
	for w := range 4 {
		wwg.Go(func() {
			for i := w; i < 200 && time.Now().Before(deadline); i += 4 {
				d := newDelivery()
				d.Secret = delivery.Plaintext(value(i))
				if err := target.Deliver(t.Context(), d); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wwg.Wait()
	stop.Store(true)
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Fatal("the readers read nothing")
	}
	MustOnlyFile(t, filepath.Dir(path), "s")
}

func TestFilePrepareRevert(t *testing.T) {
	tests := []struct {
		name string
		old  *string // nil: no file before the delivery
		mode fs.FileMode
	}{
		{"existing file restored byte for byte", ptr("OLD_SECRET=wwcs_previous\n\x00\xff binary tail"), 0o644},
		{"existing empty file restored", ptr(""), 0o600},
		{"missing file removed", nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "client.secret")
			if tt.old != nil {
				if err := os.WriteFile(path, []byte(*tt.old), tt.mode); err != nil {
					t.Fatal(err)
				}
			}
			target := MustNewFile(t, delivery.FileConfig{Path: path})
			prepared, err := target.Prepare(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if err := target.Deliver(t.Context(), newDelivery()); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != testSecret+"\n" {
				t.Fatalf("after Deliver: content=%q, %v; want the new secret", b, err)
			}
			// A rollback may no longer have the plaintext; Revert is
			// idempotent, so it runs twice.
			d := newDelivery()
			d.Secret = ""
			for i := range 2 {
				if err := target.Revert(t.Context(), d, prepared); err != nil {
					t.Fatalf("Revert #%d: %v", i+1, err)
				}
				if tt.old == nil {
					if _, err := os.Lstat(path); !errors.Is(err, fs.ErrNotExist) {
						t.Fatalf("Revert #%d: Lstat=%v, want the file removed", i+1, err)
					}
					if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
						t.Fatalf("Revert #%d: directory holds %v (%v), want nothing", i+1, entries, err)
					}
					continue
				}
				b, err := os.ReadFile(path)
				if err != nil || !bytes.Equal(b, []byte(*tt.old)) {
					t.Fatalf("Revert #%d: content=%q, %v; want %q", i+1, b, err, *tt.old)
				}
				fi, err := os.Stat(path)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := fi.Mode().Perm(), fs.FileMode(0o600); got != want {
					t.Fatalf("Revert #%d: mode=%v, want %v", i+1, got, want)
				}
				MustOnlyFile(t, dir, "client.secret")
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }

func TestFileRevertMalformed(t *testing.T) {
	for _, prepared := range [][]byte{nil, {}, []byte("x"), []byte("aextra")} {
		t.Run(fmt.Sprintf("%q", prepared), func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "s")
			if err := os.WriteFile(path, []byte("keep\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			err := MustNewFile(t, delivery.FileConfig{Path: path}).Revert(t.Context(), newDelivery(), prepared)
			MustNotLeak(t, err)
			if !strings.Contains(err.Error(), "prepared state") {
				t.Fatalf("err=%v, want a prepared state error", err)
			}
			if b, err := os.ReadFile(path); err != nil || string(b) != "keep\n" {
				t.Fatalf("content=%q, %v; want it untouched", b, err)
			}
		})
	}
}

func TestFilePrepareRefusesNonRegular(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s")
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, err := MustNewFile(t, delivery.FileConfig{Path: path}).Prepare(t.Context()); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("Prepare()=%v, want a not a regular file error", err)
	}
}
