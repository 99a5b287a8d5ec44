package delivery

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// FileConfig writes the secret to a file on this host, replacing it
// atomically: a reader sees the old content or the new, never a mix.
type FileConfig struct {
	// Path is the absolute path of the file.
	Path string `json:"path"`
	// Format is raw (default), env or json.
	Format string `json:"format,omitempty"`
	// EnvName is the variable name of format env.
	EnvName string `json:"env_name,omitempty"`
}

// Validate reports every problem of c at once.
func (c FileConfig) Validate() error {
	if p := c.problems(); len(p) > 0 {
		return &ValidationError{Problems: p}
	}
	return nil
}

func (c FileConfig) problems() []string {
	base := filepath.Base(c.Path)
	return collect(append([]check{
		{c.Path == "", "file.path", "is required"},
		{c.Path != "" && !filepath.IsAbs(c.Path), "file.path", "must be absolute"},
		{filepath.IsAbs(c.Path) && (strings.HasSuffix(c.Path, "/") || base == "/" || base == "." || base == ".."), "file.path", "must name a file"},
		{strings.ContainsRune(c.Path, 0), "file.path", "contains a NUL byte"},
	}, formatProblems("file", c.Format, c.EnvName)...))
}

// FileTarget writes secrets to a file with mode 0600.
type FileTarget struct {
	path    string
	format  string
	envName string
}

var _ Target = (*FileTarget)(nil)

// NewFile validates c and returns its target.
func NewFile(c FileConfig) (*FileTarget, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &FileTarget{path: filepath.Clean(c.Path), format: formatOrDefault(c.Format), envName: c.EnvName}, nil
}

// Deliver writes d.Secret to the file: a temporary file in the same
// directory is written, synced and made 0600, renamed over the target, and
// the directory is synced so that the rename survives a crash. On failure
// the old file is left as it was and the temporary file is removed.
func (t *FileTarget) Deliver(ctx context.Context, d Delivery) error {
	if err := d.validate(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delivery: file %s: %w", t.path, err)
	}
	data, err := encode(t.format, t.envName, d)
	if err != nil {
		return err
	}
	return scrub(t.write(data), d.Secret)
}

func (t *FileTarget) write(data []byte) (err error) {
	dir, base := filepath.Split(t.path)
	f, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("delivery: file %s: creating a temporary file in %s: %w", t.path, dir, unwrapPath(err))
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	// CreateTemp makes the file 0600 already; Chmod makes that explicit and
	// independent of how it was created.
	if err := f.Chmod(0o600); err != nil {
		return fmt.Errorf("delivery: file %s: chmod: %w", t.path, unwrapPath(err))
	}
	if _, err := f.Write(data); err != nil {
		return fmt.Errorf("delivery: file %s: write: %w", t.path, unwrapPath(err))
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("delivery: file %s: fsync: %w", t.path, unwrapPath(err))
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("delivery: file %s: close: %w", t.path, unwrapPath(err))
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return fmt.Errorf("delivery: file %s: rename: %w", t.path, unwrapPath(err))
	}
	// The new content is in place; a failed directory sync only weakens
	// durability across a crash, but report it so the rotation retries.
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("delivery: file %s: fsync of directory %s: %w", t.path, dir, unwrapPath(err))
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// unwrapPath drops the *os.PathError or *os.LinkError wrapper, whose text
// repeats the (temporary) path the message already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	var le *os.LinkError
	if errors.As(err, &le) {
		return le.Err
	}
	return err
}
