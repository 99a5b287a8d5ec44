package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"

	"github.com/pressly/goose/v3"
)

// Migrate applies the pending goose migrations of fsys (files such as
// 0001_init.sql, applied in version order, one transaction each, recorded
// in goose_db_version) and returns the names of those it applied. opts may
// add a session locker so that several instances can start at once.
func Migrate(ctx context.Context, db *sql.DB, dialect goose.Dialect, fsys fs.FS, opts ...goose.ProviderOption) ([]string, error) {
	opts = append([]goose.ProviderOption{
		// Only our embedded files: a Go migration registered globally by
		// some other package must never run against this schema.
		goose.WithDisableGlobalRegistry(true),
	}, opts...)
	p, err := goose.NewProvider(dialect, db, fsys, opts...)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return nil, fmt.Errorf("migrate: %w", err)
	}
	applied := make([]string, 0, len(results))
	for _, r := range results {
		applied = append(applied, path.Base(r.Source.Path))
	}
	return applied, nil
}
