package oauth

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/watchword/watchword"
	"github.com/watchword/watchword/internal/store"
)

// Usage aggregates secret use in memory and writes it every Interval, so
// that a token request adds no database write. A crash loses at most one
// interval of counts; last_used_at is never more than Interval behind.
type Usage struct {
	Store    store.Store
	Interval time.Duration
	Logger   *slog.Logger

	mu      sync.Mutex
	pending map[string]watchword.SecretUse
}

// Record counts one use of a secret at t.
func (u *Usage) Record(secretID string, t time.Time) {
	u.add(watchword.SecretUse{SecretID: secretID, Count: 1, LastUsedAt: t})
}

func (u *Usage) add(use watchword.SecretUse) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.pending == nil {
		u.pending = map[string]watchword.SecretUse{}
	}
	e := u.pending[use.SecretID]
	e.SecretID, e.Count = use.SecretID, e.Count+use.Count
	if use.LastUsedAt.After(e.LastUsedAt) {
		e.LastUsedAt = use.LastUsedAt
	}
	u.pending[use.SecretID] = e
}

// Flush writes what has been recorded since the last flush. On failure the
// counts are put back for the next attempt.
func (u *Usage) Flush(ctx context.Context) error {
	u.mu.Lock()
	batch := u.pending
	u.pending = nil
	u.mu.Unlock()
	if len(batch) == 0 {
		return nil
	}
	uses := make([]watchword.SecretUse, 0, len(batch))
	for _, e := range batch {
		uses = append(uses, e)
	}
	if err := u.Store.RecordSecretUse(ctx, uses); err != nil {
		for _, e := range uses {
			u.add(e)
		}
		return err
	}
	return nil
}

// Run flushes every Interval until ctx ends, then once more.
func (u *Usage) Run(ctx context.Context) {
	t := time.NewTicker(u.Interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			if err := u.Flush(context.WithoutCancel(ctx)); err != nil {
				u.Logger.Error("flush secret usage", "err", err)
			}
			return
		case <-t.C:
			if err := u.Flush(ctx); err != nil {
				u.Logger.ErrorContext(ctx, "flush secret usage", "err", err)
			}
		}
	}
}
