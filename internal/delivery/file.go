package delivery

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
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

var _ Reverter = (*FileTarget)(nil)

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

// The first byte of what FileTarget.Prepare returns.
const (
	preparedAbsent  = 'a' // the file did not exist; nothing follows
	preparedPresent = 'p' // the file's content follows
)

// maxPreparedFile bounds the content Prepare keeps for a rollback.
const maxPreparedFile = 1 << 20

// Prepare captures the file as it is: whether it exists and, if so, its
// content, which is what Revert restores. The result holds the current
// secret when there is one. Call it once per rotation, before the first
// Deliver; a retried rotation must reuse what the first call returned, not
// capture the secret it delivered itself.
func (t *FileTarget) Prepare(ctx context.Context) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("delivery: file %s: %w", t.path, err)
	}
	// Stat before opening: opening a FIFO would block.
	fi, err := os.Stat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return []byte{preparedAbsent}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("delivery: file %s: stat: %w", t.path, unwrapPath(err))
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("delivery: file %s: not a regular file", t.path)
	}
	f, err := os.Open(t.path)
	if err != nil {
		return nil, fmt.Errorf("delivery: file %s: reading it before delivery: %w", t.path, unwrapPath(err))
	}
	defer f.Close()
	content, err := io.ReadAll(io.LimitReader(f, maxPreparedFile+1))
	if err != nil {
		return nil, fmt.Errorf("delivery: file %s: reading it before delivery: %w", t.path, unwrapPath(err))
	}
	if len(content) > maxPreparedFile {
		return nil, fmt.Errorf("delivery: file %s: larger than %d bytes, too large to keep for a rollback", t.path, maxPreparedFile)
	}
	return append([]byte{preparedPresent}, content...), nil
}

// Revert puts the file back as Prepare found it: the old content is
// written the way Deliver writes (atomically, mode 0600, whatever the old
// mode was), or the file is removed if it did not exist. It restores
// unconditionally: a change made to the file since Deliver, by anyone, is
// lost. Like Deliver, it replaces a symbolic link at the path with a
// regular file. Reverting twice is harmless. d is not used.
func (t *FileTarget) Revert(ctx context.Context, _ Delivery, prepared []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("delivery: file %s: %w", t.path, err)
	}
	if len(prepared) == 0 {
		return fmt.Errorf("delivery: file %s: revert: no prepared state", t.path)
	}
	switch prepared[0] {
	case preparedPresent:
		return t.write(prepared[1:])
	case preparedAbsent:
		if len(prepared) != 1 {
			return fmt.Errorf("delivery: file %s: revert: malformed prepared state", t.path)
		}
		return t.remove()
	default:
		return fmt.Errorf("delivery: file %s: revert: malformed prepared state", t.path)
	}
}

// remove deletes the file, if there is one, and syncs the directory.
func (t *FileTarget) remove() error {
	fi, err := os.Lstat(t.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("delivery: file %s: stat: %w", t.path, unwrapPath(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("delivery: file %s: is a directory; not removing it", t.path)
	}
	if err := os.Remove(t.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delivery: file %s: remove: %w", t.path, unwrapPath(err))
	}
	if err := syncDir(filepath.Dir(t.path)); err != nil {
		return fmt.Errorf("delivery: file %s: fsync of directory %s: %w", t.path, filepath.Dir(t.path), unwrapPath(err))
	}
	return nil
}

// write replaces the file with data: a temporary file in the same
// directory is written, synced and made 0600, renamed over the target, and
// the directory is synced.
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
